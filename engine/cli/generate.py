"""`python -m engine generate`: text to video, one prompt or a JSONL batch (model loaded once)."""
from __future__ import annotations

import json
import os
import sys

import numpy as np

from engine import provenance
from engine.cli.common import (
    add_literal_option,
    add_output_options,
    check_prompt,
    make_engine,
    note_vocabulary,
    progress_printer,
    write_result,
)
from engine.cli.progress import end_line, say
from engine.datafiles import parse_json, read_bytes, read_json
from engine.errors import InputError
from engine.families import family_of
from engine.families.cli import show_preflight, validate
from engine.layout import Layout
from engine.layout.planner import draw
from engine.video import media


def register(sub):
    p = sub.add_parser("generate", help="text to video")
    p.add_argument("--prompt", help="what the shot shows")
    p.add_argument("--negative", default="", help="what to steer away from")
    p.add_argument("--seconds", type=float, default=None, help="duration (default 2)")
    p.add_argument("--frames", type=int, default=None,
                   help="number of frames at the delivery rate (instead of --seconds)")
    p.add_argument("--aspect", default=None, help="1:1, 16:9 or 9:16 (default 1:1; or --width and --height)")
    p.add_argument("--width", type=int, default=None, help="custom width, multiple of 16 (with --height)")
    p.add_argument("--height", type=int, default=None, help="custom height, multiple of 16 (with --width)")
    p.add_argument("--loop", action="store_true", help="make the end flow back into the start")
    add_literal_option(p)
    p.add_argument("--batch", default=None, help="FILE.jsonl (UTF-8): one job per line with the same keys as the "
                                                 "options; each line its own out (default batch-NNN.mp4)")
    p.add_argument("--restart", action="store_true",
                   help="start over instead of resuming an unfinished render of --out (OUT.render/)")
    p.add_argument("--layout", default=None,
                   help="FILE.json: render this layout (objects' paths, background, pillar, camera; docs/LAYOUTS.md), "
                        "with or without a prompt (bundled model only)")
    p.add_argument("--plan-only", action="store_true",
                   help="write the planned layout (OUT.layout.json) and its animatic (--out: boxes over the "
                        "background) at once, without rendering")
    p.add_argument("--no-plan", action="store_true",
                   help="the text-only path: render from the prompt alone, no layout planned")
    p.add_argument("--no-anchor", action="store_true",
                   help="takes longer than one window: do not hold the first frame in later windows (anchor against "
                        "drift)")
    add_output_options(p, "tenku.mp4")
    p.set_defaults(func=run)


KEYS = {"prompt", "negative", "seconds", "frames", "aspect", "width", "height", "loop", "seed", "steps",
        "guidance", "fps", "out", "literal", "layout", "plan"}


# What each batch key holds, and what a line is told when it holds something else.
KEY_TYPES = {"prompt": ((str,), "text"), "negative": ((str,), "text"), "aspect": ((str,), "text"),
             "out": ((str,), "a path"), "seconds": ((int, float), "a number"), "guidance": ((int, float), "a number"),
             "fps": ((int, float), "a number"), "frames": ((int,), "a whole number"),
             "width": ((int,), "a whole number"), "height": ((int,), "a whole number"),
             "seed": ((int,), "a whole number"), "steps": ((int,), "a whole number"),
             "loop": ((bool,), "true or false"), "literal": ((bool,), "true or false"),
             "layout": ((str,), "a path to a layout file"), "plan": ((bool,), "true or false")}


def check_types(d: dict) -> None:
    """A batch line's values are JSON of the kinds the options take (`"seconds": "two"` is named, not a
    traceback); null means the option's default. JSON's true is not a number here, though Python's is."""
    for k, v in d.items():
        kinds, what = KEY_TYPES[k]
        if v is not None and (not isinstance(v, kinds) or isinstance(v, bool) and bool not in kinds):
            raise InputError(f"{k!r} must be {what}, got {json.dumps(v)}")


