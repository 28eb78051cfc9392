"""`python -m engine generate`: text to video, one prompt or a JSONL batch (model loaded once)."""
from __future__ import annotations

import json
import sys

from engine.cli.common import add_output_options, check_prompt, make_engine, progress_printer, write_result
from engine.errors import InputError
from engine.families.cli import show_preflight, validate


def register(sub):
    p = sub.add_parser("generate", help="text to video")
    p.add_argument("--prompt", help="what the shot shows")
    p.add_argument("--negative", default="", help="what to steer away from")
    p.add_argument("--seconds", type=float, default=None, help="duration (default 2)")
    p.add_argument("--frames", type=int, default=None, help="number of frames at the delivery rate (instead of --seconds)")
    p.add_argument("--aspect", default="1:1", help="1:1, 16:9 or 9:16 (default 1:1)")
    p.add_argument("--width", type=int, default=None, help="custom width, multiple of 16 (with --height)")
    p.add_argument("--height", type=int, default=None, help="custom height, multiple of 16 (with --width)")
    p.add_argument("--loop", action="store_true", help="make the end flow back into the start")
    p.add_argument("--batch", default=None, help="FILE.jsonl: one job per line with the same keys as the options")
    add_output_options(p, "tenku.mp4")
    p.set_defaults(func=run)


KEYS = {"prompt", "negative", "seconds", "frames", "aspect", "width", "height", "loop", "seed", "steps",
        "guidance", "fps", "out"}


def request_from(d: dict):
    from engine.service import GenerateRequest

    fields = {k: d[k] for k in ("prompt", "negative", "seconds", "frames", "aspect", "width", "height",
                                "seed", "steps", "guidance", "fps", "loop") if d.get(k) is not None}
    return GenerateRequest(**fields)


def run(args) -> int:
    from engine import media

    if args.batch:
        return run_batch(args)
    if args.seconds is not None and args.frames is not None:
        raise InputError("give --seconds or --frames, not both")
    req = request_from(vars(args))
    validate(args.model, req)
    decision = check_prompt(args, req.prompt)
    media.check_output_path(args.out)
    engine = make_engine(args)
    show_preflight(args, req)
    result = engine.generate(req, progress_printer(args.quiet))
    write_result(result, args.out, args, decision)
    return 0


def run_batch(args) -> int:
    from engine import media

    try:
        lines = open(args.batch, encoding="utf-8").read().splitlines()
    except OSError as e:
        raise InputError(f"cannot read batch file {args.batch}: {e.strerror}") from None
    jobs, failures = [], []
    defaults = {k: v for k, v in vars(args).items() if k in KEYS and k not in ("prompt", "out")}
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            if not isinstance(d, dict):
                raise InputError("a line must be a JSON object")
            unknown = set(d) - KEYS
            if unknown:
                raise InputError(f"unknown keys {sorted(unknown)}; allowed: {sorted(KEYS)}")
            d = {**defaults, **d}
            d.setdefault("out", f"batch-{n:03d}.mp4")
            req = request_from(d)
            req.validate()
            decision = check_prompt(args, req.prompt)
            media.check_output_path(d["out"])
            jobs.append((n, req, d["out"], decision))
        except json.JSONDecodeError as e:
            failures.append(f"line {n}: not valid JSON ({e.msg} at column {e.colno})")
        except (InputError, TypeError) as e:
            failures.append(f"line {n}: {e}")
    if jobs:
        engine = make_engine(args)
        for n, req, out, decision in jobs:
            try:
                result = engine.generate(req, progress_printer(args.quiet))
                write_result(result, out, args, decision)
            except InputError as e:
                failures.append(f"line {n}: {e}")
    for f in failures:
        print(f"error: {f}", file=sys.stderr)
    if not jobs and not failures:
        raise InputError(f"batch file {args.batch} has no jobs")
    return 2 if failures else 0
