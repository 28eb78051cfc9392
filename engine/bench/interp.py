"""Frame-interpolation benchmark on real footage (issue 4; figures in docs/BENCHMARKS.md).

    python -m engine bench --interp [--data FOLDER]    # prints JSON

Measured side by side in one run:
- mean PSNR of the predicted middle frame on the 21 real triplets of
  ../shared/data/real/interp/triplets.json for three methods: ours
  (engine.video.interpolate with default settings), ffmpeg's minterpolate (the
  ffmpeg binary imageio-ffmpeg ships, with the filter the data README names)
  and the plain average of the two frames;
- the same on held-out real clips the method was never tuned on
  (../shared/data/real/clips: frame i predicted from frames i-1 and i+1,
  skipping pairs across scene cuts and frames that duplicate a neighbour);
- speed at 640x480 on a 40-frame clip with --factor 2 (39 interpolated
  frames): in process (interpolator start-up, cut detection and
  interpolation) and end to end (a fresh `python -m engine interpolate`
  process: start-up, decoding, encoding and the sidecar included);
- scene cuts on bikes.mp4: detected cuts against the five listed in the
  data README, and how many interpolated frames would mix two shots.

Nothing here reads arguments or the environment: call `run_benchmark()` with
explicit values (`python -m engine.bench.interp` still runs it with the defaults).
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from engine.defaults import REPO, real_footage
from engine.video.media import read_video, write_video

MINTERPOLATE = "minterpolate=fps=2:mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1"
BIKES_CUTS = [30, 76, 137, 187, 242]  # first frame of each new shot, from the data README
HELD_OUT = {"bikes.mp4": 8, "carphone_pristine.mp4": 6, "chaplin.mp4": 10, "fire2.mp4": 1}  # clip: stride


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / max(mse, 1e-10)))


def average(a, b, t=0.5):
    return np.round(a * (1.0 - t) + b * t).astype(np.uint8)


def minterpolate(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """ffmpeg minterpolate's middle frame between a and b.

    The filter emits nothing for a two-frame input, so b is given twice
    (a, b, b at 1 fps -> 2 fps) and output frame 1 is the middle one; this
    reproduces the data README's 33.71 dB. The filter works in YUV, as it
    would on a user's file."""
    import imageio_ffmpeg  # deferred: imageio-ffmpeg is heavy; this module imports without it

    h, w = a.shape[:2]
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{w}x{h}", "-r", "1", "-i", "-", "-vf", MINTERPOLATE,
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    out = subprocess.run(cmd, input=np.stack([a, b, b]).tobytes(), capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8).reshape(-1, h, w, 3)[1]


def _summary(scores: dict[str, dict[str, list[float]]]) -> dict:
    """{method: {group: mean, ..., "all": mean}} from per-item PSNRs."""
    out = {}
    for method, groups in scores.items():
        allv = [v for g in groups.values() for v in g]
        out[method] = {g: round(float(np.mean(v)), 2) for g, v in groups.items()}
        out[method]["all"] = round(float(np.mean(allv)), 2)
    return out


def triplet_psnr(data: Path, interp) -> dict:
    from PIL import Image  # deferred: Pillow is heavy; this module imports without it

    spec = json.loads((data / "interp" / "triplets.json").read_text())["triplets"]
    scores = {"ours": {}, "minterpolate": {}, "average": {}}
    for tr in spec:
        a, m, b = (np.asarray(Image.open(data / tr[k]).convert("RGB")) for k in ("frame0", "gt_middle", "frame1"))
        group = tr["group"].replace("toflow_", "")
        for name, fn in (("ours", lambda: interp.interpolate_pair(a, b, 0.5)),
                         ("minterpolate", lambda: minterpolate(a, b)), ("average", lambda: average(a, b))):
            scores[name].setdefault(group, []).append(psnr(fn(), m))
    return {"n": len(spec), "mean_psnr_db": _summary(scores)}


def held_out_psnr(data: Path, interp) -> dict:
    scores = {"ours": {}, "minterpolate": {}, "average": {}}
    counts = {}
    for clip, stride in HELD_OUT.items():
        path = data / "clips" / clip
        if not path.exists():
            continue
        v = read_video(path)
        cuts = set(interp.detect_cuts(v.frames))
        ts, name = v.timestamps, clip.rsplit(".", 1)[0]
        for i in range(1, len(v) - 1, stride):
            a, m, b = v.frames[i - 1], v.frames[i], v.frames[i + 1]
            if i in cuts or (i + 1) in cuts or max(psnr(m, a), psnr(m, b)) > 45:
                continue  # across a cut, or a repeated frame (pulldown) is no motion to predict
            t = float((ts[i] - ts[i - 1]) / (ts[i + 1] - ts[i - 1]))  # uneven on variable-rate fire2
            scores["ours"].setdefault(name, []).append(psnr(interp.interpolate_pair(a, b, t), m))
            scores["minterpolate"].setdefault(name, []).append(psnr(minterpolate(a, b), m))
            scores["average"].setdefault(name, []).append(psnr(average(a, b, t), m))
            counts[name] = counts.get(name, 0) + 1
    return {"n": counts, "mean_psnr_db": _summary(scores)}


