"""The engine service: one object per process that loads a model lazily and runs requests.

`Engine.generate(request, callback)` is the one entry point behind every verb
(the studio and the command line both call it). Clips longer than the model's
window are made by sliding windows: each new window holds the tail of the
previous one clean (prefix conditioning, which the model was trained for).
"""
from __future__ import annotations

import dataclasses
import math
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from engine.conditioning import (ClipCondition, ImageCondition, MaskCondition, WindowKnowledge,
                                 build_latent_conditions, check_strength, fit_frames, fit_mask)
from engine.errors import InputError
from engine.pipeline import BUNDLED_MODEL, DTYPES, WorldPipeline
from engine.sampler import Cancelled, StepInfo, sample

ASPECTS = {"1:1": (128, 128), "16:9": (256, 144), "9:16": (144, 256)}  # native canvases (width, height)
BASE_FPS = 8.0
WINDOW_FRAMES = 17  # frames the model makes at once at the base rate (training length)
OVERLAP_FRAMES = 5  # tail of the previous window held clean in the next one
MAX_SECONDS = 600.0
MAX_SIDE = 512


@dataclasses.dataclass
class GenerateRequest:
    prompt: str
    negative: str = ""
    seconds: float | None = None  # default 2 s when neither seconds nor frames is given
    frames: int | None = None  # at the delivery rate
    fps: float = 24.0  # delivery rate; the model renders at BASE_FPS and interpolation fills in
    aspect: str = "1:1"
    width: int | None = None
    height: int | None = None
    seed: int = 0
    steps: int = 24
    guidance: float = 5.0
    loop: bool = False
    conditions: list = dataclasses.field(default_factory=list)
    init_video: np.ndarray | None = None  # remix: start from this video (uint8 F, H, W, 3 at base rate)
    strength: float = 1.0  # remix: how much of the schedule to run (1 = ignore the init video)

    def canvas(self) -> tuple[int, int]:
        if self.width is not None or self.height is not None:
            if self.width is None or self.height is None:
                raise InputError("give both --width and --height, or neither (then --aspect picks the size)")
            for name, v in (("width", self.width), ("height", self.height)):
                if v <= 0 or v % 16 or v > MAX_SIDE:
                    raise InputError(f"{name} must be a positive multiple of 16 up to {MAX_SIDE}, got {v}")
            return self.width, self.height
        if self.aspect not in ASPECTS:
            raise InputError(f"unknown aspect {self.aspect!r}; allowed: {', '.join(ASPECTS)}")
        return ASPECTS[self.aspect]

    def duration(self) -> float:
        if self.frames is not None:
            if self.frames < 1:
                raise InputError(f"frames must be at least 1, got {self.frames}")
            return self.frames / self.fps
        seconds = 2.0 if self.seconds is None else self.seconds
        if not (0 < seconds <= MAX_SECONDS) or math.isnan(seconds):
            raise InputError(f"seconds must be in (0, {MAX_SECONDS:g}], got {seconds}")
        return seconds

    def validate(self):
        if not self.prompt or not self.prompt.strip():
            raise InputError("the prompt is empty; describe the shot, e.g. 'a red ball rolls to the right'")
        if not (0 < self.fps <= 120) or math.isnan(self.fps):
            raise InputError(f"fps must be in (0, 120], got {self.fps}")
        if not (1 <= self.steps <= 200):
            raise InputError(f"steps must be between 1 and 200, got {self.steps}")
        if not (0 <= self.guidance <= 30):
            raise InputError(f"guidance must be between 0 and 30, got {self.guidance}")
        if self.init_video is not None:
            check_strength(self.strength)
        for c in self.conditions:
            check_strength(c.strength, "condition strength")
        self.canvas(), self.duration()


@dataclasses.dataclass
class Result:
    frames: np.ndarray  # uint8 (F, H, W, 3) at `fps`
    fps: float
    base_frames: np.ndarray  # what the model made, at BASE_FPS
    settings: dict
    provenance: list  # per frame range: {"start", "end", "source", ...}
    cancelled: bool = False
    seconds: float = 0.0  # wall time


