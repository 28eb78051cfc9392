"""Directed motion: the form a filmmaker edits (a path of points per object, when it starts and stops, its
easing, the camera move), and the layout it becomes (engine.layout.layout).

The editing form is what the studio's path editor shows and saves with a shot (JSON):
    {"background": "grass", "pillar": false, "camera": "static",
     "objects": [{"colour": "red", "shape": "ball", "size": "small",
                  "points": [[0.1, 0.5], [0.5, 0.2], [0.9, 0.5]],
                  "start": 0.0, "end": 2.0, "easing": "linear"}]}
Points are screen units (x from the left, y from the top, 0..1), optionally with a size [x, y, s]. The object
stands at its first point until `start` seconds, travels the path at a speed set by `easing` (the share of the
path covered grows with time as the easing says; linear: constant speed), and stands at its last point from
`end` on. `from_layout` turns a planned layout into this form; `to_layout` turns the form back into keyframes
(the JSON layout a render takes). The studio's editor (studio/motion.py) moves points the same way in the
browser, so what plays there is what renders.
"""
from __future__ import annotations

import math

import numpy as np

from engine.errors import InputError
from engine.layout.layout import MAX_OBJECTS, SHAPE_WORDS, Layout, Track, object_list
from engine.world.scene import COLOURS, SIZES

EASINGS = ("linear", "ease-in", "ease-out", "ease-in-out")
MAX_POINTS = 64  # per object in the editor: waypoints a hand places, with room to spare
EDIT_POINTS = 12  # a planned path shown for editing keeps at most this many points (its corners first)
EASED_RATE = 12.0  # keyframes a second along an eased leg (linear legs need only their points)


def ease(u: np.ndarray, easing: str) -> np.ndarray:
    """The share of the path covered at time share `u` (0..1)."""
    u = np.clip(u, 0.0, 1.0)
    if easing == "ease-in":
        return u * u
    if easing == "ease-out":
        return 1 - (1 - u) * (1 - u)
    if easing == "ease-in-out":
        return u * u * (3 - 2 * u)
    return u


def along(points: np.ndarray, share: np.ndarray) -> np.ndarray:
    """(len(share), D): the points at `share` (0..1) of the polyline `points` (K, D, x and y first), by
    length travelled in x and y; a path that does not move (only its size changes) goes point by point."""
    seg = np.hypot(*np.diff(points[:, :2], axis=0).T)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    if cum[-1] < 1e-9:
        cum = np.arange(len(points), dtype=np.float64)
    s = np.asarray(share, np.float64) * cum[-1]
    return np.stack([np.interp(s, cum, points[:, k]) for k in range(points.shape[1])], 1)


def to_layout(motion, seconds: float, where: str = "motion") -> Layout:
    """The directed motion as a layout over a shot of `seconds`, every field checked: an InputError names
    the object and the field and says what is allowed."""
    if not isinstance(motion, dict):
        raise InputError(f"{where}: directed motion is a JSON object with background, pillar, camera and objects")
    objects = object_list(motion.get("objects"), where, f"there are no objects to move; a shot directs 1 to "
                                                        f"{MAX_OBJECTS}")
    tracks = []
    for i, o in enumerate(objects):
        name = f"{where}: object {i + 1}"
        if not isinstance(o, dict):
            raise InputError(f"{name} must be an object with colour, shape, size, points, start, end and easing")
        name += f" ({o.get('colour', '?')} {o.get('shape', '?')})"
        if o.get("colour") not in COLOURS:
            raise InputError(f"{name}: colour {o.get('colour')!r} is unknown; allowed: {', '.join(COLOURS)}")
        if o.get("shape") not in SHAPE_WORDS:
            raise InputError(f"{name}: shape {o.get('shape')!r} is unknown; allowed: {', '.join(sorted(SHAPE_WORDS))}")
        path = _keyframes(o, seconds, name)
        tracks.append({"colour": o.get("colour"), "shape": o.get("shape"), "size": o.get("size", "small"),
                       "path": path})
    d = {k: motion[k] for k in ("background", "pillar", "camera") if k in motion}
    return Layout.from_dict({**d, "objects": tracks}, where)


