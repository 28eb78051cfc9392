"""The per-frame provenance record: what made every frame of a take or a cut.

A record is a list of contiguous frame ranges, each saying where its frames
came from: a camera (footage the user brought), the model (with model, prompt,
seed and settings), interpolation, inpainting or a transition. It travels in
the JSON sidecar, the project store and, signed, in the MP4's C2PA manifest
(issue 8). Editing verbs and the timeline change it with the operations below
(concatenate, slice, replace, retime), which keep it normalised: ranges sorted,
contiguous from frame 0, neighbours that say the same thing merged.

Frame ranges are half-open, like Python slices: `start` is the first frame,
`stop` is one past the last (frames 10-17 inclusive are start=10, stop=18).
"""
from __future__ import annotations

import dataclasses
import json
import math
import numbers
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable, Sequence

from engine.errors import InputError

RECORD_VERSION = 1
KINDS = ("camera", "generated", "interpolated", "inpainted", "transition")
# One letter per kind for the compact strip a UI draws under a clip.
KIND_CODES = {"camera": "C", "generated": "G", "interpolated": "I", "inpainted": "P", "transition": "T"}
# Frames the model painted (in whole or in part): these carry the watermark and
# make a file "trained algorithmic media" for C2PA.
MODEL_KINDS = ("generated", "inpainted")


@dataclass(frozen=True)
class Generation:
    """What the model was asked for when it made a range of frames."""
    model: str
    prompt: str
    seed: int | None = None
    settings: dict = field(default_factory=dict)  # steps, guidance, negative prompt, size, ... (JSON types)

    def to_dict(self) -> dict:
        return {"model": self.model, "prompt": self.prompt, "seed": self.seed, "settings": dict(self.settings)}

    @classmethod
    def from_dict(cls, d: dict) -> "Generation":
        _expect(isinstance(d, dict) and "model" in d and "prompt" in d, "generation needs 'model' and 'prompt'")
        return cls(model=str(d["model"]), prompt=str(d["prompt"]), seed=d.get("seed"),
                   settings=dict(d.get("settings") or {}))


@dataclass(frozen=True)
class FrameRange:
    """Frames [start, stop) and what made them.

    source / source_start: where the frames came from (a camera file, a take id,
        a generated clip) and the index in that source of this range's first
        frame, so a slice of a slice still points at the right source frames.
    generation: required for generated and inpainted frames; optional for
        interpolated or transition frames the model made (generative in-betweening,
        bridges).
    details: anything else, JSON types only (interpolation method, mask file,
        transition style).
    """
    start: int
    stop: int
    kind: str
    generation: Generation | None = None
    source: str | None = None
    source_start: int | None = None
    details: dict = field(default_factory=dict)

    def __post_init__(self):
        for name in ("start", "stop"):  # numpy integers are fine; floats and bools are not
            v = getattr(self, name)
            _expect(isinstance(v, numbers.Integral) and not isinstance(v, bool), f"frame index {v!r} is not an integer")
            object.__setattr__(self, name, int(v))
        _expect(self.kind in KINDS, f"frame kind {self.kind!r} is unknown; use one of {', '.join(KINDS)}")
        _expect(0 <= self.start < self.stop,
                f"frame range {self.start}..{self.stop} is empty or negative; need 0 <= start < stop")
        _expect(self.kind not in MODEL_KINDS or self.generation is not None,
                f"{self.kind} frames {self.start}-{self.stop - 1} need a Generation (model, prompt, seed, settings)")

    def __len__(self) -> int:
        return self.stop - self.start

    @property
    def model_made(self) -> bool:
        """True when the model painted these frames (they get the watermark)."""
        return self.kind in MODEL_KINDS or self.generation is not None

    def moved(self, start: int, stop: int | None = None, skip: int = 0) -> "FrameRange":
        """This range's content placed at [start, stop), skipping its first `skip` frames."""
        stop = start + len(self) - skip if stop is None else stop
        src = None if self.source_start is None else self.source_start + skip
        return dataclasses.replace(self, start=start, stop=stop, source_start=src)

    def continues(self, prev: "FrameRange") -> bool:
        """True when this range is the direct continuation of `prev` (same origin)."""
        if (self.kind, self.generation, self.source, self.details) != (
                prev.kind, prev.generation, prev.source, prev.details):
            return False
        if self.source_start is None or prev.source_start is None:
            return self.source_start is None and prev.source_start is None
        return prev.source_start + len(prev) == self.source_start

    def to_dict(self) -> dict:
        d = {"start": self.start, "stop": self.stop, "kind": self.kind}
        if self.generation is not None:
            d["generation"] = self.generation.to_dict()
        if self.source is not None:
            d["source"] = self.source
        if self.source_start is not None:
            d["source_start"] = self.source_start
        if self.details:
            d["details"] = dict(self.details)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "FrameRange":
        _expect(isinstance(d, dict) and {"start", "stop", "kind"} <= d.keys(),
                "each frame range needs 'start', 'stop' and 'kind'")
        gen = Generation.from_dict(d["generation"]) if d.get("generation") is not None else None
        return cls(start=_int(d["start"]), stop=_int(d["stop"]), kind=d["kind"], generation=gen,
                   source=d.get("source"), source_start=None if d.get("source_start") is None else _int(d["source_start"]),
                   details=dict(d.get("details") or {}))


