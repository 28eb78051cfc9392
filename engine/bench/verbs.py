"""Conditioning metrics of the editing verbs on the world (issue 3; figures in docs/BENCHMARKS.md).

Every case is a rendered world clip at the base rate whose scene is known, so the truth is
exact: `truth_track` gives the object's true centre in every frame, and the clip itself is
the input the held frames must reproduce. Clips are scored only through
`engine.world.measure` (colour masks and centroids, WORLD.md), after an H.264 round trip
(`media.write_video` then `read_video`) wherever the acceptance says "after decode".

  held_psnr   animate frame 0, extend's original frames, fill's untouched frames,
              inpaint's unmasked region: PSNR against the input (>= 30 dB)
  fill        gaps of 8 frames: every filled frame's centroid within 8% of the width of
              the true track (`fill_track`: share of cases; `fill_frames`: share of frames)
  seam        extend and bridge: the step across each seam within 1.5x the clip's median step
  loop        the wrap-around step of `generate --loop` within 1.5x the median step
              (`loop_stretch`, `extend_stretch`: the largest step anywhere in the loop or the
              extension, so a jump cannot hide next to the seam)
  remix       strength 0.6, prompt asking another colour: the new colour present, the old
              one gone (`remix_colour`), and the new colour on the input's track (`remix_track`);
              and asking another background (`remix_background`): the new one is the nearest world
              background, and the object is there in its colour on its track

A step is the object's centroid move between consecutive frames, in pixels; a seam where the
object is not found on both sides fails (ratio LOST), and `*_lost` report how often that was
the reason. Plain (non-loop) clips of the same prompts are scored like loops as the baseline
(`plain_wrap_ok`): a wrap-around metric means something only if they fail it.
"""
from __future__ import annotations

import dataclasses
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from engine import defaults
from engine.layout.track import background_of
from engine.video import media
from engine.video.media import Video
from engine.world import caption, measure, render, truth_track
from engine.world.scene import BACKGROUNDS, COLOURS, Obj, Scene

FPS = 8.0
SEAM_RATIO = 1.5
TRACK_TOLERANCE = 0.08  # of the frame width
PSNR_TARGET = 30.0


@dataclasses.dataclass
class VerbCase:
    scene: Scene
    prompt: str
    seed: int


def _mover(rng: random.Random, speed: str, colour: str | None = None) -> Obj:
    """One ball or box moving in a straight line that stays wholly inside the frame: a small one
    at normal speed for 2 s, a big one slowly for 3 s (the centroid is then the true centre)."""
    motion = rng.choice(("right", "left", "up", "down"))
    edge = 0.1 if speed == "normal" else 0.2
    along = {"right": edge, "left": 1 - edge, "down": edge, "up": 1 - edge}[motion]
    across = rng.uniform(0.3, 0.7)
    x0, y0 = (along, across) if motion in ("right", "left") else (across, along)
    return Obj(colour or rng.choice(list(COLOURS)), rng.choice(("ball", "box")),
               "small" if speed == "normal" else "big", motion, speed, round(x0, 3), round(y0, 3))


def build_verb_cases(n: int = 8, seed: int = 4321, speed: str = "normal") -> list[VerbCase]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        # No night: its white stars are not an object colour but make held-frame PSNR about the stars.
        scene = Scene((_mover(rng, speed),), rng.choice([b for b in BACKGROUNDS if b != "night"]),
                      seed=rng.randrange(1 << 30))
        out.append(VerbCase(scene, caption(scene, rng, split="eval"), 5000 + i))
    return out


# --------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------

def roundtrip(frames: np.ndarray, fps: float = FPS) -> np.ndarray:
    """Frames after an H.264 encode and decode (what a viewer of the output file sees)."""
    with tempfile.TemporaryDirectory() as d:
        path = str(Path(d) / "clip.mp4")
        media.write_video(path, frames, fps)
        return media.read_video(path).frames


LOST = 99.0  # the ratio of a seam where the object is not found on both sides: a failure


def steps(frames: np.ndarray, colour: str) -> np.ndarray:
    """The object's centroid step between consecutive frames in pixels, (F - 1,); NaN where it
    is not found in both frames."""
    return np.linalg.norm(np.diff(measure.centroids(frames, colour), axis=0), axis=1)


def seam_ratio(frames: np.ndarray, colour: str, seam: int) -> float:
    """The step from frame seam-1 to frame seam over the median of the other steps the object is
    tracked through; LOST when it is not found on both sides of the seam (or hardly anywhere)."""
    s = steps(frames, colour)
    others = np.delete(s, seam - 1)
    others = others[~np.isnan(others)]
    if np.isnan(s[seam - 1]) or len(others) < 3:
        return LOST
    return float(s[seam - 1] / max(np.median(others), 0.5))


