"""The editing verbs, each one call into the shared `Engine` (issue 3): animate, extend, fill,
bridge, remix, inpaint. A loop is `GenerateRequest(loop=True)` (engine.service).

Every verb is the same operation (ARCHITECTURE.md, "One conditioning mechanism"): it lays
what it knows (a still, footage around a gap, the unmasked part of every frame, a video to
remix) on a stretch of frames at the model's rate, asks the engine for that stretch with
the known frames held clean, and maps the result back to the input's size and frame rate.
Known frames are never re-encoded: the output carries the input's own pixels wherever the
input is kept, and per-frame provenance says what made every other frame. Kept frames keep
the input's record when `video.metadata["provenance"]` holds one (a studio take), and are
"camera" frames otherwise.

Time (how footage at any frame rate meets a model that renders BASE_FPS):
  * A verb works on a *span*: the stretch of time it must make, plus context footage on
    either side (CONTEXT_FRAMES at the model's spacing). The span is laid on an even grid
    anchored on a real frame: extend anchors on the last (first) frame and steps 1/BASE_FPS;
    fill and bridge anchor on both frames around the gap and pick the number of steps m
    closest to the gap at BASE_FPS, so both ends are exact frames and the model runs at
    m / gap frames per second (within a few percent of BASE_FPS for gaps over a second; a
    short gap runs slower motion per frame, which the model handles as small steps).
    Grids also respect the VAE's time compression (`Engine.temporal_ratio`): held frames
    fill whole latent frames.
  * Context frames at grid times are taken from the footage: the frame itself when a
    frame sits on the grid time (always at 8, 16 or 24 fps), else an in-between by optical
    flow (engine.video.interpolate) of the two frames around it.
  * What the model makes is delivered at the footage's own frame times: a frame on a grid
    time is the model's frame; any other is an in-between by optical flow of its two grid
    neighbours ("interpolated" in the record, carrying the generation).
  * fill hands a gap to the interpolator alone (no model) when flow can bridge it: at most
    FLOW_MAX_GAP_S long and `flow_confidence` of the frames around it at least
    FLOW_MIN_CONFIDENCE; otherwise the model fills it, if it may draw there: a world model
    draws only its own world, never into camera footage (`plan_fill`, issue 31).

Size: video verbs render on `canvas_for(width, height)` (the input's aspect, see
engine.sampling.conditioning) and map back with `unfit_frames`; animate renders on a native canvas.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image

from engine import defaults
from engine.defaults import BUNDLED_MODEL
from engine.errors import InputError
from engine.layout import Layout
from engine.layout.track import extend_tracks, track
from engine.provenance.record import ProvenanceRecord, concatenate
from engine.request import BASE_FPS, MAX_SECONDS, GenerateRequest, ProgressFn, Result, check_one_frame, frame_record
from engine.sampling.conditioning import (
    ClipCondition,
    ImageCondition,
    MaskCondition,
    canvas_for,
    check_strength,
    fit_frames,
    nearest_aspect,
    unfit_frames,
)
from engine.video.media import UnreadableImage, Video, open_image
from engine.video.retime import resample
from engine.video.retime import retime as retime_frames  # verbs.retime below is the Result-level one
from engine.world import measure
from engine.world.measure import SHARE_FRAMES, WORLD_SHARE_MIN, world_share
from engine.world.scene import COLOURS, SIZES

CONTEXT_FRAMES = 4  # frames of footage held clean on each side of a span (at the span's spacing)
FLOW_MAX_GAP_S = 0.25  # fill: gaps up to this long may go to the frame interpolator...
FLOW_MIN_CONFIDENCE = 0.9  # ...when flow is trusted on at least this share of the pixels
MAX_SPAN_FRAMES = 4800  # 10 minutes at the base rate


# --------------------------------------------------------------------------
# Verbs
# --------------------------------------------------------------------------

def animate(engine, image, prompt: str, *, seconds: float = 2.0, fps: float = 24.0, seed: int = 0,
            steps: int = defaults.STEPS, guidance: float = defaults.GUIDANCE, aspect: str | None = None,
            progress: ProgressFn | None = None, literal: bool = False) -> Result:
    """Animate a still: frame 0 is the image (fitted to the canvas), the rest follows the prompt.
    `image`: uint8 (H, W, 3) array, a PIL image or a path. The output is the native canvas of
    `aspect` (default: the image's nearest of 1:1, 16:9, 9:16)."""
    img = load_image(image)
    own_world(engine, img[None], "animate")
    req = GenerateRequest(prompt, seconds=seconds, fps=fps, aspect=aspect or nearest_aspect(img.shape[1], img.shape[0]),
                          seed=seed, steps=steps, guidance=guidance, conditions=[ImageCondition(img, 0)],
                          literal=literal)
    req.layout = still_layout(engine, req, img)
    result = engine.generate(req, progress)
    result.settings.update(verb="animate", image=str(image) if isinstance(image, (str, Path)) else None,
                           tracks=_said(req.layout))
    return result


def extend(engine, video: Video, *, seconds: float, backward: bool = False, prompt: str = "", seed: int = 0,
           steps: int = defaults.STEPS, guidance: float = defaults.EXTEND_GUIDANCE,
           progress: ProgressFn | None = None, literal: bool = False) -> Result:
    """The whole clip with `seconds` of new footage after its end (or before its start with
    `backward`), at the input's frame rate and size; the original frames are untouched."""
    video = _check_video(video)
    _check_seconds(seconds)
    own_world(engine, video, "extend")
    rate = float(video.fps)
    check_one_frame(seconds, rate)
    count = max(1, round(seconds * rate))
    clip = _Clip.of(video)
    if backward:
        t = clip.times[0] - np.arange(count, 0, -1) / rate
        span = _span(engine, clip, None, clip.times[0], t, prompt, seed, steps, guidance, progress, literal=literal)
    else:
        t = clip.times[-1] + np.arange(1, count + 1) / rate
        span = _span(engine, clip, clip.times[-1], None, t, prompt, seed, steps, guidance, progress, literal=literal)
    if span.cancelled:
        return _unchanged(video, span, "extend")
    cam = _camera(video)
    parts = [span.record(rate), cam] if backward else [cam, span.record(rate)]
    frames = [span.frames, video.frames] if backward else [video.frames, span.frames]
    settings = {**span.settings, "verb": "extend", "seconds": seconds, "backward": backward,
                "input": video.source, "input_frames": len(video)}
    return _result(np.concatenate(frames), rate, span, settings, concatenate(parts, fps=rate))


def fill(engine, video: Video, ranges=None, *, prompt: str = "", seed: int = 0, steps: int = defaults.STEPS,
         guidance: float = defaults.GUIDANCE, method: str = "auto", progress: ProgressFn | None = None,
         literal: bool = defaults.BETWEEN_LITERAL) -> Result:
    """Frames A..B (inclusive, 0-based; `ranges` = [(A, B), ...]) remade from the frames around
    them; `ranges=None` fills what `detect_bad_frames` finds (and inserts dropped frames).
    `method`: "auto", "generate" or "interpolate"; what makes each gap is decided first, by
    `plan_fill` (its rules there), and recorded in settings["plan"]. The prompt goes to the model
    as written unless `literal=False` (defaults.BETWEEN_LITERAL)."""
    video = _check_video(video)
    _check_fill_method(method)
    line = _timeline(video, ranges)
    plan, share = _plan(engine, video, line, method)
    rate, times, src, good = float(video.fps), line.times, line.src, line.good.copy()
    frames = np.zeros((len(times), *video.frames.shape[1:]), np.uint8)
    frames[src >= 0] = video.frames[src[src >= 0]]
    cam = _camera(video)
    parts, pos, spans, base = [], 0, [], []
    for gi, gap in enumerate(plan):
        a, b = gap.start, gap.end
        t_a = times[a - 1] if a > 0 else None
        t_b = times[b + 1] if b + 1 < len(times) else None
        if gap.how == "hold":  # an end of the clip: the nearest good frame, repeated
            near = b + 1 if t_a is None else a - 1
            new = np.repeat(frames[near][None], b - a + 1, 0)
            rec = ProvenanceRecord.uniform("interpolated", b - a + 1, rate,
                                           details={"method": "hold", "frame": int(src[near])})
        elif gap.how == "flow":
            new = resample(np.stack([frames[a - 1], frames[b + 1]]), [t_a, t_b], times[a:b + 1])[0]
            rec = ProvenanceRecord.uniform("interpolated", b - a + 1, rate,
                                           details={"method": "flow", "confidence": gap.confidence})
        else:
            clip = _Clip(frames[good], times[good])
            span = _span(engine, clip, t_a, t_b, times[a:b + 1], prompt, seed, steps, guidance,
                         _part(progress, gi, len(plan)), literal=literal)
            if span.cancelled:
                return _unchanged(video, span, "fill")
            new, rec = span.frames, span.record(rate)
            spans.append(span)
            base.append(span.base)
        frames[a:b + 1] = new
        good[a:b + 1] = True
        parts += _camera_parts(cam, src[pos:a]) + [rec]
        pos = b + 1
    parts += _camera_parts(cam, src[pos:])
    record = concatenate(parts, fps=rate) if parts else cam
    settings = {**(spans[-1].settings if spans else {}), "verb": "fill", "method": method, "input": video.source,
                "ranges": [list(g) for g in line.bad], "findings": [f._asdict() for f in line.findings],
                "gaps": [[g.start, g.end] for g in plan], "plan": [g.as_dict() for g in plan],
                "world_share": None if share is None else round(share, 3)}
    return Result(frames, rate, np.concatenate(base) if base else np.zeros((0, 1, 1, 3), np.uint8), settings,
                  [r.to_dict() for r in record.ranges], False, sum(s.seconds for s in spans), record)


def bridge(engine, a: Video, b: Video, *, seconds: float, prompt: str = "", seed: int = 0, steps: int = defaults.STEPS,
           guidance: float = defaults.GUIDANCE, progress: ProgressFn | None = None,
           literal: bool = defaults.BETWEEN_LITERAL) -> Result:
    """A transition `seconds` long (at a's frame rate and size) that starts at a's last frame and
    ends at b's first frame (b is fitted to a's size). Cut a[:-1] + bridge + b[1:] to join them.
    The prompt goes to the model as written unless `literal=False` (defaults.BETWEEN_LITERAL)."""
    a, b = _check_video(a), _check_video(b)
    _check_seconds(seconds)
    for clip in (a, b):
        own_world(engine, clip, "bridge")
    rate = float(a.fps)
    W, H = a.size
    count = max(2, round(seconds * rate))  # steps from a's last frame to b's first
    end = count / rate
    b_frames = fit_frames(b.frames, W, H)
    clip = _Clip(np.concatenate([a.frames, b_frames]),
                 np.concatenate([a.timestamps - a.timestamps[-1], b.timestamps - b.timestamps[0] + end]))
    span = _span(engine, clip, 0.0, end, np.arange(1, count) / rate, prompt, seed, steps, guidance, progress,
                 model_kind="transition", literal=literal)
    if span.cancelled:
        return _unchanged(a, span, "bridge")
    frames = np.concatenate([a.frames[-1:], span.frames, b_frames[:1]])
    b_rec = _camera(b).slice(0, 1)
    record = concatenate([_camera(a).slice(len(a) - 1, len(a)), span.record(rate),
                          ProvenanceRecord(b_rec.ranges, rate, b_rec.decisions, b_rec.watermark)], fps=rate)
    settings = {**span.settings, "verb": "bridge", "seconds": end, "from": a.source, "to": b.source}
    return _result(frames, rate, span, settings, record)


def remix(engine, video: Video, prompt: str, *, strength: float, seed: int = 0, steps: int = defaults.STEPS,
          guidance: float = defaults.REMIX_GUIDANCE, method: str = defaults.REMIX_METHOD,
          progress: ProgressFn | None = None, literal: bool = False) -> Result:
    """Video to video from noise level `strength` in (0, 1] toward the prompt, so layout and motion
    stay and what the prompt changes changes. The method used is in the result's settings["remix_method"]:
      * "tracks": world footage and a model that takes layouts, where the prompt recasts what the footage
        shows (`recast`). An object whose colour, shape or size it changes is repainted whole along its
        track (the region its old and new boxes sweep, `recast_region`), and every other pixel is the
        input's; a background it changes is everywhere, so the recast tracks are rendered afresh. A colour
        is changed or it is not, so `strength` < 1 does not apply there (1.0 renders the recast tracks
        afresh in any case).
      * otherwise `method`: "flowedit" (the default: the input is moved by the difference the prompt
        makes, engine.sampling.sampler.edit) or "sdedit" (the input noised to `strength`, then sampled;
        what the real-checkpoint families always do), with the recast tracks where there are any.
    Input size and rate."""
    video = _check_video(video)
    check_strength(strength)
    own_world(engine, video, "remix")
    if not prompt or not prompt.strip():
        raise InputError("remix needs a prompt saying what to change, e.g. 'a blue ball rolls to the right'")
    clip, grid = _Clip.of(video), _whole_grid(engine, video)
    source = clip.at(grid)
    tracked = _tracked(engine, source, grid - grid[0], grid - grid[0])
    layout = None if tracked is None else recast(tracked, engine.reading(prompt))
    details = {"strength": strength, "tracks": _said(layout)}
    if layout is not None and strength < 1.0:
        if layout.background != tracked.background:
            # a new background is everywhere: the recast tracks rendered afresh (a flowedit at 0.6 kept the old one)
            req = _request(engine, prompt, len(grid), video.size, seed, steps, guidance, literal=literal,
                           layout=layout)
            return _whole(engine, video, req, grid, progress, "remix", {**details, "remix_method": "tracks"})
        region = recast_region(tracked, layout, video.size, grid - grid[0])
        if region is not None:
            req = _request(engine, prompt, len(grid), video.size, seed, steps, guidance,
                           conditions=[MaskCondition(source, region)], literal=literal, layout=layout)
            return _whole(engine, video, req, grid, progress, "remix",
                          {**details, "remix_method": "tracks", "pixels": int(region.sum())}, region)
    req = _request(engine, prompt, len(grid), video.size, seed, steps, guidance, init_video=source,
                   strength=strength, remix_method=method, literal=literal, layout=layout)
    return _whole(engine, video, req, grid, progress, "remix", details)


def inpaint(engine, video: Video, mask, prompt: str, *, invert: bool = False, seed: int = 0,
            steps: int = defaults.STEPS,
            guidance: float = defaults.GUIDANCE, progress: ProgressFn | None = None, literal: bool = False) -> Result:
    """Repaint the white region of `mask` (bool or grey image, the video's size or aspect) in
    every frame and keep the rest exactly; `invert=True` repaints the rest (outpaint)."""
    video = _check_video(video)
    if not prompt or not prompt.strip():
        raise InputError("inpaint needs a prompt saying what to paint in the masked region")
    region = mask_region(mask, *video.size, invert=invert)
    clip, grid = _Clip.of(video), _whole_grid(engine, video)
    req = _request(engine, prompt, len(grid), video.size, seed, steps, guidance,
                   conditions=[MaskCondition(clip.at(grid), region)], literal=literal)
    return _whole(engine, video, req, grid, progress, "inpaint", {"region": "outside mask" if invert else "mask",
                                                                  "pixels": int(region.sum())}, region)


# --------------------------------------------------------------------------
# Verbs through layouts (issue 29): world footage's tracks, continued, joined or recast
# --------------------------------------------------------------------------

def _tracked(engine, footage: np.ndarray, held_times, grid_times) -> Layout | None:
    """The tracks of the objects in `footage` (at `held_times`, seconds from the render's start) with a box at
    every one of `grid_times` (engine.layout.track.extend_tracks); None for a model without a layout input or
    footage the tracker cannot read (camera footage: no world objects are planned into it)."""
    if not engine.takes_layout or not measure.is_world_footage(footage):
        return None
    found = track(footage, held_times)
    return None if found is None else extend_tracks(found, grid_times)


def _said(layout) -> str | None:
    """What a verb's result says of its tracks (settings["tracks"]; the command line prints it)."""
    return None if layout is None else f"tracked: {layout.describe()}"


def pairs(tracks: list, said: list[dict]) -> dict[int, int]:
    """Track index -> index of the prompt's object that speaks of it: the one naming its colour, else the
    prompt's remaining objects taking the remaining tracks in order."""
    out = {}
    for i, o in enumerate(said):
        k = next((k for k, t in enumerate(tracks) if t.colour == o.get("colour") and k not in out), None)
        if k is not None:
            out[k] = i
    rest = iter(i for i in range(len(said)) if i not in out.values())
    for k in range(len(tracks)):
        if k not in out:
            nxt = next(rest, None)
            if nxt is not None:
                out[k] = nxt
    return out


def own_world(engine, footage, verb: str) -> None:
    """A world model edits only footage of its own world: on camera footage it would paint its coloured shapes
    into the filmmaker's picture (issue 29), so it refuses, saying what can do it instead. `footage`: a Video
    (whose record may say a model made it: then it is the model's own, whatever it looks like) or frames."""
    if engine.family != "world":
        return
    if isinstance(footage, Video):
        if not any(r.kind == "camera" for r in _camera(footage).ranges):
            return  # made by a model (a take of the studio's, a sidecar's record): not a camera's picture
        footage = footage.frames
    share = measure.world_share(footage)  # measured once: the test and the message
    if share >= measure.WORLD_SHARE_MIN:
        return
    raise CameraFootage(f"{_world_model_name(engine)} draws only its own world of coloured shapes and would paint "
                        f"them into this {'still' if verb == 'animate' else 'clip'}, which is camera footage (world "
                        f"share {share:.2f}; its world measures at least {measure.WORLD_SHARE_MIN:g})",
                        f"{verb} it with --model a real checkpoint folder (LTX-Video, Wan) that can draw any footage")


def recast(layout: Layout, reading) -> Layout:
    """Tracked objects recast as a prompt's reading says (remix): a colour, shape or size it names changes,
    the tracks stay (objects paired with the prompt's by `pairs`); a background it names replaces the
    footage's."""
    if reading is None:
        return layout
    said = list(reading.objects)
    paired = pairs(layout.objects, said)
    out = []
    for k, t in enumerate(layout.objects):
        o = said[paired[k]] if k in paired else {}
        size = o.get("size") or t.size
        path = t.path.copy()
        if size != t.size:
            path[:, 3] *= SIZES[size] / SIZES[t.size]
        out.append(dataclasses.replace(t, colour=o.get("colour") or t.colour, shape=o.get("shape") or t.shape,
                                       size=size, path=path))
    return Layout(out, reading.background or layout.background, layout.pillar, layout.camera)


REMIX_MARGIN = 0.25  # a recast object's repainted box: its tracked box grown by this share of its size each side


def recast_region(tracked: Layout, layout: Layout, size, times) -> np.ndarray | None:
    """Where a remix through tracks repaints, bool (height, width) at the footage's `size` (w, h): every box,
    old and new, that each recast object (attributes changed, `recast`) takes at `times`, grown by REMIX_MARGIN.
    None when the prompt recasts no object, or when the region would leave nothing of the input."""
    W, H = size
    out = np.zeros((H, W), bool)
    old, new = tracked.arrays(W, H, times)["boxes"], layout.arrays(W, H, times)["boxes"]
    for k, (a, b) in enumerate(zip(tracked.objects, layout.objects)):
        if (a.colour, a.shape, a.size) == (b.colour, b.shape, b.size):
            continue
        for x0, y0, x1, y1 in np.concatenate([old[k], new[k]]):
            gx, gy = REMIX_MARGIN * (x1 - x0), REMIX_MARGIN * (y1 - y0)
            xa, xb = max(0, math.floor((x0 - gx) * W)), min(W, math.ceil((x1 + gx) * W))
            ya, yb = max(0, math.floor((y0 - gy) * H)), min(H, math.ceil((y1 + gy) * H))
            out[ya:yb, xa:xb] = True
    return out if out.any() and not out.all() else None


def still_layout(engine, req: GenerateRequest, img: np.ndarray) -> Layout | None:
    """Animate through a layout: the objects found in the still, moved as the prompt's plan moves them
    (each planned path shifted to start where its object is in the still, at its size); objects the prompt
    does not move stay. None when the model takes no layout, the still is not the world's or the prompt
    names nothing the planner can place."""
    if not engine.takes_layout:
        return None
    w, h = req.canvas()
    still = fit_frames(img[None], w, h)
    if not measure.is_world_footage(still):
        return None
    found = track(np.repeat(still, 2, 0), [0.0, 1e-3])
    reading = engine.reading(req.prompt) if req.prompt.strip() else None
    if found is None and reading is not None and reading.objects:
        raise InputError(f"found no object in the still to move as the prompt says (an object of the world is a flat "
                         f"{', '.join(COLOURS)} shape); give a still that shows one, or render the prompt without "
                         "a start image")
    plan = engine.plan(req) if found is not None and reading is not None else None
    if plan is None:
        return None
    paired = pairs(found.objects, list(reading.objects)[:len(plan.objects)])  # the plan keeps the prompt's order
    still_objects = recast(found, reading).objects
    out = []
    for k, t in enumerate(still_objects):
        start = t.path[0]
        if k in paired:  # moved as the plan moves the prompt's object, from where the still has it
            path = plan.objects[paired[k]].path.copy()
            path[:, 1:3] = np.clip(path[:, 1:3] - path[0, 1:3] + start[1:3], 0.0, 1.0)
            path[:, 3] *= start[3] / path[0, 3]
        else:  # the prompt does not speak of it: it stays where the still has it
            path = np.array([start, [plan.seconds, *start[1:]]])
        out.append(dataclasses.replace(t, path=path))
    return Layout(out, found.background, found.pillar, plan.camera)


# --------------------------------------------------------------------------
# What makes each gap of a fill (issue 31: a world model never paints into camera footage)
# --------------------------------------------------------------------------

FILL_METHODS = ("auto", "interpolate", "generate")
HOW_WORDS = {"flow": "optical flow", "model": "the model generates it", "hold": "hold a frame"}


class GapPlan(NamedTuple):
    """How fill makes frames start..end (inclusive, on the output's timeline: settings["gaps"])."""
    start: int
    end: int
    how: str  # "flow" (between the frames around it), "model", or "hold" (at an end: the nearest frame repeated)
    why: str
    warning: bool = False  # not what fill would do with a model that may draw here: the result can show it
    confidence: float | None = None  # flow's confidence between the frames around the gap, when measured

    def line(self) -> str:
        """'gap 100-100: optical flow (why)', as the command line and the studio say it."""
        words = HOW_WORDS[self.how]
        return f"gap {self.start}-{self.end}: {words} ({self.why})"

    def as_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "how": self.how, "why": self.why, "warning": self.warning,
                **({"confidence": self.confidence} if self.confidence is not None else {})}


