"""`python -m engine bench`: speed and memory figures as JSON (docs/BENCHMARKS.md)."""
from __future__ import annotations

import json
from pathlib import Path

from engine.pipeline import BUNDLED_MODEL


def register(sub):
    p = sub.add_parser("bench", help="speed and memory figures as JSON")
    p.add_argument("--model", default=str(BUNDLED_MODEL), help="model folder (default: the bundled model)")
    p.add_argument("--repeats", type=int, default=3, help="timed clips (default 3)")
    p.add_argument("--seconds", type=float, default=2.0, help="clip length (default 2)")
    p.add_argument("--fps", type=float, default=24.0, help="delivery rate (default 24)")
    p.add_argument("--steps", type=int, default=24, help="denoising steps (default 24)")
    p.add_argument("--dtype", default="bfloat16", choices=["float32", "bfloat16"])
    p.set_defaults(func=run)


def run(args) -> int:
    from engine.bench import run_bench
    from engine.pipeline import check_model_folder
    from engine.service import Engine

    check_model_folder(Path(args.model))
    engine = Engine(args.model, dtype=args.dtype)
    print(json.dumps(run_bench(engine, repeats=args.repeats, seconds=args.seconds, fps=args.fps,
                               steps=args.steps), indent=1))
    return 0
