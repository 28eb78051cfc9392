"""`python -m engine inpaint`: repaint the white region of a mask in every frame (CLI.md)."""
from __future__ import annotations

from engine.cli import common


def register(sub):
    p = sub.add_parser("inpaint", help="repaint the white region of a mask in every frame")
    p.add_argument("--video", help="the clip: a video file or a folder of PNG/JPG frames")
    p.add_argument("--mask", help="PNG of the video's size (or aspect): white = repaint, black = keep")
    p.add_argument("--invert", action="store_true", help="repaint the black region instead (outpaint)")
    common.add_verb_options(p, "inpaint.mp4", "what to paint in the region (required)")
    p.set_defaults(func=run)


def run(args) -> int:
    from engine import verbs  # deferred: loads torch; kept off the CLI's top (--help)

    common.need(args.prompt, "--prompt", "what to paint in the masked region")
    common.need(args.mask, "--mask", "a PNG, white where to repaint")
    video = common.read_input(args.video)
    mask = verbs.load_mask(args.mask, *video.size)
    verbs.mask_region(mask, *video.size, invert=args.invert)  # fails here, before the model loads
    decision = common.check_before_work(args, args.video, args.mask, prompt=args.prompt)
    engine = common.make_engine(args)
    result = verbs.inpaint(engine, video, mask, args.prompt, invert=args.invert, seed=args.seed, steps=args.steps,
                           guidance=args.guidance, progress=common.progress_printer(args.quiet), literal=args.literal)
    return common.finish(result, args, decision, audio_from=video)
