"""`python -m engine read`: how the bundled model's prompt reader reads prompts (engine.world.reading)."""
from __future__ import annotations

from engine.errors import InputError


def register(sub):
    p = sub.add_parser("read", help="how the model's prompt reader reads prompts; --score: the reader's benchmark")
    p.add_argument("prompts", nargs="*", help="prompts to read (one JSON line each on stdout)")
    p.add_argument("--score", action="store_true",
                   help="score the reader on held-out captions and the hand-written prompt sets (JSON)")
    p.add_argument("--lexicon", action="store_true",
                   help="write assets/lexicon/colour_names.json from matplotlib's colour tables")
    p.add_argument("--captions", type=int, default=None, help="with --score: held-out captions to score (600)")
    p.add_argument("--prompts", dest="prompt_sets", nargs="+", default=None, metavar="FILE",
                   help="with --score: hand-written prompt sets (JSONL; default: the two in assets/examples)")
    p.add_argument("--model", default=None, help="model folder (default: the bundled model)")
    p.set_defaults(func=run)


def run(args) -> int:
    from engine.world.reading import main  # deferred: loads torch; kept off the CLI's top (--help)

    model = ["--model", args.model] if args.model else []
    if args.lexicon:
        return main(["lexicon"])
    if args.score:
        extra = (["--captions", str(args.captions)] if args.captions else []) + \
            (["--prompts", *args.prompt_sets] if args.prompt_sets else [])
        return main(["score", *model, *extra])
    if not args.prompts:
        raise InputError("give one or more prompts to read, or --score")
    return main(["read", *args.prompts, *model])
