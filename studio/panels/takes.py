"""The selected take (picked under its shot's card or in the footage bin, or here): its settings and per-frame strip,
use it on
the timeline, reuse its settings, and the take verbs (extend, loop, remix, re-cut, bridge to the next shot),
each making a new take. The takes themselves play under their cards (storyboard)."""
from __future__ import annotations

import gradio as gr

from engine import defaults
from engine.errors import InputError
from studio.jobs import save_take, take_record, take_video
from studio.panels.common import footage_name, guarded, message, need_project, ok, strip_html, use_on_timeline

EDITOR = ("prompt", "negative", "seconds", "aspect", "seed", "camera", "n_takes", "steps", "guidance",
          "start_image", "end_image")


def render(studio):
    ui = studio.ui
    gr.Markdown("### Selected take")
    with gr.Row():
        with gr.Column(scale=2):
            ui["take"] = gr.Dropdown(allow_custom_value=True, label="Take of the selected shot", choices=[],
                                     elem_id="take-picker")
            ui["take_strip"] = gr.HTML(elem_id="take-strip")
            ui["take_info"] = gr.JSON(label="Settings of this take")
        with gr.Column(scale=2):
            with gr.Row():
                ui["promote"] = gr.Button("Use on timeline", variant="primary", size="sm", elem_id="promote")
                ui["use_settings"] = gr.Button("Use these settings", size="sm", elem_id="use-settings")
            with gr.Row():
                ui["extend_seconds"] = gr.Number(label="Extend by (s)", value=1.0, min_width=80)
                ui["extend_fwd"] = gr.Button("Extend forward", size="sm")
                ui["extend_back"] = gr.Button("Extend backward", size="sm")
                ui["loop"] = gr.Button("Loop", size="sm")
            with gr.Row():
                ui["remix_prompt"] = gr.Textbox(label="Remix prompt", scale=3)
                ui["remix_strength"] = gr.Slider(0.05, 1.0, value=0.6, step=0.05, label="Strength", scale=2,
                                                     info="how far from the take; with the bundled model, an "
                                                          "object or background the prompt recasts changes whole")
                ui["remix"] = gr.Button("Remix", size="sm")
            with gr.Row():
                ui["recut_in"] = gr.Number(label="Cut in (frame)", value=0, precision=0, min_width=80)
                ui["recut_out"] = gr.Number(label="Cut out (frame, incl.)", value=-1, precision=0, min_width=80)
                ui["recut"] = gr.Button("Re-cut", size="sm")
                ui["bridge_seconds"] = gr.Number(label="Bridge (s)", value=1.0, min_width=80)
                ui["bridge"] = gr.Button("Bridge to next shot", size="sm")
            ui["take_msg"] = message(elem_id="take-msg")
    studio.engine_buttons += [ui[k] for k in ("extend_fwd", "extend_back", "loop", "remix", "bridge")]
    view = [ui["take"], ui["take_info"], ui["take_strip"]]
    studio.refreshers["takes"] = (lambda pid, sid, tid=None: refresh(studio, pid, sid, tid),
                                  [ui["project"], ui["shot"]], view)


def choices(studio, pid, shot_id):
    out = []
    for i, t in enumerate(studio.store.takes(pid, shot_id)):
        part = " · partial (stopped)" if t["cancelled"] else ""
        out.append((f"Take {i + 1} · {t['kind']} · seed {t['settings'].get('seed', '?')}{part}", t["id"]))
    return out


def show(studio, take_id):
    """Settings and per-frame strip of one take."""
    if not take_id:
        return None, strip_html("")
    t = studio.store.take(take_id)
    info = {**t["settings"], "take": t["id"], "kind": t["kind"], "frames": t["frames"], "fps": t["fps"],
            "partial": t["cancelled"]}
    return info, strip_html(take_record(t).strip())


def footage_choices(studio, pid):
    return [(f"Footage · {footage_name(t)}", t["id"]) for t in studio.store.footage(pid)]


def refresh(studio, pid, shot_id, take_id=None):
    """The take list of a shot, selecting `take_id` (default: the newest take); a take of the footage bin
    lists the footage instead, so the take actions (extend, remix, re-cut…) work on the filmmaker's clips."""
    takes = choices(studio, pid, shot_id) if pid and shot_id else []
    ids = [v for _, v in takes]
    if pid and take_id and take_id not in ids:
        footage = footage_choices(studio, pid)
        if take_id in [v for _, v in footage]:
            takes, ids = footage, [v for _, v in footage]
    take_id = take_id if take_id in ids else (ids[-1] if ids else None)
    return [gr.update(choices=takes, value=take_id), *show(studio, take_id)]


