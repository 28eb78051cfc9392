"""Timeline: the chosen takes and footage clips in order; reorder, trim, transitions, total duration, play the cut, "
"export."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from engine.errors import InputError
from studio import cut, export, soundtracks
from studio import speed as clip_speed
from studio.panels import common
from studio.panels.common import ON_PROJECT, footage_name, guarded, message, need_project, ok, picker_row, take_name
from studio.project import TRANSITIONS

TRACK_JS = Path(__file__).with_name("timeline.js").read_text(encoding="utf-8")
HEADERS = ["#", "shot", "take", "frames", "in", "out", "transition in", "seconds", "starts at", "length", "speed"]


def render(studio):
    ui = studio.ui
    ui["tl_total"] = gr.Markdown("Total: 00:00:00:00", elem_id="timeline-total")
    gr.Markdown("Drag a clip to move it, its edges to trim it, the dot at its top left to crossfade into it; "
                "click the ruler to move the playhead.", elem_classes=["tl-help"])
    ui["tl_track"] = gr.HTML(cut.track_state(studio.store, None), html_template="<div class='tl-root'></div>",
                             js_on_load=TRACK_JS, elem_id="timeline-track")
    ui["tl_table"] = gr.Dataframe(headers=HEADERS, value=[], interactive=False, elem_id="timeline-table")
    picker_row(ui, ("entry", "Clip", "clip-picker"), [("clip_up", "Move earlier", "clip-up"),
                                                       ("clip_down", "Move later", "clip-down"),
                                                       ("clip_remove", "Remove", "clip-remove")])
    with gr.Row():
        ui["trim_in"] = gr.Number(label="Trim in (frames)", value=0, precision=0, min_width=90)
        ui["trim_out"] = gr.Number(label="Trim out (frames)", value=0, precision=0, min_width=90)
        ui["apply_trim"] = gr.Button("Apply trim", size="sm", elem_id="apply-trim")
        ui["transition"] = gr.Dropdown(list(TRANSITIONS), value="cut", label="Transition into this clip",
                                       elem_id="transition")
        ui["transition_seconds"] = gr.Number(label="Transition (s)", value=0.5, min_width=90,
                                             elem_id="transition-seconds")
        ui["set_transition"] = gr.Button("Set transition", size="sm", elem_id="set-transition")
    with gr.Row():
        ui["speed"] = gr.Number(label=f"Speed ({clip_speed.MIN_SPEED:g}x to {clip_speed.MAX_SPEED:g}x; below 1: slow "
                                      "motion by frame interpolation)", value=1.0, step=0.05, min_width=120,
                                elem_id="clip-speed")  # checked by studio.speed, which says why in the message
        ui["speed_sound"] = gr.Dropdown(list(clip_speed.SOUNDS), value="stretch", elem_id="clip-speed-sound",
                                        label="Its sound: stretch (pitch kept), keep (own speed), mute")
        ui["set_speed"] = gr.Button("Set speed", size="sm", elem_id="set-speed")
    ui["tl_msg"] = message(elem_id="timeline-msg")
    with gr.Row():
        with gr.Column():
            ui["fps"] = gr.Dropdown(list(export.DELIVERY_RATES), value="24", label="Delivery frame rate",
                                    elem_id="delivery-fps")
            ui["play_cut"] = gr.Button("Play the cut", variant="primary", elem_id="play-cut")
            ui["cut_video"] = gr.Video(label="The cut", format="mp4", elem_id="cut-video", height=260, autoplay=True)
        with gr.Column():
            ui["formats"] = gr.CheckboxGroup(list(export.FORMATS), value=["MP4", "OTIO"], label="Export",
                                             elem_id="export-formats")
            ui["export"] = gr.Button("Export", variant="primary", elem_id="export")
            ui["export_files"] = gr.File(label="Exported files", file_count="multiple", interactive=False,
                                         elem_id="export-files")
            ui["export_msg"] = message(elem_id="export-msg")
    view = [ui["tl_table"], ui["entry"], ui["tl_total"], ui["tl_track"]]
    studio.refreshers["timeline"] = (lambda pid, eid, rate: refresh(studio, pid, eid, rate),
                                     [ui["project"], ui["entry"], ui["fps"]], view)


def rows(studio, pid, fps: float = 24.0, spans=None):
    """The table's rows and the cut's length in frames at the delivery rate `fps` (export.cut_length: what the
    export holds, to the frame); where each clip starts in the cut and how long it plays, in timecode."""
    store = studio.store
    shots = {s["id"]: (i + 1, s["prompt"]) for i, s in enumerate(store.shots(pid))}
    out = []
    entries = store.timeline(pid)
    spans = spans if spans is not None else export.cut_length(store, pid, fps)
    for i, (e, (first, added, _)) in enumerate(zip(entries, spans)):
        t = store.take(e["take_id"])
        trans = e["transition"] if i else "—"
        if t["shot_id"] in shots:
            num, prompt = shots[t["shot_id"]]
            what = f"{num}. {prompt[:40]}"
        elif t["settings"].get("source_file") and t["kind"] != "bridge":
            what = f"footage: {footage_name(t)[:40]}"
        else:
            what = f"–. {(t['settings'].get('prompt') or t['label'] or t['kind'] or 'clip')[:40]}"
        out.append([i + 1, what, take_name(store, t), t["frames"], e["trim_in"], e["trim_out"], trans,
                    e["transition_seconds"] if e["transition"] != "cut" and i else "",
                    export.timecode(first, fps), export.timecode(added, fps), clip_speed.label(e)])
    return out, sum(added for _, added, _ in spans)


def refresh(studio, pid, eid=None, rate="24"):
    if not pid:
        return [], gr.update(choices=[], value=None), "Total: 00:00:00:00", cut.track_state(studio.store, None)
    fps = export.DELIVERY_RATES.get(str(rate), 24.0)
    spans = export.cut_length(studio.store, pid, fps)  # counted once, for the table, the total and the track
    table, frames = rows(studio, pid, fps, spans)
    entries = studio.store.timeline(pid)
    choices = [(f"{r[0]}. {r[1]} ({r[2]})", e["id"]) for r, e in zip(table, entries)]
    ids = [e["id"] for e in entries]
    eid = eid if eid in ids else (ids[0] if ids else None)
    return table, gr.update(choices=choices, value=eid), (
        f"Total: {export.timecode(frames, fps)} · {frames} frames at {rate} fps ({frames / fps:.2f} s) · "
        f"{len(entries)} clip(s)"), cut.track_state(studio.store, pid, rate, spans)


def sound_drag(store, pid: str, d: dict) -> str:
    """A drag of an audio track: moved (its start in the cut) or trimmed (an edge), in seconds."""
    t = soundtracks.track_of(store, pid, str(d.get("track") or ""))
    if d["act"] == "audio_move":
        t = soundtracks.set_track(store, t["id"], start=round(max(0.0, float(d["start"])), 3))
        return f"{t['name']} starts at {t['start']:g} s"
    t = soundtracks.set_track(store, t["id"], trim_in=round(float(d["trim_in"]), 3),
                              trim_out=round(float(d["trim_out"]), 3), start=round(max(0.0, float(d["start"])), 3))
    return f"{t['name']} trimmed: {t['trim_in']:g} s in, {t['trim_out']:g} s out"


def listen(studio, demo):
    ui, store = studio.ui, studio.store
    view = [ui["tl_table"], ui["entry"], ui["tl_total"], ui["tl_track"]]
    entry_fields = [ui["trim_in"], ui["trim_out"], ui["transition"], ui["transition_seconds"], ui["speed"],
                    ui["speed_sound"]]

    def _entry(eid):
        if not eid:
            raise InputError("pick a clip on the timeline (press Use on timeline on a take or a footage clip in the "
                             "storyboard first)")
        return store.entry(eid)

    @guarded(len(view) + 1)
    def on_project(pid):
        return (*refresh(studio, pid), "")

    @guarded(len(entry_fields) + 1)
    def select(eid):
        e = _entry(eid)
        return (e["trim_in"], e["trim_out"], e["transition"], e["transition_seconds"], clip_speed.speed_of(e),
                clip_speed.sound_of(e), "")

    @guarded(len(view) + 1)
    def move(pid, eid, delta):
        store.move_entry(_entry(eid)["id"], delta)
        return (*refresh(studio, pid, eid), "")

    @guarded(len(view) + 1)
    def remove(pid, eid):
        store.remove_entry(_entry(eid)["id"])
        return (*refresh(studio, pid), ok("removed from the timeline (the take stays in the project)"))

    @guarded(len(view) + 1)
    def trim(pid, eid, a, b):
        cut.trim(store, _entry(eid)["id"], a, b)
        return (*refresh(studio, pid, eid), ok("trimmed"))

    @guarded(len(view) + 1)
    def set_speed(pid, eid, value, sound):
        said = clip_speed.set_speed(store, _entry(eid)["id"], value, sound)
        return (*refresh(studio, pid, eid), ok(f"speed set: {said}"))

    @guarded(len(view) + 1)
    def set_transition(pid, eid, kind, seconds, model):
        e = _entry(eid)
        entries = store.timeline(need_project(pid, store))
        pos = [x["id"] for x in entries].index(eid)
        if pos == 0 and kind != "cut":
            raise InputError("the first clip has nothing before it; set the transition on a later clip")
        if seconds is None or not 0 < float(seconds) <= 5:
            raise InputError("a transition lasts more than 0 and at most 5 seconds")
        if kind == "crossfade":
            cut.crossfade(store, pid, eid, float(seconds))
            return (*refresh(studio, pid, eid), ok(f"crossfade into clip {pos + 1}"))
        if kind == "bridge":
            prev = entries[pos - 1]
            store.update_entry(eid, transition="cut", transition_seconds=float(seconds))
            studio.queue.submit(pid, "bridge", {"take_id": prev["take_id"], "to_take_id": e["take_id"],
                                                "seconds": float(seconds), "entry_id": eid, "model": model,
                                                "label": f"bridge into clip {pos + 1}"})
            return (*refresh(studio, pid, eid), ok("rendering the bridge; the transition is set when it is done"))
        store.update_entry(eid, transition=kind, transition_seconds=float(seconds), bridge_take_id=None)
        return (*refresh(studio, pid, eid), ok(f"{kind} into clip {pos + 1}"))

    @guarded(len(view) + 1)
    def on_track(pid, rate, evt: gr.EventData):
        """A drag on the track: move a clip, trim an edge (its take's frames) or set a crossfade (seconds)."""
        d = evt._data or {}
        need_project(pid, store)
        eid, act = str(d.get("entry") or ""), d.get("act")
        if not str(act).startswith("audio_") and eid not in [e["id"] for e in store.timeline(pid)]:
            raise InputError("that clip is not on this project's timeline any more")
        try:
            if act == "move":
                cut.move_to(store, pid, eid, int(d["to"]))
                said = f"moved to place {int(d['to']) + 1}"
            elif act == "trim":
                cut.trim(store, eid, d["trim_in"], d["trim_out"])
                said = f"trimmed: {int(d['trim_in'])} frame(s) in, {int(d['trim_out'])} out"
            elif act in ("audio_move", "audio_trim"):
                said = sound_drag(store, pid, d)
            elif act == "fade":
                seconds = round(float(d["seconds"]), 3)
                pos = cut.crossfade(store, pid, eid, seconds)
                said = f"crossfade of {seconds:g} s into clip {pos + 1}" if seconds > 0 else f"cut into clip {pos + 1}"
            else:
                raise InputError(f"unknown track edit {act!r}")
        except (KeyError, TypeError, ValueError):
            raise InputError("that drag sent no usable numbers; try again") from None
        return (*refresh(studio, pid, eid, rate), ok(said))

    def _fps(value):
        if value not in export.DELIVERY_RATES:
            raise InputError(f"delivery rate must be one of {', '.join(export.DELIVERY_RATES)}")
        return export.DELIVERY_RATES[value]

    @guarded(2)
    def play(pid, fps):
        return export.play_cut(store, need_project(pid, store), _fps(fps)), ""

    @guarded(2)
    def do_export(pid, fps, formats):
        out = export.export(store, need_project(pid, store), _fps(fps), formats, studio.config_dir)
        files = [p for k, p in out.items() if k != "PNG sequence"]
        note = f" (PNG frames in {out['PNG sequence']})" if "PNG sequence" in out else ""
        return files, ok(f"exported {', '.join(out)}{note}")

    ui["project"].change(on_project, [ui["project"]], [*view, ui["tl_msg"]], api_name="timeline",
                         show_progress="hidden", **ON_PROJECT)
    ui["entry"].input(select, [ui["entry"]], [*entry_fields, ui["tl_msg"]], api_name="select_clip")
    common.order_buttons(ui, ("clip_up", "clip_down", "clip_remove"),
                         ("move_clip_earlier", "move_clip_later", "remove_clip"), move, remove,
                         [ui["project"], ui["entry"]], [*view, ui["tl_msg"]])
    ui["apply_trim"].click(trim, [ui["project"], ui["entry"], ui["trim_in"], ui["trim_out"]], [*view, ui["tl_msg"]],
                           api_name="trim_clip")
    ui["set_speed"].click(set_speed, [ui["project"], ui["entry"], ui["speed"], ui["speed_sound"]],
                          [*view, ui["tl_msg"]], api_name="set_clip_speed")
    dep = ui["set_transition"].click(set_transition, [ui["project"], ui["entry"], ui["transition"],
                                                      ui["transition_seconds"], ui["model"]],
                                     [*view, ui["tl_msg"]], api_name="set_transition")
    studio.watch(dep).then(*studio.refreshers["timeline"], api_visibility="private", show_progress="hidden")
    dragged = ui["tl_track"].input(on_track, [ui["project"], ui["fps"]], [*view, ui["tl_msg"]],
                                   api_visibility="private", show_progress="hidden", trigger_mode="multiple")
    if "audio" in studio.refreshers:  # an audio track's fields follow a drag of it (studio.panels.sound)
        dragged.then(*studio.refreshers["audio"], api_visibility="private", show_progress="hidden")
    ui["fps"].input(*studio.refreshers["timeline"], api_visibility="private", show_progress="hidden")  # timecode
    ui["play_cut"].click(play, [ui["project"], ui["fps"]], [ui["cut_video"], ui["export_msg"]], api_name="play_cut",
                         concurrency_id="cut")
    ui["export"].click(do_export, [ui["project"], ui["fps"], ui["formats"]], [ui["export_files"], ui["export_msg"]],
                       api_name="export", concurrency_id="cut")
