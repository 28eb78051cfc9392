"""The world benchmark: prompt adherence of a model on held-out phrasings and combinations.

Cases are built from scenes the training sampler never draws (held-out colour x shape x
motion combinations) and captioned with held-out phrasings (`split="eval"`). Each generated
clip is scored only through `engine.world.measure`, i.e. through what WORLD.md lets any
evaluator assume, so the scores mean the same for any model.

Each case's scene is complete (start positions as the training sampler places them), so the
scene itself can be rendered and scored: `truth="render"` gives the ceiling of every metric
(what a perfect model would score) and `truth="vae"` the ceiling behind the model's VAE (the
rendered clip encoded and decoded).
"""
from __future__ import annotations

import dataclasses
import functools
import random
import time

import numpy as np

from engine import defaults
from engine.layout import Layout
from engine.layout.planner import draw
from engine.world import caption, measure
from engine.world.captioner import COLOUR_WORDS, phrase_text
from engine.world.render import render
from engine.world.scene import (
    BACKGROUNDS,
    COLOURS,
    DIRECTIONS,
    HELD_OUT_COMBOS,
    SHAPES,
    SIZES,
    Obj,
    Scene,
    _start_position,
)

CLIP_SECONDS = 2.0
TRUTH = ("render", "vae")


@dataclasses.dataclass
class Case:
    kind: str  # "direction" | "colour" | "permanence"
    prompt: str
    scene: Scene
    seed: int


def _obj_for(rng: random.Random, motion: str, colour: str | None = None, combos: str = "held") -> Obj:
    held = [c for c in sorted(HELD_OUT_COMBOS) if c[2] == motion and (colour is None or c[0] == colour)]
    if combos == "held" and held and rng.random() < 0.75:
        colour, shape, _ = rng.choice(held)
    else:
        fixed = colour
        while True:
            colour, shape = fixed or rng.choice(list(COLOURS)), rng.choice(SHAPES)
            if combos == "held" or (colour, shape, motion) not in HELD_OUT_COMBOS:
                break
    return Obj(colour, shape, rng.choice(list(SIZES)), motion, "normal")


def _placed(scene: Scene) -> Scene:
    """The scene with start positions drawn as the training sampler draws them (from the scene's
    own seed, so the prompts and seeds of the cases do not depend on it); a mover behind the
    wall starts on one side and crosses the pillar."""
    rng = random.Random(scene.seed)
    objs = []
    for i, o in enumerate(scene.objects):
        x0, y0 = _start_position(rng, o.motion, o.speed, SIZES[o.size], CLIP_SECONDS)
        if scene.wall and i == 0 and o.motion in ("right", "left"):
            x0 = 0.2 if o.motion == "right" else 0.8
        objs.append(dataclasses.replace(o, x0=round(x0, 4), y0=round(y0, 4)))
    return dataclasses.replace(scene, objects=tuple(objs))


def build_cases(n_direction: int = 24, n_colour: int = 8, n_permanence: int = 8, seed: int = 1234,
                phrasing: str = "eval", combos: str = "held") -> list[Case]:
    """`phrasing="eval"`: held-out wording (the benchmark); "train": the same held-out scenes in
    training wording, which separates not knowing a word from not composing known ones.
    `combos="held"`: most first objects are held-out colour x shape x motion combinations (the
    benchmark); "train": only combinations the training sampler draws (with `phrasing="train"`,
    prompts like the training data's, which separates not fitting from not generalising)."""
    if phrasing not in ("eval", "train"):
        raise ValueError(f"phrasing must be 'eval' or 'train', got {phrasing!r}")
    if combos not in ("held", "train"):
        raise ValueError(f"combos must be 'held' or 'train', got {combos!r}")
    rng = random.Random(seed)
    cases = []
    for i in range(n_direction):
        motion = DIRECTIONS[i % 4]
        scene = _placed(Scene((_obj_for(rng, motion, combos=combos),), rng.choice(BACKGROUNDS),
                              seed=rng.randrange(1 << 30)))
        cases.append(Case("direction", caption(scene, rng, split=phrasing), scene, 1000 + i))
    for i in range(n_colour):  # two objects: both colours present, no third
        a = _obj_for(rng, rng.choice(["bounce", "orbit", "grow", "shrink", "still"]), combos=combos)
        while True:
            b = _obj_for(rng, rng.choice(["right", "left", "still", "bounce"]), combos=combos)
            if b.colour != a.colour:
                break
        scene = _placed(Scene((a, b), rng.choice(BACKGROUNDS), seed=rng.randrange(1 << 30)))
        cases.append(Case("colour", caption(scene, rng, split=phrasing), scene, 2000 + i))
    for i in range(n_permanence):
        motion = ("right", "left")[i % 2]
        obj = _obj_for(rng, motion, combos=combos)
        scene = _placed(Scene((obj,), rng.choice(BACKGROUNDS), wall=True, seed=rng.randrange(1 << 30)))
        cases.append(Case("permanence", caption(scene, rng, split=phrasing), scene, 3000 + i))
    return cases