def request_from(d: dict):
    from engine.request import GenerateRequest  # deferred: loads torch; kept off the CLI's top (--help)

    fields = {k: d[k] for k in ("prompt", "negative", "seconds", "frames", "aspect", "width", "height",
                                "seed", "steps", "guidance", "fps", "loop", "literal") if d.get(k) is not None}
    if "aspect" in fields and ("width" in fields or "height" in fields):
        raise InputError("give an aspect or a width and height, not both (the size decides the aspect)")
    fields.setdefault("prompt", "")
    if d.get("no_plan") or d.get("plan") is False:
        fields["plan"] = False
    if d.get("layout") is not None:
        if fields.get("plan") is False:
            raise InputError("give --layout or --no-plan, not both")
        fields["layout"] = read_layout(d["layout"])
        if "seconds" not in fields and "frames" not in fields:
            fields["seconds"] = max(fields["layout"].seconds, 0.25)  # the layout's own length
    return GenerateRequest(**fields)


def read_layout(path: str):
    """A layout file (engine.layout's JSON form), bounded (engine.datafiles) and every field checked."""
    return Layout.from_dict(read_json(path, "layout file"), where=f"layout file {path!r}")


def run(args) -> int:
    if args.batch:
        return run_batch(args)
    if args.seconds is not None and args.frames is not None:
        raise InputError("give --seconds or --frames, not both")
    if args.plan_only and args.no_plan:
        raise InputError("give --plan-only or --no-plan, not both")
    req = request_from(vars(args))
    if (req.layout is not None or args.plan_only) and family_of(args.model) != "world":
        raise InputError(f"{args.model} is a {family_of(args.model).upper()} model, which has no layout input; "
                         "--layout and --plan-only need the bundled model (leave them out to render the prompt)")
    validate(args.model, req)
    decision = check_prompt(args, req.prompt)
    media.check_output_path(args.out)
    engine = make_engine(args)
    if args.plan_only:
        return write_plan(engine, req, args)
    show_preflight(args, req)
    note_vocabulary(engine, req.prompt, args.quiet, literal=req.literal)
    show_plan(engine, req, args.quiet)
    from engine import longtake  # deferred: loads torch; kept off the CLI's top (--help)

    if media.output_kind(args.out) == "mp4" and longtake.streamable(engine, req):
        return write_take(engine, req, args, decision)
    result = engine.generate(req, progress_printer(args.quiet), anchor=not args.no_anchor)
    write_result(result, args.out, args, decision)
    return 0


def show_plan(engine, req, quiet: bool) -> None:
    """Say on stderr what layout the take renders: planned from the prompt, given, or none."""
    if quiet:
        return
    layout = engine.layout(req)
    if layout is not None:
        how = "layout" if req.layout is not None else "planned"
        sys.stderr.write(f"{how}: {layout.describe()}\n")
    elif engine.takes_layout and req.plan is not False and not req.loop:
        sys.stderr.write("planned: nothing (the prompt names no object to place); rendering from the prompt alone\n")


def write_plan(engine, req, args) -> int:
    """--plan-only: the layout as JSON beside --out and its animatic at --out, no model run."""
    from engine.request import BASE_FPS  # deferred: loads torch; kept off the CLI's top (--help)

    req.validate()
    req.plan = True
    layout = req.layout or engine.plan(req)
    w, h = req.canvas()
    n = req.delivered()
    frames = draw(layout, w, h, np.arange(n) / req.fps, seed=req.seed, boxes_only=True)
    path = args.out + ".layout.json" if not args.out.endswith("/") else args.out.rstrip("/") + ".layout.json"
    tmp = path + ".part"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(layout.to_dict(), f, indent=1)
        f.write("\n")
    media.write_video(args.out, frames, req.fps)
    os.replace(tmp, path)
    if not args.quiet:
        sys.stderr.write(f"planned: {layout.describe()}\nwrote the layout to {path} and its animatic to {args.out} "
                         f"({n} frames; the model renders at {BASE_FPS:g} fps)\n")
    return 0


