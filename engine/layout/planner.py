"""The planner: a prompt's reading (engine.world.reading) or a world scene to a `Layout`, seeded, for any
duration and aspect ratio. Motions, speeds, the pillar and the camera follow WORLD.md exactly, so
what the layout says is what the world's renderer would draw: the planner is the world's own motion
model, run before rendering instead of learned by the transformer.

Also here: random smooth paths (training shows the model paths no motion word makes, so a drawn
zig-zag renders as well as a planned straight line) and `draw`, which paints a layout the way the
world's renderer paints a scene (the training clips and the animatic).
"""
from __future__ import annotations

import math
import random

import numpy as np

from engine.layout.layout import MAX_OBJECTS, Layout, Track
from engine.world.render import BG, _background, _shape_mask, camera_at, object_at, to_screen
from engine.world.scene import (
    BACKGROUNDS,
    COLOURS,
    SHAPES,
    SIZES,
    SPEEDS,
    TRAVEL_PER_SECOND,
    Obj,
    Scene,
    start_along,
    start_centre,
)

PLAN_FPS = 8.0  # keyframes per second of a planned path (the model's base rate)
MIN_GAP = 0.04  # planned start boxes keep at least this much screen between them


# --------------------------------------------------------------------------
# A scene's layout (the world's truth)
# --------------------------------------------------------------------------

def scene_layout(scene: Scene, seconds: float, width: int, height: int, fps: float = PLAN_FPS) -> Layout:
    """The layout of a world scene over `seconds`: keyframes at `fps`, screen positions through the
    camera. A mover that leaves one edge comes back at the other (the world is a torus): the path
    jumps there with two keyframes a millisecond apart."""
    n = max(2, int(math.floor(seconds * fps + 1e-9)) + 1)
    times = np.arange(n) / fps
    aspect = width / height
    tracks = []
    for obj in scene.objects:
        rows = []
        for t in times:
            cam = camera_at(scene.camera, float(t))
            x, y, s = object_at(obj, float(t), aspect)
            sx, sy = to_screen(x, y, cam)
            rows.append((float(t), sx, sy, s * cam[1]))
        tracks.append(Track(obj.colour, obj.shape, obj.size, _wrap_jumps(np.array(rows))))
    return Layout(tracks, scene.background, scene.wall, scene.camera)


def _wrap_jumps(rows: np.ndarray) -> np.ndarray:
    """Keyframes clipped to the canvas, with a jump where a mover wraps (or leaves under a zoom)."""
    out = [rows[0]]
    for a, b in zip(rows[:-1], rows[1:]):
        jump = np.abs(b[1:3] - a[1:3]) > 0.5
        if jump.any():  # leave at one edge, come back at the other
            k = int(np.argmax(jump)) + 1
            edge = a.copy()
            edge[0] = b[0] - 1e-3
            edge[k] = 1.0 if b[k] < a[k] else 0.0
            enter = b.copy()
            enter[0] = b[0] - 5e-4
            enter[k] = 0.0 if b[k] < a[k] else 1.0
            if edge[0] > out[-1][0]:
                out.append(edge)
            out.append(enter)
        out.append(b)
    p = np.array(out)
    p[:, 1:3] = p[:, 1:3].clip(0.0, 1.0)
    return p


# --------------------------------------------------------------------------
# A reading's scene: the slots the prompt said, the rest drawn from the seed
# --------------------------------------------------------------------------