def listen(studio, demo):
    ui, store, queue = studio.ui, studio.store, studio.queue
    view = studio.refreshers["takes"][2]
    editor = [ui[k] for k in EDITOR]
    redraw = [*studio.refreshers["takes"], *studio.refreshers["cards"]]

    def after(dep):
        """Once the queue is idle, redraw the takes and cards (never the editor: it may hold unsaved edits)."""
        dep = studio.watch(dep)
        for fn, inputs, outputs in (redraw[:3], redraw[3:]):
            dep = dep.then(fn, inputs, outputs, api_visibility="private", show_progress="hidden")
        return dep

    def _take(tid):
        if not tid:
            raise InputError("pick a take first (render the shot if it has none)")
        return store.take(tid)

    @guarded(3)
    def select(tid):
        return (*show(studio, tid), "")

    @guarded(1)
    def promote(tid):
        """The take becomes its shot's clip on the timeline (replacing another take of the shot, if any)."""
        return use_on_timeline(store, _take(tid))

    @guarded(len(editor) + 1)
    def use_settings(tid):
        s = _take(tid)["settings"]
        values = [s.get("shot_prompt", s.get("prompt", "")), s.get("negative", ""), s.get("seconds") or 2.0,
                  s.get("aspect", "16:9"), s.get("seed", 0), s.get("camera", ""), gr.update(), s.get("steps",
                                                                                                     defaults.STEPS),
                  s.get("guidance", defaults.GUIDANCE)]
        stills = [str(store.path(s[k])) if s.get(k) else None for k in ("start_image", "end_image")]
        return (*values, *stills, ok("settings loaded into the shot; press Save shot or Render shot"))

    def _submit(kind, tid, model, label, **params):
        t = _take(tid)
        queue.submit(t["project_id"], kind, {"take_id": tid, "model": model, "label": label,
                                             "seed": t["settings"].get("seed", 0),
                                             "steps": t["settings"].get("steps", 24), **params})
        return ok(f"queued: {label}")

    @guarded(1)
    def extend(tid, seconds, model, backward):
        if seconds is None or not 0 < float(seconds) <= 60:
            raise InputError("extend by more than 0 and at most 60 seconds")
        return _submit("extend", tid, model, f"extend {'backward' if backward else 'forward'} {seconds:g} s",
                       seconds=float(seconds), backward=backward)

    @guarded(1)
    def loop(tid, model):
        if not _take(tid)["shot_id"]:
            raise InputError("looping re-renders a shot; this clip is footage (use Remix or Extend instead)")
        return _submit("loop", tid, model, "loop")

    @guarded(1)
    def remix(tid, prompt, strength, model):
        if not (prompt or "").strip():
            raise InputError("the remix prompt is empty; say what should change")
        return _submit("remix", tid, model, f"remix at {strength:g}", prompt=prompt.strip(), strength=float(strength))

    @guarded(len(view) + 1)
    def recut(pid, sid, tid, a, b):
        t = _take(tid)
        video = take_video(store, t)
        n = len(video)
        a, b = int(a or 0), int(b if b is not None else -1)
        b = n - 1 if b < 0 else b
        if not 0 <= a <= b < n:
            raise InputError(f"cut in and out must satisfy 0 <= in <= out <= {n - 1} (this take has {n} frames)")
        rec = take_record(t).slice(a, b + 1)
        settings = {**t["settings"], "verb": "recut", "source_take": tid, "cut_in": a, "cut_out": b}
        new = save_take(store, t["project_id"], t["shot_id"], video.frames[a:b + 1], video.fps, rec, settings,
                        "recut", mark=False)
        return (*refresh(studio, pid, sid, new), ok(f"new take: frames {a}-{b}"))

    @guarded(1)
    def bridge(pid, tid, seconds, model):
        t = _take(tid)
        if not t["shot_id"]:
            raise InputError("a bridge from footage is a transition: put it on the timeline and set a bridge "
                             "transition into the next clip")
        ids = [s["id"] for s in store.shots(need_project(pid, store))]
        if t["shot_id"] not in ids or ids.index(t["shot_id"]) + 1 >= len(ids):
            raise InputError("this is the last shot; a bridge connects a take to the next shot")
        nxt = store.takes(pid, ids[ids.index(t["shot_id"]) + 1])
        if not nxt:
            raise InputError("the next shot has no take yet; render it first")
        if seconds is None or not 0 < float(seconds) <= 10:
            raise InputError("a bridge lasts more than 0 and at most 10 seconds")
        return _submit("bridge", tid, model, "bridge to the next shot", to_take_id=nxt[-1]["id"],
                       seconds=float(seconds))

    model = ui["model"]
    ui["take"].input(select, [ui["take"]], [*view[1:], ui["take_msg"]], api_name="select_take")
    ui["promote"].click(promote, [ui["take"]], [ui["take_msg"]], api_name="promote").then(
        *studio.refreshers["timeline"], api_visibility="private", show_progress="hidden").then(
        *studio.refreshers["cards"], api_visibility="private", show_progress="hidden")
    ui["use_settings"].click(use_settings, [ui["take"]], [*editor, ui["take_msg"]], api_name="use_settings")
    after(ui["extend_fwd"].click(lambda t, s, m: extend(t, s, m, False), [ui["take"], ui["extend_seconds"], model],
                                 [ui["take_msg"]], api_name="extend_forward"))
    after(ui["extend_back"].click(lambda t, s, m: extend(t, s, m, True), [ui["take"], ui["extend_seconds"], model],
                                  [ui["take_msg"]], api_name="extend_backward"))
    after(ui["loop"].click(loop, [ui["take"], model], [ui["take_msg"]], api_name="loop"))
    after(ui["remix"].click(remix, [ui["take"], ui["remix_prompt"], ui["remix_strength"], model],
                            [ui["take_msg"]], api_name="remix"))
    ui["recut"].click(recut, [ui["project"], ui["shot"], ui["take"], ui["recut_in"], ui["recut_out"]],
                      [*view, ui["take_msg"]], api_name="recut")
    after(ui["bridge"].click(bridge, [ui["project"], ui["take"], ui["bridge_seconds"], model],
                             [ui["take_msg"]], api_name="bridge"))