def stretch_ratio(frames: np.ndarray, colour: str, a: int, b: int, reference: np.ndarray) -> float:
    """The largest step among frames a..b over the median step of `reference` (LOST: lost there)."""
    s = steps(frames, colour)[a:b]
    ref = steps(reference, colour)
    if np.isnan(s).any() or np.isnan(ref).all():
        return LOST
    return float(s.max() / max(np.nanmedian(ref), 0.5))


def track_errors(frames: np.ndarray, truth: np.ndarray, colour: str) -> np.ndarray:
    """Per frame: distance of the colour's centroid from the true centre, in frame widths
    (1.0, a whole width, where the object is lost)."""
    c = measure.centroids(frames, colour)
    err = np.linalg.norm(c - truth, axis=1) / frames.shape[2]
    return np.where(np.isnan(err), 1.0, err)


# --------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------

def evaluate_verbs(engine, n: int = 8, steps_: int = defaults.STEPS, guidance: float | None = None, progress=None,
                   literal: bool | None = None, remix_method: str = defaults.REMIX_METHOD) -> dict:
    """`guidance`: one scale for every verb; None, each verb at its own default (the engine's,
    defaults.EXTEND_GUIDANCE for extend and defaults.REMIX_GUIDANCE for remix). `literal`: True,
    every prompt as written; False, every prompt as the model's prompt reader reads it; None, each
    verb's own default (fill and bridge as written, defaults.BETWEEN_LITERAL)."""
    from engine import verbs  # deferred: loads torch; this module imports without it
    from engine.request import GenerateRequest

    def kw_at(default):
        return dict(steps=steps_, guidance=default if guidance is None else guidance,
                    **({} if literal is None else {"literal": literal}))

    kw, kw_extend, kw_remix = kw_at(defaults.GUIDANCE), kw_at(defaults.EXTEND_GUIDANCE), kw_at(defaults.REMIX_GUIDANCE)
    rows, t0 = [], time.time()
    W = H = 128
    cases = build_verb_cases(n)
    slow = build_verb_cases(n, seed=8765, speed="slowly")
    for i, (case, slow_case) in enumerate(zip(cases, slow)):
        obj, sobj = case.scene.objects[0], slow_case.scene.objects[0]
        clip = render(case.scene, W, H, FPS, 16)
        truth = truth_track(case.scene, W, H, FPS, 16)[0]
        row = {"case": i, "prompt": case.prompt, "colour": obj.colour, "motion": obj.motion}
        video = Video.from_frames(clip, FPS)
        # animate: frame 0 is the still
        r = verbs.animate(engine, clip[0], case.prompt, seconds=2.0, fps=FPS, seed=case.seed, **kw)
        row["animate_psnr"] = measure.psnr(roundtrip(r.frames)[0], clip[0])
        # fill a gap of 8 frames (4..11) between 4 known frames on each side
        r = verbs.fill(engine, video, [(4, 11)], prompt=case.prompt, seed=case.seed, method="generate", **kw)
        out = roundtrip(r.frames)
        keep = np.r_[0:4, 12:16]
        row["fill_psnr"] = measure.psnr(out[keep], clip[keep])
        err = track_errors(r.frames[4:12], truth[4:12], obj.colour)
        row["fill_track"] = bool((err <= TRACK_TOLERANCE).all())
        row["fill_frames"] = float((err <= TRACK_TOLERANCE).mean())
        row["fill_error"] = float(np.median(err))
        # extend 1 s forward: the original frames kept, no jump at the seam (a slow mover: 3 s in frame)
        sclip = render(slow_case.scene, W, H, FPS, 24)
        r = verbs.extend(engine, Video.from_frames(sclip[:16], FPS), seconds=1.0, prompt=slow_case.prompt,
                         seed=slow_case.seed, **kw_extend)
        out = roundtrip(r.frames)
        row["extend_psnr"] = measure.psnr(out[:16], sclip[:16])
        row["extend_seam"] = seam_ratio(r.frames, sobj.colour, 16)
        sclip_out = r.frames
        # bridge the same scene's frames 0..7 to its frames 16..23: 1 s (8 steps) of transition
        r = verbs.bridge(engine, Video.from_frames(sclip[:8], FPS), Video.from_frames(sclip[16:], FPS), seconds=1.0,
                         prompt=slow_case.prompt, seed=slow_case.seed, **kw)
        joined = np.concatenate([sclip[:7], r.frames, sclip[17:]])  # a[:-1] + bridge + b[1:]
        row["bridge_seam"] = max(seam_ratio(joined, sobj.colour, 8), seam_ratio(joined, sobj.colour, 15))
        # loop: the wrap-around is a step like any other
        r = engine.generate(GenerateRequest(case.prompt, seconds=2.0, fps=FPS, seed=case.seed, loop=True, **kw))
        wrapped = np.concatenate([r.frames, r.frames[:1]])
        row["loop_seam"] = seam_ratio(wrapped, obj.colour, len(r.frames))
        plain = engine.generate(GenerateRequest(case.prompt, seconds=2.0, fps=FPS, seed=case.seed, **kw)).frames
        row["plain_wrap"] = seam_ratio(np.concatenate([plain, plain[:1]]), obj.colour, len(plain))
        # ...and no jump hidden anywhere else: the largest step of the loop (all of it is made
        # for the wrap) and of the extension, against the median step
        row["loop_stretch"] = stretch_ratio(wrapped, obj.colour, 0, len(r.frames), wrapped)
        row["extend_stretch"] = stretch_ratio(sclip_out, sobj.colour, 15, len(sclip_out) - 1, sclip[:16])
        # inpaint a box around the middle of the frame: outside it the input stays
        mask = np.zeros((H, W), bool)
        mask[32:96, 32:96] = True
        r = verbs.inpaint(engine, video, mask, case.prompt, seed=case.seed, **kw)
        row["inpaint_psnr"] = measure.psnr(roundtrip(r.frames), clip, ~mask[None].repeat(len(clip), 0))
        # remix at 0.6 toward another colour
        new = random.Random(case.seed).choice([c for c in COLOURS if c != obj.colour])
        scene2 = dataclasses.replace(case.scene, objects=(dataclasses.replace(obj, colour=new),))
        prompt2 = caption(scene2, random.Random(case.seed), split="eval")
        r = verbs.remix(engine, video, prompt2, strength=0.6, seed=case.seed, method=remix_method, **kw_remix)
        row["remix_prompt"] = prompt2
        row["remix_colour"] = bool(measure.present(r.frames, new) and not measure.present(r.frames, obj.colour))
        row["remix_track"] = bool(np.median(track_errors(r.frames, truth, new)) <= TRACK_TOLERANCE)
        row["remix_path"] = r.settings.get("remix_method")
        # remix at 0.6 toward another background: the new one read, the object kept in its colour on its track
        bg = random.Random(case.seed).choice([b for b in BACKGROUNDS if b not in (case.scene.background, "night")])
        prompt3 = caption(dataclasses.replace(case.scene, background=bg), random.Random(case.seed), split="eval")
        r = verbs.remix(engine, video, prompt3, strength=0.6, seed=case.seed, method=remix_method, **kw_remix)
        row["remix_background_prompt"] = prompt3
        row["remix_background"] = bool(background_of(r.frames) == bg and measure.present(r.frames, obj.colour)
                                       and np.median(track_errors(r.frames, truth, obj.colour)) <= TRACK_TOLERANCE)
        rows.append(row)
        if progress:
            progress(i + 1, n, row)

    def mean(key):
        return round(float(np.mean([float(r[key]) for r in rows])), 3)

    def share(key, ok):
        return round(float(np.mean([bool(ok(r[key])) for r in rows])), 3)

    psnr_keys = ("animate_psnr", "extend_psnr", "fill_psnr", "inpaint_psnr")
    return {
        "held_psnr_min": round(min(r[k] for r in rows for k in psnr_keys), 2),
        **{k: round(float(np.min([r[k] for r in rows])), 2) for k in psnr_keys},
        "fill_track": mean("fill_track"), "fill_frames": mean("fill_frames"),
        "fill_error_median": round(float(np.median([r["fill_error"] for r in rows])), 4),
        "extend_seam_ok": share("extend_seam", lambda v: v <= SEAM_RATIO),
        "bridge_seam_ok": share("bridge_seam", lambda v: v <= SEAM_RATIO),
        "loop_seam_ok": share("loop_seam", lambda v: v <= SEAM_RATIO),
        "extend_seam_median": round(float(np.median([r["extend_seam"] for r in rows])), 2),
        "bridge_seam_median": round(float(np.median([r["bridge_seam"] for r in rows])), 2),
        "loop_seam_median": round(float(np.median([r["loop_seam"] for r in rows])), 2),
        "loop_stretch_ok": share("loop_stretch", lambda v: v <= SEAM_RATIO),
        "extend_stretch_ok": share("extend_stretch", lambda v: v <= SEAM_RATIO),
        "plain_wrap_ok": share("plain_wrap", lambda v: v <= SEAM_RATIO),
        **{f"{k}_lost": share(k, lambda v: v >= LOST) for k in ("extend_seam", "bridge_seam", "loop_seam")},
        "remix_colour": mean("remix_colour"), "remix_track": mean("remix_track"),
        "remix_both": round(float(np.mean([r["remix_colour"] and r["remix_track"] for r in rows])), 3),
        "remix_background": mean("remix_background"),
        "remix_method": remix_method, "literal": literal,
        "cases": len(rows), "seconds": round(time.time() - t0, 1), "rows": rows,
    }