@functools.lru_cache(maxsize=1)
def encoder_confusions() -> frozenset:
    """Held-out colour phrasings that the text encoder itself places nearest a training phrasing
    of another colour (MiniLM's pooled embedding of "a <word> ball", cosine similarity). No model
    conditioned on this encoder can be expected to read them without having seen them, so the
    report gives colour adherence with and without the cases that use them."""
    from engine.models.text import TextEncoder  # deferred: loads torch; this module imports without it

    seen = [(w, c) for c, ws in COLOUR_WORDS.items() for w in ws if not w.startswith("~")]
    held = [(w[1:], c) for c, ws in COLOUR_WORDS.items() for w in ws if w.startswith("~")]
    enc = TextEncoder()
    _, _, a = enc.encode([f"a {w} ball" for w, _ in held])
    _, _, b = enc.encode([f"a {w} ball" for w, _ in seen])
    nearest = (a @ b.T).argmax(1).tolist()
    return frozenset(w for (w, c), j in zip(held, nearest) if seen[j][1] != c)


def confusing_words(prompt: str) -> list[str]:
    text = phrase_text(prompt)
    return sorted(w for w in encoder_confusions() if f" {w} " in text)


def colour_errors(frames: np.ndarray, scene: Scene) -> tuple[list[str], list[str]]:
    """(prompted colours missing, unprompted object colours present)."""
    wanted = {o.colour for o in scene.objects}
    missing = sorted(c for c in wanted if not measure.present(frames, c))
    extra = sorted(c for c in set(COLOURS) - wanted if measure.present(frames, c))
    return missing, extra


def score_colours(frames: np.ndarray, scene: Scene) -> bool:
    missing, extra = colour_errors(frames, scene)
    return not missing and not extra


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


def truth_frames(case: Case, engine=None, vae: bool = False) -> np.ndarray:
    """The case's scene rendered at the engine's base rate and size, as the model's clip would be;
    `vae=True`: encoded and decoded by `engine`'s model (the world model's VAE)."""
    from engine.request import ASPECTS, BASE_FPS  # deferred: loads torch; this module imports without it
    from engine.service import _pad_frames

    w, h = ASPECTS["1:1"]
    frames = render(case.scene, w, h, BASE_FPS, round(CLIP_SECONDS * BASE_FPS))
    if not vae:
        return frames
    pipe = engine.pipe
    if not hasattr(pipe, "encode_video"):
        raise ValueError("truth='vae' needs the world model (a VAE that encodes frames)")
    padded = _pad_frames(frames, engine.frames_for(CLIP_SECONDS))  # the VAE takes 1 + r*k frames
    return pipe.decode_latents(pipe.encode_video(padded))[:len(frames)]


PATHS = ("planned", "text", "planner")  # evaluate's paths: the default render, the prompt alone, the plan drawn


