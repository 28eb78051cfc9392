"""Calibration of the world-footage detector (issue 31, figures in docs/BENCHMARKS.md, "Footage-safe fill").

    python -m engine bench --footage          # prints JSON

`engine.world.measure.world_share` on everything a world model may be asked to fill (world renders
at 1:1, 16:9 and 9:16, raw and after an H.264 round trip at a low quality; clips the given model
makes, as written by the CLI and re-encoded) and on every real clip and frame the project holds
(../shared/data/real: clips/ and interp/), as clips and frame by frame. The summary gives the lowest
world share on the world's side, the highest on the real side and the threshold between them.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from engine.provenance import watermark_record_frames
from engine.video import media
from engine.world.measure import WORLD_SHARE_MIN, world_share
from engine.world.render import render
from engine.world.scene import sample_scene

ASPECTS = {"1:1": (128, 128), "16:9": (256, 144), "9:16": (144, 256), "16:9 large": (640, 352)}
# Prompts the model is asked for: every background, the wall, camera moves, one to three objects.
PROMPTS = [
    ("a small red ball rolls to the right on a sandy desert", "16:9"),
    ("a big blue box moves left in a grey studio", "1:1"),
    ("a yellow triangle rises in the sky", "9:16"),
    ("a green ball bounces on the grass", "16:9"),
    ("a purple box floats down at night", "1:1"),
    ("a pink ball moves right over the ocean", "9:16"),
    ("a small orange box moves right behind a wall in a grey studio", "16:9"),
    ("a big red triangle orbits in the sky while a blue ball stays still", "1:1"),
    ("a blue ball grows on the grass", "9:16"),
    ("a yellow box moves left over the ocean", "16:9"),
    ("a green triangle shrinks on a sandy desert", "1:1"),
    ("a small pink box moves left at night", "9:16"),
    ("a big green box moves right in a grey studio while a small yellow ball bounces", "16:9"),
    ("a red ball orbits at night", "9:16"),
    ("a small blue triangle falls in the sky, the camera pans left", "1:1"),
    ("a pink box grows on a sandy desert", "16:9"),
    ("a big purple ball rolls left on the grass, the camera zooms in", "1:1"),
    ("an orange triangle moves right over the ocean while a red box stays still", "9:16"),
    ("a yellow ball moves left behind a wall on the grass", "16:9"),
    ("a big blue ball moves right in a grey studio", "9:16"),
]


def _round_trip(frames: np.ndarray, fps: float, folder: str, crf: int) -> np.ndarray:
    path = str(Path(folder) / "round-trip.mp4")
    media.write_video(path, frames, fps, crf=crf)
    return media.read_video(path).frames


def _read_folder(folder: Path) -> np.ndarray:
    from PIL import Image  # deferred: Pillow is heavy; this module imports without it

    return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.glob("*.png"))])


def footage_benchmark(data: Path, model: str, *, renders: int = 8, steps: int = 24, dtype: str = "float32",
                      log=lambda line: None) -> dict:
    """World shares of world footage and of real footage; see the module docstring."""
    from engine.request import GenerateRequest  # deferred: loads torch; this module imports without it
    from engine.service import Engine

    world, real, real_frames = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for aspect, (w, h) in ASPECTS.items():
            for seed in range(renders):
                frames = render(sample_scene(seed), w, h, 8.0, 17)
                world[f"render {aspect} seed {seed}"] = world_share(frames)
                world[f"render {aspect} seed {seed}, H.264 crf 28"] = world_share(_round_trip(frames, 8.0, tmp, 28))
        log(f"renders: lowest {min(world.values()):.3f}")
        engine = Engine(model, dtype=dtype)
        for i, (prompt, aspect) in enumerate(PROMPTS):
            result = engine.generate(GenerateRequest(prompt, seconds=2.0, fps=24.0, aspect=aspect, seed=i,
                                                     steps=steps))
            written = _round_trip(watermark_record_frames(result.frames, result.record), 24.0, tmp, 17)  # as the CLI
            world[f"model {i:02d} {aspect}: {prompt}"] = world_share(written)
            world[f"model {i:02d} {aspect}, re-encoded crf 30"] = world_share(_round_trip(written, 24.0, tmp, 30))
            log(f"model {i + 1}/{len(PROMPTS)}: {world[f'model {i:02d} {aspect}: {prompt}']:.3f}")
        for clip in sorted((data / "clips").glob("*.mp4")):
            frames = media.read_video(clip).frames
            real[f"clip {clip.stem}"] = world_share(frames)
            for j in range(len(frames)):
                real_frames[f"{clip.stem} frame {j}"] = world_share(frames[j:j + 1])
        for folder in sorted(p for p in (data / "interp").iterdir() if p.is_dir()):
            frames = _read_folder(folder)
            real[f"interp {folder.name}"] = world_share(frames)
            for j in range(len(frames)):
                real_frames[f"{folder.name} frame {j}"] = world_share(frames[j:j + 1])
    lowest = min(world, key=world.get)
    highest, highest_frame = max(real, key=real.get), max(real_frames, key=real_frames.get)
    renders_only = [v for k, v in world.items() if k.startswith("render")]
    model_only = [v for k, v in world.items() if k.startswith("model")]
    summary = {
        "threshold": WORLD_SHARE_MIN,
        "world_lowest": round(world[lowest], 3), "world_lowest_is": lowest,
        "renders_lowest": round(min(renders_only), 3),
        "model_lowest": round(min(model_only), 3), "model_median": round(float(np.median(model_only)), 3),
        "real_clip_highest": round(real[highest], 3), "real_clip_highest_is": highest,
        "real_frame_highest": round(real_frames[highest_frame], 3), "real_frame_highest_is": highest_frame,
        "separated": min(world.values()) >= WORLD_SHARE_MIN > max(real_frames.values()),
        "world_cases": len(world), "real_clips": len(real), "real_frames": len(real_frames),
    }
    return {"summary": summary, "world": {k: round(v, 4) for k, v in world.items()},
            "real": {k: round(v, 4) for k, v in real.items()},
            "real_frames": {k: round(v, 4) for k, v in real_frames.items()}}
