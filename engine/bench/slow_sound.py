"""`python -m engine.bench.slow_sound [--seconds N] [--repeats R]`: what stretching the sound costs beside the
picture in 2x slow motion (issue 32, item 3; figures in docs/BENCHMARKS.md), as JSON.

The first N seconds of real footage with sound (the shared chaplin.mp4: 640x360 at 25 fps, stereo MP3 at
44.1 kHz) are slowed 2x as `interpolate --slow 2` slows them: the picture by optical flow (Interpolator.plan and
render: cut detection, one new frame between each pair) and the sound by engine.video.timestretch.stretch
(FFmpeg atempo through PyAV, the lead measured once and taken back), each timed `--repeats` times in turn
(median). Decoding and encoding are left out of both: they are the same with and without sound. Run it with
OMP_NUM_THREADS=1 on a shared machine.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

from engine.defaults import REAL_FOOTAGE_VARIABLE, real_footage
from engine.video import audio, media, timestretch


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=10.0, help="seconds of footage slowed (default 10)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--clip", default=None, help="footage with sound (default: the shared chaplin.mp4)")
    args = p.parse_args(argv)

    # deferred: OpenCV is heavy; this module imports without it
    from engine.video.interpolate import InterpolationConfig, Interpolator

    clip = Path(args.clip) if args.clip else real_footage(os.environ.get(REAL_FOOTAGE_VARIABLE)) / "clips" / \
        "chaplin.mp4"
    probe = media.read_video(clip, max_frames=2)
    video = media.read_video(clip, max_frames=int(round(args.seconds * probe.fps)) + 1)
    seconds = (len(video) - 1) / video.fps
    t0 = float(video.timestamps[0])
    pcm = audio.read_sound(clip).window(t0, t0 + seconds)
    timestretch.stretch(pcm[:, :audio.RATE], 2)  # the lead measured once (cached), as a first run would
    interp = Interpolator(InterpolationConfig())
    picture, sound = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        plan = interp.plan(video, factor=2)
        interp.render(plan.frames, plan.steps)
        picture.append(time.perf_counter() - start)
        start = time.perf_counter()
        timestretch.stretch(pcm, 2)
        sound.append(time.perf_counter() - start)
    pic, snd = statistics.median(picture), statistics.median(sound)
    print(json.dumps({"clip": clip.name, "size": list(video.size), "fps": video.fps, "frames": len(video),
                      "seconds": round(seconds, 3), "repeats": args.repeats,
                      "picture_2x_s": round(pic, 3), "sound_2x_stretch_s": round(snd, 3),
                      "sound_share_of_picture": round(snd / pic, 4),
                      "sound_stretch_x_realtime": round(seconds / snd, 1),
                      "processor": platform.processor() or platform.machine(),
                      "omp_threads": os.environ.get("OMP_NUM_THREADS")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
