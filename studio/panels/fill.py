"""Frame inpainting: load a clip (upload or take), scrub, mark bad ranges or auto-detect, paint a mask,
run the fill or repaint as a preview, compare before and after frame by frame (the strip shows what made
every frame), then apply it as a new take or discard it. The clip being edited is never changed.
An upload is the filmmaker's own footage: a take with no shot, every frame "camera", listed with the fixes
made from it in the storyboard's footage bin; "Use on timeline" puts the clip being edited on the timeline."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from engine.errors import InputError
from engine.verbs import CameraFootage, parse_ranges
from engine.video import media
from studio import footage, jobs
from studio.jobs import call_verb, take_record
from studio.panels.common import (
    ON_PROJECT,
    Mask,
    discard_upload,
    err,
    guarded,
    message,
    need_project,
    ok,
    strip_html,
    take_name,
    use_on_timeline,
)
from studio.soundtracks import sound_note

# What makes the frames (engine.verbs.plan_fill): the choice as the page names it -> the verb's method
METHODS = {"Auto": "auto", "Interpolate only": "interpolate", "Generate": "generate"}
SAID_GAPS = 4  # gaps whose plan the queueing message spells out (the preview's settings hold them all)



def render(studio):
    ui = studio.ui
    with gr.Row():
        with gr.Column(scale=2):
            ui["fill_upload"] = gr.File(label="Upload a clip", file_types=list(footage.VIDEO_TYPES),
                                        elem_id="fill-upload")
            with gr.Row():
                ui["fill_source"] = gr.Dropdown(allow_custom_value=True, label="…or a take of this project", choices=[],
                                                scale=3,
                                                elem_id="fill-source")
                ui["fill_load"] = gr.Button("Load take", size="sm", elem_id="fill-load")
            with gr.Row():
                ui["fill_clip"] = gr.Textbox(label="Clip being edited", interactive=False, elem_id="fill-clip",
                                             scale=3)
                ui["fill_use"] = gr.Button("Use on timeline", size="sm", elem_id="fill-use", scale=1)
            ui["fill_msg"] = message(elem_id="fill-msg")
        with gr.Column(scale=3):
            ui["fill_frame"] = gr.Slider(0, 1, value=0, step=1, label="Frame", elem_id="fill-frame")
            ui["fill_strip"] = gr.HTML(strip_html(""), elem_id="fill-strip")
            with gr.Row():
                ui["fill_before"] = gr.Image(label="Before", interactive=False, height=180, elem_id="fill-before")
                ui["fill_after"] = gr.Image(label="Frame (after)", interactive=False, height=180, elem_id="fill-after")
            ui["fill_preview"] = gr.Textbox(visible=False, elem_id="fill-preview")  # the pending preview's id
            with gr.Row(visible=False, elem_id="fill-preview-row") as ui["preview_row"]:
                gr.Markdown("**Previewing the fix.** Scrub to compare Before and After; the clip itself is "
                            "unchanged until you apply.")
                ui["fill_apply"] = gr.Button("Apply → new take", variant="primary", size="sm", elem_id="fill-apply")
                ui["fill_discard"] = gr.Button("Discard", size="sm", variant="stop", elem_id="fill-discard")
    with gr.Row():
        with gr.Column():
            with gr.Row():
                ui["mark_start"] = gr.Button("Mark start here", size="sm", elem_id="mark-start")
                ui["mark_end"] = gr.Button("Mark end here", size="sm", elem_id="mark-end")
                ui["auto_detect"] = gr.Button("Auto-detect bad frames", size="sm", elem_id="auto-detect")
            ui["range_start"] = gr.Number(label="Range starts at", value=None, precision=0, visible=False)
            ui["fill_ranges"] = gr.Textbox(label="Frames to fill (0-based, inclusive)",
                                           placeholder="10-14, 30 (or auto)",
                                           elem_id="fill-ranges")
            ui["fill_prompt"] = gr.Textbox(label="Prompt (optional)", placeholder="what the missing frames show")
            ui["fill_method"] = gr.Radio(list(METHODS), value="Auto", label="What makes the new frames",
                                         elem_id="fill-method",
                                         info="Auto: optical flow for short gaps, the model for longer ones; the "
                                              "bundled model draws only its own world of shapes, never into your "
                                              "footage. Interpolate only: flow (ends hold the nearest frame).")
            ui["fill_go"] = gr.Button("Fill frames → preview", variant="primary", elem_id="fill-go")
        with gr.Column():
            ui["mask"] = Mask(label="Paint the region to repaint", type="numpy", format="png", sources=["upload"],
                              elem_id="fill-mask", height=260)
            with gr.Row():
                ui["mask_load"] = gr.Button("Paint on this frame", size="sm", elem_id="mask-load")
                ui["inpaint_prompt"] = gr.Textbox(label="Inpaint prompt", scale=3, elem_id="inpaint-prompt")
                ui["inpaint_go"] = gr.Button("Inpaint region → preview", variant="primary", elem_id="inpaint-go")
    studio.engine_buttons += [ui["fill_go"], ui["inpaint_go"]]


def show(studio, take_id, i, preview_id=None, keep=False):
    """Slider, strip, before and after for a clip at frame i; with a preview, after is the preview. keep: the
    Frame box keeps what it holds unless that is past the clip's end (it may have changed since i was read)."""
    if not take_id:
        return gr.update(), strip_html(""), None, None
    t = studio.store.take(take_id)
    src = t["settings"].get("source_take") if t["kind"] in ("fill", "inpaint") else None
    if preview_id:
        p = jobs.preview(studio.store, t["project_id"], preview_id)
        if p["source_take"] != take_id:
            raise InputError("that preview belongs to another clip; load its clip first")
        t, src = {**t, **p, "id": preview_id}, take_id
        frames = footage.frames_of(studio, preview_id, p["path"])
    else:
        frames = footage.frames_of(studio, take_id)
    asked, i = int(i or 0), int(min(max(0, int(i or 0)), len(frames) - 1))
    before = None
    if src:
        bf = footage.frames_of(studio, src)
        before = bf[min(i, len(bf) - 1)]
    box = gr.update(maximum=max(1, len(frames) - 1)) if keep and asked == i else \
        gr.update(maximum=max(1, len(frames) - 1), value=i)
    return box, strip_html(take_record(t).strip(), i), before, frames[i]


