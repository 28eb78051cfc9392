"""`python -m engine bridge`: a transition from the end of one clip to the start of another (CLI.md)."""
from __future__ import annotations

import sys

from engine import defaults
from engine.cli import common


def register(sub):
    p = sub.add_parser("bridge", help="a transition clip from the end of one clip to the start of another")
    p.add_argument("--from", dest="src", help="the clip to leave (its last frame starts the bridge)")
    p.add_argument("--to", dest="dst", help="the clip to reach (its first frame ends the bridge)")
    p.add_argument("--seconds", type=float, help="length of the transition")
    common.add_verb_options(p, "bridge.mp4", literal=defaults.BETWEEN_LITERAL)
    p.set_defaults(func=run)


def run(args) -> int:
    from engine import verbs  # deferred: loads torch; kept off the CLI's top (--help)

    common.need(args.seconds, "--seconds", "the length of the transition, e.g. --seconds 1")
    verbs._check_seconds(args.seconds)
    a, b = common.read_input(args.src, "--from"), common.read_input(args.dst, "--to")
    if a.size != b.size and not args.quiet:  # said, not done silently: --to's frames are cropped
        (wa, ha), (wb, hb) = a.size, b.size
        print(f"note: --to is {wb}x{hb} and --from {wa}x{ha}; the bridge is {wa}x{ha}, and --to's first frame is "
              f"scaled to cover it and centre-cropped", file=sys.stderr)
    decision = common.check_before_work(args, args.src, args.dst, prompt=args.prompt)
    engine = common.make_engine(args)
    result = verbs.bridge(engine, a, b, seconds=args.seconds, prompt=args.prompt, seed=args.seed, steps=args.steps,
                          guidance=args.guidance, progress=common.progress_printer(args.quiet), literal=args.literal)
    return common.finish(result, args, decision)
