"""Storyboard: shots as cards in order, each with its takes as playable videos under it; a shot editor;
render one or all. A take in a card can be selected (for the take actions) or used on the timeline as its
shot's chosen take; the cards redraw as each take finishes (the queue panel's stream), and a long take
plays its partial file under its card window by window while it renders. The cast and the scene render are
studio.panels.cast; directing a shot's motion is studio.panels.motion."""
from __future__ import annotations

import gradio as gr

from engine import defaults
from engine.errors import InputError
from engine.request import ASPECTS
from studio import scene as scenes
from studio.animatic import keep_motion
from studio.cards import cards_html
from studio.framing import FITS
from studio.jobs import shot_request
from studio.panels import common
from studio.panels.common import (
    ON_PROJECT,
    Still,
    after_render,
    footage_name,
    guarded,
    message,
    need_project,
    ok,
    picker_row,
    use_on_timeline,
    vocabulary,
)
from studio.shots import EDIT_KEYS, check_fields, editor_values, framing, framing_preview

CAMERA_WORDS = ["", "static camera", "the camera pans left", "the camera pans right", "the camera zooms in",
                "the camera zooms out"]
# The cards are one HTML block; its buttons and cards report clicks as one event (Gradio 6's gr.HTML trigger).
CARDS_JS = """
element.addEventListener('click', (e) => {
  const b = e.target.closest('button[data-act]');
  if (b) { trigger('click', {act: b.dataset.act, take: b.dataset.take, shot: b.dataset.shot}); return; }
  if (e.target.closest('video')) return;
  const c = e.target.closest('.card[data-shot]');
  if (c) trigger('click', {act: 'shot', shot: c.dataset.shot});
});
"""


def render(studio):
    ui = studio.ui
    ui["cards"] = gr.HTML(elem_id="shot-cards", js_on_load=CARDS_JS)
    ui["cards_msg"] = message(elem_id="cards-msg")
    picker_row(ui, ("shot", "Shot", "shot-picker"), [("add_shot", "Add shot", "add-shot"),
                                                      ("shot_up", "Move up", "shot-up"),
                                                      ("shot_down", "Move down", "shot-down"),
                                                      ("delete_shot", "Delete shot", "delete-shot")])
    with gr.Row():
        with gr.Column(scale=3):
            ui["prompt"] = gr.Textbox(label="Prompt", lines=2, elem_id="shot-prompt",
                                      placeholder="a big red ball rolls to the right in the desert")
            ui["shot_msg"] = message(elem_id="shot-msg")
            ui["negative"] = gr.Textbox(label="Negative prompt", placeholder="what to avoid")
            with gr.Row():
                ui["seconds"] = gr.Number(label="Duration (s)", value=2.0, elem_id="shot-seconds")
                ui["aspect"] = gr.Dropdown(list(ASPECTS), value="16:9", label="Aspect", elem_id="shot-aspect")
                ui["seed"] = gr.Number(label="Seed", value=0, precision=0)
                ui["camera"] = gr.Dropdown(CAMERA_WORDS, value="", label="Camera", allow_custom_value=True)
            with gr.Row():
                ui["n_takes"] = gr.Slider(1, 4, value=1, step=1, label="Takes", elem_id="shot-takes")
                ui["steps"] = gr.Slider(1, 60, value=defaults.STEPS, step=1, label="Steps", elem_id="shot-steps")
                ui["guidance"] = gr.Slider(1, 12, value=defaults.GUIDANCE, step=0.5, label="Guidance")
            with gr.Row():
                ui["save_shot"] = gr.Button("Save shot", size="sm", elem_id="save-shot")
                ui["render_shot"] = gr.Button("Render shot", variant="primary", elem_id="render-shot")
                ui["render_all"] = gr.Button("Render all shots", elem_id="render-all")
        with gr.Column(scale=2):
            with gr.Row():
                still = dict(type="filepath", image_mode=None, height=150, format="png",
                             sources=["upload", "clipboard"])
                ui["start_image"] = Still(label="Start image (animate a still)", elem_id="start-image", **still)
                ui["end_image"] = Still(label="End image", **still)
            ui["start_fit"] = gr.Radio(list(FITS), value="crop", label="Fit the start image to the shot",
                                       elem_id="start-fit")
            ui["start_framed"] = gr.Image(label="The start image as the shot frames it", type="numpy",
                                          interactive=False, height=150, elem_id="start-framed")
            ui["framing_msg"] = message(elem_id="framing-msg")
    studio.engine_buttons += [ui["render_shot"], ui["render_all"]]
    studio.refreshers["cards"] = (lambda pid, sid: cards_html(studio, pid, sid), [ui["project"], ui["shot"]],
                                  [ui["cards"]])


def _editor(ui):
    return [ui[k] for k in ("prompt", "negative", "seconds", "aspect", "seed", "camera", "n_takes", "steps",
                            "guidance", "start_image", "end_image")]


