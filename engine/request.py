"""What a generation is asked for and what it gives back, shared by every family and verb: the request, the
result, the native canvases, the base frame rate and the limits, and the per-frame record of a result's frames.
Nothing here runs a model (engine.service does)."""
from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np

from engine import defaults
from engine.errors import InputError
from engine.provenance.record import FrameRange, Generation, ProvenanceRecord
from engine.sampling.conditioning import NATIVE_CANVASES, ClipCondition, ImageCondition, MaskCondition, check_strength
from engine.sampling.sampler import StepInfo

ASPECTS = NATIVE_CANVASES  # native canvases (width, height)
BASE_FPS = 8.0
# frames per window at the base rate: the 16 of training plus one, so a 2-second take at 24 fps (whose last frame
# needs base frame 16) is one window
WINDOW_FRAMES = 17
OVERLAP_FRAMES = 4  # frames of the previous window held clean in the next one
MIN_LOOP_SECONDS = 1.0
MAX_SECONDS = 600.0
MAX_SIDE = 512


def check_one_frame(seconds: float, fps: float) -> None:
    """A duration is at least one frame at the rate it is delivered at (issue 31: 0.01 s was taken, and made a
    frame anyway)."""
    if fps > 0 and seconds * fps < 1 - 1e-9:
        least = math.ceil(1000 / fps) / 1000  # said rounded up, so that the number said is accepted
        raise InputError(f"seconds must be at least one frame: {least:g} s at {fps:g} fps, got {seconds:g}")


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
    steps: int = defaults.STEPS
    guidance: float = defaults.GUIDANCE
    churn: float = 0.0  # share of fresh noise per sampling step (engine.sampling.sampler); 0: deterministic Euler
    loop: bool = False
    conditions: list = dataclasses.field(default_factory=list)
    init_video: np.ndarray | None = None  # remix: start from this video (uint8 F, H, W, 3 at base rate)
    strength: float = 1.0  # remix: the noise level the remix starts from (1: a new take, the init video ignored)
    remix_method: str = defaults.REMIX_METHOD  # "flowedit" or "sdedit" (engine.sampling.sampler.edit / sample)
    literal: bool = False  # give the model the prompt as written, not as its prompt reader reads it
    layout: object = None  # a Layout (engine.layout) or its JSON form to render; None: planned or text only
    plan: bool | None = None  # plan a layout from the prompt: None plans text-to-video on models with a layout input

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
            most = math.floor(MAX_SECONDS * self.fps)
            if not 1 <= self.frames <= most:
                raise InputError(f"frames must be from 1 to {most} ({MAX_SECONDS:g} s at {self.fps:g} fps), "
                                 f"got {self.frames}")
            return self.frames / self.fps
        seconds = 2.0 if self.seconds is None else self.seconds
        if not (0 < seconds <= MAX_SECONDS) or math.isnan(seconds):
            raise InputError(f"seconds must be in (0, {MAX_SECONDS:g}], got {seconds}")
        check_one_frame(seconds, self.fps)
        return seconds

    def delivered(self) -> int:
        """Frames delivered at `fps`: `frames` when given, else the duration at `fps`."""
        if self.frames is not None:
            return self.frames
        return max(1, round(self.duration() * self.fps))

    def validate(self):
        for name in ("prompt", "negative"):
            defaults.check_text(getattr(self, name), name)
        # An edit (conditions or a video to remix) may go without a prompt: then it follows what it holds.
        if (not self.prompt or not self.prompt.strip()) and not self.conditions and self.init_video is None \
                and self.layout is None:
            raise InputError("the prompt is empty; describe the shot, e.g. 'a red ball rolls to the right'")
        if not (0 < self.fps <= 120) or math.isnan(self.fps):
            raise InputError(f"fps must be in (0, 120], got {self.fps}")
        defaults.check_seed(self.seed)
        if not (1 <= self.steps <= 200):
            raise InputError(f"steps must be between 1 and 200, got {self.steps}")
        if not (0 <= self.guidance <= 30):
            raise InputError(f"guidance must be between 0 and 30, got {self.guidance}")
        if not (0 <= self.churn <= 1):
            raise InputError(f"churn must be between 0 and 1, got {self.churn}")
        if self.init_video is not None:
            check_strength(self.strength)
            defaults.check_remix_method(self.remix_method)
        for c in self.conditions:
            check_strength(c.strength, "condition strength")
        self.canvas(), self.duration()
        if self.loop and self.duration() < MIN_LOOP_SECONDS - 1e-9:
            raise InputError(f"a loop must last at least {MIN_LOOP_SECONDS:g} s, got {self.duration():g} s")


@dataclasses.dataclass
class Result:
    frames: np.ndarray  # uint8 (F, H, W, 3) at `fps`
    fps: float
    base_frames: np.ndarray  # what the model made, at BASE_FPS
    settings: dict
    provenance: list  # per frame range at `fps`: FrameRange dicts {"start", "stop", "kind", ...}
    cancelled: bool = False
    seconds: float = 0.0  # wall time
    record: ProvenanceRecord | None = None  # the same as engine.provenance's record (None: no frames)


ProgressFn = Callable[[float, str, StepInfo | None], None]


def describe_condition(c) -> dict:
    if isinstance(c, ImageCondition):
        return {"type": "image", "frame_index": c.frame_index, "strength": c.strength}
    if isinstance(c, ClipCondition):
        return {"type": "clip", "frame_index": c.frame_index, "frames": len(c.frames), "strength": c.strength}
    if isinstance(c, MaskCondition):
        return {"type": "mask", "pixels": int(np.asarray(c.mask).sum()), "strength": c.strength}
    return {"type": type(c).__name__}


def record_source(req: GenerateRequest) -> str | None:
    return "conditions" if req.conditions else None


# --------------------------------------------------------------------------
# Provenance
# --------------------------------------------------------------------------

def frame_record(positions, kinds, generation: Generation, fps: float, source: str | None = None,
                 source_index=None, details: dict | None = None) -> ProvenanceRecord:
    """The per-frame record of frames at `positions` (fractional indices into a sequence whose
    frames have `kinds`: "camera" for given frames, "generated"/"inpainted" for the model's).
    A whole position copies that frame's kind; a fractional one is "interpolated", carrying
    the generation when a neighbour was made by the model. `source_index[i]` is the index of
    given frame i in its source (default: None)."""
    kinds = list(kinds)
    ranges = []
    for j, p in enumerate(np.asarray(positions, np.float64)):
        k = int(round(p))
        if abs(p - k) < 1e-6:
            kind = kinds[k]
            if kind == "camera":
                src_i = None if source_index is None else int(source_index[k])
                ranges.append(FrameRange(j, j + 1, "camera", source=source or "input", source_start=src_i))
            else:
                ranges.append(FrameRange(j, j + 1, kind, generation=generation, details=dict(details or {})))
            continue
        a, b = kinds[int(math.floor(p))], kinds[int(math.ceil(p))]
        gen = None if a == b == "camera" else generation
        ranges.append(FrameRange(j, j + 1, "interpolated", generation=gen,
                                 details={"method": "flow", **(details or {})}))
    return ProvenanceRecord(ranges, fps) if ranges else None


def record_ranges(record: ProvenanceRecord) -> list:
    return [] if record is None else [r.to_dict() for r in record.ranges]
