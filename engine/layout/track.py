"""Footage of the world read back as a layout (issue 29, "verbs through layouts"): what an editing verb
continues, joins or keeps, so that the model draws motion the tracks decide instead of guessing it.

Tracking uses only what WORLD.md lets an evaluator assume (engine.world.measure): an object is the pixels
near its flat colour, its box their bounding box, its shape how much of the box it fills (a box all of it,
a ball about 0.79, a triangle about half), the background the bands' colours, the pillar a column of the
wall's grey in the middle. Footage the tracker cannot read (camera footage: engine.world.measure
.is_world_footage) has no layout, and the verbs keep their other paths for it.

`track` reads the frames the verb holds; `extend_tracks` gives every frame of the render a box: the
tracked ones where the footage has them, joined in straight lines across gaps (fill, bridge), continued at
the speed of their last (or first) frames past the footage's ends (extend forward, backward).
`looping` makes a plan return to where it starts (loop).
"""
from __future__ import annotations

import numpy as np

from engine.layout.layout import MAX_OBJECTS, Layout, Track
from engine.world import measure
from engine.world.render import BG
from engine.world.scene import BACKGROUNDS, COLOURS, SIZES, WALL_WIDTH

FIT_FRAMES = 4  # frames whose motion a continued track keeps (a least-squares line through them)
MIN_PIXELS = 12  # an object's mask in a frame, at least (the smallest object is about 15 px across)
WALL = np.array(BG["wall"], np.float32)


def shape_of(fill: float) -> str:
    """The shape whose area fills `fill` of its bounding box (box 1.0, ball pi/4, triangle 1/2)."""
    return "box" if fill > 0.9 else "ball" if fill > 0.64 else "triangle"


def size_word(s: float) -> str:
    """The size word nearest to a size across `s` (of the short side), by ratio."""
    return min(SIZES, key=lambda w: abs(np.log(s / SIZES[w])))


def background_of(frames: np.ndarray) -> str:
    return min(BACKGROUNDS, key=lambda b: measure.background_distance(frames, b))


def has_pillar(frames: np.ndarray) -> bool:
    """The wall's grey covers most of the middle column band (the pillar) in most frames."""
    W = frames.shape[2]
    a, b = int(W * (0.5 - WALL_WIDTH / 4)), int(np.ceil(W * (0.5 + WALL_WIDTH / 4)))
    band = frames[:, :, a:b].astype(np.float32)
    grey = np.sqrt(((band - WALL) ** 2).sum(-1)) < 30
    return bool(np.median(grey.mean((1, 2))) > 0.6)


def track(frames: np.ndarray, times) -> Layout | None:
    """The layout of world footage (`frames` at `times` seconds): a track per object colour seen in at least
    two frames, keyframed where it is seen (t, x, y, s); None when no object is found. A box cut by the
    pillar or the frame's edge is widened back to the object's usual size on the cut side (its amodal box)."""
    frames = np.asarray(frames)
    times = np.asarray(times, np.float64)
    F_, H, W = frames.shape[:3]
    short = min(W, H)
    pillar = has_pillar(frames)
    cuts = [0.0, float(W)] + ([W * (0.5 - WALL_WIDTH / 2), W * (0.5 + WALL_WIDTH / 2)] if pillar else [])
    found = []
    for colour in COLOURS:
        mask = measure.object_mask(frames, colour)
        boxes, fills = [], []
        for f in range(F_):
            ys, xs = _largest(mask[f])
            if len(xs) < MIN_PIXELS:
                continue
            x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
            boxes.append([times[f], x0, y0, x1, y1])
            fills.append(len(xs) / ((x1 - x0) * (y1 - y0)))
        if len(boxes) < 2:
            continue
        b = np.array(boxes, np.float64)
        _amodal(b, cuts, H)
        s = np.clip(np.maximum(b[:, 3] - b[:, 1], b[:, 4] - b[:, 2]) / short, 0.03, 0.8)
        path = np.column_stack([b[:, 0], (b[:, 1] + b[:, 3]) / 2 / W, (b[:, 2] + b[:, 4]) / 2 / H, s])
        whole = (b[:, 3] - b[:, 1]) * (b[:, 4] - b[:, 2]) > 0  # fills of whole boxes name the shape
        found.append((len(b), Track(colour, shape_of(float(np.median(np.array(fills)[whole]))),
                                    size_word(float(np.median(s))), path)))
    if not found:
        return None
    objects = [t for _, t in sorted(found, key=lambda x: -x[0])[:MAX_OBJECTS]]  # the longest-seen first
    return Layout(objects, background_of(frames), pillar, "static")


