"""`python -m engine animate`: animate a still; frame 0 is the image (CLI.md)."""
from __future__ import annotations

from engine.cli import common
from engine.errors import InputError
from engine.video import media


def register(sub):
    p = sub.add_parser("animate", help="animate a still: frame 0 is the image")
    p.add_argument("--image", help="PNG or JPEG still (any size; fitted to the canvas by cover and centre-crop)")
    p.add_argument("--prompt", help="what happens in the shot")
    p.add_argument("--seconds", type=float, default=2.0, help="duration (default 2)")
    p.add_argument("--aspect", default=None, help="1:1, 16:9 or 9:16 (default: the nearest to the image's)")
    p.add_argument("--negative", default="", help="what to steer away from")
    common.add_output_options(p, "animate.mp4")
    common.add_literal_option(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from engine import verbs  # deferred: loads torch; kept off the CLI's top (--help)
    from engine.request import ASPECTS, GenerateRequest

    common.need(args.image, "--image", "a PNG or JPEG still to animate")
    common.need(args.prompt, "--prompt", "what happens in the shot, e.g. 'the ball rolls to the right'")
    image = verbs.load_image(args.image)
    if args.aspect is not None and args.aspect not in ASPECTS:
        raise InputError(f"unknown aspect {args.aspect!r}; allowed: {', '.join(ASPECTS)}")
    GenerateRequest(args.prompt, seconds=args.seconds, fps=args.fps, steps=args.steps,
                    guidance=args.guidance).validate()
    decision = common.check_prompt(args, args.prompt)
    media.check_output_path(args.out)
    media.check_not_input(args.out, args.image)
    engine = common.make_engine(args)
    result = verbs.animate(engine, image, args.prompt, seconds=args.seconds, fps=args.fps, seed=args.seed,
                           steps=args.steps, guidance=args.guidance, aspect=args.aspect,
                           progress=common.progress_printer(args.quiet), literal=args.literal)
    common.write_result(result, args.out, args, decision)
    return 0
