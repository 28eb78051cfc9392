"""The layout of a shot: what is where in every frame, planned before anything is rendered
(ARCHITECTURE.md, "Plan, then render").

A `Layout` holds, for the shot, the background, whether the pillar stands in the middle and the
camera move; for each object its attributes (colour, shape, size) and a path of keyframes
(t seconds, x, y[, s]) in screen units: x from the left, y from the top, both 0..1 for the centre,
s the object's size across as a fraction of min(width, height) on screen (default: its size word,
WORLD.md). Between keyframes the centre moves linearly; before the first and after the last it
holds. The box is amodal (where the object is even when the pillar hides it); `arrays` gives the
per-frame boxes and the visible share of each.

JSON form (what `--layout FILE` reads and every sidecar records):
    {"background": "grass", "pillar": false, "camera": "static",
     "objects": [{"colour": "red", "shape": "ball", "size": "small",
                  "path": [[0.0, 0.1, 0.5], [1.0, 0.5, 0.2], [2.0, 0.9, 0.5]]}]}
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from engine.errors import InputError
from engine.world.render import camera_at, to_screen
from engine.world.scene import BACKGROUNDS, CAMERAS, COLOURS, SHAPES, SIZES, WALL_WIDTH

MAX_OBJECTS = 3  # the world's scenes hold one to three objects; the model's layout input takes this many
MAX_KEYFRAMES = 20000  # per object: a keyframe per frame of a ten-minute take at the base rate is 4800
SIZE_RANGE = (0.03, 0.8)  # s: an object's size across, of min(width, height)
SHAPE_WORDS = {"ball": "ball", "circle": "ball", "sphere": "ball", "orb": "ball", "disc": "ball",
               "box": "box", "square": "box", "cube": "box", "block": "box", "crate": "box",
               "triangle": "triangle", "wedge": "triangle", "pyramid": "triangle"}  # WORLD.md's synonyms
CAMERA_WORDS = {"static": "static", "pan_left": "pan_left", "pan_right": "pan_right", "zoom_in": "zoom_in",
                "zoom_out": "zoom_out", "pan left": "pan_left", "pan right": "pan_right", "zoom in": "zoom_in",
                "zoom out": "zoom_out", "pans left": "pan_left", "pans right": "pan_right",
                "zooms in": "zoom_in", "zooms out": "zoom_out"}
# Index tables of the model's layout input (engine.models.dit): append only, never reorder.
COLOUR_IDS = {c: i for i, c in enumerate(COLOURS)}
SHAPE_IDS = {s: i for i, s in enumerate(SHAPES)}
SIZE_IDS = {s: i for i, s in enumerate(SIZES)}
BACKGROUND_IDS = {b: i for i, b in enumerate(BACKGROUNDS)}
CAMERA_IDS = {c: i for i, c in enumerate(CAMERAS)}


@dataclasses.dataclass
class Track:
    """One object: attributes and its path of keyframes (t, x, y, s)."""
    colour: str
    shape: str
    size: str
    path: np.ndarray  # (K, 4): t seconds, x, y (screen units), s (size across, of min(width, height))

    def at(self, times) -> np.ndarray:
        """(len(times), 3): centre x, y and size s at each time, linear between keyframes."""
        t = np.asarray(times, np.float64)
        p = self.path
        return np.stack([np.interp(t, p[:, 0], p[:, k]) for k in (1, 2, 3)], 1)

    def to_dict(self) -> dict:
        default = SIZES[self.size]
        rows = [[round(float(v), 4) for v in (row if abs(row[3] - default) > 1e-6 else row[:3])] for row in self.path]
        return {"colour": self.colour, "shape": self.shape, "size": self.size, "path": rows}


@dataclasses.dataclass
class Layout:
    objects: list[Track]
    background: str = "studio"
    pillar: bool = False
    camera: str = "static"

    # -- JSON --------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"background": self.background, "pillar": self.pillar, "camera": self.camera,
                "objects": [o.to_dict() for o in self.objects]}

    @classmethod
    def from_dict(cls, d, where: str = "layout") -> "Layout":
        """A layout from its JSON form, every field checked: an InputError names the field and what is
        allowed (`where`: how the message names the layout, e.g. its file)."""
        if not isinstance(d, dict):
            raise InputError(f"{where}: a layout is a JSON object with background, pillar, camera and objects")
        unknown = set(d) - {"background", "pillar", "camera", "objects", "seconds"}
        if unknown:
            raise InputError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}; allowed: background, pillar, "
                             "camera, objects")
        background = d.get("background", "studio")
        if background not in BACKGROUNDS:
            raise InputError(f"{where}: background {background!r} is unknown; allowed: {', '.join(BACKGROUNDS)}")
        pillar = d.get("pillar", False)
        if not isinstance(pillar, bool):
            raise InputError(f"{where}: pillar must be true or false, got {pillar!r}")
        camera = CAMERA_WORDS.get(d.get("camera", "static")) if isinstance(d.get("camera", "static"), str) else None
        if camera is None:
            raise InputError(f"{where}: camera {d.get('camera')!r} is unknown; allowed: {', '.join(CAMERAS)}")
        objects = object_list(d.get("objects"), where, f"objects must be a list of 1 to {MAX_OBJECTS} objects")
        return cls([_track(o, f"{where}: objects[{i}]") for i, o in enumerate(objects)], background, pillar, camera)

    # -- time ---------------------------------------------------------------------
    @property
    def seconds(self) -> float:
        """When the last keyframe is (the layout holds after it)."""
        return max(float(o.path[-1, 0]) for o in self.objects)

    def camera_at(self, times) -> np.ndarray:
        """(len(times), 2): the camera's horizontal offset (world units) and zoom at each time."""
        return np.array([camera_at(self.camera, float(t)) for t in np.asarray(times, np.float64)]).reshape(-1, 2)

    def pillar_at(self, times) -> np.ndarray:
        """(len(times), 2): the pillar's left and right edges on screen (x, 0..1), NaN without one."""
        out = np.full((len(np.asarray(times)), 2), np.nan)
        if self.pillar:
            half = WALL_WIDTH / 2
            for i, cam in enumerate(self.camera_at(times)):
                out[i] = to_screen(0.5 - half, 0.5, cam)[0], to_screen(0.5 + half, 0.5, cam)[0]
        return out

    def arrays(self, width: int, height: int, times) -> dict:
        """Per frame, in screen units: "boxes" (O, F, 4) amodal x0, y0, x1, y1; "visible" (O, F) the share
        of each box on screen and not behind the pillar; "pillar" (F, 2); "attrs" (O, 4) colour, shape,
        size and object index ids; "scene" (3,) background, pillar and camera ids."""
        times = np.asarray(times, np.float64)
        short = min(width, height)
        boxes = np.zeros((len(self.objects), len(times), 4))
        for i, o in enumerate(self.objects):
            x, y, s = o.at(times).T
            hw, hh = s * short / width / 2, s * short / height / 2
            boxes[i] = np.stack([x - hw, y - hh, x + hw, y + hh], 1)
        pillar = self.pillar_at(times)
        return {"boxes": boxes, "visible": visible_share(boxes, pillar), "pillar": pillar,
                "attrs": np.array([[COLOUR_IDS[o.colour], SHAPE_IDS[o.shape], SIZE_IDS[o.size], i]
                                   for i, o in enumerate(self.objects)], np.int64).reshape(-1, 4),
                "scene": np.array([BACKGROUND_IDS[self.background], int(self.pillar), CAMERA_IDS[self.camera]])}

    def window(self, start: float) -> "Layout":
        """The same layout with time shifted so that `start` seconds is 0 (for a later window of a take)."""
        return Layout([dataclasses.replace(o, path=_shift(o.path, start)) for o in self.objects], self.background,
                      self.pillar, self.camera)

    def describe(self, seconds: float | None = None) -> str:
        """One line per object: 'red ball, right, 0.18 -> 0.82 (x)'; what the CLI says it planned."""
        end = self.seconds if seconds is None else seconds
        parts = []
        for o in self.objects:
            (x0, y0, s0), (x1, y1, s1) = o.at([0.0, end])
            dx, dy = x1 - x0, y1 - y0
            way = ("right" if dx > 0 else "left") if abs(dx) >= abs(dy) else ("down" if dy > 0 else "up")
            if max(abs(dx), abs(dy)) < 0.05:
                way = "grows" if s1 > 1.5 * s0 else "shrinks" if s0 > 1.5 * s1 else "stays"
            parts.append(f"{o.size} {o.colour} {o.shape}, {way}, ({x0:.2f}, {y0:.2f}) -> ({x1:.2f}, {y1:.2f})")
        scene = f"{self.background}{', pillar' if self.pillar else ''}, camera {self.camera}"
        return "; ".join(parts) + f" [{scene}]"