FILL_INSTEAD = ("fill it with --method interpolate (or auto), or with --model a real checkpoint folder (LTX-Video, "
                "Wan) that can draw any footage")


class CameraFootage(InputError):
    """A world model asked to draw into footage that is not the world's (fill's method "generate", extend,
    bridge, remix, animate). `reason` says why without saying what to do, for a caller that says that in its
    own words (the studio)."""

    def __init__(self, reason: str, instead: str = FILL_INSTEAD):
        self.reason = reason
        super().__init__(f"{reason}; {instead}")


def plan_fill(engine, video: Video, ranges=None, method: str = "auto") -> list[GapPlan]:
    """What will make each gap of `fill(engine, video, ranges, method=method)`, decided before any work
    (no model weights are loaded: a model's family is read from its folder). The rules:
      * a world model (engine.family "world", the bundled one) draws only its own world of coloured
        shapes: it may generate only in footage whose `engine.world.measure.world_share` (on a few of
        the good frames) is WORLD_SHARE_MIN or more; any other family (a real checkpoint) may generate
        in any footage;
      * "auto": optical flow for a gap it can bridge (at most FLOW_MAX_GAP_S, flow confidence at least
        FLOW_MIN_CONFIDENCE), the model otherwise; where the model may not draw, flow for every gap
        between frames and "hold" for a gap at an end of the clip, with a warning;
      * "interpolate": flow between frames, "hold" at an end (with a warning);
      * "generate": the model for every gap; a CameraFootage error (an InputError) where it may not draw.
    """
    video = _check_video(video)
    _check_fill_method(method)
    return _plan(engine, video, _timeline(video, ranges), method)[0]