@dataclass
class ProvenanceRecord:
    """Per-frame provenance of one clip (a take or a cut).

    ranges: contiguous FrameRanges covering frames 0..frame_count-1.
    fps: the clip's frame rate, when known.
    decisions: prompt-policy decisions taken while making it (dicts, see `log_decision`).
    watermark: how model-made frames were watermarked (scheme, key id, strength), or None.
    """
    ranges: list[FrameRange]
    fps: float | None = None
    decisions: list[dict] = field(default_factory=list)
    watermark: dict | None = None

    def __post_init__(self):
        self.ranges = _normalise(self.ranges)

    # ---- construction -------------------------------------------------------

    @classmethod
    def uniform(cls, kind: str, frame_count: int, fps: float | None = None, **fields) -> "ProvenanceRecord":
        """A clip whose frames all share one origin; `fields` are FrameRange fields
        (generation, source, source_start, details)."""
        _expect(isinstance(frame_count, numbers.Integral) and frame_count > 0,
                f"frame count must be a positive integer, got {frame_count!r}")
        return cls([FrameRange(0, int(frame_count), kind, **fields)], fps=fps)

    @classmethod
    def generated(cls, frame_count: int, generation: Generation, fps: float | None = None,
                  source: str | None = None) -> "ProvenanceRecord":
        return cls.uniform("generated", frame_count, fps, generation=generation, source=source,
                           source_start=0 if source else None)

    @classmethod
    def camera(cls, frame_count: int, source: str, fps: float | None = None, source_start: int = 0) -> "ProvenanceRecord":
        return cls.uniform("camera", frame_count, fps, source=source, source_start=source_start)

    # ---- views --------------------------------------------------------------

    @property
    def frame_count(self) -> int:
        return self.ranges[-1].stop if self.ranges else 0

    def __len__(self) -> int:
        return self.frame_count

    def range_at(self, frame: int) -> FrameRange:
        """The range holding `frame`."""
        _expect(0 <= frame < self.frame_count, f"frame {frame} is outside the clip (0..{self.frame_count - 1})")
        lo, hi = 0, len(self.ranges) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if self.ranges[mid].stop <= frame:
                lo = mid + 1
            else:
                hi = mid
        return self.ranges[lo]

    def per_frame(self) -> list[str]:
        """The kind of every frame, in order."""
        return [r.kind for r in self.ranges for _ in range(len(r))]

    def strip(self) -> str:
        """One letter per frame (C camera, G generated, I interpolated, P inpainted,
        T transition): the compact view a UI strip draws, e.g. "CCCCIIIICCCC"."""
        return "".join(KIND_CODES[r.kind] * len(r) for r in self.ranges)

    def model_made_mask(self) -> list[bool]:
        """Per frame: did the model paint it (and so should it carry the watermark)."""
        return [r.model_made for r in self.ranges for _ in range(len(r))]

    def counts(self) -> dict[str, int]:
        """Frames per kind, kinds with no frames left out."""
        out: dict[str, int] = {}
        for r in self.ranges:
            out[r.kind] = out.get(r.kind, 0) + len(r)
        return out

    # ---- editing ------------------------------------------------------------

    def slice(self, start: int, stop: int) -> "ProvenanceRecord":
        """Frames [start, stop) as a new record starting at frame 0."""
        n = self.frame_count
        _expect(0 <= start < stop <= n, f"cannot take frames {start}..{stop - 1} of a {n}-frame clip; need 0 <= start < stop <= {n}")
        out = []
        for r in self.ranges:
            a, b = max(r.start, start), min(r.stop, stop)
            if a < b:
                out.append(r.moved(a - start, b - start, skip=a - r.start))
        return ProvenanceRecord(out, self.fps, list(self.decisions), self.watermark)

    def replace(self, start: int, stop: int, new: "ProvenanceRecord") -> "ProvenanceRecord":
        """Frames [start, stop) replaced by `new`'s frames (which may be more or fewer).

        `start == stop` inserts. The result keeps both records' policy decisions."""
        n = self.frame_count
        _expect(0 <= start <= stop <= n, f"cannot replace frames {start}..{stop - 1} of a {n}-frame clip")
        parts = []
        if start > 0:
            parts.append(self.slice(0, start))
        parts.append(new)
        if stop < n:
            parts.append(self.slice(stop, n))
        out = concatenate(parts, fps=self.fps)
        out.decisions = _merge_logs(self.decisions, new.decisions)
        out.watermark = _merge_marks(self.watermark, new.watermark)
        return out

    def mark(self, start: int, stop: int, kind: str, **fields) -> "ProvenanceRecord":
        """Frames [start, stop) remade in place as `kind` (fill, inpaint):
        `record.mark(10, 18, "interpolated", details={"method": "dis-flow"})`."""
        return self.replace(start, stop, ProvenanceRecord.uniform(kind, stop - start, self.fps, **fields))

    def retime(self, source_times: Sequence[float], fps: float | None = None,
               details: dict | None = None) -> "ProvenanceRecord":
        """The record after retiming: output frame j shows source time `source_times[j]`
        (in source frames). Whole-number times copy that frame's provenance; the
        rest become 'interpolated' frames, with `details` (e.g. the method)."""
        n = self.frame_count
        _expect(len(source_times) > 0, "retime needs at least one output frame time")
        out = []
        for j, t in enumerate(source_times):
            t = float(t)
            _expect(-1e-6 <= t <= n - 1 + 1e-6, f"output frame {j} maps to source time {t:g}, outside 0..{n - 1}")
            k = round(t)
            if abs(t - k) < 1e-6:
                r = self.range_at(int(k))
                out.append(r.moved(j, j + 1, skip=int(k) - r.start))
            else:
                a, b = self.range_at(math.floor(t)), self.range_at(math.ceil(t))
                src = a.source if a.source == b.source else None
                out.append(FrameRange(j, j + 1, "interpolated", source=src, details=dict(details or {})))
        return ProvenanceRecord(out, fps, list(self.decisions), self.watermark)

    def retime_factor(self, factor: int, details: dict | None = None) -> "ProvenanceRecord":
        """`interpolate --factor K`: K-1 new frames between each pair; n frames give (n-1)*K+1."""
        _expect(isinstance(factor, int) and factor >= 1, f"interpolation factor must be an integer >= 1, got {factor!r}")
        n = self.frame_count
        fps = None if self.fps is None else self.fps * factor
        return self.retime([j / factor for j in range((n - 1) * factor + 1)], fps, details)

    def retime_fps(self, fps: float, details: dict | None = None) -> "ProvenanceRecord":
        """`interpolate --fps F`: resample the clip's time axis at the new rate."""
        _expect(self.fps is not None and self.fps > 0, "retiming to a frame rate needs the record's fps")
        _expect(fps > 0, f"frame rate must be positive, got {fps!r}")
        step = self.fps / fps
        count = int(math.floor((self.frame_count - 1) / step + 1e-9)) + 1
        return self.retime([j * step for j in range(count)], fps, details)

    # ---- policy log ---------------------------------------------------------

    def log_decision(self, decision, at: str | None = None) -> None:
        """Append a prompt-policy decision (a `policy.Decision` or its dict) with a UTC time."""
        entry = decision.to_dict() if hasattr(decision, "to_dict") else dict(decision)
        entry.setdefault("at", at or datetime.now(timezone.utc).isoformat(timespec="seconds"))
        self.decisions.append(entry)

    # ---- JSON ---------------------------------------------------------------

    def to_dict(self) -> dict:
        d = {"version": RECORD_VERSION, "fps": self.fps, "frame_count": self.frame_count,
             "ranges": [r.to_dict() for r in self.ranges], "decisions": [dict(x) for x in self.decisions]}
        if self.watermark is not None:
            d["watermark"] = dict(self.watermark)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ProvenanceRecord":
        _expect(isinstance(d, dict) and isinstance(d.get("ranges"), list),
                "a provenance record is a JSON object with a 'ranges' list")
        _expect(d.get("version", RECORD_VERSION) <= RECORD_VERSION,
                f"provenance record version {d.get('version')} is newer than this engine reads ({RECORD_VERSION})")
        rec = cls([FrameRange.from_dict(r) for r in d["ranges"]],
                  fps=None if d.get("fps") is None else float(d["fps"]),
                  decisions=[dict(x) for x in d.get("decisions") or []], watermark=d.get("watermark"))
        if "frame_count" in d:
            _expect(d["frame_count"] == rec.frame_count,
                    f"record says {d['frame_count']} frames but its ranges cover {rec.frame_count}")
        return rec

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> "ProvenanceRecord":
        from engine.datafiles import parse_json

        return cls.from_dict(parse_json(text, "provenance record", "provenance record"))