def object_list(objects, where: str, empty: str) -> list:
    """`objects` when it is a list of 1 to MAX_OBJECTS entries, else an InputError (`empty` says the first)."""
    if not isinstance(objects, list) or not objects:
        raise InputError(f"{where}: {empty}")
    if len(objects) > MAX_OBJECTS:
        raise InputError(f"{where}: {len(objects)} objects; the model takes at most {MAX_OBJECTS}")
    return objects


def visible_share(boxes: np.ndarray, pillar: np.ndarray) -> np.ndarray:
    """(O, F): the share of each box's area on screen and not behind the pillar (an interval of x)."""
    x0, y0, x1, y1 = (boxes[..., k] for k in range(4))
    area = np.maximum(x1 - x0, 1e-9) * np.maximum(y1 - y0, 1e-9)
    ox = np.clip(np.minimum(x1, 1) - np.maximum(x0, 0), 0, None)
    oy = np.clip(np.minimum(y1, 1) - np.maximum(y0, 0), 0, None)
    p0, p1 = np.nan_to_num(pillar[:, 0], nan=2.0), np.nan_to_num(pillar[:, 1], nan=2.0)
    hidden = np.clip(np.minimum(np.minimum(x1, 1), p1) - np.maximum(np.maximum(x0, 0), p0), 0, None)
    return (ox - hidden) * oy / area


