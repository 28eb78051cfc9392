"""`python -m engine fill`: regenerate bad or missing frames from the frames around them (CLI.md)."""
from __future__ import annotations

import sys

from engine import defaults
from engine.cli.common import (add_verb_options, check_before_work, finish, make_engine, need, progress_printer,
                               read_input)
from engine.errors import InputError


def register(sub):
    p = sub.add_parser("fill", help="regenerate frames A..B from the frames around them, or --auto")
    p.add_argument("--video", help="the clip: a video file or a folder of PNG/JPG frames")
    p.add_argument("--frames", help="A-B[,C-D...]: frames to regenerate (0-based, inclusive)")
    p.add_argument("--auto", action="store_true", help="find dropped, duplicated, frozen or black frames and fill them")
    p.add_argument("--method", default="auto", choices=["auto", "generate", "interpolate"],
                   help="auto: optical flow for short gaps it can bridge, the model otherwise (default auto)")
    add_verb_options(p, "fill.mp4", literal=defaults.BETWEEN_LITERAL)
    p.set_defaults(func=run)


def run(args) -> int:
    from engine import verbs

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
        if not findings:
            print("found nothing to fill; writing the clip unchanged", file=sys.stderr)
    engine = make_engine(args)
    result = verbs.fill(engine, video, ranges, prompt=args.prompt, seed=args.seed, steps=args.steps,
                        guidance=args.guidance, method=args.method, progress=progress_printer(args.quiet),
                        literal=args.literal)
    return finish(result, args, decision, audio_from=video)  # same span of time: its sound stays