def _check_fill_method(method: str) -> None:
    if method not in FILL_METHODS:
        raise InputError(f"fill method {method!r} is unknown; allowed: {', '.join(FILL_METHODS)}")


@dataclasses.dataclass
class _Timeline:
    """A fill's output timeline: the input's frames plus a place for every dropped frame."""
    times: np.ndarray  # (N,) seconds
    src: np.ndarray  # (N,) the input frame each output frame starts as; -1 for a dropped one
    good: np.ndarray  # (N,) kept as it is
    findings: list  # what detect_bad_frames found (ranges=None), else []
    bad: list  # the input's ranges to remake

    @property
    def gaps(self) -> list[tuple[int, int]]:
        return _runs(~self.good)


def _timeline(video: Video, ranges) -> _Timeline:
    findings = detect_bad_frames(video) if ranges is None else []
    bad = check_ranges(ranges, len(video)) if ranges is not None else \
        [(f.start, f.end) for f in findings if f.kind != "dropped"]
    times, src = list(video.timestamps), list(range(len(video)))
    for f in findings:
        if f.kind == "dropped":
            t0, t1 = video.timestamps[f.start], video.timestamps[f.end]
            times += list(t0 + (t1 - t0) * np.arange(1, f.missing + 1) / (f.missing + 1))
            src += [-1] * f.missing
    order = np.argsort(times, kind="stable")
    times, src = np.asarray(times, np.float64)[order], np.asarray(src)[order]
    good = src >= 0
    for a, b in bad:
        good[np.isin(src, np.arange(a, b + 1))] = False
    if not good.any():
        raise InputError("every frame of the clip is to be filled; at least one good frame is needed around a gap")
    return _Timeline(times, src, good, findings, bad)