def _largest(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ys, xs) of the largest connected part of a mask: an object the world wraps round the frame shows at
    both edges at once, one behind the pillar at both its sides; its largest part is the one to follow."""
    import cv2  # deferred: OpenCV is heavy; this module imports without it

    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 2:
        return np.nonzero(mask)
    return np.nonzero(labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA])))


def _amodal(b: np.ndarray, cuts: list[float], height: int, near: float = 1.5) -> None:
    """Boxes (t, x0, y0, x1, y1) in place: one narrower (or shorter) than the object's usual size whose side
    lies on a cut (the frame's edges, the pillar's) is widened on that side to the usual size."""
    usual_w, usual_h = np.median(b[:, 3] - b[:, 1]), np.median(b[:, 4] - b[:, 2])
    usual_w = max(usual_w, np.percentile(b[:, 3] - b[:, 1], 90))
    usual_h = max(usual_h, np.percentile(b[:, 4] - b[:, 2], 90))
    for row in b:
        if row[3] - row[1] < 0.9 * usual_w:
            if any(abs(row[3] - c) <= near for c in cuts):
                row[3] = row[1] + usual_w
            elif any(abs(row[1] - c) <= near for c in cuts):
                row[1] = row[3] - usual_w
        if row[4] - row[2] < 0.9 * usual_h:
            if abs(row[4] - height) <= near:
                row[4] = row[2] + usual_h
            elif row[2] <= near:
                row[2] = row[4] - usual_h


def extend_tracks(layout: Layout, times) -> Layout:
    """`layout` (tracked) with a keyframe at every one of `times`: inside a track's keyframes, in a straight
    line between them (across a gap: the tracks joined); before the first and after the last, continued at
    the velocity of the FIT_FRAMES nearest keyframes (a least-squares line), its centre kept on the canvas.
    The size is held past the ends."""
    times = np.asarray(times, np.float64)
    out = []
    for o in layout.objects:
        p = o.path
        rows = np.stack([np.interp(times, p[:, 0], p[:, k]) for k in (1, 2, 3)], 1)
        for side, sel in (("before", times < p[0, 0]), ("after", times > p[-1, 0])):
            if not sel.any() or len(p) < 2:
                continue
            near = p[:FIT_FRAMES] if side == "before" else p[-FIT_FRAMES:]
            t0 = near[0, 0] if side == "before" else near[-1, 0]
            for k in (1, 2):
                v = np.polyfit(near[:, 0], near[:, k], 1)[0] if near[-1, 0] > near[0, 0] else 0.0
                base = near[0, k] if side == "before" else near[-1, k]
                rows[sel, k - 1] = np.clip(base + v * (times[sel] - t0), 0.0, 1.0)
        out.append(Track(o.colour, o.shape, o.size, np.column_stack([times, rows])))
    return Layout(out, layout.background, layout.pillar, layout.camera)


def looping(layout: Layout, seconds: float) -> Layout:
    """A layout whose objects return to where they start: each goes along its planned path for the first half
    of `seconds` and comes back the same way in the second, easing like a pendulum (slowest at the turn and at
    the wrap-around), so the last frame leads into the first without a jump."""
    half = seconds / 2
    ts = np.linspace(0.0, seconds, max(3, int(round(seconds * 8)) + 1))
    back = half * (1 - np.cos(2 * np.pi * ts / seconds)) / 2  # 0 -> half -> 0, at rest at the ends
    out = [Track(o.colour, o.shape, o.size, np.column_stack([ts, o.at(back)])) for o in layout.objects]
    return Layout(out, layout.background, layout.pillar, layout.camera)