def shot_choices(studio, pid):
    return [(f"{i + 1}. {(s['prompt'] or '(empty)')[:40]}", s["id"]) for i, s in enumerate(studio.store.shots(pid))]


def refresh(studio, pid, shot_id=None, take_id=None):
    """Everything the panel shows, for a project (and a shot and take to select); the takes come from the
    takes panel."""
    takes = studio.refreshers["takes"][0]
    motion = studio.refreshers["motion"][0]
    if not pid:
        return [cards_html(studio, None, None), gr.update(choices=[], value=None), *editor_values(studio, None),
                *takes(None, None), *motion(None, None), *framing(studio, None)]
    shots = studio.store.shots(pid)
    ids = [s["id"] for s in shots]
    shot_id = shot_id if shot_id in ids else (ids[0] if ids else None)
    shot = next((s for s in shots if s["id"] == shot_id), None)
    return [cards_html(studio, pid, shot_id), gr.update(choices=shot_choices(studio, pid), value=shot_id),
            *editor_values(studio, shot), *takes(pid, shot_id, take_id), *motion(pid, shot_id), *framing(studio, shot)]


def listen(studio, demo):
    ui, store, queue = studio.ui, studio.store, studio.queue
    editor = _editor(ui)
    framing_out = [ui["start_fit"], ui["start_framed"], ui["framing_msg"]]
    view = [ui["cards"], ui["shot"], *editor, *studio.refreshers["takes"][2], *studio.refreshers["motion"][2],
            *framing_out]
    motion = studio.refreshers["motion"][0]

    @guarded(len(view) + 1)
    def card_click(pid, sid, evt: gr.EventData):
        """A click in the cards: a card selects its shot; a take's buttons select it or use it on the timeline."""
        data = evt._data or {}
        need_project(pid, store)
        if data.get("act") == "shot":
            return (*refresh(studio, pid, data.get("shot")), "")
        if data.get("act") == "replan":  # the next seed: a new plan, and the takes render what it shows
            shot = store.shot(data.get("shot") or "")
            if shot["project_id"] != pid:
                raise InputError("that shot is not in this project")
            seed = shot["seed"] + 1 if shot["seed"] + shot["takes"] <= defaults.MAX_SEED else 0
            store.update_shot(shot["id"], seed=seed, motion=None)  # directed paths give way to the new plan
            out = refresh(studio, pid, shot["id"])
            if shot["id"] == sid:  # the editor keeps what it holds (it may be unsaved), but the seed is new
                out[2:2 + len(editor)] = [gr.update()] * len(editor)
                out[2 + EDIT_KEYS.index("seed")] = seed
            dropped = " (its directed paths gave way to it)" if shot.get("motion") else ""
            return (*out, ok(f"re-planned shot with seed {seed}; its takes will follow the new plan{dropped}"))
        t = store.take(data.get("take") or "")
        footage = not t["shot_id"] and t["id"] in {f["id"] for f in store.footage(pid)}
        if t["project_id"] != pid or not (t["shot_id"] or footage):
            raise InputError("that take is not in this project's storyboard")
        note = use_on_timeline(store, t) if data.get("act") == "choose" else ""
        if footage:  # the shot being edited stays; the take actions act on this clip
            out = refresh(studio, pid, sid, take_id=t["id"])
            same = sid and out[1].get("value") == sid
            note = note or ok(f"selected {footage_name(t)} (Selected take, below)")
        else:
            out = refresh(studio, pid, t["shot_id"], take_id=t["id"])
            same = t["shot_id"] == sid
        if same:  # same shot: keep what the editor holds (it may be unsaved)
            out[2:2 + len(editor)] = [gr.update()] * len(editor)
        return (*out, note)


    @guarded(len(view) + 1)
    def on_project(pid):
        return (*refresh(studio, pid), "")

    @guarded(len(view) + 1)
    def select_shot(pid, sid):
        return (*refresh(studio, need_project(pid, store), sid), "")

    @guarded(len(view) + 1)
    def add(pid):
        sid = store.add_shot(need_project(pid, store))
        return (*refresh(studio, pid, sid),
                ok(f"added shot {len(store.shots(pid))}: type its prompt and press Save shot"))

    @guarded(len(view) + 1)
    def move(pid, sid, delta):
        store.move_shot(_shot_id(pid, sid), delta)
        return (*refresh(studio, pid, sid), "")

    @guarded(len(view) + 1)
    def delete(pid, sid):
        sid = _shot_id(pid, sid)
        if queue.uses_shot(pid, sid):
            raise InputError("this shot has jobs waiting or rendering; stop them in the queue before deleting it")
        store.delete_shot(sid)
        return (*refresh(studio, pid), ok("shot deleted (its takes stay in the project)"))

    def _shot_id(pid, sid):
        need_project(pid, store)
        if not sid:
            raise InputError("pick a shot first (or add one with 'Add shot')")
        return sid

    def update(pid, sid, f):
        """Save the editor's fields; directed motion follows the edit (studio.animatic.keep_motion)."""
        old = store.shot(_shot_id(pid, sid))
        store.update_shot(sid, **f)
        keep_motion(studio, pid, old, store.shot(sid))

    @guarded(5)
    def save(pid, sid, *values):
        f = check_fields(studio, need_project(pid, store), values)
        update(pid, sid, f)
        return (cards_html(studio, pid, sid), gr.update(choices=shot_choices(studio, pid), value=sid),
                *motion(pid, sid), ok("saved"))

    @guarded(5)
    def render_shot(pid, sid, model, *values):
        f = check_fields(studio, need_project(pid, store), values)
        prompt = scenes.expand(f["prompt"], store.cast(pid))
        update(pid, sid, f)
        n = len(shot_choices(studio, pid))
        idx = [v for _, v in shot_choices(studio, pid)].index(sid) + 1
        for k in range(f["takes"]):
            queue.submit(pid, "shot", {"shot_id": sid, "seed": f["seed"] + k, "model": model,
                                       "label": f"shot {idx}/{n} take {k + 1}"})
        return cards_html(studio, pid, sid), gr.update(choices=shot_choices(studio, pid), value=sid), \
            *motion(pid, sid), ok(f"queued {f['takes']} take(s) of shot {idx}") + vocabulary(studio, model, [prompt])

    @guarded(2)
    def render_all(pid, model):
        shots = store.shots(need_project(pid, store))
        if not shots:
            raise InputError("no shots to render; add a shot first")
        prompts = []
        for i, s in enumerate(shots):
            try:
                shot_request(s, s["seed"]).validate()
                prompts.append(scenes.expand(s["prompt"], store.cast(pid)))
            except InputError as e:
                raise InputError(f"shot {i + 1}: {e}") from None
        for i, s in enumerate(shots):
            for k in range(s["takes"]):
                queue.submit(pid, "shot", {"shot_id": s["id"], "seed": s["seed"] + k, "model": model,
                                           "label": f"shot {i + 1}/{len(shots)} take {k + 1}"})
        return cards_html(studio, pid, None), ok(f"queued {sum(s['takes'] for s in shots)} take(s)") + \
            vocabulary(studio, model, prompts)

    ui["project"].change(on_project, [ui["project"]], [*view, ui["shot_msg"]], api_name="storyboard",
                         show_progress="hidden", **ON_PROJECT)
    ui["shot"].input(select_shot, [ui["project"], ui["shot"]], [*view, ui["shot_msg"]], api_name="select_shot")
    # Needs the browser's click data, so it is not an API endpoint; `choose_take` and `select_take` are.
    ui["cards"].click(card_click, [ui["project"], ui["shot"]], [*view, ui["cards_msg"]], api_visibility="private",
                      show_progress="hidden").then(*studio.refreshers["timeline"], api_visibility="private",
                                                   show_progress="hidden")
    ui["add_shot"].click(add, [ui["project"]], [*view, ui["shot_msg"]], api_name="add_shot")
    common.order_buttons(ui, ("shot_up", "shot_down", "delete_shot"), ("move_shot_up", "move_shot_down", "delete_shot"),
                         move, delete, [ui["project"], ui["shot"]], [*view, ui["shot_msg"]])
    saved = [ui["cards"], ui["shot"], *studio.refreshers["motion"][2], ui["shot_msg"]]
    ui["save_shot"].click(save, [ui["project"], ui["shot"], *editor], saved, api_name="save_shot")
    ui["prompt"].submit(save, [ui["project"], ui["shot"], *editor], saved, api_visibility="private")
    after_render(studio, ui["render_shot"].click(render_shot, [ui["project"], ui["shot"], ui["model"], *editor], saved,
                                  api_name="render_shot"))
    after_render(studio, ui["render_all"].click(render_all, [ui["project"], ui["model"]], [ui["cards"], ui["shot_msg"]],
                                 api_name="render_all"))
    # the start image as the shot frames it: shown as soon as it or the aspect changes; the fit is kept at once
    preview_in = [ui["start_image"], ui["aspect"], ui["start_fit"]]
    for source in (ui["start_image"], ui["aspect"]):
        source.change(framing_preview, preview_in, framing_out[1:], api_visibility="private", show_progress="hidden")

    @guarded(2)
    def set_fit(pid, sid, path, aspect, fit):
        if fit not in FITS:
            raise InputError(f"fit must be one of {', '.join(FITS)}")
        store.update_shot(_shot_id(need_project(pid, store), sid), fit=fit)
        img, note = framing_preview(path, aspect, fit)
        return img, note or ok("the start image will " + ("fill the shot, cropped" if fit == "crop" else
                                                          "be letterboxed"))

    ui["start_fit"].input(set_fit, [ui["project"], ui["shot"], *preview_in], framing_out[1:],
                          api_name="set_start_fit")
