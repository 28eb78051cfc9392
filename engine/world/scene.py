"""Scene descriptions of the procedural world and a seeded sampler (contract: shared WORLD.md).

A `Scene` is the ground truth behind a clip: the renderer draws it, the
captioner describes it, the evaluator checks generated video against it.
Positions are in world units where the canvas spans [0, 1] on each axis;
motion is defined per second so that a scene renders at any duration.
"""
from __future__ import annotations

import dataclasses
import itertools
import random

# --------------------------------------------------------------------------
# Vocabulary of the world (never change a value or a meaning; only add)
# --------------------------------------------------------------------------

COLOURS = {
    "red": (0xDC, 0x28, 0x28),
    "orange": (0xF5, 0x8C, 0x1E),
    "yellow": (0xF0, 0xD2, 0x28),
    "green": (0x28, 0xB4, 0x3C),
    "blue": (0x28, 0x50, 0xDC),
    "purple": (0x8C, 0x3C, 0xC8),
    "pink": (0xF0, 0x6E, 0xAA),
}
SHAPES = ("ball", "box", "triangle")
SIZES = {"small": 0.12, "big": 0.25}  # fraction of min(width, height) across
BACKGROUNDS = ("studio", "sky", "night", "desert", "grass", "ocean")  # `wall` is a flag on any of them
MOTIONS = ("right", "left", "up", "down", "bounce", "orbit", "grow", "shrink", "still")
SPEEDS = {"slowly": 0.5, "normal": 1.0, "quickly": 2.0}
CAMERAS = ("static", "pan_left", "pan_right", "zoom_in", "zoom_out")
DIRECTIONS = ("right", "left", "up", "down")

# Per-second rates at normal speed. Over the default 2-second clip a
# horizontal or vertical mover travels 0.8 of the frame, so `slowly` still
# clears WORLD.md's 40% and `quickly` wraps around (the world is a torus).
TRAVEL_PER_SECOND = 0.4
ORBIT_PERIOD_S = 2.0
ORBIT_RADIUS = 0.26  # of min(width, height), around the frame centre
GROW_SECONDS = 2.0  # grow/shrink complete their 2.3x change in this time at normal speed
GROW_RATIO = 2.3
BOUNCE_PERIOD_S = 1.0
BOUNCE_HEIGHT = 0.45  # of the height
GROUND = 0.88  # y of the ground line (bottom of a bouncing object)
PAN_PER_SECOND = 0.12
ZOOM_PER_SECOND = 0.2  # zoom factor change per second
WALL_WIDTH = 0.14  # pillar width, of the canvas width

# --------------------------------------------------------------------------
# Scenes
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Obj:
    colour: str
    shape: str
    size: str
    motion: str
    speed: str = "normal"
    x0: float = 0.5  # start position of the centre, world units
    y0: float = 0.5

    def __post_init__(self):
        assert self.colour in COLOURS and self.shape in SHAPES and self.size in SIZES
        assert self.motion in MOTIONS and self.speed in SPEEDS


@dataclasses.dataclass(frozen=True)
class Scene:
    objects: tuple[Obj, ...]
    background: str = "studio"
    wall: bool = False
    camera: str = "static"
    seed: int = 0  # drives background details (stars, waves)

    def __post_init__(self):
        assert self.background in BACKGROUNDS and self.camera in CAMERAS
        assert 1 <= len(self.objects) <= 3

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Scene":
        return cls(objects=tuple(Obj(**o) for o in d["objects"]),
                   **{k: v for k, v in d.items() if k != "objects"})


# --------------------------------------------------------------------------
# Held-out combinations (evaluation only; the training sampler never draws them)
# --------------------------------------------------------------------------

ALL_COMBOS = list(itertools.product(COLOURS, SHAPES, MOTIONS))


def _held_out_combos(n: int = 21) -> frozenset:
    # Fixed, seeded choice that covers every colour and every direction.
    rng = random.Random(20261122)
    combos = set()
    for colour in COLOURS:  # one directional combo per colour
        combos.add((colour, rng.choice(SHAPES), rng.choice(DIRECTIONS)))
    while len(combos) < n:
        combos.add(rng.choice(ALL_COMBOS))
    return frozenset(combos)