def _keyframes(o: dict, seconds: float, name: str) -> list:
    pts = o.get("points")
    if not isinstance(pts, list) or len(pts) < 2:
        raise InputError(f"{name}: a path needs at least two points, where it starts and where it ends")
    if len(pts) > MAX_POINTS:
        raise InputError(f"{name}: {len(pts)} points; a path takes at most {MAX_POINTS}")
    size = SIZES.get(o.get("size", "small"))
    if size is None:
        raise InputError(f"{name}: size {o.get('size')!r} is unknown; allowed: {', '.join(SIZES)}")
    rows = []
    for k, p in enumerate(pts):
        if not isinstance(p, list) or len(p) not in (2, 3) or not all(_finite(v) for v in p):
            raise InputError(f"{name}: point {k + 1} must be [x, y] or [x, y, size] numbers, got {p!r}")
        if not (0.0 <= p[0] <= 1.0 and 0.0 <= p[1] <= 1.0):
            raise InputError(f"{name}: point {k + 1} ({p[0]:g}, {p[1]:g}) is off the canvas; x and y are 0..1 "
                             "from the top left")
        rows.append([float(p[0]), float(p[1]), float(p[2]) if len(p) == 3 else size])
    start, end = o.get("start", 0.0), o.get("end", seconds)
    if not (_finite(start) and _finite(end)):
        raise InputError(f"{name}: start and end are times in seconds, got {start!r} and {end!r}")
    if not 0.0 <= start < end <= seconds + 1e-6:
        raise InputError(f"{name}: it starts at {start:g} s and stops at {end:g} s; it must stop after it starts, "
                         f"both within the shot's 0..{seconds:g} s")
    easing = o.get("easing", "linear")
    if easing not in EASINGS:
        raise InputError(f"{name}: easing {easing!r} is unknown; allowed: {', '.join(EASINGS)}")
    points = np.array(rows)
    if easing == "linear":  # constant speed: a keyframe at each point, timed by the length travelled
        seg = np.hypot(*np.diff(points[:, :2], axis=0).T)
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        share = cum / cum[-1] if cum[-1] > 1e-9 else np.linspace(0, 1, len(points))
        times, at = start + share * (end - start), points
    else:
        times = np.linspace(start, end, max(2, math.ceil((end - start) * EASED_RATE) + 1))
        at = along(points, ease((times - start) / (end - start), easing))
    keep = np.concatenate([[True], np.diff(times) > 1e-6])  # a repeated point is one keyframe
    path = [[float(t), *map(float, a)] for t, a in zip(times[keep], at[keep])]
    if start > 1e-6:
        path.insert(0, [0.0, *path[0][1:]])
    if len(path) < 2:
        path.append([path[0][0] + 1e-3, *path[0][1:]])
    return path


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def from_layout(layout: Layout, seconds: float) -> dict:
    """A planned layout in the editing form: each path simplified to at most EDIT_POINTS points (its corners
    kept), starting where the object first moves and stopping where it last does (or where it leaves the frame:
    a path is drawn on the canvas), with the easing closest to its planned timing."""
    objects = []
    for o in layout.objects:
        p = o.path
        moving = np.nonzero(np.any(np.abs(np.diff(p[:, 1:], axis=0)) > 1e-6, axis=1))[0]
        lo, hi = (moving[0], moving[-1] + 1) if len(moving) else (0, len(p) - 1)
        part = p[lo:hi + 1]
        jumps = np.nonzero((np.diff(part[:, 0]) < 0.01) & (np.abs(np.diff(part[:, 1:3], axis=0)).max(1) > 0.3))[0]
        if len(jumps):  # the world wraps an object that leaves the frame; a drawn path ends at the edge instead
            part = part[:jumps[0] + 1]
        keep = _simplify(part[:, 1:], EDIT_POINTS)
        default = SIZES[o.size]
        points = [[round(float(v), 4) for v in (r if abs(r[2] - default) > 1e-6 else r[:2])] for r in part[keep, 1:]]
        start, end = float(min(part[0, 0], seconds)), float(min(part[-1, 0], seconds))
        if end <= start:
            start, end = 0.0, seconds
        objects.append({"colour": o.colour, "shape": o.shape, "size": o.size, "points": points,
                        "start": round(start, 3), "end": round(end, 3), "easing": _easing_of(part, start, end)})
    return {"background": layout.background, "pillar": layout.pillar, "camera": layout.camera, "objects": objects}


def _easing_of(part: np.ndarray, start: float, end: float) -> str:
    """The easing whose curve is closest to how the planned keyframes `part` (K, 4) cover their path in time
    (a falling object speeds up: ease-in)."""
    seg = np.hypot(*np.diff(part[:, 1:3], axis=0).T)
    if seg.sum() < 1e-9:
        return "linear"
    covered = np.concatenate([[0.0], np.cumsum(seg)]) / seg.sum()
    u = (part[:, 0] - start) / max(end - start, 1e-9)
    return min(EASINGS, key=lambda e: float(np.abs(ease(u, e) - covered).mean()))


def _simplify(points: np.ndarray, most: int) -> list[int]:
    """Indices of at most `most` points of a polyline, ends kept, each next point the one farthest from the
    polyline through those kept so far (Ramer-Douglas-Peucker, greedy), stopping when none is over 0.005."""
    keep = {0, len(points) - 1}
    while len(keep) < min(most, len(points)):
        idx = sorted(keep)
        best, far = None, 0.005
        for a, b in zip(idx, idx[1:]):
            for k in range(a + 1, b):
                d = _distance(points[k], points[a], points[b])
                if d > far:
                    best, far = k, d
        if best is None:
            break
        keep.add(best)
    return sorted(keep)


def _distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    ab = b - a
    n = float(ab @ ab)
    u = 0.0 if n < 1e-12 else float(np.clip((p - a) @ ab / n, 0, 1))
    return float(np.linalg.norm(p - (a + u * ab)))


def conform(motion: dict, plan: Layout | None, old_seconds: float, seconds: float) -> dict | None:
    """Directed motion kept through an edit of its shot: times scaled to the new duration and, when the new
    plan has as many objects, their attributes taken from it (a prompt that changes a colour keeps the drawn
    path); None when the objects no longer match (the plan takes over)."""
    objects = motion.get("objects") or []
    if plan is not None and len(plan.objects) != len(objects):
        return None
    scale = seconds / old_seconds if old_seconds > 0 else 1.0
    out = []
    for i, o in enumerate(objects):
        o = {**o, "start": round(o.get("start", 0.0) * scale, 3), "end": round(o.get("end", old_seconds) * scale, 3)}
        if plan is not None:
            t: Track = plan.objects[i]
            o.update(colour=t.colour, shape=t.shape, size=t.size)
        out.append(o)
    scene = {"background": plan.background, "pillar": plan.pillar} if plan is not None else {}
    return {**motion, **scene, "objects": out}
