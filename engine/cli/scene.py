"""`python -m engine scene FILE.json`: a multi-shot scene with one cast (format: engine.scenes.scene).

Writes the assembled scene (OUT), every shot as its own file (OUT_shots/shot_NN.mp4), each
with its provenance sidecar and signature, and the continuity report (OUT.continuity.json).
"""
from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from engine.cli.common import add_output_options, check_prompt, make_engine, progress_printer, write_result
from engine.errors import InputError
from engine.families.cli import validate
from engine.scenes.scene import load_scene, render_scene
from engine.video import media


def register(sub):
    p = sub.add_parser("scene", help="a multi-shot scene with a consistent cast, from a JSON scene file")
    p.add_argument("file", help="scene file (JSON): cast, shots with prompt, seconds, camera and transition")
    add_output_options(p, "scene.mp4")
    next(a for a in p._actions if a.dest == "out").help = ("PATH.mp4 (H.264): the scene; its shots go to "
                                                          "PATH_shots/ (default scene.mp4)")
    # the scene file decides these; an option given here overrides it
    p.set_defaults(seed=None, steps=None, guidance=None, fps=None)
    p.add_argument("--retries", type=int, default=None,
                   help="re-render a shot whose cast broke continuity up to N times (default: the file's, else 2)")
    p.add_argument("--strict", action="store_true", help="exit 1 when the continuity check fails")
    p.set_defaults(func=run)


def run(args) -> int:
    from engine.request import GenerateRequest, Result  # deferred: loads torch; kept off the CLI's top (--help)

    scene = load_scene(args.file)
    over = {k: getattr(args, k) for k in ("seed", "steps", "guidance", "fps", "retries") if getattr(args,
                                                                                                    k) is not None}
    if over:
        if "retries" in over and not 0 <= over["retries"] <= 10:
            raise InputError(f"--retries must be from 0 to 10, got {over['retries']}")
        scene = dataclasses.replace(scene, **over)
        if "seed" in over:
            scene.shots = [dataclasses.replace(s, seed=over["seed"] + 1000 * i) for i, s in enumerate(scene.shots)]
    if media.check_output_path(args.out) != "mp4":
        raise InputError(f"--out must end in .mp4 for a scene, got {args.out!r}")
    decisions = []
    for i, shot in enumerate(scene.shots):
        req = GenerateRequest(shot.text, seconds=shot.seconds, fps=scene.fps, aspect=scene.aspect, seed=shot.seed,
                              steps=scene.steps, guidance=scene.guidance)
        try:
            req.validate()
            validate(args.model, req)
        except InputError as e:
            raise InputError(f"{args.file}: shots[{i}]: {e}") from None
        decisions.append(check_prompt(args, shot.text))
    out = Path(args.out)
    shots_dir = out.with_name(out.stem + "_shots")
    engine = make_engine(args)
    result = render_scene(engine, scene, progress_printer(args.quiet))
    if result.cancelled:
        raise InputError("the scene was stopped before it finished; nothing written")
    shots_dir.mkdir(parents=True, exist_ok=True)
    for i, (shot, take) in enumerate(zip(scene.shots, result.shots)):
        write_result(take, str(shots_dir / f"shot_{i + 1:02d}.mp4"), args, decisions[i],
                     extra={"scene": args.file, "shot": i + 1, "cast": shot.members})
    report = result.continuity.to_dict()
    whole = Result(result.frames, result.fps, result.frames[:0], result.settings, [], False, 0.0, result.record)
    for d in decisions:
        whole.record.log_decision(d)
    write_result(whole, args.out, args, None, extra={"continuity": report,
                                                     "shot_files": [str(shots_dir / f"shot_{i + 1:02d}.mp4")
                                                                    for i in range(len(scene.shots))]})
    Path(args.out + ".continuity.json").write_text(json.dumps(report, indent=1))
    print(result.continuity.summary(), file=sys.stderr)
    return 1 if args.strict and not result.continuity.ok else 0
