"""`python -m engine train`: reproduce the bundled model from scratch (resumable)."""
from pathlib import Path

from engine.errors import InputError


def register(sub):
    p = sub.add_parser("train", help="train the bundled world model (resumable; recipe in docs/TRAINING.md)")
    p.add_argument("--run", default="runs/main", help="run folder for checkpoints and caches (default runs/main)")
    p.add_argument("--minutes", type=float, default=120.0, help="wall-time budget of this run (default 120)")
    p.add_argument("--resume-from", default=None,
                   help="start the transformer from this model folder (e.g. assets/models/tenku-world)")
    p.add_argument("--out", default="assets/models/tenku-world", help="model folder to export to at the end")
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile (slower steps, no warm-up)")
    p.add_argument("--device", default="cpu",
                   help="cpu (the recipe's machine, default) or cuda: the same stages on a GPU, to try recipes fast")
    p.add_argument("--recipe", default="s2-rich",
                   help="which lineage's recipe (docs/TRAINING.md): s2-rich (default), layout (plan, then render) or "
                        "xs "
                        "(the first lineage's)")
    p.add_argument("--stage", choices=["all", "export", "reader", "distill", "decoder"], default="all",
                   help="all (default); export: the run's checkpoints to --out; reader: train only the prompt "
                        "reader (minutes) into the run folder and add it to the model folder --out; distill: "
                        "train the guidance-distilled transformer of the model folder --out (one model call a "
                        "sampling step) on the run's cached clips of the layout recipe, and add it to --out; "
                        "decoder: tune the VAE decoder of the model folder --out as the recipe says (encoder and "
                        "transformer unchanged; resumable) and write it into --out once its steps are done")
    p.set_defaults(func=run)


def run(args) -> int:
    from engine.training import train  # deferred: loads torch; kept off the CLI's top (--help)

    if args.minutes <= 0:
        raise InputError(f"--minutes must be positive, got {args.minutes}")
    if args.recipe not in train.RECIPES:
        raise InputError(f"unknown --recipe {args.recipe!r}; choose one of {', '.join(train.RECIPES)}")
    recipe = train.RECIPES[args.recipe]
    run_dir, out = Path(args.run), Path(args.out)
    if args.stage == "export":
        if not (run_dir / "dit.pt").exists():
            raise InputError(f"{run_dir} holds no transformer checkpoint (dit.pt) to export")
        train.export(run_dir, out, recipe)
        return 0
    if args.stage == "reader":
        if not (out / "model_index.json").exists():
            raise InputError(f"--out {out} is not a model folder (no model_index.json) to add a reader to")
        train.train_reader_stage(run_dir, recipe)
        train.export_reader(run_dir / "reader", out, recipe)
        return 0
    if args.stage == "distill":
        from engine.training import distill  # deferred: loads torch; kept off the CLI's top (--help)

        if not (out / "model_index.json").exists():
            raise InputError(f"--out {out} is not a model folder (no model_index.json) to distil")
        if not list((run_dir / "data").glob("shard_*.pt")):
            raise InputError(f"{run_dir} holds no cached clips (data/shard_*.pt); make them first with "
                             f"`python -m engine train --recipe layout --run {run_dir}`")
        distill.distill_guidance(run_dir, out, args.minutes)
        distill.export_guided(run_dir, out)
        return 0
    if args.stage == "decoder":
        if not (out / "model_index.json").exists():
            raise InputError(f"--out {out} is not a model folder (no model_index.json) to tune the decoder of")
        try:
            done = train.decoder_stage(run_dir, out, args.minutes, recipe)
        except ValueError as e:
            raise InputError(f"--recipe {args.recipe}: {e}") from None
        if done:
            train.export_decoder(run_dir, out, recipe)
        else:
            print(f"the decoder stage stopped before its {recipe['vae_decoder_steps']} steps; run the same command "
                  f"again to go on from {run_dir}")
        return 0
    resume = Path(args.resume_from) if args.resume_from else None
    if resume is not None and not (resume / "model_index.json").exists():
        raise InputError(f"--resume-from {resume} is not a model folder (no model_index.json)")
    try:
        device = train.check_device(args.device)
    except ValueError as e:
        raise InputError(str(e)) from None
    train.train_all(run_dir, args.minutes, resume_from=resume, out=out, compile=not args.no_compile, device=device,
                    recipe=recipe)
    return 0
