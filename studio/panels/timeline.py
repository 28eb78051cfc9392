"""Timeline: the chosen takes and footage clips in order; reorder, trim, transitions, total duration, play the cut, "
"export."""
from __future__ import annotations

import gradio as gr

from engine.errors import InputError
from studio import export
from studio.panels.common import ON_PROJECT, footage_name, guarded, message, need_project, ok, take_name
from studio.project import TRANSITIONS

HEADERS = ["#", "shot", "take", "frames", "in", "out", "transition in", "seconds", "starts at", "length"]


def render(studio):
    ui = studio.ui
    ui["tl_table"] = gr.Dataframe(headers=HEADERS, value=[], interactive=False, elem_id="timeline-table")
    ui["tl_total"] = gr.Markdown("Total: 0 s", elem_id="timeline-total")
    with gr.Row():
        ui["entry"] = gr.Dropdown(allow_custom_value=True, label="Clip", choices=[], elem_id="clip-picker", scale=3)
        with gr.Column(scale=2, min_width=260):
            with gr.Row():
                ui["clip_up"] = gr.Button("Move earlier", size="sm", elem_id="clip-up")
                ui["clip_down"] = gr.Button("Move later", size="sm", elem_id="clip-down")
                ui["clip_remove"] = gr.Button("Remove", size="sm", variant="stop", elem_id="clip-remove")
    with gr.Row():
        ui["trim_in"] = gr.Number(label="Trim in (frames)", value=0, precision=0, min_width=90)
        ui["trim_out"] = gr.Number(label="Trim out (frames)", value=0, precision=0, min_width=90)
        ui["apply_trim"] = gr.Button("Apply trim", size="sm", elem_id="apply-trim")
        ui["transition"] = gr.Dropdown(list(TRANSITIONS), value="cut", label="Transition into this clip",
                                       elem_id="transition")
        ui["transition_seconds"] = gr.Number(label="Transition (s)", value=0.5, min_width=90,
                                             elem_id="transition-seconds")
        ui["set_transition"] = gr.Button("Set transition", size="sm", elem_id="set-transition")
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
    view = [ui["tl_table"], ui["entry"], ui["tl_total"]]
    studio.refreshers["timeline"] = (lambda pid, eid, rate: refresh(studio, pid, eid, rate),
                                     [ui["project"], ui["entry"], ui["fps"]], view)


def clip_seconds(store, entry) -> tuple[float, float]:
    """A timeline clip's length after its trims, and its take's frame time, in seconds."""
    t = store.take(entry["take_id"])
    return max(1, t["frames"] - entry["trim_in"] - entry["trim_out"]) / t["fps"], 1 / t["fps"]


def longest_crossfade(store, before, entry) -> float:
    """A crossfade shares frames of the clips it joins, so it is shorter than either by a frame at least (as
    export.timeline_clips plays and exports it)."""
    (a, fa), (b, fb) = clip_seconds(store, before), clip_seconds(store, entry)
    return max(0.0, min(a - fa, b - fb))


def rows(studio, pid, fps: float = 24.0):
    """The table's rows and the cut's length in frames at the delivery rate `fps` (export.cut_length: what the
    export holds, to the frame); where each clip starts in the cut and how long it plays, in timecode."""
    store = studio.store
    shots = {s["id"]: (i + 1, s["prompt"]) for i, s in enumerate(store.shots(pid))}
    out = []
    entries = store.timeline(pid)
    spans = export.cut_length(store, pid, fps)
    for i, (e, (first, added)) in enumerate(zip(entries, spans)):
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
                    export.timecode(first, fps), export.timecode(added, fps)])
    return out, sum(added for _, added in spans)


def refresh(studio, pid, eid=None, rate="24"):
    if not pid:
        return [], gr.update(choices=[], value=None), "Total: 00:00:00:00"
    fps = export.DELIVERY_RATES.get(str(rate), 24.0)
    table, frames = rows(studio, pid, fps)
    entries = studio.store.timeline(pid)
    choices = [(f"{r[0]}. {r[1]} ({r[2]})", e["id"]) for r, e in zip(table, entries)]
    ids = [e["id"] for e in entries]
    eid = eid if eid in ids else (ids[0] if ids else None)
    return table, gr.update(choices=choices, value=eid), (
        f"Total: {export.timecode(frames, fps)} · {frames} frames at {rate} fps ({frames / fps:.2f} s) · "
        f"{len(entries)} clip(s)")


