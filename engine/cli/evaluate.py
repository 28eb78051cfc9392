"""`python -m engine evaluate`: the world benchmark on held-out phrasings and combinations."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from engine import defaults
from engine.bench.verbs import evaluate_verbs
from engine.bench.world import PATHS, build_cases, evaluate, evaluate_paths, path_cases
from engine.cli.common import add_sampler_option
from engine.defaults import BUNDLED_MODEL
from engine.errors import InputError
from engine.families import check_model_folder


def register(sub):
    p = sub.add_parser("evaluate", help="score a model on the world benchmark (held-out prompts)")
    p.add_argument("--model", default=str(BUNDLED_MODEL), help="model folder (default: the bundled model)")
    p.add_argument("--direction", type=int, default=24, help="direction cases (default 24)")
    p.add_argument("--colour", type=int, default=8, help="two-object colour cases (default 8)")
    p.add_argument("--permanence", type=int, default=8, help="cases behind the wall pillar (default 8)")
    p.add_argument("--phrasing", choices=["eval", "train"], default="eval",
                   help="eval: held-out wording (the benchmark, default); train: the same held-out scenes in "
                        "training wording (separates unknown words from unknown combinations)")
    p.add_argument("--combos", choices=["held", "train"], default="held",
                   help="held: mostly held-out colour x shape x motion combinations (the benchmark, default); "
                        "train: only combinations seen in training (with --phrasing train: in-distribution prompts)")
    p.add_argument("--steps", type=int, default=defaults.STEPS)
    p.add_argument("--guidance", type=float, default=None,
                   help=f"guidance scale (default {defaults.GUIDANCE:g}; with --verbs, each verb's own default)")
    p.add_argument("--churn", type=float, default=0.0,
                   help="share of fresh noise per sampling step, 0-1 (default 0: deterministic Euler)")
    p.add_argument("--literal", action="store_true",
                   help="give the model each prompt as written, not as its prompt reader reads it "
                        "(engine.world.reading)")
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16"],
                   help="auto (default): bfloat16 where the processor has it (AMX, AVX-512 BF16), else float32")
    add_sampler_option(p)
    p.add_argument("--out", default=None, help="also write the full report (every case) as JSON here")
    p.add_argument("--truth", choices=["render", "vae"], default=None,
                   help="score the cases' own scenes instead of the model's clips: 'render' is what a perfect "
                        "model would score, 'vae' the same clips through the model's VAE (the metrics' ceilings)")
    p.add_argument("--remix-method", choices=defaults.REMIX_METHODS, default=defaults.REMIX_METHOD,
                   help=f"with --verbs: how remix is made (default {defaults.REMIX_METHOD})")
    p.add_argument("--paths", default="planned",
                   help="comma-separated, side by side on the same cases: planned (the default render: through a "
                        "planned layout on a model that takes one), text (the prompt alone), planner (the planned "
                        "layout drawn as the world draws it: is the plan what was asked?)")
    p.add_argument("--aspect", default="1:1", choices=["1:1", "16:9", "9:16"],
                   help="canvas of every case (default 1:1)")
    p.add_argument("--layouts", type=int, nargs="?", const=16, default=None, metavar="N",
                   help="instead: N hand-written layouts (zig-zags, diagonals, two objects crossing, stop and go "
                        "back) rendered without a prompt, scored by layout fidelity (default 16)")
    p.add_argument("--verbs", type=int, nargs="?", const=8, default=None, metavar="N",
                   help="instead: the editing verbs' conditioning metrics on N world cases (default 8)")
    p.set_defaults(func=run)


def run(args) -> int:
    from engine.service import Engine  # deferred: loads torch; kept off the CLI's top (--help)

    check_model_folder(Path(args.model))
    if args.truth and args.verbs is not None:
        raise InputError("--truth scores the prompt benchmark's scenes; it does not go with --verbs")
    paths = tuple(p.strip() for p in args.paths.split(",") if p.strip())
    if not paths or set(paths) - set(PATHS):
        raise InputError(f"--paths {args.paths!r}: choose from {', '.join(PATHS)}, comma-separated")
    engine = Engine(args.model, dtype=args.dtype, sampler=args.sampler)
    if args.verbs is not None:
        return run_verbs(engine, args)
    if args.layouts is not None:
        return run_layouts(engine, args)
    cases = build_cases(args.direction, args.colour, args.permanence, phrasing=args.phrasing,
                        combos=args.combos)

    def show(i, n, row):
        sys.stderr.write(f"\r{i}/{n} {row['kind']:<10}")
        sys.stderr.flush()

    guidance = defaults.GUIDANCE if args.guidance is None else args.guidance
    report = evaluate(engine, cases, steps=args.steps, guidance=guidance, progress=show, truth=args.truth,
                      churn=args.churn, literal=args.literal, aspect=args.aspect, paths=paths)
    return _report(report, args.out)


def run_verbs(engine, args) -> int:
    def show(i, n, row):
        sys.stderr.write(f"\r{i}/{n} verb cases")
        sys.stderr.flush()

    report = evaluate_verbs(engine, n=args.verbs, steps_=args.steps, guidance=args.guidance, progress=show,
                            literal=True if args.literal else None, remix_method=args.remix_method)
    return _report(report, args.out)


def run_layouts(engine, args) -> int:
    if not engine.takes_layout:
        raise InputError(f"{args.model} has no layout input; --layouts scores a model that renders layouts")

    def show(i, n, row):
        sys.stderr.write(f"\r{i}/{n} layouts")
        sys.stderr.flush()

    guidance = defaults.GUIDANCE if args.guidance is None else args.guidance
    report = evaluate_paths(engine, path_cases(args.layouts), steps=args.steps, guidance=guidance,
                            aspect=args.aspect, progress=show)
    return _report(report, args.out)


def _report(report: dict, out: str | None) -> int:
    """End the progress line; the whole report to --out, its summary (all but the rows) to stdout."""
    sys.stderr.write("\n")
    if out:
        Path(out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "rows"}))
    return 0
