"""The world benchmark: prompt adherence of a model on held-out phrasings and combinations.

Cases are built from scenes the training sampler never draws (held-out colour x shape x
motion combinations) and captioned with held-out phrasings (`split="eval"`). Each generated
clip is scored only through `engine.world.measure`, i.e. through what WORLD.md lets any
evaluator assume, so the scores mean the same for any model.
"""
from __future__ import annotations

import dataclasses
import random
import time

import numpy as np

from engine import defaults
from engine.world import caption
from engine.world import measure
from engine.world.scene import BACKGROUNDS, COLOURS, DIRECTIONS, HELD_OUT_COMBOS, SHAPES, SIZES, Obj, Scene


@dataclasses.dataclass
class Case:
    kind: str  # "direction" | "colour" | "permanence"
    prompt: str
    scene: Scene
    seed: int


def _obj_for(rng: random.Random, motion: str, colour: str | None = None) -> Obj:
    held = [c for c in sorted(HELD_OUT_COMBOS) if c[2] == motion and (colour is None or c[0] == colour)]
    if held and rng.random() < 0.75:
        colour, shape, _ = rng.choice(held)
    else:
        colour, shape = colour or rng.choice(list(COLOURS)), rng.choice(SHAPES)
    return Obj(colour, shape, rng.choice(list(SIZES)), motion, "normal")


def build_cases(n_direction: int = 24, n_colour: int = 8, n_permanence: int = 8, seed: int = 1234,
                phrasing: str = "eval") -> list[Case]:
    """`phrasing="eval"`: held-out wording (the benchmark); "train": the same held-out scenes in
    training wording, which separates not knowing a word from not composing known ones."""
    if phrasing not in ("eval", "train"):
        raise ValueError(f"phrasing must be 'eval' or 'train', got {phrasing!r}")
    rng = random.Random(seed)
    cases = []
    for i in range(n_direction):
        motion = DIRECTIONS[i % 4]
        scene = Scene((_obj_for(rng, motion),), rng.choice(BACKGROUNDS), seed=rng.randrange(1 << 30))
        cases.append(Case("direction", caption(scene, rng, split=phrasing), scene, 1000 + i))
    for i in range(n_colour):  # two objects: both colours present, no third
        a = _obj_for(rng, rng.choice(["bounce", "orbit", "grow", "shrink", "still"]))
        while True:
            b = _obj_for(rng, rng.choice(["right", "left", "still", "bounce"]))
            if b.colour != a.colour:
                break
        scene = Scene((a, b), rng.choice(BACKGROUNDS), seed=rng.randrange(1 << 30))
        cases.append(Case("colour", caption(scene, rng, split=phrasing), scene, 2000 + i))
    for i in range(n_permanence):
        motion = ("right", "left")[i % 2]
        obj = _obj_for(rng, motion)
        scene = Scene((obj,), rng.choice(BACKGROUNDS), wall=True, seed=rng.randrange(1 << 30))
        cases.append(Case("permanence", caption(scene, rng, split=phrasing), scene, 3000 + i))
    return cases


def score_colours(frames: np.ndarray, scene: Scene) -> bool:
    wanted = {o.colour for o in scene.objects}
    ok = all(measure.present(frames, c) for c in wanted)
    return ok and not any(measure.present(frames, c) for c in set(COLOURS) - wanted)


def score_direction(frames: np.ndarray, obj: Obj) -> bool:
    H, W = frames.shape[1:3]
    return measure.direction_of(measure.centroids(frames, obj.colour), W, H) == obj.motion


def score_permanence(frames: np.ndarray, obj: Obj) -> bool:
    """Seen before and after the pillar, on opposite sides, at a similar size."""
    H, W = frames.shape[1:3]
    cov = measure.coverage(frames, obj.colour)
    track = measure.centroids(frames, obj.colour)
    q = max(1, len(frames) // 4)
    head, tail = track[:q], track[-q:]
    if np.isnan(head[:, 0]).all() or np.isnan(tail[:, 0]).all():
        return False
    x0, x1 = np.nanmean(head[:, 0]) / W, np.nanmean(tail[:, 0]) / W
    crossed = (x0 < 0.5 < x1) if obj.motion == "right" else (x1 < 0.5 < x0)
    a, b = cov[:q].mean(), cov[-q:].mean()
    return bool(crossed and 0.5 <= b / max(a, 1e-9) <= 2.0)


def evaluate(engine, cases: list[Case], steps: int = defaults.STEPS, guidance: float = defaults.GUIDANCE, progress=None) -> dict:
    from engine.service import BASE_FPS, GenerateRequest

    rows, t0 = [], time.time()
    for i, case in enumerate(cases):
        req = GenerateRequest(prompt=case.prompt, seed=case.seed, steps=steps, guidance=guidance, fps=BASE_FPS)
        frames = engine.generate(req).frames
        row = {"kind": case.kind, "prompt": case.prompt, "seed": case.seed,
               "colour": score_colours(frames, case.scene), "flicker": measure.flicker(frames),
               "dominant_colour": measure.dominant_colour(frames) == case.scene.objects[0].colour,
               "background": measure.background_distance(frames, case.scene.background) < measure.COLOUR_DISTANCE}
        if case.kind == "direction":
            row["direction"] = score_direction(frames, case.scene.objects[0])
        if case.kind == "permanence":
            row["permanence"] = score_permanence(frames, case.scene.objects[0])
        rows.append(row)
        if progress:
            progress(i + 1, len(cases), row)

    def mean(key, kinds=None):
        vals = [r[key] for r in rows if key in r and (kinds is None or r["kind"] in kinds)]
        return round(float(np.mean(vals)), 3) if vals else None

    return {"colour_adherence": mean("colour"), "dominant_colour": mean("dominant_colour", ("direction", "permanence")),
            "background": mean("background"), "direction_accuracy": mean("direction"),
            "permanence": mean("permanence"), "flicker": mean("flicker"), "cases": len(rows),
            "seconds": round(time.time() - t0, 1), "rows": rows}