def _plan(engine, video: Video, line: _Timeline, method: str) -> tuple[list[GapPlan], float | None]:
    """The plan (see plan_fill) and, for a world model, the footage's world share."""
    share, own_world, who = None, True, ""
    if engine.family == "world":  # measured on good frames only (a black frame is nobody's world)
        kept = line.src[line.good]
        share = world_share(video.frames[kept[np.unique(np.linspace(0, len(kept) - 1, SHARE_FRAMES).round()
                                                        .astype(int))]])
        own_world = share >= WORLD_SHARE_MIN
        who = _world_model_name(engine)
    camera = f"{who} draws only its own world of shapes; this clip is camera footage"
    if method == "generate" and not own_world:
        raise CameraFootage(f"{who} draws only its own world of coloured shapes and would paint them into this "
                            f"clip, which is camera footage (world share {share:.2f}; footage of its world measures "
                            f"at least {WORLD_SHARE_MIN:g})")
    out = []
    for a, b in line.gaps:
        at_start, at_end = a == 0, b == len(line.times) - 1
        if at_start or at_end:
            edge = "start" if at_start else "end"
            near = b + 1 if at_start else a - 1
            held = f"frame {int(line.src[near])} repeated: flow needs a frame on both sides, and this gap is at " \
                   f"the clip's {edge}"
            if method == "generate" or (method == "auto" and own_world):
                out.append(GapPlan(a, b, "model", "asked to generate" if method == "generate" else
                                   f"flow needs a frame on both sides, and this gap is at the clip's {edge}"))
            elif method == "interpolate":
                out.append(GapPlan(a, b, "hold", f"{held} (interpolation only)", True))
            else:
                out.append(GapPlan(a, b, "hold", f"{held}; {camera}", True))
            continue
        if method == "generate":
            out.append(GapPlan(a, b, "model", "asked to generate"))
            continue
        span = line.times[b + 1] - line.times[a - 1]
        short = span <= FLOW_MAX_GAP_S + 1 / 1000
        conf = _flow_confidence(video.frames[line.src[a - 1]], video.frames[line.src[b + 1]]) \
            if method == "interpolate" or short or not own_world else None
        if method == "interpolate":
            out.append(GapPlan(a, b, "flow", f"interpolation only; flow confidence {conf:.2f}", False, conf))
        elif short and conf >= FLOW_MIN_CONFIDENCE:
            out.append(GapPlan(a, b, "flow", f"a short gap flow bridges (confidence {conf:.2f})", False, conf))
        elif own_world:
            out.append(GapPlan(a, b, "model", f"{span:.2f} s is more than flow bridges" if not short else
                               f"flow confidence {conf:.2f} is under {FLOW_MIN_CONFIDENCE:g}"))
        else:
            doubts = ([] if short else [f"{span:.2f} s is long for flow"]) + \
                ([] if conf >= FLOW_MIN_CONFIDENCE else [f"flow confidence only {conf:.2f}"])
            out.append(GapPlan(a, b, "flow", camera + "".join(f"; {d}" for d in doubts[:1]) +
                               (f", {doubts[1]}" if len(doubts) > 1 else "") + ("; expect smearing" if doubts else ""),
                               True, conf))
    return out, share


