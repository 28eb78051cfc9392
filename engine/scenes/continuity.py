"""Continuity: does every cast member keep its colour, shape and size from shot to shot?

A check takes the scene's cast (each member described once, e.g. "the big red
ball") and the frames of every shot, and reports per shot and member what was
seen and what broke. What can be seen is up to a feature extractor: `WorldFeatures`
reads the procedural world exactly (colours by the contract's distance, shape by
how much of its bounding box a blob fills, size by its extent); another extractor
(a segmenter plus an embedding for real footage) implements the same two methods.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Protocol

import cv2
import numpy as np

from engine.world.captioner import COLOUR_WORDS, SHAPE_WORDS, SIZE_WORDS, phrase_text
from engine.world.measure import colour_mask
from engine.world.scene import SIZES

SIZE_TOLERANCE = 1.67  # a member seen this many times larger or smaller than its other shots changed size
GROWING = re.compile(r"\b(grow|grows|growing|bigger|larger|shrink|shrinks|shrinking|smaller|zoom|zooms|zooming|"
                     r"pushes in|pulls back|tightens|widens)\b", re.I)


@dataclasses.dataclass
class Look:
    """What a description pins down or what was seen; None: not known / not seen."""
    colour: str | None = None
    shape: str | None = None
    size: str | None = None
    extent: float | None = None  # size across, as a fraction of min(width, height): seen (median), or described
    present: float = 0.0  # seen: share of frames where the member shows


class FeatureExtractor(Protocol):
    name: str
    min_present: float  # share of frames a member must show in to count as present

    def expected(self, description: str) -> Look:
        """The look a cast description asks for (attributes it does not name stay None)."""

    def observe(self, frames: np.ndarray, expected: Look) -> Look:
        """The look of the member expected to look like `expected` in a shot's frames (uint8 F, H, W, 3)."""

    def locate(self, frames: np.ndarray, expected: Look) -> tuple[np.ndarray, np.ndarray] | None:
        """A frame showing the member whole and the member's pixels in it (uint8 H, W, 3 and bool H, W), the
        reference that later shots hold (engine.scenes.scene); None when it is not seen whole (always None
        for an extractor that cannot cut a member out: its scenes then render without references)."""


def _words(table: dict) -> list[tuple[str, str]]:
    """(phrase, canonical) longest phrase first, held-out `~` marks dropped."""
    pairs = [(w.lstrip("~").lower(), k) for k, ws in table.items() for w in ws]
    return sorted(pairs, key=lambda p: -len(p[0]))


def _find(text: str, table: dict) -> str | None:
    text = phrase_text(text)
    for phrase, canon in _words(table):
        if f" {phrase} " in text or f" {phrase}s " in text:
            return canon
    return None