def _shift(path: np.ndarray, start: float) -> np.ndarray:
    p = path.copy()
    p[:, 0] -= start
    return p


def _number(v, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise InputError(f"{what} must be a number, got {v!r}")
    return float(v)


def _track(o, where: str) -> Track:
    if not isinstance(o, dict):
        raise InputError(f"{where} must be an object with colour, shape, size and path")
    unknown = set(o) - {"colour", "color", "shape", "size", "path"}
    if unknown:
        raise InputError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}; allowed: colour, shape, size, path")
    colour = o.get("colour", o.get("color"))
    if colour not in COLOURS:
        raise InputError(f"{where}.colour {colour!r} is unknown; allowed: {', '.join(COLOURS)}")
    shape = SHAPE_WORDS.get(o.get("shape")) if isinstance(o.get("shape"), str) else None
    if shape is None:
        raise InputError(f"{where}.shape {o.get('shape')!r} is unknown; allowed: {', '.join(sorted(SHAPE_WORDS))}")
    size = o.get("size", "small")
    if size not in SIZES:
        raise InputError(f"{where}.size {size!r} is unknown; allowed: {', '.join(SIZES)}")
    path = o.get("path")
    if not isinstance(path, list) or len(path) < 2:
        raise InputError(f"{where}.path needs at least two keyframes [t, x, y] (seconds, then x and y in 0..1)")
    if len(path) > MAX_KEYFRAMES:
        raise InputError(f"{where}.path has {len(path)} keyframes; at most {MAX_KEYFRAMES}")
    rows = []
    for k, row in enumerate(path):
        w = f"{where}.path[{k}]"
        if not isinstance(row, list) or len(row) not in (3, 4):
            raise InputError(f"{w} must be [t, x, y] or [t, x, y, s] (seconds, x and y in 0..1, size across)")
        t, x, y = (_number(v, f"{w}") for v in row[:3])
        s = _number(row[3], w) if len(row) == 4 else SIZES[size]
        if t < 0:
            raise InputError(f"{w}: time {t:g} is negative; keyframe times start at 0 seconds")
        if rows and t <= rows[-1][0]:
            raise InputError(f"{w}: time {t:g} s is not after the keyframe before it ({rows[-1][0]:g} s); "
                             "keyframes go in time order")
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise InputError(f"{w}: point ({x:g}, {y:g}) is off the canvas; x and y are 0..1 from the top left")
        if not SIZE_RANGE[0] <= s <= SIZE_RANGE[1]:
            raise InputError(f"{w}: size {s:g} is outside {SIZE_RANGE[0]}..{SIZE_RANGE[1]} of the short side")
        rows.append((t, x, y, s))
    return Track(colour, shape, size, np.array(rows, np.float64))