def listen(studio, demo):
    ui, store, queue = studio.ui, studio.store, studio.queue
    shown = [ui["fill_frame"], ui["fill_strip"], ui["fill_before"], ui["fill_after"]]
    loaded = [ui["fill_clip"], ui["fill_source"], *shown, ui["fill_preview"], ui["preview_row"]]

    def load(pid, take_id, note="", frame=0, waiting="a fix of this clip is waiting: compare before and after, "
                                                      "then Apply or Discard", keep=False):
        """Show a clip; a fix of it still waiting to be applied or discarded is shown as its preview. keep: the
        clip is the one shown, and the Frame box keeps its number (as `show`)."""
        pending = jobs.previews(store, pid, take_id) if take_id else []
        vid = pending[-1]["id"] if pending else ""
        if vid and waiting:
            note = f"{note}; {waiting}" if note else waiting
        return (take_id, gr.update(choices=footage.take_choices(studio, pid), value=take_id),
                *show(studio, take_id, frame, vid, keep), vid, gr.update(visible=bool(vid)), ok(note) if note else "")

    @guarded(len(loaded) + 1)
    def upload(pid, path):
        try:
            need_project(pid, store)
            tid, video = footage.take_in(studio, pid, path)
            name = Path(path).name
        finally:  # decoded into a take, or refused: Gradio's copy is not needed either way
            if path:
                discard_upload(path)
        vfr = " (variable frame rate, placed at a constant rate by its frame times)" \
            if video.metadata.get("conformed_from_variable_rate") else ""
        return load(pid, tid, f"loaded {name}: {len(video)} frames at {video.fps:g} fps{vfr}{sound_note(video)}")

    @guarded(1)
    def use(pid, tid):
        """The clip being edited onto the timeline: footage is appended as a clip of its own, a shot's take
        becomes its shot's clip (as under its card)."""
        need_project(pid, store)
        t = store.take(_clip(tid))
        if t["project_id"] != pid:
            raise InputError("that clip belongs to another project; load one of this project")
        return use_on_timeline(store, t)

    @guarded(len(loaded) + 1)
    def load_take(pid, tid):
        need_project(pid, store)
        if not tid:
            raise InputError("pick a take to load")
        return load(pid, tid, f"loaded {take_name(store, store.take(tid))}")

    @guarded(len(shown))
    def scrub(tid, i, vid):
        # The Frame box is left as it is (issue 31: a scrub that answered while the next number was being typed
        # put the old number back, and Mark then used it: 100-104 became 100-100); the box keeps itself within
        # the clip. The message too: a scrub that finishes after Mark end must not wipe "marked frames ...".
        return (*show(studio, tid, i, vid)[1:], gr.update())

    def _clip(tid):
        if not tid:
            raise InputError("load a clip first (upload one or pick a take)")
        return tid

    @guarded(2)
    def mark_start(tid, i):
        _clip(tid)
        return int(i), ok(f"range starts at frame {int(i)}; scrub to its end and press Mark end here")

    @guarded(2)
    def mark_end(tid, start, i, text):
        _clip(tid)
        if start is None:
            raise InputError("press Mark start here first")
        a, b = sorted((int(start), int(i)))
        text = ", ".join(x for x in [(text or "").strip(), f"{a}-{b}"] if x)
        return text, ok(f"marked frames {a}-{b}")

    @guarded(2)
    def auto(tid):
        t = store.take(_clip(tid))
        found = call_verb("detect_bad_frames", media.read_video(store.path(t["path"])))
        if any(getattr(f, "kind", "") == "dropped" for f in found):
            # Dropped frames are holes between two good frames: only the verb's own detection inserts them.
            return "auto", ok(f"found {len(found)} problem(s), dropped frames among them: Fill will insert them")
        ranges = [(int(f[0]), int(f[1])) for f in found]
        text = ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in ranges)
        return text, ok(f"found {len(ranges)} bad range(s)") if ranges else ok("no dropped, repeated or black frames "
                                                                               "found")

    @guarded(1)
    def fill(pid, tid, text, prompt, model, method="Auto"):
        need_project(pid, store)
        frames = footage.frames_of(studio, _clip(tid))
        n = len(frames)
        auto_ranges = (text or "").strip().lower() == "auto"
        ranges = None if auto_ranges else parse_ranges(text, n)
        if not auto_ranges and not ranges:
            raise InputError("mark at least one range of frames to fill (or press Auto-detect)")
        if any(a == 0 and b == n - 1 for a, b in ranges or []):
            raise InputError("filling every frame leaves nothing to fill from; leave some frames outside the range")
        if method not in METHODS:
            raise InputError(f"choose what makes the new frames: {', '.join(METHODS)}")
        video = media.Video.from_frames(frames, store.take(tid)["fps"])
        try:  # decided now, as the job will decide it: a refusal is said before anything is queued
            plan = call_verb("plan_fill", studio.engines(model), video, ranges, METHODS[method])
        except CameraFootage as e:
            raise InputError(f"{e.reason}; choose Interpolate only (or Auto), or add a real checkpoint (LTX-Video, "
                             "Wan) and pick it as the Model") from None
        queue.submit(pid, "fill", {"take_id": tid, "ranges": ranges, "prompt": (prompt or "").strip(),
                                   "model": model, "method": METHODS[method], "label": f"fill {text}"})
        said = [("⚠️ " if g.warning else "") + g.line() for g in plan[:SAID_GAPS]]
        more = f"; and {len(plan) - SAID_GAPS} more gap(s)" if len(plan) > SAID_GAPS else ""
        return ok(f"queued: fill {text} — {'; '.join(said) or 'nothing to fill'}{more}")

    @guarded(2)
    def frame_to_mask(tid, i):
        frames = footage.frames_of(studio, _clip(tid))
        f = frames[min(int(i or 0), len(frames) - 1)]
        return {"background": f, "layers": [], "composite": f}, ok("paint over the region to repaint")

    @guarded(1)
    def inpaint(pid, tid, value, prompt, model):
        need_project(pid, store)
        frames = footage.frames_of(studio, _clip(tid))
        mask = footage.painted_mask(value, *frames.shape[1:3])
        if not (prompt or "").strip():
            raise InputError("the inpaint prompt is empty; say what should be in the painted region")
        path = footage.keep_mask(store, pid, mask)
        queue.submit(pid, "inpaint", {"take_id": tid, "mask": path, "prompt": prompt.strip(),
                                      "model": model, "label": "inpaint region"})
        return ok("queued: inpaint the painted region")

    @guarded(len(loaded) + 1)
    def apply(pid, tid, vid):
        need_project(pid, store)
        new = jobs.apply_preview(store, pid, vid)
        return load(pid, new, f"applied as new take ({take_name(store, store.take(new))}); the clip it was made "
                              "from is unchanged")

    @guarded(len(loaded) + 1)
    def discard(pid, tid, vid):
        need_project(pid, store)
        jobs.discard_preview(store, pid, vid)
        return load(pid, _clip(tid), "preview discarded; the clip is as it was")

    @guarded(len(loaded) + 1)
    def after(pid, tid, i):
        """Once a fill or inpaint has run, show its preview beside the clip (or say why it failed)."""
        if not pid or not tid:
            return (gr.update(),) * (len(loaded) + 1)
        ran = [j for j in store.jobs(pid) if j["kind"] in ("fill", "inpaint") and j["params"].get("take_id") == tid]
        # the person may be typing the next frame to mark while this runs: the Frame box is left alone
        if ran and ran[-1]["status"] == "failed":
            return (*load(pid, tid, frame=i, keep=True)[:-1], err(ran[-1]["error"]))
        return load(pid, tid, frame=i, keep=True, waiting="preview ready: scrub to compare before and after, then "
                                                          "Apply → new take or Discard")

    ui["project"].change(lambda pid: gr.update(choices=footage.take_choices(studio, pid), value=None), [ui["project"]],
                         [ui["fill_source"]], api_name="fill_takes", show_progress="hidden", **ON_PROJECT)
    ui["fill_upload"].upload(upload, [ui["project"], ui["fill_upload"]], [*loaded, ui["fill_msg"]],
                             api_name="upload_clip").then(lambda: None, None, [ui["fill_upload"]],
                                                          api_visibility="private", show_progress="hidden").then(
        *studio.refreshers["cards"], api_visibility="private", show_progress="hidden")  # the footage bin
    ui["fill_use"].click(use, [ui["project"], ui["fill_clip"]], [ui["fill_msg"]], api_name="use_clip").then(
        *studio.refreshers["timeline"], api_visibility="private", show_progress="hidden").then(
        *studio.refreshers["cards"], api_visibility="private", show_progress="hidden")
    ui["fill_load"].click(load_take, [ui["project"], ui["fill_source"]], [*loaded, ui["fill_msg"]],
                          api_name="load_take")
    # always_last: a frame typed (or dragged to) while a scrub runs is shown once it is done; Gradio's default
    # for .release ("once") dropped it, and the pictures stayed on the frame before
    ui["fill_frame"].release(scrub, [ui["fill_clip"], ui["fill_frame"], ui["fill_preview"]],
                             [*shown[1:], ui["fill_msg"]], api_name="scrub", trigger_mode="always_last")
    ui["mark_start"].click(mark_start, [ui["fill_clip"], ui["fill_frame"]], [ui["range_start"], ui["fill_msg"]],
                           api_name="mark_start")
    ui["mark_end"].click(mark_end, [ui["fill_clip"], ui["range_start"], ui["fill_frame"], ui["fill_ranges"]],
                         [ui["fill_ranges"], ui["fill_msg"]], api_name="mark_end")
    ui["auto_detect"].click(auto, [ui["fill_clip"]], [ui["fill_ranges"], ui["fill_msg"]], api_name="auto_detect")
    ui["mask_load"].click(frame_to_mask, [ui["fill_clip"], ui["fill_frame"]], [ui["mask"], ui["fill_msg"]],
                          api_name="mask_frame")
    refresh = dict(fn=after, inputs=[ui["project"], ui["fill_clip"], ui["fill_frame"]],
                   outputs=[*loaded, ui["fill_msg"]], api_visibility="private", show_progress="hidden")
    studio.watch(ui["fill_go"].click(fill, [ui["project"], ui["fill_clip"], ui["fill_ranges"], ui["fill_prompt"],
                                            ui["model"], ui["fill_method"]], [ui["fill_msg"]],
                                     api_name="fill")).then(**refresh)
    studio.watch(ui["inpaint_go"].click(inpaint, [ui["project"], ui["fill_clip"], ui["mask"], ui["inpaint_prompt"],
                                                  ui["model"]], [ui["fill_msg"]], api_name="inpaint")).then(**refresh)
    decided = [ui["project"], ui["fill_clip"], ui["fill_preview"]]
    ui["fill_apply"].click(apply, decided, [*loaded, ui["fill_msg"]], api_name="apply_fix").then(
        *studio.refreshers["cards"], api_visibility="private", show_progress="hidden")
    ui["fill_discard"].click(discard, decided, [*loaded, ui["fill_msg"]], api_name="discard_fix")