def evaluate(engine, cases: list[Case], steps: int = defaults.STEPS, guidance: float = defaults.GUIDANCE,
             progress=None, truth: str | None = None, churn: float = 0.0, literal: bool = False,
             aspect: str = "1:1", paths: tuple = ("planned",)) -> dict:
    """Score `engine`'s clips for `cases`; `truth` ("render" or "vae", see the module notes): score
    the cases' own scenes instead, the ceiling of each metric. `literal`: the model is given each
    prompt as written, not as its prompt reader reads it (engine.world.reading). `paths` (PATHS), side by side
    on the same cases: "planned" the engine's default render (planned through a layout on a model that
    takes one), "text" the text-only path, "planner" the planned layout drawn as the world draws it (is
    the plan what the prompt asked?). With several paths the figures are reported per path."""
    if truth not in (None, *TRUTH):
        raise ValueError(f"truth must be one of {TRUTH} or None, got {truth!r}")
    if truth:
        paths = ("truth",)
    report, t0 = {}, time.time()
    for path in paths:
        rows = []
        for i, case in enumerate(cases):
            if truth:
                frames, layout = truth_frames(case, engine, vae=truth == "vae"), None
            else:
                frames, layout = _path_frames(engine, case, path, steps, guidance, churn, literal, aspect)
            row = score_case(frames, case)
            if layout is not None:
                row.update(layout_fidelity(frames, layout))
            if not truth:
                row["read_as"] = engine.model_prompt(case.prompt, literal)
                row["path"] = path
            rows.append(row)
            if progress:
                progress(i + 1, len(cases), row)
        report[path] = {**summarise(rows), "rows": rows}
    if len(paths) == 1:
        return {**report[paths[0]], "seconds": round(time.time() - t0, 1)}
    return {"paths": {p: {k: v for k, v in r.items() if k != "rows"} for p, r in report.items()},
            "seconds": round(time.time() - t0, 1), "rows": [row for r in report.values() for row in r["rows"]]}


def _path_frames(engine, case: Case, path: str, steps: int, guidance: float, churn: float, literal: bool,
                 aspect: str):
    """(frames at the base rate, the layout they were to follow or None) of one case on one path."""
    from engine.request import BASE_FPS, GenerateRequest  # deferred: loads torch; this module imports without it

    if path not in PATHS:
        raise ValueError(f"path must be one of {PATHS}, got {path!r}")
    req = GenerateRequest(prompt=case.prompt, seed=case.seed, steps=steps, guidance=guidance, fps=BASE_FPS,
                          churn=churn, literal=literal, aspect=aspect, plan=False if path == "text" else None)
    if path == "planner":
        layout = engine.plan(dataclasses.replace(req, plan=True))
        w, h = req.canvas()
        return draw(layout, w, h, np.arange(round(CLIP_SECONDS * BASE_FPS)) / BASE_FPS, seed=case.seed), layout
    result = engine.generate(req)
    layout = result.settings.get("layout")
    if layout is not None:
        layout = Layout.from_dict(layout)
    return result.frames, layout


VISIBLE = 0.9  # layout fidelity counts the frames where at least this share of a planned box is visible


def layout_fidelity(frames: np.ndarray, layout, fps: float = 8.0) -> dict:
    """Per frame and object, the intersection over union of the planned box (clipped to the canvas) with the
    bounding box of the generated object of its colour (engine.world.measure.object_mask; no pixels: 0), over
    the frames where the box is visible (VISIBLE): {"layout_iou": mean, "layout_iou_frames": [IoU, ...]}."""
    F_, H, W = frames.shape[:3]
    arrays = layout.arrays(W, H, np.arange(F_) / fps)
    ious = []
    for o, track in enumerate(layout.objects):
        mask = measure.object_mask(frames, track.colour)
        for f in range(F_):
            if arrays["visible"][o, f] < VISIBLE:
                continue
            x0, y0, x1, y1 = arrays["boxes"][o, f] * [W, H, W, H]
            x0, x1, y0, y1 = max(x0, 0), min(x1, W), max(y0, 0), min(y1, H)
            ys, xs = np.nonzero(mask[f])
            if len(xs) == 0:
                ious.append(0.0)
                continue
            gx0, gx1, gy0, gy1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
            iw = max(0.0, min(x1, gx1) - max(x0, gx0))
            ih = max(0.0, min(y1, gy1) - max(y0, gy0))
            inter = iw * ih
            union = (x1 - x0) * (y1 - y0) + (gx1 - gx0) * (gy1 - gy0) - inter
            ious.append(float(inter / union) if union > 0 else 0.0)
    return {"layout_iou": round(float(np.mean(ious)), 3) if ious else None,
            "layout_iou_frames": [round(v, 3) for v in ious]}