ProgressFn = Callable[[float, str, StepInfo | None], None]


class Engine:
    """Loads a model folder once (lazily) and serves requests, one at a time."""

    def __init__(self, model_path: str | Path = BUNDLED_MODEL, device: str = "cpu", dtype: str = "bfloat16"):
        if dtype not in DTYPES:
            raise InputError(f"unknown dtype {dtype!r}; allowed: {', '.join(DTYPES)}")
        self.model_path, self.device, self.dtype = Path(model_path), device, dtype
        self._pipe: WorldPipeline | None = None
        self._lock = threading.Lock()
        self._interp = None

    @property
    def pipe(self) -> WorldPipeline:
        if self._pipe is None:
            self._pipe = WorldPipeline.from_pretrained(self.model_path, self.device, DTYPES[self.dtype])
        return self._pipe

    def base_frames(self, req: GenerateRequest) -> int:
        """Frames at the base rate (1 + 4k) covering the requested duration."""
        return self.pipe.frames_for(req.duration(), BASE_FPS)

    def settings(self, req: GenerateRequest) -> dict:
        d = {k: v for k, v in dataclasses.asdict(req).items() if k not in ("conditions", "init_video")}
        w, h = req.canvas()
        d.update(width=w, height=h, base_fps=BASE_FPS, model=self.pipe.name, dtype=self.dtype,
                 device=self.device, conditions=[_describe(c) for c in req.conditions],
                 remix=req.init_video is not None)
        return d

    def generate(self, req: GenerateRequest, progress: ProgressFn | None = None) -> Result:
        with self._lock:
            return self._generate(req, progress)

    def _generate(self, req: GenerateRequest, progress: ProgressFn | None) -> Result:
        t0 = time.time()
        # 1. Check inputs
        req.validate()
        pipe = self.pipe
        width, height = req.canvas()
        n = self.base_frames(req)
        known = _knowledge(req, n, width, height)
        # 2. Encode prompt
        tokens, mask, pooled = pipe.encode_prompt([req.prompt, req.negative])
        text = (tokens[:1], mask[:1], pooled[:1])
        uncond = (tokens[1:], mask[1:], pooled[1:])
        # 3. Windows over the clip: each holds the previous window's tail clean
        windows = _windows(n)
        generator = torch.Generator().manual_seed(req.seed)
        out = np.zeros((n, height, width, 3), np.uint8)
        done = np.zeros(n, bool)
        cancelled = False
        for wi, (a, b) in enumerate(windows):
            # 4. Conditions of this window: user conditions plus frames already made
            win = WindowKnowledge(known.frames[a:b].copy(), known.known_frames[a:b].copy(), known.known_pixels)
            prev = np.flatnonzero(done[a:b])
            win.frames[prev] = out[a:b][prev]
            win.known_frames[prev] = True
            shape = (1, *pipe.latent_shape(b - a, width, height))
            # 5. Prepare latents: noise drawn window by window from one seeded generator
            noise = torch.randn(shape, generator=generator)
            cond = start = None
            if win.any():
                z = pipe.encode_video(win.filled())
                cond = build_latent_conditions(z, win, pipe.temporal_ratio, pipe.spatial_ratio,
                                               tuple(pipe.transformer.config.patch_size))
            if req.init_video is not None:
                start = pipe.encode_video(_pad_frames(fit_frames(req.init_video, width, height), n)[a:b])

            def on_step(info: StepInfo, wi=wi):
                if progress is not None:
                    progress((wi + info.step / info.steps) / len(windows), f"window {wi + 1}/{len(windows)}", info)

            # 6. Denoise
            try:
                z = sample(pipe.model_fn, pipe.make_scheduler(), noise, text, uncond, steps=req.steps,
                           guidance=req.guidance, cond=cond, start_latents=start, strength=req.strength,
                           callback=on_step)
            except Cancelled as c:
                cancelled = True
                z = c.latents
                if z is None:
                    break
            # 7. Decode; known frames are pasted back exactly (the model only fills what is unknown)
            frames = pipe.decode_latents(z)
            frames = _paste_known(frames, win)
            out[a:b] = frames
            done[a:b] = True
            if cancelled:
                break
        made = np.flatnonzero(done)
        base = out[: made[-1] + 1] if len(made) else out[:0]
        # 8. Retime to the delivery rate
        frames, fps = self._deliver(base, req.fps)
        provenance = _provenance(req, known, len(base), fps, self.pipe.name, len(frames))
        return Result(frames, fps, base, self.settings(req), provenance, cancelled, time.time() - t0)

    def _deliver(self, base: np.ndarray, fps: float):
        if len(base) < 2 or abs(fps - BASE_FPS) < 1e-6:
            return base, BASE_FPS if len(base) >= 2 else fps
        try:
            from engine import interpolate
        except ImportError:  # interpolation not available: deliver at the base rate
            return base, BASE_FPS
        if self._interp is None:
            self._interp = interpolate
        frames, out_fps = self._interp.retime_frames(base, BASE_FPS, fps)
        return frames, out_fps


