"""Issue 6's figures: long takes (presence, drift, memory, time) and multi-shot scene continuity.

    python -m engine bench --long     # 60 s takes with and without the anchor, memory at 10 s vs 60 s
    python -m engine bench --scene    # four-shot scenes, two-member casts, 10 seeds; recoloured control

Every take is rendered the way a user gets it (engine.longtake through the CLI's path, at the
delivery rate with interpolation); memory is each render's own peak RSS in a fresh process.
"""
from __future__ import annotations

import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from engine import defaults
from engine.scenes.scene import DEFAULT_RETRIES, parse_scene, render_scene
from engine.video import media
from engine.world.measure import PRESENT_FRACTION, coverage

LONG_PROMPTS = [  # (prompt, colour the take must keep); phrasings of our own, not the training grammar's
    ("A big red ball rolls to the right across the grass.", "red"),
    ("On a night sky, a large yellow square drifts slowly upward.", "yellow"),
    ("A purple triangle orbits around the middle of a grey studio.", "purple"),
]


def band_medians(frames: np.ndarray) -> np.ndarray:
    """Median colour of the top fifth and of the bottom three tenths (objects pass; medians ignore them)."""
    H = frames.shape[1]
    top = np.median(frames[:, : max(1, H // 5)].reshape(-1, 3), axis=0)
    bottom = np.median(frames[:, H - max(1, 3 * H // 10):].reshape(-1, 3), axis=0)
    return np.stack([top, bottom])


def drift(first: np.ndarray, last: np.ndarray) -> float:
    """Background colour drift (0-255 sRGB distance, the larger band) between two stretches of frames."""
    return float(np.linalg.norm(band_medians(first) - band_medians(last), axis=1).max())


def measure_take(path: str, colour: str) -> dict:
    v = media.read_video(path)
    fps = float(v.fps)
    n = len(v)
    sec = max(1, round(fps))
    present = 0
    for a in range(0, n, 240):  # chunks keep the measuring's memory small
        present += int((coverage(v.frames[a:a + 240], colour) >= PRESENT_FRACTION).sum())
    return {"frames": n, "seconds": round(n / fps, 2), "present": round(present / n, 4),
            "drift_first_last_second": round(drift(v.frames[:sec], v.frames[-sec:]), 1)}


def _render(model: str, prompt: str, seconds: float, out: str, seed: int, anchor: bool, fps: float,
            steps: int) -> dict:
    """One take in a fresh process (its own peak memory); returns wall time and peak RSS."""
    cmd = [sys.executable, "-m", "engine.bench.long", "--child", json.dumps(
        {"model": model, "prompt": prompt, "seconds": seconds, "out": out, "seed": seed, "anchor": anchor,
         "fps": fps, "steps": steps})]
    t = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError(f"take failed: {p.stderr[-2000:]}")
    d = json.loads(p.stdout.strip().splitlines()[-1])
    d["wall_s"] = round(time.time() - t, 1)
    return d


def _child(spec: dict) -> None:
    from engine import longtake  # deferred: loads torch; this module imports without it
    from engine.request import GenerateRequest
    from engine.service import Engine

    engine = Engine(spec["model"])
    req = GenerateRequest(spec["prompt"], seconds=spec["seconds"], fps=spec["fps"], steps=spec["steps"],
                          seed=spec["seed"])
    t = time.time()
    res = longtake.render_take(engine, req, spec["out"], anchor=spec["anchor"], resume=False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB (Linux reports KiB)
    print(json.dumps({"render_s": round(time.time() - t, 1), "peak_mib": round(peak, 1), "frames": res.frames,
                      "windows": res.windows}))


def long_benchmark(model: str, seconds: float = 60.0, fps: float = 24.0, steps: int = 24, seed: int = 0,
                   log=print) -> dict:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for prompt, colour in LONG_PROMPTS:
            for anchor in (True, False):
                out = str(Path(tmp) / f"take-{len(rows)}.mp4")
                r = _render(model, prompt, seconds, out, seed, anchor, fps, steps)
                r.update(measure_take(out, colour), prompt=prompt, anchor=anchor)
                rows.append(r)
                log(json.dumps(r))
        short = _render(model, LONG_PROMPTS[0][0], 10.0, str(Path(tmp) / "ten.mp4"), seed, True, fps, steps)
        log(json.dumps({"ten_seconds": short}))
    anchored = [r for r in rows if r["anchor"]]
    plain = [r for r in rows if not r["anchor"]]
    long_peak = max(r["peak_mib"] for r in anchored)
    return {"takes": rows, "ten_second_take": short, "summary": {
        "seconds": seconds, "fps": fps, "steps": steps,
        "present_min_anchor": min(r["present"] for r in anchored),
        "present_min_no_anchor": min(r["present"] for r in plain),
        "drift_max_anchor": max(r["drift_first_last_second"] for r in anchored),
        "drift_max_no_anchor": max(r["drift_first_last_second"] for r in plain),
        "render_s_max": max(r["render_s"] for r in rows),
        "memory_ratio_60s_to_10s": round(long_peak / short["peak_mib"], 3),
        "peak_mib_60s": long_peak, "peak_mib_10s": short["peak_mib"]}}


# --------------------------------------------------------------------------
# Scenes
# --------------------------------------------------------------------------

COLOURS = ["red", "orange", "yellow", "green", "blue", "purple", "pink"]
SHAPES = {"ball": "ball", "box": "square", "triangle": "triangle"}
SETTINGS = ["on the grass", "in a grey studio", "under a clear blue sky", "at night", "in the desert"]
MOTIONS = ["rolls to the right", "moves to the left", "drifts upward", "falls down", "stays still", "bounces"]


def bench_scene(rng: random.Random, recolour: bool = False) -> dict:
    """A four-shot scene with a two-member cast (distinct colours); `recolour`: shot 3 paints member A
    another colour in its prompt (the check must flag it)."""
    ca, cb = rng.sample(COLOURS, 2)
    sa, sb = rng.sample(list(SHAPES), 2)
    cast = {"a": f"the big {ca} {SHAPES[sa]}", "b": f"the small {cb} {SHAPES[sb]}"}
    m = lambda: rng.choice(MOTIONS)
    shots = [{"prompt": "{a} " + m(), "seconds": 2, "setting": rng.choice(SETTINGS)},
             {"prompt": "{b} " + m(), "seconds": 2, "setting": rng.choice(SETTINGS)},
             {"prompt": "{a} " + m() + " while {b} " + m(), "seconds": 2, "setting": rng.choice(SETTINGS)},
             {"prompt": "{b} " + m() + " and {a} " + m(), "seconds": 2, "setting": rng.choice(SETTINGS)}]
    if recolour:
        other = rng.choice([c for c in COLOURS if c not in (ca, cb)])
        shots[2] = {"prompt": f"the big {other} {SHAPES[sa]} " + m(), "seconds": 2, "cast": ["a"],
                    "setting": shots[2]["setting"]}
    return {"cast": cast, "shots": shots, "aspect": "1:1", "fps": 8, "seed": rng.randrange(10 ** 6)}


def scene_benchmark(model: str, seeds: int = 10, steps: int = 24, retries: int | None = None, log=print,
                    references: bool = True, guidance: float | None = None, keyframes: bool = True,
                    first_seed: int = 0, plan: bool = True) -> dict:
    from engine.service import Engine  # deferred: loads torch; this module imports without it

    retries = DEFAULT_RETRIES if retries is None else retries
    guidance = defaults.GUIDANCE if guidance is None else guidance
    engine = Engine(model)
    rows = []
    for s in range(first_seed, first_seed + seeds):
        for recolour in (False, True):
            data = bench_scene(random.Random(1000 + s), recolour)
            data.update(steps=steps, retries=retries, references=references, guidance=guidance, keyframes=keyframes,
                        plan=plan)
            t = time.time()
            scene = parse_scene(data)
            res = render_scene(engine, scene)
            rep = res.continuity
            row = {"seed": s, "recoloured": recolour, "shots": len(rep.shots_checked), "ok_shots":
                   len(rep.shots_checked) - len(rep.broken_shots), "broken": [b + 1 for b in rep.broken_shots],
                   "flagged_shot_3": 2 in rep.broken_shots, "attempts": sum(len(a) for a in res.attempts),
                   "seconds": round(time.time() - t, 1), "cast": data["cast"],
                   "shots_with_references": sum(bool(s["references"]) for s in res.settings["shots"]),
                   "shots_with_keyframes": sum(bool(s["keyframes"]) for s in res.settings["shots"]),
                   "shots_planned": sum(bool(s["planned"]) for s in res.settings["shots"]),
                   "drawn": _drawn(engine, scene, res),
                   "why": _reasons(rep)}
            rows.append(row)
            log(json.dumps(row))
    normal = [r for r in rows if not r["recoloured"]]
    recol = [r for r in rows if r["recoloured"]]
    return {"scenes": rows, "summary": {
        "seeds": seeds, "first_seed": first_seed, "steps": steps, "retries": retries, "guidance": guidance,
        "references": references,
        "keyframes": keyframes,
        "plan": plan,
        "members_shown_in_drawn_frames": round(np.mean([d for r in normal for d in r["drawn"]]), 3),
        "shot_pass_rate": round(sum(r["ok_shots"] for r in normal) / sum(r["shots"] for r in normal), 3),
        "recoloured_scene_flagged": round(sum(r["flagged_shot_3"] for r in recol) / len(recol), 3),
        "recoloured_scene_other_shots_pass": round(
            sum(r["ok_shots"] - (0 if r["flagged_shot_3"] else 1) for r in recol)
            / max(1, sum(r["shots"] - 1 for r in recol)), 3),
        "attempts_per_shot": round(sum(r["attempts"] for r in normal) / sum(r["shots"] for r in normal), 2),
        "member_checks_broken_by": {k: sum(r["why"][k] for r in normal) for k in ("colour", "shape", "size")},
        "member_checks": sum(r["why"]["checks"] for r in normal)}}


def _drawn(engine, scene, res) -> list[bool]:
    """Per shot and member it names: is the member seen (in at least the check's share of frames)
    in the frames the model drew itself, leaving out every frame a reference or keyframe held?"""
    # deferred: loads torch and OpenCV; this module imports without it
    from engine.sampling.conditioning import still_frames
    from engine.scenes.continuity import WorldFeatures

    ex, out = WorldFeatures(), []
    for shot, take in zip(scene.shots, res.shots):
        n = len(take.base_frames)
        held = np.zeros(n, bool)
        for c in take.settings.get("conditions", []):
            i = c["frame_index"] % n
            if c["type"] == "image":
                held[list(still_frames(i, n, engine.temporal_ratio, engine.time_patch))] = True
            else:
                held[i: i + c.get("frames", n)] = True
        drawn = take.base_frames[~held]
        for m in shot.named:
            out.append(bool(len(drawn)) and ex.observe(drawn, ex.expected(scene.cast[m])).present >= ex.min_present)
    return out


def _reasons(rep) -> dict:
    """How many member checks of a scene failed on colour (not seen), shape and size (one check
    can fail on several), out of how many."""
    out = {"colour": 0, "shape": 0, "size": 0, "checks": len(rep.checks)}
    for c in rep.checks:
        for kind in set(c.failed):
            out[kind] += 1
    return out


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        _child(json.loads(sys.argv[2]))
