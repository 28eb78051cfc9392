"""`python -m engine bench`: speed and memory figures as JSON (docs/BENCHMARKS.md)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from engine import defaults
from engine.bench import long as bench_long
from engine.bench.beside import run_beside
from engine.bench.footage import footage_benchmark
from engine.bench.interp import run_benchmark
from engine.bench.records import record_benchmark
from engine.bench.watermark import watermark_benchmark
from engine.defaults import BUNDLED_MODEL
from engine.errors import InputError
from engine.families import check_model_folder

# What `bench` measures instead of the default speed figures, and the switches that change a measurement:
# flag -> its help (each is a store_true flag).
FLAGS = {
    "compile": "the default speed figures with the transformer through torch.compile (after a warm-up that "
               "compiles, or loads the compiled graph from the disk cache)",
    "profile": "where one render's time goes: torch.profiler's operators with the most self CPU time (with "
               "--compile: the compiled render's)",
    "beside": "renders alone and beside a program that keeps one core busy, for 2 threads, 1 thread and the "
              "studio's automatic team (--repeats clips a measure, two rounds; about 6 minutes)",
    "interp": "frame interpolation instead: PSNR on the real triplets against minterpolate and the frame average, "
              "and frames/s at 640x480 (about 3 minutes)",
    "watermark": "watermark instead: detection on --clips takes made by --model (2 s, 8-12 fps, 12 steps) after "
                 "re-encodes, false detections on real footage, cost against render time (about 4 minutes on one "
                 "CPU core)",
    "long": "long takes instead: 60 s takes with and without the anchor (presence, background drift, time), peak "
            "memory at 10 s vs 60 s (about 15 minutes)",
    "records": "provenance records instead: the record of a 10, 60 and 600 s take with a 2,000-character prompt, "
               "its size (and the old form's), signed and verified (under a minute, no model)",
    "scene": "scenes instead: four-shot scenes with two-member casts over --seeds seeds, continuity pass rate, and "
             "whether a recoloured cast member is flagged",
    "no-references": "--scene without references: every shot from its description alone",
    "no-keyframes": "--scene with a reference still at frame 0 only, no keyframes where the words move the cast",
    "no-plan": "--scene without planning the shots that hold references (the references pasted across the middle, "
               "keyframes where the words move the cast: the behaviour before session 24)",
    "footage": "the world-footage detector instead: world shares of world renders, of clips --model makes and of "
               "every real clip and frame, against the threshold fill uses (about 6 minutes with --dtype float32)",
    "train": "training speed instead: seconds per training step of --preset at --batch on 1:1 clips, with the "
             "CPU's plain attention and the fused kernel side by side (about 5 minutes with compilation)",
    "no-compile": "--train without torch.compile",
}

# Numbers a measurement takes: flag -> (type, default, help; the default is added to the help).
NUMBERS = {
    "repeats": (int, 3, "timed clips"),
    "seconds": (float, 2.0, "clip length"),
    "fps": (float, 24.0, "delivery rate"),
    "steps": (int, defaults.STEPS, "denoising steps"),
    "batch": (int, 32, "batch for --train"),
    "seeds": (int, 10, "scenes for --scene"),
    "first-seed": (int, 0, "--scene: the first of the --seeds scenes (e.g. 10 for ten scenes not tuned on)"),
    "clips": (int, 40, "takes for --watermark"),
}


def register(sub):
    p = sub.add_parser("bench", help="speed and memory figures as JSON")
    p.add_argument("--model", default=str(BUNDLED_MODEL), help="model folder (default: the bundled model)")
    for flag, (kind, default, text) in NUMBERS.items():
        p.add_argument(f"--{flag}", type=kind, default=default, help=f"{text} (default {default:g})")
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16"],
                   help="auto (default): bfloat16 where the processor computes it, else float32")
    p.add_argument("--compare", default=None, metavar="SETTINGS",
                   help="speed of several sampler settings side by side in one run: comma-separated "
                        "DTYPE[+compile][+full]:STEPS[:GUIDANCE] (e.g. float32:24,float32+full:24,bfloat16:24,"
                        "float32:12:1; +full: two model calls a guided step where the model has a distilled "
                        "sampler); renders --repeats rounds of one clip per setting in turn")
    for flag, text in FLAGS.items():
        p.add_argument(f"--{flag}", action="store_true", help=text)
    p.add_argument("--families", nargs=argparse.REMAINDER, default=None, metavar="OPTION",
                   help="the model families instead: our loop against the diffusers pipelines on tiny random-weight "
                        "LTX-Video and Wan models, speed and largest frame difference (no download; a few minutes); "
                        "its own options follow it: --family ltx|ltx-t2v|wan|all, --repeats (5), --steps (8), "
                        "--width, --height, --frames")
    p.add_argument("--preset", default="S2", help="transformer preset for --train (default S2)")
    p.add_argument("--retries", type=int, default=None,
                   help="re-renders a shot may have for --scene (default: a scene file's default, 2)")
    p.add_argument("--guidance", type=float, default=None,
                   help=f"guidance for --scene (default: a scene file's default, {defaults.GUIDANCE:g})")
    p.add_argument("--report", default=None,
                   help="--watermark, --long, --scene, --records, --footage, --beside: also write the full report "
                        "(JSON) here")
    p.add_argument("--data", default=None,
                   help="real footage folder for --interp/--watermark/--footage "
                        f"(default ${defaults.REAL_FOOTAGE_VARIABLE}, else ../shared/data/real)")
    p.set_defaults(func=run)


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def report(args, result: dict, shown: dict) -> int:
    """Write the full `result` to --report when one is named; print `shown`."""
    if args.report:
        Path(args.report).write_text(json.dumps(result, indent=1))
    print(json.dumps(shown, indent=1))
    return 0


def run(args) -> int:
    if args.families is not None:
        from engine.bench.families import main  # deferred: loads torch; kept off the CLI's top (--help)

        return main(args.families)
    data = Path(args.data) if args.data else defaults.real_footage(os.environ.get(defaults.REAL_FOOTAGE_VARIABLE))
    if args.interp:
        print(json.dumps(run_benchmark(data), indent=1))
        return 0
    if args.footage:
        check_model_folder(Path(args.model))
        result = footage_benchmark(data, args.model, steps=args.steps, dtype=args.dtype,
                                   log=log)
        return report(args, result, result["summary"])
    if args.train:
        from engine.bench.speed import train_speed  # deferred: loads torch; kept off the CLI's top (--help)
        from engine.models.dit import PRESETS  # deferred: loads diffusers; kept off the CLI's top (--help)

        if args.preset not in PRESETS:
            raise InputError(f"--preset {args.preset!r} is not a transformer preset; allowed: {', '.join(PRESETS)}")
        if not 1 <= args.batch <= 256:
            raise InputError(f"--batch must be between 1 and 256, got {args.batch}")
        print(json.dumps(train_speed(args.preset, args.batch, compile=not args.no_compile, log=log), indent=1))
        return 0
    if args.records:
        result = record_benchmark(log=log)
        return report(args, result, result["summary"])
    if args.long or args.scene:
        if args.long:
            result = bench_long.long_benchmark(args.model, seconds=60.0, fps=args.fps, steps=args.steps, log=log)
        else:
            if args.retries is not None and not 0 <= args.retries <= 10:  # checked before the model loads
                raise InputError(f"--retries must be from 0 to 10, got {args.retries}")
            if args.guidance is not None and not 0 <= args.guidance <= 30:
                raise InputError(f"--guidance must be from 0 to 30, got {args.guidance:g}")
            if not 1 <= args.seeds <= 1000 or not 0 <= args.first_seed <= 10 ** 6:
                raise InputError(f"--seeds must be from 1 to 1000 and --first-seed from 0 to 1000000, "
                                 f"got {args.seeds} and {args.first_seed}")
            result = bench_long.scene_benchmark(args.model, seeds=args.seeds, steps=args.steps, log=log,
                                                references=not args.no_references, retries=args.retries,
                                                guidance=args.guidance, keyframes=not args.no_keyframes,
                                                first_seed=args.first_seed, plan=not args.no_plan)
        return report(args, result, result["summary"])
    if args.watermark:
        result = watermark_benchmark(args.clips, 0, str(data), model=args.model, steps=12, seconds=2.0,
                                     dtype=args.dtype, null_keys=200, limits_subset=15,
                                     log=log)
        return report(args, result, result["summary"])
    # deferred: loads torch; kept off the CLI's top (--help)
    from engine.bench.speed import compare_settings, parse_settings, run_bench
    from engine.service import Engine

    if args.beside:
        check_model_folder(Path(args.model))
        result = run_beside(args.model, repeats=args.repeats, seconds=args.seconds, log=log)
        return report(args, result, {k: v for k, v in result.items() if k != "walls"})
    if args.compare is not None:
        settings = parse_settings(args.compare)  # checked before the model loads
        check_model_folder(Path(args.model))
        print(json.dumps(compare_settings(args.model, settings, repeats=args.repeats, seconds=args.seconds,
                                          fps=args.fps, log=log), indent=1))
        return 0
    check_model_folder(Path(args.model))
    engine = Engine(args.model, dtype=args.dtype, compile=args.compile)
    if args.profile:
        from engine.bench.speed import profile_render  # deferred: loads torch; kept off the CLI's top (--help)

        print(json.dumps(profile_render(engine, seconds=args.seconds, fps=args.fps, steps=args.steps), indent=1))
        return 0
    print(json.dumps(run_bench(engine, repeats=args.repeats, seconds=args.seconds, fps=args.fps,
                               steps=args.steps), indent=1))
    return 0
