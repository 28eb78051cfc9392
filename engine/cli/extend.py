"""`python -m engine extend`: continue a clip after its end (or before its start) (CLI.md)."""
from __future__ import annotations

from engine import defaults
from engine.cli import common


def register(sub):
    p = sub.add_parser("extend", help="continue a clip after its end (or before its start)")
    p.add_argument("--video", help="the clip: a video file or a folder of PNG/JPG frames")
    p.add_argument("--seconds", type=float, help="how much new footage")
    p.add_argument("--backward", action="store_true", help="add the new footage before the start")
    common.add_verb_options(p, "extend.mp4", guidance=defaults.EXTEND_GUIDANCE)
    p.set_defaults(func=run)


def run(args) -> int:
    from engine import verbs  # deferred: loads torch; kept off the CLI's top (--help)

    common.need(args.seconds, "--seconds", "how many seconds of new footage, e.g. --seconds 2")
    verbs._check_seconds(args.seconds)
    video = common.read_input(args.video)
    decision = common.check_before_work(args, args.video, prompt=args.prompt)
    engine = common.make_engine(args)
    result = verbs.extend(engine, video, seconds=args.seconds, backward=args.backward, prompt=args.prompt,
                          seed=args.seed, steps=args.steps, guidance=args.guidance,
                          progress=common.progress_printer(args.quiet), literal=args.literal)
    # the clip's sound stays under its own frames: the new ones are silent (before it, when going backward)
    added = len(result.frames) / result.fps - len(video) / video.fps
    start = float(video.timestamps[0]) - (added if args.backward else 0.0)
    return common.finish(result, args, decision, audio_from=video, audio_start=start)
