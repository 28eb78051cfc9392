"""`python -m engine fill`: regenerate bad or missing frames from the frames around them (CLI.md)."""
from __future__ import annotations

import sys
from pathlib import Path

from engine import defaults
from engine.cli.common import (
    add_verb_options,
    check_before_work,
    finish,
    load_model,
    make_engine,
    need,
    progress_printer,
    read_input,
)
from engine.errors import InputError
from engine.provenance import ProvenanceRecord
from engine.video import media

METHOD_HELP = ("what makes each gap, decided and printed before any rendering. auto: optical flow for a short gap "
               "it can bridge, the model otherwise; but a world model (the bundled one) draws only its own world of "
               "coloured shapes, so on camera footage flow fills every gap and a gap at the clip's start or end holds "
               "the nearest frame, with a warning. interpolate: flow only (holding at the ends). generate: the "
               "model for every gap; refused for a world model on camera footage (default auto)")


def register(sub):
    p = sub.add_parser("fill", help="regenerate frames A..B from the frames around them, or --auto")
    p.add_argument("--video", help="the clip: a video file or a folder of PNG/JPG frames")
    p.add_argument("--frames", help="A-B[,C-D...]: frames to regenerate (0-based, inclusive)")
    p.add_argument("--auto", action="store_true",
                   help="find dropped, duplicated, frozen or black frames and fill them; a clip with none is "
                        "copied unchanged (an .mp4 to an .mp4 byte for byte)")
    p.add_argument("--method", default="auto", choices=["auto", "interpolate", "generate"], help=METHOD_HELP)
    add_verb_options(p, "fill.mp4", literal=defaults.BETWEEN_LITERAL)
    p.set_defaults(func=run)


def run(args) -> int:
    from engine import verbs  # deferred: loads torch; kept off the CLI's top (--help)

    if bool(args.frames) == bool(args.auto):
        raise InputError("give --frames A-B[,C-D...] or --auto (not both)")
    video = read_input(args.video)
    ranges = None
    if args.frames:
        ranges = verbs.check_ranges(verbs.parse_ranges(need(args.frames, "--frames", "A-B[,C-D...]")), len(video))
    decision = check_before_work(args, args.video, prompt=args.prompt)
    if args.auto:
        findings = verbs.detect_bad_frames(video)
        for f in findings:
            what = f"{f.missing} frame(s) missing between {f.start} and {f.end}" if f.kind == "dropped" \
                else f"frames {f.start}-{f.end}"
            print(f"found {f.kind}: {what}", file=sys.stderr)
        if not findings and _copyable(args, video):
            return _copy_unchanged(args, video, decision)
        if not findings:
            print("found nothing to fill; writing the clip unchanged (re-encoded: the output is not the input's "
                  "kind of file)", file=sys.stderr)
    engine = make_engine(args, load=False)
    plan = verbs.plan_fill(engine, video, ranges, args.method)  # a refusal here costs nothing and writes nothing
    for gap in plan:
        if gap.warning or not args.quiet:
            print(("warning: " if gap.warning else "") + gap.line(), file=sys.stderr)
    if any(gap.how == "model" for gap in plan):
        load_model(engine, args)
    result = verbs.fill(engine, video, ranges, prompt=args.prompt, seed=args.seed, steps=args.steps,
                        guidance=args.guidance, method=args.method, progress=progress_printer(args.quiet),
                        literal=args.literal)
    return finish(result, args, decision, audio_from=video)  # same span of time: its sound stays


def _copyable(args, video) -> bool:
    """The input file can stand as the output: an .mp4 written as an .mp4 at its own frame rate."""
    src = Path(args.video)
    return (src.is_file() and src.suffix.lower() == ".mp4" and media.output_kind(args.out) == "mp4"
            and (args.fps is None or abs(args.fps - video.fps) < 1e-6))


def _copy_unchanged(args, video, decision) -> int:
    """Nothing to fill: the input file itself, copied, with a sidecar that says so. Not re-encoded, so not
    watermarked or signed either (a signature is written into the file): every frame is the camera's."""
    record = ProvenanceRecord.camera(len(video), str(video.source or args.video), float(video.fps))
    record.log_decision(decision)
    sidecar = {"settings": {"verb": "fill", "method": args.method, "input": video.source, "ranges": [],
                            "findings": [], "gaps": [], "plan": [], "changed": False},
               "fps": float(video.fps), "frames": len(video), "provenance": record.to_dict(), "cancelled": False,
               "render_seconds": 0.0,
               "unchanged": "nothing was found to fill: this is the input file, copied byte for byte (not re-encoded, "
                            "watermarked or signed)"}
    path = media.copy_output(args.video, args.out, sidecar)
    print("found nothing to fill; copied the clip unchanged (byte for byte, not re-encoded)", file=sys.stderr)
    print(path)
    return 0