def _world_model_name(engine) -> str:
    return "the bundled model" if Path(engine.model_path).resolve() == BUNDLED_MODEL.resolve() else "this world model"


def _flow_confidence(a: np.ndarray, b: np.ndarray) -> float:
    """The interpolator's confidence between two frames (0 without an interpolator: flow is not trusted)."""
    try:
        # deferred: optional: without the interpolator (OpenCV) flow is not trusted
        from engine.video.interpolate import flow_confidence
    except ImportError:
        return 0.0
    return round(float(flow_confidence(a, b)), 3)


# --------------------------------------------------------------------------
# Finding bad frames
# --------------------------------------------------------------------------

class Finding(NamedTuple):
    """Frames start..end (inclusive, input indices) that are `kind`; for "dropped", start and
    end are the two frames around the hole and `missing` the frames that should be between."""
    start: int
    end: int
    kind: str  # dropped | duplicated | frozen | black
    missing: int = 0


BLACK_LEVEL = 16.0  # mean luma below this, and...
BLACK_PEAK = 40.0  # ...99th-percentile luma below this: a black frame
CHANGED_LEVEL = 10.0  # a pixel changed between frames when its luma moved by more (codec noise stays below)
MOVING_SHARE = 0.002  # a clip moves when typically this share of its pixels changes from frame to frame
REPEAT_FRACTION = 0.1  # a frame repeats its predecessor when it changes < this x the typical share
DROP_FACTOR = 1.5  # a frame interval over this x the median interval is a hole