def listen(studio, demo):
    ui, store = studio.ui, studio.store
    view = [ui["tl_table"], ui["entry"], ui["tl_total"]]
    entry_fields = [ui["trim_in"], ui["trim_out"], ui["transition"], ui["transition_seconds"]]

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
        return e["trim_in"], e["trim_out"], e["transition"], e["transition_seconds"], ""

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
        e = _entry(eid)
        n = store.take(e["take_id"])["frames"]
        a, b = int(a or 0), int(b or 0)
        if a < 0 or b < 0 or a + b >= n:
            raise InputError(f"trim in + trim out must leave at least one of the clip's {n} frames (and be >= 0)")
        store.update_entry(eid, trim_in=a, trim_out=b)
        return (*refresh(studio, pid, eid), ok("trimmed"))

    @guarded(len(view) + 1)
    def set_transition(pid, eid, kind, seconds, model):
        e = _entry(eid)
        entries = store.timeline(need_project(pid, store))
        pos = [x["id"] for x in entries].index(eid)
        if pos == 0 and kind != "cut":
            raise InputError("the first clip has nothing before it; set the transition on a later clip")
        if seconds is None or not 0 < float(seconds) <= 5:
            raise InputError("a transition lasts more than 0 and at most 5 seconds")
        if kind == "crossfade" and float(seconds) > (most := longest_crossfade(store, entries[pos - 1], e)):
            raise InputError(f"a crossfade into clip {pos + 1} lasts at most {most:.2f} s: it overlaps the two clips "
                             f"it joins, and must be shorter than both")
        if kind == "bridge":
            prev = entries[pos - 1]
            store.update_entry(eid, transition="cut", transition_seconds=float(seconds))
            studio.queue.submit(pid, "bridge", {"take_id": prev["take_id"], "to_take_id": e["take_id"],
                                                "seconds": float(seconds), "entry_id": eid, "model": model,
                                                "label": f"bridge into clip {pos + 1}"})
            return (*refresh(studio, pid, eid), ok("rendering the bridge; the transition is set when it is done"))
        store.update_entry(eid, transition=kind, transition_seconds=float(seconds), bridge_take_id=None)
        return (*refresh(studio, pid, eid), ok(f"{kind} into clip {pos + 1}"))

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
    ui["clip_up"].click(lambda p, e: move(p, e, -1), [ui["project"], ui["entry"]], [*view, ui["tl_msg"]],
                        api_name="move_clip_earlier")
    ui["clip_down"].click(lambda p, e: move(p, e, 1), [ui["project"], ui["entry"]], [*view, ui["tl_msg"]],
                          api_name="move_clip_later")
    ui["clip_remove"].click(remove, [ui["project"], ui["entry"]], [*view, ui["tl_msg"]], api_name="remove_clip")
    ui["apply_trim"].click(trim, [ui["project"], ui["entry"], ui["trim_in"], ui["trim_out"]], [*view, ui["tl_msg"]],
                           api_name="trim_clip")
    dep = ui["set_transition"].click(set_transition, [ui["project"], ui["entry"], ui["transition"],
                                                      ui["transition_seconds"], ui["model"]],
                                     [*view, ui["tl_msg"]], api_name="set_transition")
    studio.watch(dep).then(*studio.refreshers["timeline"], api_visibility="private", show_progress="hidden")
    ui["fps"].input(*studio.refreshers["timeline"], api_visibility="private", show_progress="hidden")  # timecode
    ui["play_cut"].click(play, [ui["project"], ui["fps"]], [ui["cut_video"], ui["export_msg"]], api_name="play_cut",
                         concurrency_id="cut")
    ui["export"].click(do_export, [ui["project"], ui["fps"], ui["formats"]], [ui["export_files"], ui["export_msg"]],
                       api_name="export", concurrency_id="cut")