HELD_OUT_COMBOS = _held_out_combos()


# --------------------------------------------------------------------------
# Sampler
# --------------------------------------------------------------------------

def start_along(rng: random.Random, motion: str, margin: float, travel: float) -> float:
    """Where a mover starts along its axis (0-1), so that `travel` fits on screen inside `margin`; a mover that
    does not move along an axis starts in the middle half. Shared with the layout planner (engine.layout.planner)."""
    lo, hi = margin, 1 - margin
    if motion in ("right", "down"):
        return rng.uniform(lo, max(lo, 1 - margin - travel))
    if motion in ("left", "up"):
        return rng.uniform(min(hi, margin + travel), hi)
    return rng.uniform(0.25, 0.75)


def start_centre(rng: random.Random, motion: str, along: float, across: float) -> tuple[float, float]:
    """A mover's start centre (x, y) from its place along and across its path: a bouncer on the ground, an
    orbiter in the middle, anything else anywhere central."""
    if motion in ("right", "left"):
        return along, across
    if motion in ("up", "down"):
        return across, along
    if motion == "bounce":
        return rng.uniform(0.2, 0.8), GROUND
    if motion == "orbit":
        return 0.5, 0.5
    return rng.uniform(0.25, 0.75), rng.uniform(0.3, 0.7)


def _start_position(rng: random.Random, motion: str, speed: str, size: float, seconds: float):
    travel = min(TRAVEL_PER_SECOND * SPEEDS[speed] * seconds, 0.85)
    along = start_along(rng, motion, size / 2 + 0.02, travel)
    return start_centre(rng, motion, along, rng.uniform(0.2, 0.8))  # along drawn first, then across


def sample_scene(rng: random.Random | int, *, split: str = "train", seconds: float = 2.125,
                 max_objects: int = 3, wall: bool | None = None, n_objects: int | None = None) -> Scene:
    """Draw a random scene. `split="train"` never contains a held-out colour x shape x motion
    combination; `split="eval"` puts a held-out combination on the first object."""
    rng = random.Random(rng) if isinstance(rng, int) else rng
    n = n_objects or rng.choices([1, 2, 3][:max_objects], weights=[0.6, 0.3, 0.1][:max_objects])[0]
    background = rng.choice(BACKGROUNDS)
    has_wall = rng.random() < 0.2 if wall is None else wall
    camera = "static" if rng.random() < 0.7 else rng.choice(CAMERAS[1:])
    objects, used = [], set()
    for i in range(n):
        while True:
            if split == "eval" and i == 0:
                colour, shape, motion = rng.choice(sorted(HELD_OUT_COMBOS))
            else:
                colour, shape = rng.choice(list(COLOURS)), rng.choice(SHAPES)
                # Directions are what the model learns last; draw them more often.
                motion = rng.choices(MOTIONS, weights=[3, 3, 2, 2, 1, 1, 1, 1, 1])[0]
                if has_wall and i == 0:
                    motion = rng.choice(("right", "left"))
                if (colour, shape, motion) in HELD_OUT_COMBOS:
                    continue
            if colour not in used:  # one object per colour keeps captions unambiguous
                break
        used.add(colour)
        size = rng.choice(list(SIZES))
        speed = rng.choices(list(SPEEDS), weights=[1, 4, 1])[0] if motion != "still" else "normal"
        x0, y0 = _start_position(rng, motion, speed, SIZES[size], seconds)
        if has_wall and i == 0 and motion in ("right", "left"):  # make sure it crosses the pillar
            x0 = 0.2 if motion == "right" else 0.8
            speed = "normal"
        objects.append(Obj(colour, shape, size, motion, speed, round(x0, 4), round(y0, 4)))
    return Scene(tuple(objects), background, has_wall, camera, seed=rng.randrange(1 << 30))
