"""`python -m studio.bench_sound`: what sound adds to an export's wall time (issue 32: under 5%), as JSON.

Two projects hold the same cut of real footage (chaplin.mp4 from the shared clips, 640x360 at 25 fps with
stereo MP3 at 44.1 kHz, twice, crossfaded, conformed to 24 fps): one with the camera's sound kept and a music
track (a 44.1 kHz stereo WAV as long as the cut) laid under it, the other silent with no track. Each is
exported to MP4 (signed, as the studio exports) in turn, `--repeats` times (alternating which goes first),
so both see the same load on a shared machine, and the wall time the sound adds to the export's own thread is
timed inside each export with sound (`SoundClock`). Run it as `OMP_NUM_THREADS=1 python -m studio.bench_sound`
(docs/BENCHMARKS.md).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from engine import defaults
from engine.defaults import REAL_FOOTAGE_VARIABLE, real_footage
from engine.provenance import ProvenanceRecord
from engine.video import audio, media
from studio import export, mixdown, soundtracks
from studio.jobs import save_take
from studio.project import Store


def cut_project(store, video, name: str, sound: bool) -> str:
    """A project whose cut is the clip twice with a half-second crossfade; with `sound`, the camera's sound kept
    and a music track under the whole cut."""
    pid = store.create_project(name)
    rec = ProvenanceRecord.camera(len(video), source=Path(video.source).name, fps=video.fps)
    take = save_take(store, pid, None, video.frames, video.fps, rec, {"source_file": Path(video.source).name},
                     "camera", mark=False, audio_from=video if sound else None)
    store.promote(take)
    second = store.promote(take)
    store.update_entry(second, transition="crossfade", transition_seconds=0.5)
    if sound:
        seconds = 2 * len(video) / video.fps
        t = np.arange(int(seconds * 44100)) / 44100
        tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
        folder = Path(tempfile.mkdtemp())
        wav = audio.write_wav(folder / "music.wav", np.stack([tone, tone]), rate=44100)
        tid = soundtracks.add_track(store, pid, wav)
        soundtracks.set_track(store, tid, gain_db=-6, fade_in=1.0, fade_out=1.0)
    return pid


class SoundClock:
    """Wall time the sound adds to one export's own thread, measured inside it, so a neighbour's load that changes
    between two exports does not enter the figure: the sound's stages when that thread runs them (reading a
    take's sound, the mix, encoding, adding and muxing the AAC stream), and how long it waits for the sound
    thread after the picture is assembled. Work the sound thread does while the picture is made is not counted:
    it costs wall time only through sharing the cores, which the side-by-side exports measure."""

    STAGES = ((mixdown, "take_sound"), (mixdown, "cut_sound"), (audio.AacTrack, "encode"),
              (audio.AacTrack, "add_to"), (audio.AacTrack, "mux"))

    def __enter__(self):
        self.seconds, self.saved, self.assembled, self.mixed = 0.0, [], None, None
        for owner, name in self.STAGES:
            self._patch(owner, name, self._timed)
        self._patch(export, "assemble", lambda fn: self._ended(fn, "assembled"))
        self._patch(export, "mixed", lambda fn: self._ended(fn, "mixed"))
        return self

    def _patch(self, owner, name, wrap):
        fn = getattr(owner, name)
        self.saved.append((owner, name, fn))
        setattr(owner, name, wrap(fn))

    def _timed(self, fn):
        def timed(*args, **kwargs):
            if threading.current_thread() is not threading.main_thread():
                return fn(*args, **kwargs)
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t0
        return timed

    def _ended(self, fn, name):
        def ended(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            finally:
                setattr(self, name, time.perf_counter())
        return ended

    def __exit__(self, *exc):
        for owner, name, fn in reversed(self.saved):
            setattr(owner, name, fn)
        if self.assembled is not None and self.mixed is not None:  # the picture waited for the sound thread
            self.seconds += max(0.0, self.mixed - self.assembled)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m studio.bench_sound", description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5, help="exports of each project, taken in turn (default 5)")
    p.add_argument("--clip", default=None, help="footage with sound (default: the shared chaplin.mp4)")
    p.add_argument("--scale", type=float, default=1.0, help="scale the footage's frames first (2: 1280x720)")
    args = p.parse_args(argv)
    clip = Path(args.clip) if args.clip else real_footage(os.environ.get(REAL_FOOTAGE_VARIABLE)) / "clips" / \
        "chaplin.mp4"
    video = media.read_video(clip)
    if args.scale != 1:  # the same footage at a larger delivery size: the picture's cost grows, the sound's does not
        import cv2  # deferred: OpenCV is heavy; this module imports without it

        w, h = (int(round(x * args.scale / 2)) * 2 for x in video.size)
        video.frames = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in video.frames])
    with tempfile.TemporaryDirectory() as root:
        store = Store(Path(root) / "projects")
        config = Path(root) / "config"
        projects = {"silent": cut_project(store, video, "Silent", False),
                    "sound": cut_project(store, video, "Sound", True)}
        times: dict[str, list[float]] = {k: [] for k in projects}
        cpu: dict[str, list[float]] = {k: [] for k in projects}
        inside: list[float] = []  # per export with sound: the share of its wall time the sound's stages took
        for i in range(args.repeats):
            # the two exports alternate which goes first, so a neighbour's load or a warm cache favours neither
            for kind, pid in (list(projects.items()) if i % 2 == 0 else list(projects.items())[::-1]):
                with SoundClock() as clock:
                    t0, c0 = time.perf_counter(), time.process_time()
                    out = export.export(store, pid, 24.0, ["MP4"], config)
                    times[kind].append(time.perf_counter() - t0)
                    cpu[kind].append(time.process_time() - c0)
                if kind == "sound":
                    inside.append(100 * clock.seconds / times[kind][-1])
        frames = len(media.read_video(out["MP4"]))
        heard = audio.read_sound(out["MP4"])
        store.close()
    figures = {}
    # On a machine shared with other work the wall time of one export swings by half; the fastest of each is
    # the estimate least touched by the neighbours, the median is shown beside it, and the process's CPU time
    # (every thread of it, the encoder's included) is what the work itself costs.
    for name, runs, pick in (("wall_min", times, min), ("wall_median", times, statistics.median),
                             ("cpu_min", cpu, min)):
        silent, sound = pick(runs["silent"]), pick(runs["sound"])
        figures[name] = {"silent_s": round(silent, 3), "with_sound_s": round(sound, 3),
                         "sound_cost_percent": round(100 * (sound - silent) / silent, 2)}
    print(json.dumps({"clip": clip.name, "size": list(video.size), "cut_frames": frames, "fps": 24,
                      "cut_seconds": round(frames / 24, 2), "sound": heard.info if heard else None,
                      "repeats": args.repeats, **figures,
                      "sound_stages_percent_of_export": {"median": round(statistics.median(inside), 2),
                                                         "max": round(max(inside), 2)},
                      "wall_seconds": {k: [round(x, 3) for x in v] for k, v in times.items()},
                      "cpu_seconds": {k: [round(x, 3) for x in v] for k, v in cpu.items()},
                      "processor": defaults.processor(), "threads": os.environ.get("OMP_NUM_THREADS")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