def detect_bad_frames(video: Video) -> list[Finding]:
    """Black frames, single repeated frames ("duplicated"), runs of repeated frames in a moving
    clip ("frozen") and holes in the timestamps ("dropped"), in frame order."""
    video = _check_video(video)
    frames = video.frames
    small = frames[:, :: max(1, frames.shape[1] // 64), :: max(1, frames.shape[2] // 64)].astype(np.float32)
    luma = small @ np.float32([0.299, 0.587, 0.114])  # F, h, w
    black = (luma.mean((1, 2)) < BLACK_LEVEL) & (np.percentile(luma, 99, axis=(1, 2)) < BLACK_PEAK)
    out = [] if black.all() else [Finding(a, b, "black") for a, b in _runs(black)]
    if len(frames) > 2:
        change = (np.abs(np.diff(luma, axis=0)) > CHANGED_LEVEL).mean((1, 2))  # [i]: frame i+1 vs frame i
        moving = change[~(black[1:] | black[:-1])]
        typical = float(np.median(moving)) if len(moving) else 0.0
        if typical >= MOVING_SHARE:
            repeat = np.concatenate([[False], change < REPEAT_FRACTION * typical]) & ~black
            out += [Finding(a, b, "duplicated" if a == b else "frozen") for a, b in _runs(repeat)]
    dt = np.diff(video.timestamps)
    if len(dt) >= 2:
        step = float(np.median(dt))
        for i in np.flatnonzero(dt > DROP_FACTOR * step):
            out.append(Finding(int(i), int(i) + 1, "dropped", int(round(dt[i] / step)) - 1))
    return sorted(out)


def check_ranges(ranges, n: int) -> list[tuple[int, int]]:
    """Validated frame ranges [(A, B)] (inclusive) inside a clip of n frames, sorted, not overlapping."""
    out = []
    for r in ranges:
        try:
            a, b = (int(r[0]), int(r[1]))
        except (TypeError, ValueError, IndexError):
            raise InputError(f"frame range {r!r} is not a pair of frame numbers A-B") from None
        if a > b:
            raise InputError(f"frame range {a}-{b} is reversed; give the first frame first ({b}-{a})")
        if not 0 <= a <= b < n:
            raise InputError(f"frame range {a}-{b} is outside the clip; frames are 0..{n - 1} and A <= B")
        out.append((a, b))
    if not out:
        raise InputError("no frame ranges given; use A-B[,C-D...] with 0-based, inclusive frame numbers")
    out.sort()
    for (a0, b0), (a1, b1) in zip(out, out[1:]):
        if a1 <= b0:
            raise InputError(f"frame ranges {a0}-{b0} and {a1}-{b1} overlap; give each frame once")
    return out


def parse_ranges(text: str, n: int | None = None) -> list[tuple[int, int]]:
    """'3-5, 9; 12-14' -> [(3, 5), (9, 9), (12, 14)]: the one frame-range grammar (`fill --frames`, the studio's
    Fill frames). Ranges are A-B (0-based, inclusive) or a lone frame A, separated by commas or semicolons;
    spaces and empty items are passed over, and "3-" (no end) is refused rather than read as frame 3. With `n`,
    the ranges are also checked against a clip of n frames (check_ranges: inside it, first frame first, no
    overlaps); text with no range at all gives [] and the caller says what it needs."""
    out = []
    for part in str(text or "").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        a, dash, b = part.partition("-")
        try:
            out.append((int(a), int(b) if dash else int(a)))
        except ValueError:
            raise InputError(f"frame range {part!r} is not A-B (0-based, inclusive), e.g. 10-17 or 30") from None
    return check_ranges(out, n) if n is not None and out else out


# --------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------

MIN_IMAGE_SIDE = 16  # one latent patch's worth of pixels at the least


def load_image(image) -> np.ndarray:
    """A still as uint8 (H, W, 3): from an array (grey, RGB or RGBA), a PIL image or a file path."""
    if isinstance(image, (str, Path)):
        image = open_image(image, f"image {str(image)!r}").convert("RGB")
    if isinstance(image, Image.Image):
        image = np.asarray(image.convert("RGB"))
    a = np.asarray(image)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, -1)
    if a.ndim != 3 or a.shape[-1] not in (3, 4) or a.dtype != np.uint8 or 0 in a.shape:
        raise InputError(f"an image must be uint8 (H, W, 3) RGB, got {a.dtype} {a.shape}")
    if min(a.shape[:2]) < MIN_IMAGE_SIDE:  # a 1x1 still was stretched into a flat frame without a word
        raise InputError(f"the image is {a.shape[1]}x{a.shape[0]}; give one at least {MIN_IMAGE_SIDE} px a side")
    return np.ascontiguousarray(a[..., :3])


def load_mask(mask, width: int, height: int) -> np.ndarray:
    """bool (height, width), True where to repaint: from a bool array, a grey/RGB(A) image array,
    a PIL image or a file path (white = repaint; alpha, when present, is multiplied in). A mask
    of another size must have the video's aspect (it is resized)."""
    if isinstance(mask, (str, Path)):
        try:
            mask = open_image(mask, f"mask {str(mask)!r}")
        except UnreadableImage:
            raise InputError(f"mask {str(mask)!r} is not an image; give a PNG, white where to repaint") from None
    if isinstance(mask, Image.Image):
        grey = np.asarray(mask.convert("L"), np.float32)
        if "A" in mask.getbands():
            grey = grey * np.asarray(mask.getchannel("A"), np.float32) / 255
        m = grey > 127
    else:
        a = np.asarray(mask)
        if a.dtype == bool and a.ndim == 2:
            m = a
        elif a.ndim in (2, 3) and a.dtype == np.uint8:
            m = (a if a.ndim == 2 else a[..., :3].mean(-1)) > 127
        else:
            raise InputError(f"a mask must be a bool or uint8 image, got {a.dtype} {a.shape}")
    h, w = m.shape
    if (w, h) != (width, height):
        if abs(math.log((w / h) / (width / height))) > 0.01:
            raise InputError(f"the mask is {w}x{h} but the video is {width}x{height}; give a mask of the "
                             "video's size (or at least its aspect)")
        m = np.asarray(Image.fromarray(m.astype(np.uint8) * 255).resize((width, height), Image.NEAREST)) > 127
    return m


def mask_region(mask, width: int, height: int, invert: bool = False) -> np.ndarray:
    """The region to repaint, bool (height, width): the mask's white (or, inverted, the rest)."""
    region = load_mask(mask, width, height)
    region = ~region if invert else region
    if not region.any():
        colour = "black" if invert else "white"
        raise InputError(f"the mask leaves nothing to repaint: it has no {colour} pixels")
    if region.all():
        raise InputError("the mask covers the whole frame; use remix or generate to repaint everything")
    return region


def _check_video(video) -> Video:
    if isinstance(video, np.ndarray):
        video = Video.from_frames(video, BASE_FPS)
    if not isinstance(video, Video):
        raise InputError(f"expected a media.Video (see engine.video.media.read_video), got {type(video).__name__}")
    if len(video) == 0:
        raise InputError("the video has no frames")
    ts = np.asarray(video.timestamps, np.float64)
    if len(ts) != len(video) or np.any(np.diff(ts) <= 0) or not np.isfinite(ts).all():
        raise InputError("the video's frame times are not strictly increasing; re-encode it at a constant rate")
    if not video.fps > 0:
        raise InputError(f"the video's frame rate must be positive, got {video.fps}")
    return video


def _check_seconds(seconds) -> None:
    if not (0 < seconds <= MAX_SECONDS) or math.isnan(seconds):
        raise InputError(f"seconds must be in (0, {MAX_SECONDS:g}], got {seconds}")


# --------------------------------------------------------------------------
# Spans: footage + what the model makes, on one grid
# --------------------------------------------------------------------------

@dataclasses.dataclass
class _Clip:
    """Footage to take context from: frames (N, H, W, 3) at increasing times (s)."""
    frames: np.ndarray
    times: np.ndarray

    @classmethod
    def of(cls, video: Video) -> "_Clip":
        return cls(video.frames, np.asarray(video.timestamps, np.float64))

    def at(self, times) -> np.ndarray:
        """Frames at `times`: exact frames on their times, flow in-betweens elsewhere, ends held."""
        return resample(self.frames, self.times, np.asarray(times, np.float64))[0]


@dataclasses.dataclass
class _Span:
    frames: np.ndarray  # at the requested output times, input size
    positions: np.ndarray  # fractional index of each output frame on the grid
    kinds: list  # per grid frame: "camera" (footage) or the model's kind
    generation: object
    base: np.ndarray  # the model's frames (canvas size)
    settings: dict
    source: str | None
    cancelled: bool = False
    seconds: float = 0.0

    def record(self, fps: float) -> ProvenanceRecord:
        return frame_record(self.positions, self.kinds, self.generation, fps, self.source)


def _span(engine, clip: _Clip, t_a, t_b, out_times, prompt, seed, steps, guidance, progress,
          model_kind: str = "generated", literal: bool = False) -> _Span:
    """Make the frames at `out_times`, which lie after `t_a` and before `t_b` (either may be None:
    extend), from the footage in `clip` around them."""
    r = engine.temporal_ratio
    before, after = 1 + r * math.ceil((CONTEXT_FRAMES - 1) / r), r * math.ceil(CONTEXT_FRAMES / r)
    tol = 1e-6
    if t_a is not None and t_b is not None:
        m = max(1 + r, 1 + r * round(((t_b - t_a) * BASE_FPS - 1) / r))  # grid steps from t_a to t_b
        step = (t_b - t_a) / m
    else:
        step = 1 / BASE_FPS
    if t_a is not None:  # history held at the start: as much as the footage has, whole latent frames
        have = int(math.floor((t_a - clip.times[0]) / step + tol))
        before = 1 + r * min((before - 1) // r, have // r)
        start = t_a - (before - 1) * step
    if t_b is not None:  # future held at the end (footage past the clip's end would repeat its last frame)
        have = int(math.floor((clip.times[-1] - t_b) / step + tol)) + 1
        after = r * max(1, min(after // r, have // r))
    if t_a is not None:
        if t_b is None:
            n = before + r * math.ceil(((out_times[-1] - t_a) / step - tol) / r)
            held = np.arange(n) < before
        else:
            n = before + m - 1 + after
            held = (np.arange(n) < before) | (np.arange(n) >= n - after)
    else:  # extend backward: footage held at the end, the new frames lead into it
        new = 1 + r * math.ceil(((t_b - out_times[0]) / step - tol - 1) / r)
        n = new + after
        start = t_b - new * step
        held = np.arange(n) >= new
    if n > MAX_SPAN_FRAMES:
        raise InputError(f"that is {n} frames at {BASE_FPS:g} fps; at most {MAX_SPAN_FRAMES} "
                         f"({MAX_SPAN_FRAMES / BASE_FPS / 60:g} min) at once")
    times = start + np.arange(n) * step
    footage = clip.at(times[held])
    W, H = clip.frames.shape[2], clip.frames.shape[1]
    conditions = [ClipCondition(f, a) for f, (a, b) in _split(footage, held)]
    layout = _tracked(engine, footage, times[held] - times[0], times - times[0])
    req = _request(engine, prompt, n, (W, H), seed, steps, guidance, conditions=conditions, literal=literal,
                   layout=layout)
    result = engine.generate(req, progress)
    result.settings["tracks"] = _said(layout)
    grid = np.zeros((n, H, W, 3), np.uint8)
    grid[held] = footage
    if len(result.base_frames) == n:
        grid[~held] = unfit_frames(result.base_frames[~held], W, H)
    frames, pos = resample(grid, times, out_times)
    kinds = ["camera" if h else model_kind for h in held]
    return _Span(frames, pos, kinds, engine.generation(req), result.base_frames, result.settings, "input",
                 result.cancelled or len(result.base_frames) != n, result.seconds)


def _split(frames: np.ndarray, held: np.ndarray):
    """(frames of each run of held grid frames, (run start, run end)) from the held frames in order."""
    i = 0
    for a, b in _runs(held):
        yield frames[i:i + b - a + 1], (a, b)
        i += b - a + 1


def _request(engine, prompt, n, size, seed, steps, guidance, **kw) -> GenerateRequest:
    """A request for n frames at the base rate on the canvas for footage of `size` (w, h)."""
    w, h = canvas_for(*size)
    return GenerateRequest(prompt or "", frames=n, fps=BASE_FPS, width=w, height=h, seed=seed, steps=steps,
                           guidance=guidance, **kw)


def _whole_grid(engine, video: Video) -> np.ndarray:
    """Grid times covering the whole clip at the base rate (remix, inpaint)."""
    ts = np.asarray(video.timestamps, np.float64)
    n = engine.frames_for(ts[-1] - ts[0] + 1 / BASE_FPS)
    if n > MAX_SPAN_FRAMES:
        raise InputError(f"the clip is {ts[-1] - ts[0]:.0f} s long; at most {MAX_SPAN_FRAMES / BASE_FPS:g} s at once")
    return ts[0] + np.arange(n) / BASE_FPS


def _whole(engine, video, req, grid, progress, verb, details, region=None) -> Result:
    """Run a request over the whole clip and deliver it at the clip's own frame times."""
    result = engine.generate(req, progress)
    W, H = video.size
    rate = float(video.fps)
    settings = {**result.settings, "verb": verb, "input": video.source, **details}
    if result.cancelled or len(result.base_frames) != len(grid):
        return Result(video.frames.copy(), rate, result.base_frames, settings,
                      [r.to_dict() for r in _camera(video).ranges], True, result.seconds, _camera(video))
    frames, pos = resample(unfit_frames(result.base_frames, W, H), grid, video.timestamps)
    kind = "generated"
    if region is not None:
        frames = np.where(region[None, ..., None], frames, video.frames)
        kind, pos = "inpainted", np.round(pos)  # every frame is the input with a painted region
    record = frame_record(pos, [kind] * len(grid), engine.generation(req), rate, details=details)
    return Result(frames, rate, result.base_frames, settings, [r.to_dict() for r in record.ranges], False,
                  result.seconds, record)


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def _runs(mask) -> list[tuple[int, int]]:
    """(start, end) inclusive of each run of True."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    d = np.flatnonzero(np.diff(m.astype(np.int8)))
    return [(int(a), int(b) - 1) for a, b in zip(d[::2], d[1::2])]


def _part(progress, i: int, k: int):
    if progress is None:
        return None
    return lambda f, stage, info=None: progress((i + f) / k, f"gap {i + 1}/{k}: {stage}", info)


def _camera(video: Video) -> ProvenanceRecord:
    """The record of the input's own frames: `video.metadata["provenance"]` when the caller put
    one there (a ProvenanceRecord or its dict, e.g. a studio take's), else camera footage."""
    rec = video.metadata.get("provenance") if video.metadata else None
    if isinstance(rec, dict):
        rec = ProvenanceRecord.from_dict(rec)
    if isinstance(rec, ProvenanceRecord) and rec.frame_count == len(video):
        return ProvenanceRecord(list(rec.ranges), float(video.fps), list(rec.decisions), rec.watermark)
    return ProvenanceRecord.camera(len(video), video.source or "input", float(video.fps))


def _camera_parts(cam: ProvenanceRecord, src: np.ndarray) -> list[ProvenanceRecord]:
    """Records of input frames `src` (indices, all >= 0, increasing by one) taken from `cam`."""
    if len(src) == 0:
        return []
    return [cam.slice(int(src[0]), int(src[-1]) + 1)]


def _result(frames, fps, span: _Span, settings, record) -> Result:
    return Result(frames, fps, span.base, settings, [r.to_dict() for r in record.ranges], False, span.seconds, record)


def _unchanged(video: Video, span: _Span, verb: str) -> Result:
    """A cancelled edit: the input as it was, marked cancelled."""
    cam = _camera(video)
    return Result(video.frames.copy(), float(video.fps), span.base, {**span.settings, "verb": verb},
                  [r.to_dict() for r in cam.ranges], True, span.seconds, cam)


def retime(result: Result, fps: float) -> Result:
    """A verb's result delivered at another frame rate (flow in-betweens; the record retimed)."""
    if not (0 < fps <= 120) or math.isnan(fps):
        raise InputError(f"fps must be in (0, 120], got {fps}")
    frames, pos = retime_frames(result.frames, result.fps, fps)
    n = len(result.frames)
    record = result.record.retime(pos, fps, {"method": "flow"}) if result.record is not None and n else None
    return dataclasses.replace(result, frames=frames, fps=float(fps), record=record,
                               provenance=[] if record is None else [r.to_dict() for r in record.ranges],
                               settings={**result.settings, "delivered_fps": float(fps)})
