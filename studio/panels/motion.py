"""Direct the motion: the selected shot's plan as paths on a canvas the filmmaker drags (engine.layout.direct).

Each object's path is drawn in its colour with a handle on every point: drag a handle to move it, double-click
the canvas to add a waypoint to the selected object, select a handle (click or Tab) and press Delete to remove it,
arrow keys nudge it (Shift: further). Each object starts and stops when its fields say, with its easing; the
camera move is chosen beside them. Boxes play the motion on the canvas as it is edited (the live animatic), and
every change is saved with the shot at once (its card's animatic redraws; its takes render the edited layout).
"Back to the plan" drops the edits; "Edit as JSON" shows the same motion as text to edit or paste.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import gradio as gr

from engine.errors import InputError
from engine.layout.direct import EASINGS, from_layout, to_layout
from engine.request import ASPECTS
from engine.world.render import BG
from engine.world.scene import CAMERAS, COLOURS, SIZES, WALL_WIDTH
from studio.animatic import plan_for
from studio.panels.common import err, guarded, message, need_project, ok

HEX = {c: "#%02x%02x%02x" % v for c, v in COLOURS.items()}
BACKDROP = {b: "#%02x%02x%02x" % BG.get(b, BG.get(f"{b}_bottom", BG["studio"]))
            for b in ("studio", "sky", "night", "desert", "grass", "ocean")}
EDITOR_JS = (Path(__file__).with_name("motion.js")).read_text(encoding="utf-8")


def editor_state(studio, pid, sid) -> tuple[str, str]:
    """(the editor's value: the shot's motion and how to draw it, as JSON; the motion as JSON text)."""
    if not pid or not sid:
        return json.dumps({"note": "Pick a shot to direct its motion."}), ""
    shot = studio.store.shot(sid)
    if shot.get("start_image"):
        return json.dumps({"note": "This shot animates a still: the still decides where things are."}), ""
    motion, directed = None, False
    req, plan = None, None
    if shot.get("motion"):
        motion, directed = json.loads(shot["motion"]), True
    else:
        try:
            req, plan = plan_for(studio, pid, shot)
        except InputError:
            plan = None
        if plan is not None:
            motion = from_layout(plan, float(shot["seconds"]))
    if motion is None:
        note = ("Nothing to direct yet: the prompt names no object the planner can place (a colour and a shape, "
                "e.g. 'a red ball rolls to the right'); save the shot's prompt first.")
        return json.dumps({"note": note}), ""
    w, h = _canvas(shot)
    follows = "" if studio.engines().takes_layout else \
        " This model renders from the prompt alone: it shows the plan but does not follow it."
    state = {"shot": sid, "rev": time.time(), "seconds": float(shot["seconds"]), "width": w, "height": h,
             "directed": directed, "colours": HEX, "backdrops": BACKDROP, "sizes": SIZES, "cameras": list(CAMERAS),
             "easings": list(EASINGS), "wall": WALL_WIDTH, "motion": motion,
             "note": ("Directed: renders follow these paths." if directed else
                      "The plan: drag a point to direct it.") + follows,
             "directed_note": "Directed: renders follow these paths." + follows}
    return json.dumps(state), json.dumps(motion, indent=1)


def _canvas(shot) -> tuple[int, int]:
    return ASPECTS.get(shot["aspect"], (256, 144))


def save_motion(studio, pid, sid, motion) -> str:
    """Check `motion` against the shot (engine.layout.direct.to_layout) and keep it with the shot; returns
    what the render will follow."""
    need_project(pid, studio.store)
    if not sid:
        raise InputError("pick a shot first (or add one with 'Add shot')")
    shot = studio.store.shot(sid)
    if shot["project_id"] != pid:
        raise InputError("that shot is not in this project")
    if shot.get("start_image"):
        raise InputError("this shot animates a still: the still decides where things are, so it has no paths")
    layout = to_layout(motion, float(shot["seconds"]))
    studio.store.update_shot(sid, motion=json.dumps(motion))
    return layout.describe(float(shot["seconds"]))


def parse(text: str):
    try:
        return json.loads(text or "")
    except json.JSONDecodeError as e:
        raise InputError(f"the motion is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None


def render(studio):
    ui = studio.ui
    with gr.Accordion("Direct the motion", open=True, elem_id="motion-panel"):
        gr.Markdown("Drag a point to move it; double-click the canvas to add a waypoint to the selected object; "
                    "select a point (click or Tab) and press Delete to remove it, or the arrow keys to nudge it. "
                    "Set when each object starts and stops, its easing, and the camera move. Every change is "
                    "saved with the shot, and its takes render it.")
        ui["motion_editor"] = gr.HTML("", html_template="<div class='motion-editor'></div>", js_on_load=EDITOR_JS,
                                      elem_id="motion-editor")
        with gr.Row():
            ui["motion_reset"] = gr.Button("Back to the plan", size="sm", elem_id="motion-reset")
        ui["motion_msg"] = message(elem_id="motion-msg")
        with gr.Accordion("Edit as JSON", open=False):
            ui["motion_json"] = gr.Textbox(label="Motion (JSON)", lines=8, max_lines=30, elem_id="motion-json")
            ui["motion_apply"] = gr.Button("Apply", size="sm", elem_id="motion-apply")
    studio.refreshers["motion"] = (lambda pid, sid: editor_state(studio, pid, sid), [ui["project"], ui["shot"]],
                                   [ui["motion_editor"], ui["motion_json"]])


def listen(studio, demo):
    ui, store = studio.ui, studio.store
    cards = studio.refreshers["cards"][0]
    out = [ui["cards"], ui["motion_editor"], ui["motion_json"], ui["motion_msg"]]

    @guarded(len(out))
    def from_page(pid, sid, evt: gr.EventData):
        """A drag, a waypoint or a field changed in the editor: the motion it sends back, checked and saved;
        a refused one is said, and the saved motion goes back on the canvas."""
        data = evt._data or {}
        try:
            said = save_motion(studio, pid, sid, parse(data.get("motion")))
        except InputError as e:
            return (gr.update(), *editor_state(studio, need_project(pid, store), sid), err(str(e)))
        # The canvas already shows what was saved (and may hold a newer edit in flight): only the text follows.
        return cards(pid, sid), gr.update(), editor_state(studio, pid, sid)[1], ok(f"saved: {said}")

    @guarded(len(out))
    def apply_json(pid, sid, text):
        said = save_motion(studio, pid, sid, parse(text))
        return (cards(pid, sid), *editor_state(studio, pid, sid), ok(f"saved: {said}"))

    @guarded(len(out))
    def reset(pid, sid):
        need_project(pid, store)
        if not sid:
            raise InputError("pick a shot first (or add one with 'Add shot')")
        store.update_shot(sid, motion=None)
        return (cards(pid, sid), *editor_state(studio, pid, sid),
                ok("back to the plan: renders follow the prompt's plan"))

    ui["motion_editor"].input(from_page, [ui["project"], ui["shot"]], out, api_visibility="private",
                              show_progress="hidden", trigger_mode="multiple")
    ui["motion_apply"].click(apply_json, [ui["project"], ui["shot"], ui["motion_json"]], out, api_name="direct_motion")
    ui["motion_reset"].click(reset, [ui["project"], ui["shot"]], out, api_name="motion_to_plan")

