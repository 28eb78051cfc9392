"""`python -m engine interpolate IN (--factor K | --fps F | --slow N) --out PATH`: frame interpolation, retiming
and slow motion.

IN is a video file or a folder of PNG/JPG frames. `--factor K` puts K-1 new
frames between each pair (N frames -> (N-1)*K+1 at K times the rate);
`--fps F` resamples to F frames per second by the source's timestamps, so
variable-frame-rate input is placed correctly. Scene cuts are never
interpolated across. Audio, when the input has it, is carried over in sync.
`--slow N` is slow motion: N-1 new frames between each pair played at the
input's rate, so the clip lasts N times as long; `--audio` says what its
sound does: `stretch` (default: time-stretched to the new length, pitch kept),
`keep` (original speed from the first frame, then silence) or `none`.
An MP4 is signed like every command's output (C2PA), its per-frame record
the input's own, retimed: the signed record of an engine file, the
tenku.json of a frame folder, else camera footage.
"""
from __future__ import annotations

import os
import time

from engine.cli.signing import signer
from engine.cli.slow import run_slow
from engine.datafiles import read_json
from engine.errors import InputError
from engine.provenance import ProvenanceRecord, read_manifest
from engine.provenance.mp4 import check_mp4
from engine.provenance.publish import sealer
from engine.video.media import (
    SIDECAR_NAME,
    FrameStream,
    check_not_input,
    check_output_path,
    note_dropped_audio,
    parse_fps,
    read_video,
    write_output,
)
from engine.video.timestretch import MODES