def speed_clip(data: Path, folder: Path) -> Path:
    """A 40-frame 640x480 MP4 from bikes.mp4 frames 80-119 (one shot)."""
    import cv2  # deferred: OpenCV is heavy; this module imports without it

    v = read_video(data / "clips" / "bikes.mp4", max_frames=120)
    frames = np.stack([cv2.resize(f, (640, 480), interpolation=cv2.INTER_AREA) for f in v.frames[80:120]])
    return Path(write_video(folder / "clip40_640x480.mp4", frames, 25))


def _timed(fn, repeats: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds (this process and its children, all threads) of each run."""
    walls, cpus = [], []
    for _ in range(repeats):
        r0, c0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.process_time(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(time.process_time() - c0 + (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime))
    return walls, cpus


def _rates(prefix: str, n: int, walls: list[float], cpus: list[float]) -> dict:
    return {f"{prefix}_seconds": [round(t, 3) for t in walls],
            f"{prefix}_fps_best": round(n / min(walls), 1),
            f"{prefix}_fps_median": round(n / float(np.median(walls)), 1),
            f"{prefix}_cpu_seconds_median": round(float(np.median(cpus)), 3)}


# The interpolate verb alone in a fresh process: what `python -m engine interpolate` costs
# once the dispatcher imports only the verb it runs (engine/__main__.py imports every verb).
_VERB_ONLY = ("import argparse, sys; from engine.cli import interpolate as m; "
              "p = argparse.ArgumentParser(); m.register(p.add_subparsers()); "
              "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))")


def speed(data: Path, folder: Path, factor: int = 2, end_to_end: bool = True, repeats: int = 3) -> dict:
    """Interpolated frames per second; best and median of `repeats` runs, and CPU seconds,
    since other processes on this 2-core machine (training) take a varying share of it."""
    from engine.video.interpolate import Interpolator  # deferred: loads OpenCV; this module imports without it

    clip = speed_clip(data, folder)
    frames = read_video(clip).frames
    n_new = (len(frames) - 1) * (factor - 1)
    res = {"size": "640x480", "input_frames": len(frames), "factor": factor, "interpolated_frames": n_new}
    # a fresh Interpolator each time: its start-up counts, as do cut detection and flow
    res.update(_rates("in_process", n_new, *_timed(lambda: Interpolator().interpolate_frames(frames, factor),
                                                   repeats)))
    if end_to_end:
        args = ["interpolate", str(clip), "--factor", str(factor), "--out", str(folder / "out.mp4")]
        full = [sys.executable, "-m", "engine", *args]
        verb = [sys.executable, "-c", _VERB_ONLY, *args]
        run = lambda cmd: subprocess.run(cmd, cwd=REPO, check=True, capture_output=True)  # noqa: E731
        res.update(_rates("end_to_end", n_new, *_timed(lambda: run(full), repeats)))
        res.update(_rates("end_to_end_verb_only", n_new, *_timed(lambda: run(verb), repeats)))
        walls, _ = _timed(lambda: run([sys.executable, "-m", "engine", "--help"]), 1)
        res["cli_dispatch_startup_seconds"] = round(walls[0], 3)
    return res


def cuts_check(data: Path, interp) -> dict:
    from engine.video.interpolate import plan_retime  # deferred: loads OpenCV; this module imports without it

    v = read_video(data / "clips" / "bikes.mp4")
    found = interp.detect_cuts(v.frames)
    plan = plan_retime(v.timestamps, 2 * 25, found)
    mixing = [p.record() for p in plan if p.kind == "interpolated" and (p.source + 1) in BIKES_CUTS]
    return {"clip": "bikes.mp4", "reference_cuts": BIKES_CUTS, "detected_cuts": found,
            "interpolated_frames_mixing_shots": len(mixing)}


def run_benchmark(data: Path | str | None = None, end_to_end: bool = True, held_out: bool = True) -> dict:
    from engine.video.interpolate import Interpolator  # deferred: loads OpenCV; this module imports without it

    data = Path(data) if data else real_footage()
    interp = Interpolator()
    result = {"benchmark": "frame interpolation (issue 4)", "data": str(data),
              "interpolator": vars(interp.config), "load_average_1min_before": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory() as tmp:
        result["speed"] = speed(data, Path(tmp), 2, end_to_end)
        result["speed_factor3"] = speed(data, Path(tmp), 3, end_to_end=False)  # 8 -> 24 fps
    result["triplets"] = triplet_psnr(data, interp)
    if held_out:
        result["held_out"] = held_out_psnr(data, interp)
    result["cuts"] = cuts_check(data, interp)
    result["load_average_1min_after"] = round(os.getloadavg()[0], 2)
    return result


if __name__ == "__main__":
    print(json.dumps(run_benchmark(), indent=1))
