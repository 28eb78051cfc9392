"""Retiming: frames at any times from frames at other times, by optical flow (engine.video.interpolate), for every
path that delivers a rate the model did not render (takes, long takes, verbs, scenes)."""
from __future__ import annotations

import math

import numpy as np

from engine.video.media import Video


def resample(frames: np.ndarray, times, out_times, tol: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """Frames at `out_times` (s) from `frames` at increasing `times` (s): an exact copy where an
    output time is within `tol` of a frame's time, else an in-between of its two neighbours made
    by the frame interpolator (one flow per pair, reused for every in-between). Times outside
    the frames' span take the nearest end frame. Returns (frames, positions), a position being
    the fractional index into `frames` each output frame shows (for provenance)."""
    times, out_times = np.asarray(times, np.float64), np.asarray(out_times, np.float64)
    if len(frames) == 0:
        return frames[:0], np.zeros(0)
    out = np.empty((len(out_times), *frames.shape[1:]), np.uint8)
    pos = np.interp(out_times, times, np.arange(len(times), dtype=np.float64))
    pair, flow = None, None
    for j, t in enumerate(out_times):
        k = int(np.argmin(np.abs(times - t)))
        if abs(times[k] - t) <= tol or not times[0] < t < times[-1]:
            out[j], pos[j] = frames[k], k
            continue
        i = min(int(math.floor(pos[j])), len(frames) - 2)
        if pair != i:
            pair, flow = i, _pair_flow(frames[i], frames[i + 1])
        out[j] = flow(pos[j] - i)
    return out, pos


def delivered_count(n: int, fps_in: float, fps: float) -> int:
    """How many frames at `fps`, the first at 0 s, fall within n frames at `fps_in` (up to its last frame's time;
    1e-6 lets a time that lands on the last frame but for rounding count)."""
    return math.floor((n - 1) / fps_in * fps + 1e-6) + 1 if n > 0 else 0


def retime(frames: np.ndarray, fps_in: float, fps: float, count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`frames` at `fps_in` delivered at `fps` from 0 s (resample): every frame that falls within the clip, or the
    first `count` of them. Returns (frames, positions) as resample does."""
    fit = delivered_count(len(frames), fps_in, fps)
    count = fit if count is None else max(min(count, fit), 0)
    return resample(frames, np.arange(len(frames)) / fps_in, np.arange(count) / fps)


def retime_loop(frames: np.ndarray, fps_in: float, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """One loop period of P frames at `fps_in` delivered at `fps`, resampled on the ring: the in-betweens after
    the last frame lead into the first. Returns (frames, positions); a position of P is the first frame again."""
    P = len(frames)
    ring = np.concatenate([frames, frames[:1]])
    return resample(ring, np.arange(P + 1) / fps_in, np.arange(round(P / fps_in * fps)) / fps)


def _pair_flow(a: np.ndarray, b: np.ndarray):
    """A function t -> the frame at t in (0, 1) between a and b."""
    try:
        # deferred: optional: without the interpolator (OpenCV), a linear blend
        from engine.video.interpolate import default_interpolator
    except ImportError:  # no interpolator: a linear blend (ghosts where things move)
        return lambda t: np.round(a * (1.0 - t) + b * t).astype(np.uint8)
    interp = default_interpolator()
    p = interp.flow(a, b)
    return lambda t: interp.synthesize(p, t)




def constant_rate(video):
    """Variable-frame-rate footage as constant-rate frames at its mean rate, placed by its timestamps: output
    frame k (time t0 + k / fps) is the frame the source showed at that time (the last one that started by
    then; frames repeated or dropped, never made up), so the picture keeps its timing and the sound, cut
    from t0, stays under it. Returns (the Video, the source frame each output frame shows); constant-rate
    video comes back as it is."""
    ts = np.asarray(video.timestamps, np.float64)
    if not video.variable_rate:
        return video, np.arange(len(video))
    fps = float(video.fps)
    out_times = ts[0] + np.arange(int(math.floor((ts[-1] - ts[0]) * fps + 1e-6)) + 1) / fps
    pos = np.clip(np.searchsorted(ts, out_times + 1e-6, side="right") - 1, 0, len(ts) - 1)
    return Video(video.frames[pos], video.fps, out_times, source=video.source, has_audio=video.has_audio,
                 metadata={**video.metadata, "conformed_from_variable_rate": True}), pos
