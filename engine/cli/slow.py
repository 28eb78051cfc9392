"""`python -m engine interpolate IN --slow N [--audio stretch|keep|none] --out PATH`: slow motion.

N-1 new frames between each pair (engine.video.interpolate, by the input's frame times, so variable-frame-rate
input is placed correctly) played at the input's rate: the clip lasts N times as long. Its sound is cut at the
same source times as the picture and then stretched to the new length with its pitch kept, kept at its original
speed from the first frame (silence after it ends) or left out (engine.video.timestretch); the command says
which on stderr, and the sidecar and the signed record say it too. A PNG-sequence output gets its sound as
sound.wav beside the frames.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

from engine.provenance.publish import sealer
from engine.video import audio, timestretch
from engine.video.media import write_output

WAV_NAME = "sound.wav"


def slowed_sound(path: str, video, start: float, seconds: float, slow: int, mode: str, quiet: bool):
    """(the input's sound from `start` for `seconds` made `slow` times as long as `mode` says, or None; the mode
    used: "none" when the input has no sound to keep)."""
    if mode == "none" or not video.has_audio:
        return None, "none"
    try:
        sound = audio.read_sound(path)
    except audio.AudioError as e:  # the picture is still made, as with a broken stream (media.note_dropped_audio)
        if not quiet:
            sys.stderr.write(f"note: {e}; the slowed clip has no sound\n")
        return None, "none"
    if sound is None:
        return None, "none"
    return timestretch.retimed(sound.window(start, start + seconds), slow, mode), mode


def hold_what_was_on_screen(steps, timestamps) -> None:
    """At a scene cut the plan holds the nearer frame, and a time halfway (every other frame at --slow 2) takes
    the next shot's: the cut would come half a source frame early, its sound after it. Slow motion holds the
    frame the original showed at that time instead (a frame stays up until the next one's time), so a cut falls
    at exactly N times its time, as its sound does."""
    ts = np.asarray(timestamps, np.float64)
    for step in steps:
        if step.kind == "held":
            step.source = int(np.clip(np.searchsorted(ts, step.time + 1e-9, side="right") - 1, 0, len(ts) - 1))


def run_slow(args, video, slow: int, mode: str, interp, source, source_note, config, started: float) -> int:
    from engine.cli.interpolate import retimed_record  # deferred: engine.cli.interpolate imports this module (cycle)

    plan = interp.plan(video, factor=slow, cuts=[] if args.no_cuts else None)
    hold_what_was_on_screen(plan.steps, video.timestamps)
    frames = interp.render(plan.frames, plan.steps)
    rate = plan.rate / slow  # the input's rate: each source second now lasts `slow` seconds
    source_seconds = len(frames) / float(plan.rate)
    pcm, used = slowed_sound(args.input, video, float(video.timestamps[0]), source_seconds, slow, mode, args.quiet)
    said = timestretch.said(used, slow) if video.has_audio else "the input has no sound"
    if not args.quiet:
        sys.stderr.write(f"note: --slow {slow}: the clip plays {slow}x as long; {said}\n")

    settings = {"slow": slow, "fps": str(rate), "audio": pcm is not None, "audio_mode": used, "audio_said": said,
                "seconds_in": round(source_seconds, 6), "seconds_out": round(len(frames) / float(rate), 6)}
    record, sidecar = retimed_record(args, video, plan, float(rate), interp, source, source_note, settings,
                                     {"method": "flow", "slow": slow, "audio": used})
    folder = not args.out.endswith(".mp4")
    if folder and pcm is not None:
        sidecar["settings"]["audio_file"] = WAV_NAME
    sidecar["seconds"] = round(time.perf_counter() - started, 3)
    seal = sealer(record, config, os.path.basename(args.out))
    out = write_output(args.out, frames, rate, sidecar, seal=seal, sound=pcm)
    if folder and pcm is not None:
        audio.write_wav(os.path.join(out, WAV_NAME), pcm[:, :audio.samples(len(frames) / float(rate))])
    print(f"{args.out}: {len(frames)} frames at {float(rate):.6g} fps, {slow}x slow motion "
          f"({sidecar['counts']['interpolated']} interpolated, {sidecar['counts']['held']} held at cuts)")
    return 0