def write_take(engine, req, args, decision) -> int:
    """An MP4 take, streamed window by window into OUT.partial.mp4 (playable while it grows) and
    resumable from OUT.render/ after a crash or Ctrl-C; signed before it takes OUT's place, then the sidecar."""
    from engine import longtake  # deferred: loads torch; kept off the CLI's top (--help)

    ckpt = longtake.checkpoint_dir(args.out)
    if ckpt.exists() and not args.restart and not args.quiet:
        sys.stderr.write(f"resuming the unfinished render in {ckpt}\n")

    def on_window(done, total, partial):
        if not args.quiet and total > 1:
            say(f"window {done}/{total} written to {partial}")

    def seal(path, record):
        if decision is not None:
            record.log_decision(decision)
        # looked up when it signs: the package's name is the one tests patch
        provenance.sign_mp4(path, record, args.signer, title=os.path.basename(args.out))

    try:
        take = longtake.render_take(engine, req, args.out, progress_printer(args.quiet), on_window=on_window,
                                    resume=not args.restart, anchor=not args.no_anchor, seal=seal)
    except KeyboardInterrupt:
        end_line()
        sys.stderr.write(f"interrupted; the finished windows are kept in {ckpt}: run the same command "
                         f"again to resume\n")
        return 130
    sidecar = {"settings": take.settings, "fps": take.fps, "frames": take.frames,
               "provenance": take.record.to_dict(), "cancelled": take.cancelled,
               "render_seconds": round(take.seconds, 2), "resumed_from_window": take.resumed_from}
    json_path = args.out + ".json"
    tmp = json_path + ".part"
    with open(tmp, "w") as fh:
        fh.write(media._sidecar_text(sidecar))
    os.replace(tmp, json_path)
    end_line()
    print(args.out)
    return 0


def batch_lines(path) -> list[tuple[int, str | None]]:
    """(line number, text) for each line of a JSONL file; text is None where the line is not UTF-8 (that line
    fails, the others still render). A byte-order mark before the first line is not part of it."""
    data = read_bytes(path, "batch file")
    out = []
    for n, raw in enumerate(data.removeprefix(b"\xef\xbb\xbf").split(b"\n"), 1):
        try:
            out.append((n, raw.decode("utf-8").rstrip("\r")))
        except UnicodeDecodeError:
            out.append((n, None))
    return out


def run_batch(args) -> int:
    jobs, failures, outs = [], [], {}
    defaults = {k: v for k, v in vars(args).items() if k in KEYS and k not in ("prompt", "out")}
    for n, line in batch_lines(args.batch):
        if line is None:
            failures.append((n, "not UTF-8 text; save the batch file as UTF-8"))
            continue
        if not line.strip():
            continue
        try:
            d = parse_json(line, "batch file")  # errors say what is wrong; the line number is added below
            if not isinstance(d, dict):
                raise InputError("a line must be a JSON object")
            unknown = set(d) - KEYS
            if unknown:
                raise InputError(f"unknown keys {sorted(unknown)}; allowed: {sorted(KEYS)}")
            check_types(d)
            d = {**defaults, **{k: v for k, v in d.items() if v is not None}}
            d.setdefault("out", f"batch-{n:03d}.mp4")
            req = request_from(d)
            req.validate()
            decision = check_prompt(args, req.prompt)
            media.check_output_path(d["out"])
            same = outs.setdefault(os.path.abspath(d["out"]), n)
            if same != n:
                raise InputError(f"out {d['out']!r} is line {same}'s output too; give each line its own out")
            jobs.append((n, req, d["out"], decision))
        except InputError as e:
            failures.append((n, str(e)))
    if jobs:
        engine = make_engine(args)
        for n, req, out, decision in jobs:
            try:
                note_vocabulary(engine, req.prompt, args.quiet, prefix=f"line {n}: ", literal=req.literal)
                result = engine.generate(req, progress_printer(args.quiet))
                write_result(result, out, args, decision)
            except InputError as e:
                failures.append((n, str(e)))
            except OSError as e:  # a full disk or a folder gone since: this line fails, the next may not
                failures.append((n, f"could not write {out}: {e.strerror or e}"))
    for n, f in sorted(failures):
        print(f"error: line {n}: {f}", file=sys.stderr)
    if not jobs and not failures:
        raise InputError(f"batch file {args.batch} has no jobs")
    return 2 if failures else 0