def score_case(frames: np.ndarray, case: Case) -> dict:
    """One case's row of the report: every metric that applies to its kind."""
    missing, extra = colour_errors(frames, case.scene)
    row = {"kind": case.kind, "prompt": case.prompt, "seed": case.seed,
           "colour": not missing and not extra, "missing_colours": missing, "extra_colours": extra,
           "unplaceable_words": confusing_words(case.prompt),
           "flicker": measure.flicker(frames),
           "dominant_colour": measure.dominant_colour(frames) == case.scene.objects[0].colour,
           "background": measure.background_distance(frames, case.scene.background) < measure.COLOUR_DISTANCE}
    if case.kind == "direction":
        row["direction"] = score_direction(frames, case.scene.objects[0])
    if case.kind == "permanence":
        row["permanence"] = score_permanence(frames, case.scene.objects[0])
    return row


def summarise(rows: list[dict]) -> dict:
    """The report's figures over scored rows (score_case)."""
    def mean(key, kinds=None, rows=rows):
        vals = [r[key] for r in rows if key in r and (kinds is None or r["kind"] in kinds)]
        return round(float(np.mean(vals)), 3) if vals else None

    placeable = [r for r in rows if not r["unplaceable_words"]]
    return {"colour_adherence": mean("colour"),
            # the same on the cases whose colour words the text encoder can place (encoder_confusions)
            "colour_adherence_placeable": mean("colour", rows=placeable), "placeable_cases": len(placeable),
            "dominant_colour": mean("dominant_colour", ("direction", "permanence")),
            "background": mean("background"), "direction_accuracy": mean("direction"),
            "permanence": mean("permanence"), "flicker": mean("flicker"), "cases": len(rows), **fidelity(rows)}


def fidelity(rows: list[dict]) -> dict:
    """Layout fidelity over rows that have it: mean IoU over every visible frame, and the share above 0.5."""
    ious = [v for r in rows for v in r.get("layout_iou_frames") or []]
    if not ious:
        return {}
    return {"layout_iou": round(float(np.mean(ious)), 3), "layout_iou_over_half": round(float(np.mean(
        np.array(ious) > 0.5)), 3), "layout_frames": len(ious)}


def score_transformer(transformer, vae, cases: list[Case], steps: int = defaults.STEPS,
                      guidance: float = defaults.GUIDANCE, batch: int = 32, bf16: bool | None = None) -> dict:
    """Score a world transformer while it trains (no model folder, no Engine): the cases' 1:1 clips
    sampled in batches on the transformer's device with the engine's sampler, seeds and scheduler
    settings, decoded by `vae` (normalised latents), scored as `evaluate` scores them. `bf16`: in
    bfloat16 autocast (False: float32; None, the default: where the device computes bfloat16, as the
    engine's `--dtype auto` chooses; emulated on an AVX2 processor it cost 12x, issue 30)."""
    import torch  # deferred: torch and diffusers are heavy; this module imports without it
    from diffusers import FlowMatchEulerDiscreteScheduler

    from engine.families.pipeline import WorldPipeline  # deferred: loads torch; this module imports without it
    from engine.models.text import TextEncoder
    from engine.request import ASPECTS, BASE_FPS
    from engine.sampling.sampler import sample
    from engine.training import SCHEDULER_CONFIG

    device = next(transformer.parameters()).device
    if bf16 is None:
        bf16 = defaults.autocast_dtype(device.type) == torch.bfloat16
    w, h = ASPECTS["1:1"]
    spatial = WorldPipeline.spatial_ratio
    shape = (vae.config.latent_channels, round(CLIP_SECONDS * BASE_FPS), h // spatial, w // spatial)
    text = TextEncoder(str(device))
    empty = text.encode([""])
    was_training = transformer.training
    transformer.eval()

    def velocity(x, t, prompt):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            return transformer(x, t.to(device), *prompt).float()

    rows = []
    with torch.no_grad():
        for i in range(0, len(cases), batch):
            chunk = cases[i:i + batch]
            noise = torch.cat([torch.randn((1, *shape), generator=torch.Generator().manual_seed(c.seed))
                               for c in chunk]).to(device)
            prompt = tuple(v.to(device) for v in text.encode([c.prompt for c in chunk]))
            uncond = tuple(v.expand(len(chunk), *v.shape[1:]).to(device) for v in empty)
            z = sample(velocity, FlowMatchEulerDiscreteScheduler.from_config(SCHEDULER_CONFIG), noise, prompt, uncond,
                       steps=steps, guidance=guidance)
            for j in range(0, len(chunk), 8):  # decoding holds every frame's activations: 8 clips at a time
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    x = vae.decode(vae.denormalize(z[j:j + 8])).float()
                frames = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 4, 1).cpu().numpy()
                rows += [score_case(f, c) for f, c in zip(frames, chunk[j:j + 8])]
    transformer.train(was_training)
    return summarise(rows)