class WorldFeatures:
    """Exact features of the procedural world (WORLD.md colours, shapes and sizes)."""

    name = "world"
    min_present = 0.5  # share of frames a member must show in
    min_pixels = 0.002  # of the frame, for a blob to count

    def expected(self, description: str) -> Look:
        size = _find(description, SIZE_WORDS)  # its extent: what the world draws for that word
        return Look(_find(description, COLOUR_WORDS), _find(description, SHAPE_WORDS), size,
                    SIZES[size] if size else None)

    def observe(self, frames: np.ndarray, expected: Look) -> Look:
        if expected.colour is None:
            return Look()
        H, W = frames.shape[1:3]
        shapes, extents, seen = [], [], 0
        for f in frames[:: max(1, len(frames) // 24)]:  # up to ~24 frames per shot
            blob = _largest_blob(colour_mask(f[None], expected.colour)[0], self.min_pixels * H * W)
            if blob is None:
                continue
            seen += 1
            x, y, w, h, area, _ = blob
            if _whole(blob, W, H):  # shape and size are readable
                shapes.append(_shape_of(area / float(w * h)))
                extents.append(max(w, h) / min(W, H))
        sampled = len(frames[:: max(1, len(frames) // 24)])
        shape = max(set(shapes), key=shapes.count) if shapes else None
        extent = float(np.median(extents)) if extents else None
        size = None if extent is None else min(SIZES, key=lambda s: abs(np.log(extent / SIZES[s])))
        return Look(expected.colour if seen else None, shape, size, extent, seen / max(1, sampled))

    def locate(self, frames: np.ndarray, expected: Look) -> tuple[np.ndarray, np.ndarray] | None:
        if expected.colour is None:
            return None
        H, W = frames.shape[1:3]
        whole = []  # (area, frame index, its pixels)
        for i in range(0, len(frames), max(1, len(frames) // 24)):
            blob = _largest_blob(colour_mask(frames[i][None], expected.colour)[0], self.min_pixels * H * W)
            if blob is not None and _whole(blob, W, H):
                whole.append((blob[4], i, blob[5]))
        if not whole:
            return None
        median = float(np.median([a for a, *_ in whole]))
        _, i, pixels = min(whole, key=lambda e: abs(e[0] - median))  # a typical frame, not an outlier
        return frames[i], cv2.dilate(pixels.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0  # with its soft edge


def _largest_blob(mask: np.ndarray, min_area: float):
    """(x, y, w, h, area, its pixels) of the largest connected blob of `mask`, or None below `min_area`."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return None
    i = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h, area = (int(v) for v in stats[i])
    return (x, y, w, h, area, labels == i) if area >= min_area else None


def _whole(blob, W: int, H: int) -> bool:
    """Whether a blob lies whole in view (touches no edge of the frame)."""
    x, y, w, h = blob[:4]
    return x > 0 and y > 0 and x + w < W and y + h < H


def _shape_of(fill: float) -> str:
    """Share of the bounding box a shape fills: square 1, disc pi/4, triangle 1/2."""
    return "box" if fill > 0.9 else "ball" if fill > 0.64 else "triangle"


# --------------------------------------------------------------------------
# The check
# --------------------------------------------------------------------------

@dataclasses.dataclass
class MemberCheck:
    shot: int
    member: str
    ok: bool
    problems: list
    seen: dict
    failed: tuple = ()  # what broke, one word per problem: "colour", "shape" or "size"


@dataclasses.dataclass
class ContinuityReport:
    extractor: str
    checks: list  # MemberCheck per (shot, member in that shot)
    looks: dict  # member -> the look it should keep

    @property
    def broken_shots(self) -> list[int]:
        return sorted({c.shot for c in self.checks if not c.ok})

    @property
    def shots_checked(self) -> list[int]:
        return sorted({c.shot for c in self.checks})

    @property
    def ok(self) -> bool:
        return not self.broken_shots

    def pass_rate(self) -> float:
        shots = self.shots_checked
        return 1.0 if not shots else 1 - len(self.broken_shots) / len(shots)

    def summary(self) -> str:
        if self.ok:
            return f"continuity: every cast member keeps its look in all {len(self.shots_checked)} shots checked"
        lines = [f"continuity: broken in shot(s) {', '.join(str(s + 1) for s in self.broken_shots)}"]
        for c in self.checks:
            if not c.ok:
                lines.append(f"  shot {c.shot + 1}, {c.member}: " + "; ".join(c.problems))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"extractor": self.extractor, "ok": self.ok, "pass_rate": round(self.pass_rate(), 3),
                "broken_shots": [s + 1 for s in self.broken_shots],
                "looks": {k: dataclasses.asdict(v) for k, v in self.looks.items()},
                "checks": [{"shot": c.shot + 1, "member": c.member, "ok": c.ok, "problems": c.problems,
                            "seen": c.seen} for c in self.checks]}


def check_continuity(cast: dict[str, str], shots: list[tuple[np.ndarray, list[str], str]],
                     extractor: FeatureExtractor | None = None) -> ContinuityReport:
    """cast: member -> description. shots: (frames, members in the shot, the shot's prompt).

    Continuity is the member keeping one look from shot to shot: its colour (what the
    description names; a shot where that colour is missing lost or recoloured the member),
    and the shape and size it has in most shots (ties go to the description's word).
    Where the shared look itself differs from the description, each shot gets a note, not
    a break: that is prompt adherence (`python -m engine evaluate`), not continuity. Size
    is not compared in shots whose prompt grows, shrinks or zooms."""
    ex = extractor or WorldFeatures()
    looks = {k: ex.expected(d) for k, d in cast.items()}
    seen_in = {}  # (shot, member) -> Look
    for si, (frames, members, prompt) in enumerate(shots):
        for m in members:
            seen_in[si, m] = ex.observe(frames, looks[m])
    min_present = ex.min_present
    reference = {m: _consensus(looks[m], [(seen_in[k], shots[k[0]][2]) for k in seen_in if k[1] == m], min_present)
                 for m in looks}
    checks = []
    for (si, m), seen in seen_in.items():
        want, ref, prompt = looks[m], reference[m], shots[si][2]
        failed, problems, notes = [], [], []

        def fail(kind: str, text: str):
            failed.append(kind)
            problems.append(text)
        if want.colour is None:
            fail("colour", "its description names no colour the extractor can track")
        elif seen.present < min_present:
            fail("colour", f"{want.colour} not seen (in {seen.present:.0%} of frames)")
        else:
            if ref.shape and seen.shape and seen.shape != ref.shape:
                fail("shape", f"shape {seen.shape}, in its other shots {ref.shape}")
            sized = not GROWING.search(prompt) and seen.extent is not None and ref.extent
            if sized and not 1 / SIZE_TOLERANCE < seen.extent / ref.extent < SIZE_TOLERANCE:
                fail("size", f"size {seen.extent:.2f} across, in its other shots {ref.extent:.2f}")
            if want.shape and seen.shape and seen.shape != want.shape:
                notes.append(f"drawn as a {seen.shape}, described as a {want.shape}")
            if want.size and seen.size and seen.size != want.size and sized:
                notes.append(f"drawn {seen.size}, described as {want.size}")
        checks.append(MemberCheck(si, m, not problems, problems, {**dataclasses.asdict(seen), "notes": notes},
                                  tuple(failed)))
    checks.sort(key=lambda c: c.shot)
    return ContinuityReport(ex.name, checks, reference)


def _consensus(want: Look, seen: list[tuple[Look, str]], min_present: float) -> Look:
    """The look a member has in most of the shots it is seen in."""
    shown = [s for s, _ in seen if s.present >= min_present]
    shapes = [s.shape for s in shown if s.shape]
    shape = None
    if shapes:
        counts = {k: shapes.count(k) for k in set(shapes)}
        top = max(counts.values())
        tied = [k for k, v in counts.items() if v == top]
        shape = want.shape if want.shape in tied else next(k for k in shapes if k in tied)
    extents = [s.extent for s, prompt in seen if s.present >= min_present and s.extent and not GROWING.search(prompt)]
    extent = float(np.median(extents)) if extents else None
    size = None if extent is None else min(SIZES, key=lambda k: abs(np.log(extent / SIZES[k])))
    return Look(want.colour, shape, size, extent, 1.0 if shown else 0.0)
