"""`python -m engine remix`: video to video; keep motion and layout, change what the prompt changes."""
from __future__ import annotations

from engine import defaults
from engine.cli import common


def register(sub):
    p = sub.add_parser("remix", help="video to video at a strength in (0, 1]")
    p.add_argument("--video", help="the clip: a video file or a folder of PNG/JPG frames")
    p.add_argument("--strength", type=float,
                   help="0 < X <= 1: how far from the input (0.6 keeps layout and motion); on world footage a "
                        "layout model repaints an object or background the prompt recasts whole, along its tracks")
    p.add_argument("--method", choices=defaults.REMIX_METHODS, default=defaults.REMIX_METHOD,
                   help="flowedit: move the clip by the difference the prompt makes (default); "
                        "sdedit: noise the clip to the strength and denoise it toward the prompt")
    common.add_verb_options(p, "remix.mp4", "what the remixed clip shows (required)", guidance=defaults.REMIX_GUIDANCE)
    p.set_defaults(func=run)


def run(args) -> int:
    from engine import verbs  # deferred: loads torch; kept off the CLI's top (--help)
    from engine.sampling.conditioning import check_strength

    common.need(args.prompt, "--prompt", "what the remixed clip shows, e.g. 'a blue ball rolls to the right'")
    check_strength(common.need(args.strength, "--strength", "a number in (0, 1], e.g. --strength 0.6"))
    video = common.read_input(args.video)
    decision = common.check_before_work(args, args.video, prompt=args.prompt)
    engine = common.make_engine(args)
    result = verbs.remix(engine, video, args.prompt, strength=args.strength, seed=args.seed, steps=args.steps,
                         guidance=args.guidance, method=args.method, progress=common.progress_printer(args.quiet),
                         literal=args.literal)
    return common.finish(result, args, decision, audio_from=video)