def plan_scene(reading, seed: int, seconds: float, width: int, height: int) -> Scene:
    """A world scene for a prompt's reading (engine.world.reading.Reading): what it says is kept, what it
    leaves open is drawn from `seed` as the world draws it; start positions are drawn so that the
    objects do not overlap, and a pillar is crossed by the first horizontal mover."""
    rng = random.Random(seed)
    said = [o for o in (reading.objects if reading is not None else [])][:MAX_OBJECTS]
    if not said:
        said = [{}]
    background = getattr(reading, "background", None) or rng.choice(BACKGROUNDS)
    wall = bool(getattr(reading, "wall", False))
    camera = getattr(reading, "camera", None) or "static"
    used = {o.get("colour") for o in said if o.get("colour")}
    objects = []
    for i, o in enumerate(said):
        colour = o.get("colour")
        if colour is None:
            colour = rng.choice([c for c in COLOURS if c not in used] or list(COLOURS))
            used.add(colour)
        shape = o.get("shape") or rng.choice(SHAPES)
        size = o.get("size") or rng.choice(list(SIZES))
        motion = o.get("motion") or "still"
        speed = o.get("speed") or "normal"
        objects.append(dict(colour=colour, shape=shape, size=size, motion=motion, speed=speed))
    crossing = next((k for k, o in enumerate(objects) if o["motion"] in ("right", "left")), None) if wall else None
    for _ in range(100):  # place every object; when one finds no free spot, start the placement over
        placed = _place(rng, objects, crossing, seconds, width, height)
        if placed is not None:
            break
    else:  # crowded (three big objects on a small canvas): the last draw, overlaps and all
        placed = _place(rng, objects, crossing, seconds, width, height, give_up=True)
    return Scene(tuple(placed), background, wall, camera, seed=rng.randrange(1 << 30))


def _place(rng: random.Random, objects: list[dict], crossing: int | None, seconds: float, width: int, height: int,
           give_up: bool = False) -> list[Obj] | None:
    """Start positions for `objects` that keep them apart (None when one found no spot in 30 draws); the
    `crossing` object starts on one side of the pillar and ends on the other."""
    placed = []
    for k, o in enumerate(objects):
        for attempt in range(30):
            x0, y0 = _start(rng, o["motion"], o["speed"], SIZES[o["size"]], seconds, width / height)
            if k == crossing:
                half = min(TRAVEL_PER_SECOND * SPEEDS[o["speed"]] * seconds, 0.8) / 2
                edge = SIZES[o["size"]] / 2 * min(1.0, height / width) + 0.02  # whole on screen at the start
                x0 = max(edge, 0.5 - half) if o["motion"] == "right" else min(1 - edge, 0.5 + half)
            obj = Obj(o["colour"], o["shape"], o["size"], o["motion"], o["speed"], round(x0, 4), round(y0, 4))
            if not any(_overlap(obj, p, width, height) for p in placed):
                break
        else:
            if not give_up:
                return None
        placed.append(obj)
    return placed


def _start(rng: random.Random, motion: str, speed: str, size: float, seconds: float, aspect: float):
    """A start centre that keeps a mover on screen as long as the clip allows (the world's own rule,
    engine.world.scene, for any duration)."""
    travel = min(TRAVEL_PER_SECOND * SPEEDS[speed] * seconds, 0.8)
    # half the object's size in units of the axis it moves along (size is of the short side)
    along_short = min(1.0, 1 / aspect) if motion in ("right", "left") else min(1.0, aspect)
    margin = size / 2 * along_short + 0.02
    across = rng.uniform(0.2, 0.8)  # across drawn first, then along (the order the planner's layouts were made in)
    return start_centre(rng, motion, start_along(rng, motion, margin, travel), across)


def _overlap(a: Obj, b: Obj, width: int, height: int) -> bool:
    """Whether two objects' boxes at the start come closer than MIN_GAP of the short side."""
    short = min(width, height)
    (ax, ay, sa), (bx, by, sb) = (object_at(o, 0.0, width / height) for o in (a, b))
    reach = (sa + sb) / 2 * short + MIN_GAP * short
    return abs(ax - bx) * width < reach and abs(ay - by) * height < reach


def plan(reading, seed: int, seconds: float, width: int, height: int) -> Layout:
    """The layout of a prompt's reading: `plan_scene`, then its truth (keyframes at PLAN_FPS)."""
    return scene_layout(plan_scene(reading, seed, seconds, width, height), seconds, width, height)


# --------------------------------------------------------------------------
# Random smooth paths (training): waypoints joined by straight legs, pauses and reversals
# --------------------------------------------------------------------------