def concatenate(records: Iterable[ProvenanceRecord], fps: float | None = None) -> ProvenanceRecord:
    """Records one after another (a cut from takes). Frame rates must agree:
    retime a take before cutting it in."""
    records = list(records)
    _expect(records, "nothing to concatenate; give at least one record")
    rates = {r.fps for r in records if r.fps is not None}
    if fps is None and rates:
        fps = next(iter(rates))
    _expect(all(abs(r - fps) < 1e-6 * fps for r in rates),
            f"cannot concatenate clips at {sorted(rates)} fps; retime them to one rate first")
    out, offset, logs, mark = [], 0, [], None
    for rec in records:
        out += [r.moved(r.start + offset) for r in rec.ranges]
        offset += rec.frame_count
        logs = _merge_logs(logs, rec.decisions)
        mark = _merge_marks(mark, rec.watermark)
    return ProvenanceRecord(out, fps, logs, mark)


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def _normalise(ranges: Iterable[FrameRange]) -> list[FrameRange]:
    ranges = sorted(ranges, key=lambda r: r.start)
    _expect(ranges, "a provenance record needs at least one frame range")
    _expect(ranges[0].start == 0, f"frame ranges must start at frame 0, the first starts at {ranges[0].start}")
    out = [ranges[0]]
    for r in ranges[1:]:
        prev = out[-1]
        _expect(r.start == prev.stop, f"frame ranges must be contiguous: {prev.start}..{prev.stop - 1} "
                f"is followed by {r.start}..{r.stop - 1}")
        if r.continues(prev):
            out[-1] = dataclasses.replace(prev, stop=r.stop)
        else:
            out.append(r)
    return out


def _merge_marks(a: dict | None, b: dict | None) -> dict | None:
    """Two records' watermark notes as one: the first's, with the kinds only the second
    marked added to its `scope` (a cut of a generated take and an inpainted one says both)."""
    if a is None or b is None:
        return a or b
    out = dict(a)
    if a.get("scope") is not None or b.get("scope") is not None:
        out["scope"] = {**(b.get("scope") or {}), **(a.get("scope") or {})}
    return out


def _merge_logs(a: list[dict], b: list[dict]) -> list[dict]:
    out = [dict(x) for x in a]
    out += [dict(x) for x in b if x not in a]
    return out


def _int(v) -> int:
    _expect(isinstance(v, int) and not isinstance(v, bool), f"frame index {v!r} is not an integer")
    return v


def _expect(ok: bool, message: str) -> None:
    if not ok:
        raise InputError(message)