def register(subparsers) -> None:
    p = subparsers.add_parser("interpolate", help="frame interpolation and retiming (optical flow)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("input", metavar="IN", help="video file or folder of PNG/JPG frames")
    # Parsed as text and checked in run(), so bad values give the one-line error (exit 2).
    p.add_argument("--factor", help="whole number from 2 to 16: K-1 new frames between each pair (at most 240 fps out)")
    p.add_argument("--fps", help="output frame rate up to 240, e.g. 24, 59.94 or 24000/1001")
    p.add_argument("--slow", help="slow motion, whole number from 2 to 16: N-1 new frames between each pair at the "
                                  "input's rate, so the clip plays N times as long")
    p.add_argument("--out", required=True, help="output .mp4, or folder/ for a PNG sequence")
    p.add_argument("--input-fps", default="24", help="frame rate of a frame folder, up to 1000 (default 24)")
    p.add_argument("--no-audio", action="store_true", help="leave the input's audio out (same as --audio none)")
    p.add_argument("--audio", choices=list(MODES), default=None,
                   help="the sound under --slow: stretch (default: to the new length, pitch kept), keep (original "
                        "speed from the first frame, silence after it ends) or none; with --factor/--fps the clip "
                        "keeps its length and its sound is unchanged")
    p.add_argument("--no-cuts", action="store_true", help="do not detect scene cuts (interpolate everything)")
    p.add_argument("--flow", default="ultrafast", choices=["ultrafast", "fast", "medium"],
                   help="optical-flow effort (DIS preset); default ultrafast, see docs/BENCHMARKS.md")
    p.add_argument("--threads", type=int, default=None,
                   help="worker threads, each making whole pairs (default: every core this process may use); the "
                        "frames are the same for any number")
    p.add_argument("--config", default=None,
                   help="config folder holding the C2PA signing credentials (default: your user config folder)")
    p.add_argument("--quiet", action="store_true", help="no notes on stderr")
    p.set_defaults(func=run)


def run(args) -> int:
    # deferred: loads OpenCV; kept off the CLI's top (--help)
    from engine.video.interpolate import MAX_INPUT_FPS, MAX_OUTPUT_FPS, InterpolationConfig, Interpolator, check_factor

    # 1. Check inputs before any work
    if sum(x is not None for x in (args.factor, args.fps, args.slow)) != 1:
        raise InputError("give exactly one of --factor K (whole number >= 2), --fps F (> 0) or --slow N (2 to 16)")
    factor = check_factor(args.factor) if args.factor is not None else None
    slow = check_slow(args.slow) if args.slow is not None else None
    mode = sound_mode(args)
    fps = parse_fps(args.fps) if args.fps is not None else None
    if fps is not None and fps > MAX_OUTPUT_FPS:
        raise InputError(f"--fps must be more than 0 and at most {MAX_OUTPUT_FPS}, got {args.fps}")
    input_fps = parse_fps(args.input_fps)
    if input_fps > MAX_INPUT_FPS:
        raise InputError(f"--input-fps must be more than 0 and at most {MAX_INPUT_FPS}, got {args.input_fps}")
    if args.threads is not None and args.threads < 1:
        raise InputError(f"--threads must be at least 1, got {args.threads}")
    kind = check_output_path(args.out)
    check_not_input(args.out, args.input)
    config = signer(args) if kind == "mp4" else None  # tried now: a key that does not sign costs no work

    # 2. Read
    started = time.perf_counter()
    video = read_video(args.input, fps=input_fps)
    if len(video) < 2:
        raise InputError(f"{args.input!r} has {len(video)} frame; interpolation needs at least two")
    note_dropped_audio(video, args.quiet)
    source, source_note = input_record(args.input, video)

    # 3. Plan and render
    interp = Interpolator(InterpolationConfig(flow_preset=args.flow), threads=args.threads)
    if slow is not None:
        return run_slow(args, video, slow, mode, interp, source, source_note, config, started)
    if factor is not None and video.fps * factor > MAX_OUTPUT_FPS:
        raise InputError(f"--factor {factor} makes {video.fps * factor:g} fps of a {video.fps:g} fps clip; the most is "
                         f"{MAX_OUTPUT_FPS} (use --fps {MAX_OUTPUT_FPS} for the highest rate)")
    plan = interp.plan(video, fps=fps, factor=factor, cuts=[] if args.no_cuts else None)

    # 4. Write with provenance: the input's record retimed, signed before the file takes its place
    record, sidecar = retimed_record(args, video, plan, float(plan.rate), interp, source, source_note,
                                     {"factor": factor, "fps": str(plan.rate),
                                      "audio": bool(video.has_audio and mode != "none")}, {"method": "flow"})
    sidecar["seconds"] = None  # set when the last frame is made

    def made():  # the frames, made while the encoder takes the ones before
        yield from interp.stream(plan.frames, plan.steps)
        sidecar["seconds"] = round(time.perf_counter() - started, 3)

    audio = video if (video.has_audio and mode != "none") else None
    seal = sealer(record, config, os.path.basename(args.out))
    write_output(args.out, FrameStream(made(), len(plan.steps)), plan.rate, sidecar, audio_from=audio, seal=seal)
    print(f"{args.out}: {len(plan.steps)} frames at {float(plan.rate):.6g} fps "
          f"({sidecar['counts']['interpolated']} interpolated, {sidecar['counts']['held']} held at cuts)")
    return 0


def retimed_record(args, video, plan, rate: float, interp, source, source_note, settings: dict, details: dict):
    """(the input's record retimed by `plan` at `rate` fps, its new frames carrying `details`; the sidecar:
    `settings` and the run's, the plan's cuts, counts and frames)."""
    kinds = [p.kind for p in plan.steps]
    at = [p.source + (p.t if p.kind == "interpolated" else 0.0) for p in plan.steps]
    record = source.retime(at, rate, details)
    sidecar = {
        "command": "interpolate",
        "input": os.path.abspath(args.input),
        "settings": {**settings, "input_fps": video.fps, "input_variable_rate": video.variable_rate,
                     "cuts_detected": not args.no_cuts, "interpolator": vars(interp.config)},
        "input_provenance": source_note,
        "provenance": record.to_dict(),
        "cuts": plan.cuts,
        "counts": {k: kinds.count(k) for k in ("original", "interpolated", "held")},
        "frames": [p.record() for p in plan.steps],
    }
    if video.metadata.get("audio_dropped"):
        sidecar["settings"]["audio_dropped"] = video.metadata["audio_dropped"]
    return record, sidecar


def check_slow(value) -> int:
    try:
        n = float(value)
    except (TypeError, ValueError):
        n = float("nan")
    if n != n or n != int(n) or not 2 <= n <= 16:
        raise InputError(f"--slow must be a whole number from 2 to 16 (the clip plays that many times as long), "
                         f"got {value!r}")
    return int(n)


def sound_mode(args) -> str:
    """What the sound does: --audio, else none under --no-audio, else stretch (unchanged without --slow)."""
    if args.no_audio and args.audio not in (None, "none"):
        raise InputError(f"--no-audio leaves the sound out; it cannot be --audio {args.audio} as well")
    return "none" if args.no_audio else (args.audio or "stretch")


def input_record(path: str, video):
    """(the input's per-frame record, a note saying where it came from): an MP4's signed record when its
    manifest holds up, a frame folder's tenku.json record, else the frames are camera footage."""
    name = os.path.basename(os.path.normpath(path))
    camera = ProvenanceRecord.camera(len(video), name, fps=float(video.fps))
    if os.path.isdir(path):
        side = os.path.join(path, SIDECAR_NAME)
        if not os.path.isfile(side):
            return camera, "camera footage (the folder has no tenku.json)"
        try:
            data = read_json(side, "sidecar")
            rec = ProvenanceRecord.from_dict(data["provenance"])
        except (InputError, KeyError, TypeError) as e:
            return camera, f"camera footage (its tenku.json has no readable record: {e})"
        if rec.frame_count != len(video):
            return camera, f"camera footage (its tenku.json describes {rec.frame_count} frames, not {len(video)})"
        return rec, "the folder's tenku.json record (a PNG sequence is not signed)"
    try:
        check_mp4(path)
    except InputError:  # another container (MOV, MKV, WebM...): C2PA is not looked for there
        return camera, "camera footage (not an MP4, so no C2PA manifest)"
    report = read_manifest(path)
    if not report.present:
        return camera, "camera footage (no C2PA manifest)"
    if not report.intact or report.record is None:
        return camera, "camera footage (its C2PA manifest does not hold up: " + (report.error or "changed") + ")"
    if report.record.frame_count != len(video):
        return camera, f"camera footage (its signed record describes {report.record.frame_count} frames, not " \
                       f"{len(video)})"
    return report.record, "the input's signed C2PA record"