# --------------------------------------------------------------------------
# Hand-written paths: layouts no motion word makes (evaluate --layouts)
# --------------------------------------------------------------------------

PATH_KINDS = ("zigzag", "diagonal", "crossing", "back")


def path_cases(n: int = 16, seed: int = 4321, aspect: str = "1:1") -> list[tuple[str, object, int]]:
    """`n` hand-written layouts over 2 s, drawn apart from training's random paths (other seeds, other
    shapes of path): a zig-zag across the frame, a diagonal, two objects crossing each other, an object that
    stops and goes back. Returns (kind, Layout, seed)."""

    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = PATH_KINDS[i % len(PATH_KINDS)]
        colours = rng.sample(list(COLOURS), 2)
        obj = dict(colour=colours[0], shape=rng.choice(SHAPES), size=rng.choice(list(SIZES)))
        y = rng.uniform(0.3, 0.7)
        if kind == "zigzag":
            lo, hi = y - 0.18, y + 0.18
            path = [[0.0, 0.15, lo], [0.5, 0.35, hi], [1.0, 0.5, lo], [1.5, 0.65, hi], [2.0, 0.85, lo]]
        elif kind == "diagonal":
            a, b = rng.choice([((0.2, 0.2), (0.8, 0.8)), ((0.2, 0.8), (0.8, 0.2)), ((0.8, 0.2), (0.2, 0.8))])
            path = [[0.0, *a], [2.0, *b]]
        elif kind == "back":
            path = [[0.0, 0.2, y], [0.8, 0.6, y], [1.2, 0.6, y], [2.0, 0.3, y]]
        else:
            path = [[0.0, 0.2, y - 0.15], [2.0, 0.8, y + 0.15]]
        objects = [{**obj, "path": path}]
        if kind == "crossing":
            objects.append(dict(colour=colours[1], shape=rng.choice(SHAPES), size="small",
                                path=[[0.0, 0.8, y - 0.15], [2.0, 0.2, y + 0.15]]))
        d = {"background": rng.choice(BACKGROUNDS), "pillar": False, "camera": "static", "objects": objects}
        out.append((kind, Layout.from_dict(d), 5000 + i))
    return out


def evaluate_paths(engine, cases, steps: int = defaults.STEPS, guidance: float = defaults.GUIDANCE,
                   aspect: str = "1:1", progress=None) -> dict:
    """Render each hand-written layout (no prompt) and score how closely it is followed: layout fidelity,
    and every colour there and no other."""
    from engine.request import BASE_FPS, GenerateRequest  # deferred: loads torch; this module imports without it

    rows, t0 = [], time.time()
    for i, (kind, layout, seed) in enumerate(cases):
        req = GenerateRequest(prompt="", layout=layout, seconds=CLIP_SECONDS, fps=BASE_FPS, seed=seed, steps=steps,
                              guidance=guidance, aspect=aspect)
        frames = engine.generate(req).frames
        wanted = {o.colour for o in layout.objects}
        present = {c for c in COLOURS if measure.present(frames, c)}
        row = {"kind": kind, "seed": seed, "colour": present == wanted, **layout_fidelity(frames, layout)}
        rows.append(row)
        if progress:
            progress(i + 1, len(cases), row)
    by_kind = {k: fidelity([r for r in rows if r["kind"] == k]) for k in PATH_KINDS}
    return {**fidelity(rows), "colour": round(float(np.mean([r["colour"] for r in rows])), 3),
            "by_kind": by_kind, "cases": len(rows), "seconds": round(time.time() - t0, 1), "rows": rows}
