"""Long takes: a minute and more, streamed to disk window by window, resumable.

A take longer than one window is made by the engine's sliding windows
(`engine.service`): each window holds the last frames of the one before clean
and denoises the rest. `render_take` runs the same plan (`Engine.prepare`,
`Engine.render_window`), but after every window it

1. retimes the frames that are now final to the delivery rate,
2. watermarks the ones the model made and appends them to `OUT.partial.mp4`, a
   fragmented MP4 that plays while it grows,
3. saves the window (its frames, the delivered frames, the random generator's
   state) under `OUT.render/`, atomically.

So memory holds one window whatever the length, and a render that is killed or
stopped resumes from its last finished window: the noise generator picks up
where it was, the held frames are the saved ones, and the finished take is
identical to an uninterrupted one with the same seed. At the end the partial
file is remuxed (no re-encode) into `OUT`, with the sidecar, signed, and the
checkpoint folder is removed.

Anchor against drift: every window after the first also holds the take's anchor
(its first frame, or the still of an image condition) in place of the oldest
frame of its overlap (`engine.service.hold_anchor`, the same frames as
`Engine.generate`; renders that hold footage have none), so colours and looks are pulled back to the start instead
of being copied from copies (measured in docs/BENCHMARKS.md, "Long takes").
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

from engine.errors import InputError
from engine.layout import Layout
from engine.provenance import watermark_record_frames
from engine.provenance.record import concatenate
from engine.request import BASE_FPS, GenerateRequest, ProgressFn, frame_record
from engine.sampling.conditioning import ClipCondition, ImageCondition, WindowKnowledge, fit_frames, still_frames
from engine.service import Engine, takes_anchor
from engine.video import media
from engine.video.growing import GrowingMP4, finish_growing
from engine.video.retime import delivered_count, resample

CHECKPOINT_SUFFIX = ".render"
PARTIAL_SUFFIX = ".partial.mp4"


class CheckpointMismatch(InputError):
    """OUT.render/ holds an unfinished render of other settings (resume=False starts over)."""


@dataclasses.dataclass
class TakeResult:
    path: str
    frames: int
    fps: float
    windows: int
    resumed_from: int  # windows found finished on disk (0: a fresh render)
    cancelled: bool
    seconds: float
    record: object  # engine.provenance.ProvenanceRecord
    settings: dict


def streamable(engine: Engine, req: GenerateRequest) -> bool:
    """Whether `render_take` can stream this request (else: Engine.generate in memory).
    Loops, remixes and masks need the whole clip; LTX and Wan render themselves."""
    if engine.pipe.renders_itself or req.loop or req.init_video is not None:
        return False
    return all(isinstance(c, (ImageCondition, ClipCondition)) for c in req.conditions)


def checkpoint_dir(out: str | Path) -> Path:
    return Path(str(out) + CHECKPOINT_SUFFIX)


def partial_path(out: str | Path) -> Path:
    stem = str(out)[:-4] if str(out).lower().endswith(".mp4") else str(out)
    return Path(stem + PARTIAL_SUFFIX)


# --------------------------------------------------------------------------
# The render
# --------------------------------------------------------------------------

def render_take(engine: Engine, req: GenerateRequest, out: str | Path, progress: ProgressFn | None = None,
                on_window=None, watermark=None, resume: bool = True, anchor: bool = True, seal=None,
                windows=None) -> TakeResult:
    """Render `req` into the MP4 `out`, streaming and resumable (see the module's docstring).

    on_window(done, total, partial_path): after each finished window (the studio shows it).
    watermark(frames, record) -> frames: marks model-made frames before they are encoded
        (default: engine.provenance.watermark_record_frames).
    resume: pick up a matching checkpoint under OUT.render (False: start over).
    seal(path, record): called on the finished file before it takes `out`'s place (the CLI signs it there);
        when it fails, the checkpoint stays, so the same command again only finishes and seals.
    windows(plan, resume_point, progress): where the windows are rendered (default `render_windows` on
        `engine`, in this process; the studio's farm renders them on a worker and streams them home).
    The file at `out` is replaced only when the whole take is finished; a stopped
    render (the progress callback raised Cancelled) returns cancelled=True and leaves
    the checkpoint and the partial file for the next run."""
    t0 = time.time()
    if media.check_output_path(out) != "mp4":
        raise InputError(f"a long take streams into an MP4; --out must end in .mp4, got {out!r}")
    if not streamable(engine, req):
        raise InputError("this request cannot stream (loop, remix, mask or a model that renders itself); "
                         "use Engine.generate")
    if watermark is None:
        watermark = watermark_record_frames
    plan = plan_take(engine, req, anchor)
    job = plan.job
    ckpt = checkpoint_dir(out)
    fingerprint = _fingerprint(engine, req, plan)
    state = _open_checkpoint(ckpt, fingerprint, resume)
    writer = GrowingMP4(partial_path(out), job.width, job.height, req.fps)
    records, done_windows = [], state["windows_done"]
    try:
        # Windows already on disk: their delivered frames go back into the partial file.
        prev = None
        for wi in range(done_windows):
            saved = np.load(ckpt / f"w{wi:04d}.npz")
            records.append(_chunk_record(engine, req, saved))
            writer.write(watermark(saved["delivered"], records[-1]))
            prev = saved
        point = Resume(done_windows, state["delivered"], None if prev is None else {k: prev[k] for k in prev.files})
        next_j, cancelled = point.delivered, False
        for wi, chunk in (windows or partial(render_windows, engine))(plan, point, progress):
            if chunk is None:
                cancelled = True
                break
            _save_window(ckpt, wi, chunk)
            next_j += len(chunk["delivered"])
            state.update(windows_done=wi + 1, delivered=int(next_j))
            _write_state(ckpt, state)
            records.append(_chunk_record(engine, req, chunk))
            writer.write(watermark(chunk["delivered"], records[-1]))
            if on_window is not None:
                on_window(wi + 1, len(job.windows), str(writer.path))
    finally:
        writer.close()
    record = concatenate([r for r in records if r is not None], req.fps) if any(records) else None
    settings = {**engine.settings(req), "anchor": plan.anchor, "windows": len(job.windows), **job.layout_settings()}
    if cancelled:
        return TakeResult(str(writer.path), next_j, req.fps, len(job.windows), done_windows, True,
                          time.time() - t0, record, settings)
    finish_growing(writer.path, out, next_j, None if seal is None else lambda path: seal(path, record))
    shutil.rmtree(ckpt, ignore_errors=True)
    return TakeResult(str(out), next_j, req.fps, len(job.windows), done_windows, False, time.time() - t0,
                      record, settings)


class _Plan:
    """Which base frames each window delivers, the request's conditions per window, the anchor."""

    def __init__(self, job, req: GenerateRequest, anchor: bool):
        self.job, self.req, self.anchor = job, req, anchor
        self.count = max(min(req.delivered(), delivered_count(job.n, BASE_FPS, req.fps)), 0)

    def knowledge(self, idx: np.ndarray) -> WindowKnowledge:
        """The request's image and clip conditions on the window `idx` (frames a..b-1)."""
        job, a = self.job, int(idx[0])
        win = WindowKnowledge.empty(len(idx), job.width, job.height)
        for c in self.req.conditions:
            if isinstance(c, ImageCondition):
                at = c.frame_index if c.frame_index >= 0 else job.n + c.frame_index
                if not 0 <= at < job.n:
                    raise InputError(f"image condition at frame {c.frame_index} is outside the clip (0..{job.n - 1})")
                win.place_still(fit_frames(np.asarray(c.image)[None], job.width, job.height), at - a,
                                [j - a for j in still_frames(at, job.n, job.r, job.time_patch)], c.strength)
            else:
                if not -len(c.frames) < c.frame_index < job.n:
                    raise InputError(f"clip condition at frame {c.frame_index} does not overlap the clip "
                                     f"(0..{job.n - 1})")
                lo, hi = max(0, a - c.frame_index), min(len(c.frames), a + len(idx) - c.frame_index)
                if lo < hi:
                    win.place(fit_frames(np.asarray(c.frames)[lo:hi], job.width, job.height), c.frame_index + lo - a,
                              c.strength)
        return win

    def delivered_until(self, last_base: int) -> int:
        """Delivered frames (exclusive end) whose time is covered once base frame `last_base` is final."""
        if last_base >= self.job.n - 1:
            return self.count
        return min(self.count, delivered_count(last_base + 1, BASE_FPS, self.req.fps))

@dataclasses.dataclass
class Resume:
    """Where a take's render picks up: windows finished, delivered frames so far, the last window's chunk
    (its base frames are held by the next window; its generator state and anchor carry on). Nothing but the
    last chunk is needed to go on, so this is all a farm worker is handed."""
    windows: int = 0
    delivered: int = 0
    last: dict | None = None


def plan_take(engine: Engine, req: GenerateRequest, anchor: bool = True) -> _Plan:
    """The take's plan (Engine.prepare, the delivered frames per window, whether it holds its anchor)."""
    return _Plan(engine.prepare(req), req, anchor and takes_anchor(req))


def render_windows(engine: Engine, plan: _Plan, point: Resume | None = None, progress: ProgressFn | None = None):
    """Render the take's windows after `point` (default: from the first) and yield `(wi, chunk)` for each
    finished one: `chunk` is what `render_take` saves as OUT.render/wNNNN.npz (delivered frames, their
    positions and kinds, base frames, idx, generator state, anchor). A render stopped in window wi yields
    `(wi, None)` and ends. Resumed from the chunk of window k-1, the windows from k are the same as an
    uninterrupted render's: the generator picks up its state, the held frames are the saved ones."""
    job, req = plan.job, plan.req
    point = point or Resume()
    prev = point.last
    generator = torch.Generator().manual_seed(req.seed)
    if prev is not None:
        generator.set_state(torch.from_numpy(np.asarray(prev["generator"])))
    anchor_frame = None if prev is None else prev.get("anchor")
    next_j = point.delivered
    own = {}  # window -> the request's own conditions on it (for the frames' kinds)

    def knows(wi, idx, hold):
        own[wi] = plan.knowledge(idx)
        win = own[wi].take(np.arange(len(idx)))  # a copy: `own` stays the request's alone
        if prev is None:
            return win, None
        held = _held_from(prev, idx)
        win.hold(*held)
        return win, held[0]

    for w in engine.windows(job, knows, generator, progress, plan.anchor, start=point.windows, first=anchor_frame):
        if w.cancelled:
            yield w.wi, None
            return
        idx, frames = w.idx, w.frames
        kinds = ["camera" if k else "generated" for k in own.pop(w.wi).exact]
        j_stop = plan.delivered_until(idx[-1])
        delivered, pos = resample(frames, idx / BASE_FPS, np.arange(next_j, j_stop) / req.fps)
        chunk = dict(delivered=delivered, pos=pos, kinds=np.array(kinds), base=frames, idx=idx,
                     generator=generator.get_state().numpy())
        if w.first is not None:
            chunk["anchor"] = w.first
        next_j, prev = j_stop, chunk
        yield w.wi, chunk


def _held_from(prev, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The previous window's frames that fall inside `idx`: (frames at idx, where held)."""
    p_idx = np.asarray(prev["idx"])
    frames = np.zeros((len(idx), *prev["base"].shape[1:]), np.uint8)
    where = np.isin(idx, p_idx)
    pos = {int(k): i for i, k in enumerate(p_idx)}
    for i, k in enumerate(idx):
        if where[i]:
            frames[i] = prev["base"][pos[int(k)]]
    return frames, where


def _chunk_record(engine: Engine, req: GenerateRequest, chunk):
    if len(chunk["delivered"]) == 0:
        return None
    kinds = [str(k) for k in chunk["kinds"]]  # positions are into the window's frames
    return frame_record(np.asarray(chunk["pos"]), kinds, engine.generation(req), req.fps,
                        source="conditions" if req.conditions else None)


# --------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------

def _fingerprint(engine: Engine, req: GenerateRequest, plan: _Plan) -> str:
    s = {k: v for k, v in engine.settings(req).items() if k not in ("dtype", "device", "processor")}
    s["conditions_digest"] = [_digest(c) for c in req.conditions]
    if req.layout is not None:  # a given layout is part of what was asked for
        s["layout"] = req.layout.to_dict() if isinstance(req.layout, Layout) else req.layout
    s["anchor"] = plan.anchor
    s["model_folder"] = str(engine.model_path.resolve())
    index = engine.model_path / "model_index.json"
    if index.exists():
        s["model_index"] = hashlib.sha256(index.read_bytes()).hexdigest()[:16]
    return hashlib.sha256(json.dumps(s, sort_keys=True, default=str).encode()).hexdigest()


def _digest(c) -> str:
    data = c.image if isinstance(c, ImageCondition) else c.frames
    return hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest()[:16] + f"@{c.frame_index}/{c.strength}"


def _open_checkpoint(ckpt: Path, fingerprint: str, resume: bool) -> dict:
    fresh = {"fingerprint": fingerprint, "windows_done": 0, "delivered": 0}
    state_file = ckpt / "state.json"
    if ckpt.exists() and resume and state_file.exists():
        try:
            state = json.loads(state_file.read_text())
        except (OSError, json.JSONDecodeError):
            state = None
        if state is not None and state.get("fingerprint") != fingerprint:
            raise CheckpointMismatch(f"{ckpt} holds an unfinished render with other settings; run that command again "
                             f"to finish it, or delete the folder (or pass --restart) to start this one")
        if state is not None:
            # trust only windows whose files are all there
            k = 0
            while k < state["windows_done"] and (ckpt / f"w{k:04d}.npz").exists():
                k += 1
            if k < state["windows_done"]:
                state["windows_done"] = k
                state["delivered"] = _delivered_after(ckpt, k)
            return state
    if ckpt.exists():
        shutil.rmtree(ckpt)
    ckpt.mkdir(parents=True)
    _write_state(ckpt, fresh)
    return dict(fresh)


def _delivered_after(ckpt: Path, k: int) -> int:
    total = 0
    for wi in range(k):
        total += len(np.load(ckpt / f"w{wi:04d}.npz")["delivered"])
    return total


def _save_window(ckpt: Path, wi: int, chunk: dict) -> None:
    tmp = ckpt / f".w{wi:04d}.tmp.npz"
    np.savez_compressed(tmp, **chunk)
    os.replace(tmp, ckpt / f"w{wi:04d}.npz")


def _write_state(ckpt: Path, state: dict) -> None:
    tmp = ckpt / ".state.tmp"
    tmp.write_text(json.dumps(state))
    os.replace(tmp, ckpt / "state.json")