def _windows(n: int) -> list[tuple[int, int]]:
    if n <= WINDOW_FRAMES:
        return [(0, n)]
    out, a = [], 0
    while True:
        b = a + WINDOW_FRAMES
        if b >= n:
            out.append((n - WINDOW_FRAMES, n))
            return out
        out.append((a, b))
        a = b - OVERLAP_FRAMES


def _pad_frames(frames: np.ndarray, n: int) -> np.ndarray:
    if len(frames) >= n:
        return frames[:n]
    return np.concatenate([frames, np.repeat(frames[-1:], n - len(frames), 0)])


def _knowledge(req: GenerateRequest, n: int, width: int, height: int) -> WindowKnowledge:
    """Everything the request knows about the n base-rate frames, at the canvas size."""
    known = WindowKnowledge.empty(n, width, height)
    for c in req.conditions:
        if isinstance(c, ImageCondition):
            idx = c.frame_index if c.frame_index >= 0 else n + c.frame_index
            if not 0 <= idx < n:
                raise InputError(f"image condition at frame {c.frame_index} is outside the clip (0..{n - 1})")
            known.place(fit_frames(c.image[None], width, height), idx)
        elif isinstance(c, ClipCondition):
            known.place(fit_frames(c.frames, width, height), c.frame_index)
        elif isinstance(c, MaskCondition):
            known.place(fit_frames(_pad_frames(c.video, n), width, height), 0)
            known.known_frames[:] = False  # frames are known only outside the mask
            known.known_pixels = ~fit_mask(c.mask, width, height)
        else:
            raise InputError(f"unknown condition type {type(c).__name__}")
    return known


def _paste_known(frames: np.ndarray, win: WindowKnowledge) -> np.ndarray:
    out = frames.copy()
    out[win.known_frames] = win.frames[win.known_frames]
    if win.known_pixels is not None:
        keep = win.known_pixels[None, ..., None]
        out = np.where(keep, win.frames, out)
    return out


def _describe(c) -> dict:
    if isinstance(c, ImageCondition):
        return {"type": "image", "frame_index": c.frame_index, "strength": c.strength}
    if isinstance(c, ClipCondition):
        return {"type": "clip", "frame_index": c.frame_index, "frames": len(c.frames), "strength": c.strength}
    if isinstance(c, MaskCondition):
        return {"type": "mask", "pixels": int(c.mask.sum()), "strength": c.strength}
    return {"type": type(c).__name__}


def _provenance(req: GenerateRequest, known: WindowKnowledge, n_base: int, fps: float, model: str,
                n_out: int) -> list:
    """Per-frame-range record at the delivery rate (a fuller record lives in engine.provenance)."""
    gen = {"source": "generated", "model": model, "prompt": req.prompt, "seed": req.seed,
           "steps": req.steps, "guidance": req.guidance}
    if n_out == 0:
        return []
    return [{"start": 0, "end": n_out - 1, **gen, "base_fps": BASE_FPS, "fps": fps}]
