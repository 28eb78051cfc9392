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

In JSON (version 2, issue 34) a record's size follows what made the clip, not its length: a take
alternates generated and interpolated ranges (16 a second at 24 fps), and version 1 repeated the
prompt, the negative prompt and the reading in each, so a minute with a detailed prompt passed the
C2PA library's 1 MiB manifest limit. Now each distinct Generation is written once, in
"generations", and rows refer to it by index; a run of ranges that repeats one pattern (G, I, I, G,
I, I, ...) is one row, {"start", "stop", "repeat": [part, ...]}, each part a range's fields with
"frames" for its length (and "source_step", how far its source frame moves each repetition).
Version 1 records are still read.
"""
from __future__ import annotations

import dataclasses
import json
import math
import numbers
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable, Sequence

from engine.datafiles import parse_json
from engine.errors import InputError

RECORD_VERSION = 2
KINDS = ("camera", "generated", "interpolated", "inpainted", "transition")
# One letter per kind for the compact strip a UI draws under a clip.
KIND_CODES = {"camera": "C", "generated": "G", "interpolated": "I", "inpainted": "P", "transition": "T"}
# Frames the model painted (in whole or in part): these carry the watermark and
# make a file "trained algorithmic media" for C2PA.
MODEL_KINDS = ("generated", "inpainted")
# JSON rows: a pattern of up to MAX_PERIOD ranges met MIN_REPEATS times or more in a row is one "repeat"
# row (a take delivered at 24 fps from the model's 8 fps is a pattern of 2; fewer repeats save nothing).
MAX_PERIOD = 8
MIN_REPEATS = 3
# What a record read from JSON may expand to: a few rows can claim any number of frames, and views such
# as `model_made_mask` make a list per frame. 10 million frames is over 11 hours at 240 fps; a
# 600-second take at 240 fps (interpolate's most) is 144,000 frames in at most as many ranges.
MAX_FRAMES = 10_000_000
MAX_RANGES = 1_000_000


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
        _expect(d.get("settings") is None or isinstance(d["settings"], dict),
                "a generation's settings are a JSON object")
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
        return {"start": self.start, "stop": self.stop, **_fields(self, Generation.to_dict)}

    @classmethod
    def from_dict(cls, d: dict, generations: Sequence[Generation] = ()) -> "FrameRange":
        """A range from its JSON row; `generation` is the Generation itself (version 1) or its index in
        `generations` (version 2)."""
        _expect(isinstance(d, dict) and {"start", "stop", "kind"} <= d.keys(),
                "each frame range needs 'start', 'stop' and 'kind'")
        return cls(start=_int(d["start"]), stop=_int(d["stop"]), kind=d["kind"],
                   generation=_generation_of(d.get("generation"), generations), source=_text(d.get("source")),
                   source_start=None if d.get("source_start") is None else _int(d["source_start"]),
                   details=_details(d.get("details")))


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
    def camera(cls, frame_count: int, source: str, fps: float | None = None,
               source_start: int = 0) -> "ProvenanceRecord":
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
        _expect(0 <= start < stop <= n,
                f"cannot take frames {start}..{stop - 1} of a {n}-frame clip; need 0 <= start < stop <= {n}")
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
        _expect(isinstance(factor, int) and factor >= 1,
                f"interpolation factor must be an integer >= 1, got {factor!r}")
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
        """The version-2 JSON form (see the module's docstring): each distinct Generation once, rows that
        refer to it, repeated patterns folded."""
        generations = _GenerationTable()
        d = {"version": RECORD_VERSION, "fps": self.fps, "frame_count": self.frame_count,
             "ranges": _rows(self.ranges, generations), "generations": generations.dicts(),
             "decisions": [dict(x) for x in self.decisions]}
        if self.watermark is not None:
            d["watermark"] = dict(self.watermark)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ProvenanceRecord":
        """A record from its JSON form, version 2 or version 1 (every row holding its own generation)."""
        _expect(isinstance(d, dict) and isinstance(d.get("ranges"), list),
                "a provenance record is a JSON object with a 'ranges' list")
        version = d.get("version", RECORD_VERSION)
        _expect(isinstance(version, int) and not isinstance(version, bool),
                f"provenance record version {version!r} is not a whole number")
        _expect(version <= RECORD_VERSION,
                f"provenance record version {version} is newer than this engine reads ({RECORD_VERSION})")
        table = d.get("generations") or []
        _expect(isinstance(table, list), "a provenance record's 'generations' is a list")
        generations = [Generation.from_dict(g) for g in table]
        _expect(d.get("decisions") is None or isinstance(d["decisions"], list) and all(
            isinstance(x, dict) for x in d["decisions"]), "a provenance record's 'decisions' is a list of objects")
        _expect(d.get("watermark") is None or isinstance(d["watermark"], dict),
                "a provenance record's 'watermark' is an object")
        _expect(d.get("fps") is None or isinstance(d["fps"], numbers.Real) and not isinstance(d["fps"], bool),
                f"a provenance record's fps {d.get('fps')!r} is not a number")
        rec = cls(_unfold(d["ranges"], generations),
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


class _GenerationTable:
    """Each distinct Generation once, in order of first use (rows refer to them by index)."""

    def __init__(self):
        self.items: list[Generation] = []
        self._by_id: dict[int, int] = {}  # the ranges of one render share one Generation object
        self._by_value: dict[str, int] = {}

    def index(self, g: Generation) -> int:
        i = self._by_id.get(id(g))
        if i is None:
            key = json.dumps(g.to_dict(), sort_keys=True, default=str)
            i = self._by_value.setdefault(key, len(self.items))
            if i == len(self.items):
                self.items.append(g)
            self._by_id[id(g)] = i
        return i

    def dicts(self) -> list[dict]:
        return [g.to_dict() for g in self.items]


def _fields(r: FrameRange, generation) -> dict:
    """A range's JSON fields other than where it lies; `generation` writes its Generation: in full
    (Generation.to_dict, FrameRange.to_dict) or as its place in the record's table (_GenerationTable.index)."""
    d = {"kind": r.kind}
    if r.generation is not None:
        d["generation"] = generation(r.generation)
    if r.source is not None:
        d["source"] = r.source
    if r.source_start is not None:
        d["source_start"] = r.source_start
    if r.details:
        d["details"] = dict(r.details)
    return d


def _rows(ranges: list[FrameRange], generations: _GenerationTable) -> list[dict]:
    """JSON rows: a range as {"start", "stop", "kind", ...}, a repeated pattern as one "repeat" row."""
    out, i = [], 0
    while i < len(ranges):
        period, times = _pattern_at(ranges, i)
        if times < MIN_REPEATS:
            out.append({"start": ranges[i].start, "stop": ranges[i].stop, **_fields(ranges[i], generations.index)})
            i += 1
            continue
        parts = []
        for r, nxt in zip(ranges[i:i + period], ranges[i + period:i + 2 * period]):
            part = {"frames": len(r), **_fields(r, generations.index)}
            if r.source_start is not None:
                part["source_step"] = nxt.source_start - r.source_start
            parts.append(part)
        out.append({"start": ranges[i].start, "stop": ranges[i + period * times - 1].stop, "repeat": parts})
        i += period * times
    return out


def _pattern_at(ranges: list[FrameRange], i: int) -> tuple[int, int]:
    """(period, times): the pattern of ranges starting at `i` that repeats over the most ranges."""
    best = (1, 1)
    for period in range(1, MAX_PERIOD + 1):
        times = _repeats(ranges, i, period)
        if times >= 2 and period * times > best[0] * best[1]:
            best = (period, times)
    return best


def _repeats(ranges: list[FrameRange], i: int, period: int) -> int:
    """How many times in a row ranges[i:i + period] occurs from `i`: the same lengths and fields, each
    range's source frame moving by the same step every time."""
    if i + 2 * period > len(ranges):
        return 1
    first, steps = ranges[i:i + period], []
    for r, nxt in zip(first, ranges[i + period:i + 2 * period]):
        if not _alike(r, nxt):
            return 1
        steps.append(None if r.source_start is None else nxt.source_start - r.source_start)
    times = 2
    while i + (times + 1) * period <= len(ranges):
        group = ranges[i + times * period:i + (times + 1) * period]
        if not all(_alike(r, o) and (r.source_start is None or o.source_start == r.source_start + times * step)
                   for r, o, step in zip(first, group, steps)):
            break
        times += 1
    return times


def _alike(a: FrameRange, b: FrameRange) -> bool:
    return (len(a) == len(b) and a.kind == b.kind and a.generation == b.generation and a.source == b.source
            and a.details == b.details and (a.source_start is None) == (b.source_start is None))


def _unfold(rows: list, generations: Sequence[Generation]) -> list[FrameRange]:
    """The FrameRanges of JSON rows (plain or "repeat"), within MAX_FRAMES and MAX_RANGES."""
    out = []
    for row in rows:
        _expect(isinstance(row, dict), "each frame range is a JSON object")
        if "repeat" not in row:
            out.append(FrameRange.from_dict(row, generations))
            _expect(out[-1].stop <= MAX_FRAMES, f"a provenance record of over {MAX_FRAMES:,} frames is not read")
            continue
        _expect("start" in row and "stop" in row, "a repeat row needs 'start' and 'stop'")
        start, stop, parts = _int(row["start"]), _int(row["stop"]), row["repeat"]
        _expect(isinstance(parts, list) and parts and all(isinstance(p, dict) for p in parts),
                f"repeat row {start}..{stop - 1} needs a list of parts")
        lengths = [_int(p.get("frames")) for p in parts]
        period = sum(lengths)
        _expect(all(n > 0 for n in lengths) and stop > start and (stop - start) % period == 0,
                f"repeat row {start}..{stop - 1} is not a whole number of its {period}-frame pattern")
        _expect(stop <= MAX_FRAMES, f"a provenance record of over {MAX_FRAMES:,} frames is not read")
        times = (stop - start) // period
        _expect(len(out) + times * len(parts) <= MAX_RANGES,
                f"a provenance record of over {MAX_RANGES:,} frame ranges is not read")
        base = [FrameRange.from_dict({**p, "start": 0, "stop": n}, generations) for p, n in zip(parts, lengths)]
        steps = [_int(p.get("source_step", 0)) for p in parts]
        at = start
        for k in range(times):
            for r, n, step in zip(base, lengths, steps):
                src = None if r.source_start is None else r.source_start + k * step
                out.append(dataclasses.replace(r, start=at, stop=at + n, source_start=src))
                at += n
        _expect(len(out) <= MAX_RANGES, f"a provenance record of over {MAX_RANGES:,} frame ranges is not read")
    return out


def _generation_of(value, generations: Sequence[Generation]) -> Generation | None:
    if value is None:
        return None
    if isinstance(value, dict):  # version 1: each row held its own
        return Generation.from_dict(value)
    _expect(isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(generations),
            f"a frame range refers to generation {value!r}; the record holds {len(generations)}")
    return generations[value]


def _text(value) -> str | None:
    _expect(value is None or isinstance(value, str), f"a frame range's source {value!r} is not text")
    return value


def _details(value) -> dict:
    _expect(value is None or isinstance(value, dict), f"a frame range's details {value!r} are not an object")
    return dict(value or {})


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