def random_layout(rng: random.Random, seconds: float, width: int, height: int, fps: float = PLAN_FPS) -> Layout:
    """A layout no motion word makes: each object visits 2-5 random waypoints at its own times (legs
    straight, some standing still, some going back), now and then a pillar it passes behind and a
    camera move; objects have distinct colours, as in the world."""
    n = rng.choices([1, 2, 3], weights=[0.5, 0.35, 0.15])[0]
    colours = rng.sample(list(COLOURS), n)
    pillar = rng.random() < 0.3
    camera = "static" if rng.random() < 0.8 else rng.choice(["pan_left", "pan_right", "zoom_in", "zoom_out"])
    tracks = []
    for colour in colours:
        size = rng.choice(list(SIZES))
        s = SIZES[size]
        k = rng.randint(2, 5)
        times = sorted({0.0, seconds, *(round(rng.uniform(0.1, seconds - 0.1), 3) for _ in range(k - 2))})
        half = s * min(width, height) / 2
        mx, my = half / width + 0.02, half / height + 0.02
        pts = []
        for j, t in enumerate(times):
            if pts and rng.random() < 0.15:  # stand still for this leg
                x, y = pts[-1][1], pts[-1][2]
            elif pillar and j == 1 and rng.random() < 0.5:  # cross behind the pillar
                x, y = (0.8 if pts[-1][1] < 0.5 else 0.2), rng.uniform(my, 1 - my)
            else:
                x, y = rng.uniform(mx, 1 - mx), rng.uniform(my, 1 - my)
            grow = rng.random() < 0.1
            pts.append((t, x, y, s * (rng.uniform(0.6, 1.6) if grow else 1.0)))
        tracks.append(Track(colour, rng.choice(SHAPES), size, np.array(pts)))
    return Layout(tracks, rng.choice(BACKGROUNDS), pillar, camera)


# --------------------------------------------------------------------------
# Drawing a layout as the world draws a scene
# --------------------------------------------------------------------------

def draw(layout: Layout, width: int, height: int, times, seed: int = 0, boxes_only: bool = False) -> np.ndarray:
    """uint8 (F, H, W, 3): the background through the camera, each object's shape in its flat colour
    over its box, the pillar last (objects pass behind it). `boxes_only`: the animatic's look, each
    object a box outline in its colour over a half-tinted box, drawn over the pillar (the plan shows
    where an object is even while hidden)."""
    times = np.asarray(times, np.float64)
    stub = Scene((Obj("red", "ball", "small", "still"),), layout.background, layout.pillar, layout.camera, seed=seed)
    short = min(width, height)
    cams = layout.camera_at(times)
    pillars = layout.pillar_at(times)
    frames = np.empty((len(times), height, width, 3), np.uint8)
    for f, t in enumerate(times):
        img = _background(stub, tuple(cams[f]), width, height)
        drawn = []
        for o in layout.objects:
            x, y, s = o.at([t])[0]
            r = s * short / 2
            drawn.append((o, x * width, y * height, r))
        if not boxes_only:
            for o, cx, cy, r in drawn:
                hit = _shape_mask(o.shape, cx, cy, r, width, height)
                if hit is not None:
                    ys, xs, m = hit
                    img[ys, xs][m] = COLOURS[o.colour]
        if layout.pillar:
            a, b = int(round(pillars[f, 0] * width)), int(round(pillars[f, 1] * width))
            img[:, max(a, 0):max(min(b, width), 0)] = BG["wall"]
        if boxes_only:
            for o, cx, cy, r in drawn:
                _box(img, cx, cy, r, COLOURS[o.colour], width, height)
        frames[f] = img.clip(0, 255).astype(np.uint8)
    return frames


def _box(img: np.ndarray, cx: float, cy: float, r: float, colour, width: int, height: int):
    x0, x1 = max(int(round(cx - r)), 0), min(int(round(cx + r)), width)
    y0, y1 = max(int(round(cy - r)), 0), min(int(round(cy + r)), height)
    if x0 >= x1 or y0 >= y1:
        return
    c = np.array(colour, np.float32)
    img[y0:y1, x0:x1] = 0.5 * img[y0:y1, x0:x1] + 0.5 * c
    line = max(1, round(min(width, height) / 96))
    img[y0:y1, x0:x0 + line] = c
    img[y0:y1, x1 - line:x1] = c
    img[y0:y0 + line, x0:x1] = c
    img[y1 - line:y1, x0:x1] = c
