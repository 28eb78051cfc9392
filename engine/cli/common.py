"""Options and steps shared by every command that writes video (CLI.md contract)."""
from __future__ import annotations

import sys
from pathlib import Path

from engine import defaults
from engine.cli.progress import end_line, progress_printer  # noqa: F401 (the verbs import it from here)
from engine.cli.signing import signer
from engine.errors import InputError
from engine.families import check_model_folder
from engine.families.cli import add_family_options
from engine.provenance import Generation, ProvenanceRecord, load_policy
from engine.provenance import check_prompt as check
from engine.provenance.policy import PromptBlocked
from engine.provenance.publish import publish
from engine.video import media
from engine.world.captioner import unseen_note


def add_sampler_option(p):
    p.add_argument("--sampler", default=defaults.SAMPLER, choices=defaults.SAMPLERS,
                   help="how a guided step asks the model: auto (default): once where the model's guidance-"
                        "distilled transformer is its default, else twice; full: twice (with and without the prompt);"
                        " distilled: once, with a model folder's transformer_guided (python -m engine train --stage "
                        "distill; the bundled model ships none: docs/BENCHMARKS.md), an error for a model without one")


def add_output_options(p, default_out: str, guidance: float = defaults.GUIDANCE):
    p.add_argument("--out", default=default_out,
                   help=f"PATH.mp4 (H.264) or PATH/ (PNG sequence); a PATH.json sidecar is written too (default "
                        f"{default_out})")
    p.add_argument("--seed", type=int, default=0, help="same seed and settings give the same frames (default 0)")
    p.add_argument("--steps", type=int, default=defaults.STEPS, help=f"denoising steps (default {defaults.STEPS})")
    p.add_argument("--guidance", type=float, default=guidance,
                   help=f"classifier-free guidance scale (default {guidance:g})")
    p.add_argument("--model", default=str(defaults.BUNDLED_MODEL), help="model folder (default: the bundled model)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda", "mps"], help="device (default cpu)")
    p.add_argument("--dtype", default="auto", choices=["auto", *defaults.DTYPE_NAMES],
                   help="compute dtype; auto (default): bfloat16 on GPUs and on processors that compute it (AMX, "
                        "AVX-512 BF16), float32 elsewhere, where bfloat16 is emulated and many times slower")
    p.add_argument("--compile", action="store_true",
                   help="run the transformer through torch.compile: about 1.5x faster renders on CPUs after a one-time "
                        "compile of a few minutes per shape, cached on disk (needs a C++ compiler; without one it "
                        "renders as usual and says so)")
    add_sampler_option(p)
    p.add_argument("--fps", type=float, default=24.0,
                   help="delivery frame rate; the model renders 8 fps and interpolation fills in (default 24)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_family_options(p)
    p.add_argument("--config", default=None,
                   help="config folder holding the C2PA signing credentials (default: your user config folder)")
    p.add_argument("--policy", default=None, help="prompt policy file (default: assets/policy/default_policy.toml)")


def check_prompt(args, prompt: str):
    """Screen a prompt against the policy before any work; the decision is kept for the record."""
    decision = check(prompt or "", load_policy(args.policy))
    if not decision.allowed:
        raise PromptBlocked(decision)
    return decision


def note_vocabulary(engine, prompt: str, quiet: bool, prefix: str = "", literal: bool = False) -> None:
    """Tell the user (stderr) how the model reads `prompt` when its prompt reader rewrote it, and
    which words the world model never saw in training."""
    if quiet:
        return
    read_as = engine.model_prompt(prompt, literal)
    if read_as != prompt:
        sys.stderr.write(f"{prefix}read as: {read_as!r} (--literal gives the model your words)\n")
        return
    note = unseen_note(engine.unseen_words(prompt))
    if note:
        sys.stderr.write(prefix + note + "\n")


def make_engine(args, load: bool = True):
    """The engine for --model on --device, with its weights loaded unless `load` is False (a caller that
    may not need the model: `load_model` when it does)."""
    from engine.service import Engine  # deferred: loads torch; kept off the CLI's top (--help)

    check_model_folder(Path(args.model))
    args.signer = signer(args)
    if args.device != "cpu":
        import torch  # deferred: torch is heavy; kept off the CLI's top (--help)
        ok = torch.cuda.is_available() if args.device == "cuda" else torch.backends.mps.is_available()
        if not ok:
            raise InputError(f"device {args.device} is not available on this machine; use --device cpu")
    engine = Engine(args.model, device=args.device, dtype=args.dtype, offload=args.offload,
                    vae_tiling=args.vae_tiling, compile=getattr(args, "compile", False),
                    sampler=getattr(args, "sampler", defaults.SAMPLER))
    return load_model(engine, args) if load else engine


def load_model(engine, args):
    """The engine with its weights loaded now (it would be at the first render anyway), so a broken
    folder is one line."""
    try:
        engine.pipe
        return engine
    except InputError:
        raise
    except (OSError, ValueError, KeyError) as e:  # weights cut short, a config that is not JSON...
        reason = (str(e).strip().splitlines() or [e.__class__.__name__])[0]
        raise InputError(f"model folder {args.model!r} cannot be loaded ({reason[:300]}); copy it again, or use "
                         "the bundled model (leave out --model)") from None


def record_of(result):
    """The result's per-frame record as a ProvenanceRecord (generated end to end when the
    engine gave only its settings)."""
    if getattr(result, "record", None) is not None:  # the engine's per-frame record (engine.service.Result)
        return result.record
    if isinstance(result.provenance, ProvenanceRecord):
        return result.provenance
    s = result.settings
    gen = Generation(model=str(s.get("model")), prompt=str(s.get("prompt")), seed=s.get("seed"),
                     settings={k: s[k] for k in ("steps", "guidance", "negative", "width", "height", "base_fps")
                               if k in s})
    return ProvenanceRecord.generated(len(result.frames), gen, result.fps)


def painted_region(result, args):
    """Where the model painted inpainted frames: the inpaint verb's --mask (inverted with
    --invert) at the frames' size, so the watermark leaves camera pixels alone; None otherwise."""
    if getattr(args, "mask", None) is None or len(result.frames) == 0:
        return None
    from engine.verbs import mask_region  # deferred: loads torch; kept off the CLI's top (--help)

    h, w = result.frames.shape[1:3]
    return mask_region(args.mask, w, h, invert=getattr(args, "invert", False))


def write_result(result, out: str, args, decision=None, extra: dict | None = None, audio_from=None,
                 audio_start: float | None = None) -> str:
    """The write path: watermark what the model made, write atomically with the sidecar,
    sign the MP4 last (any re-encode would strip the manifest). `audio_from`: an input `Video` whose
    sound is carried over from `audio_start` seconds of it (media.write_video)."""
    record = record_of(result)
    if decision is not None:
        record.log_decision(decision)
    kind = media.output_kind(out)
    sidecar = {"settings": result.settings, "fps": result.fps, "frames": int(len(result.frames)),
               "cancelled": result.cancelled, "render_seconds": round(result.seconds, 2), **(extra or {})}
    if audio_from is not None and getattr(audio_from, "has_audio", False) and kind == "mp4":
        sidecar["audio"] = {"from": str(audio_from.source), "start_seconds": round(
            float(audio_from.timestamps[0]) if audio_start is None else audio_start, 6)}
    elif audio_from is not None and audio_from.metadata.get("audio_dropped") and kind == "mp4":
        sidecar["audio"] = {"from": str(audio_from.source), "dropped": audio_from.metadata["audio_dropped"]}
        end_line()
        media.note_dropped_audio(audio_from, args.quiet)
    config = (getattr(args, "signer", None) or signer(args)) if kind == "mp4" else None
    path, _ = publish(out, result.frames, result.fps, record, sidecar, region=painted_region(result, args),
                      signer=config, audio_from=audio_from, audio_start=audio_start)
    end_line()
    print(path)
    return path



# --------------------------------------------------------------------------
# Video verbs (extend, fill, bridge, remix, inpaint): inputs checked before the model loads
# --------------------------------------------------------------------------

def add_literal_option(p, literal: bool = False):
    """--literal, or for verbs that give the model the prompt as written by default (`literal`), --read."""
    if literal:
        p.add_argument("--read", dest="literal", action="store_false",
                       help="give the model the prompt as its prompt reader reads it (this verb gives it as written "
                            "by default: the footage on both sides says what is there)")
        p.set_defaults(literal=True)
        return
    p.add_argument("--literal", action="store_true",
                   help="give the model the prompt as written (by default a world model with a prompt reader is "
                        "given the prompt in its training wording; the sidecar's settings.read_as says how)")


def add_verb_options(p, default_out: str, prompt_help: str = "what the new frames show (optional)",
                     guidance: float = defaults.GUIDANCE, literal: bool = False):
    """The common options; --fps defaults to the input's own rate for verbs that take video."""
    add_output_options(p, default_out, guidance)
    p.set_defaults(fps=None)
    p.add_argument("--prompt", default="", help=prompt_help)
    add_literal_option(p, literal)


def need(value, option: str, what: str):
    """`value`, or an InputError saying `option` is required (one line, exit 2)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InputError(f"{option} is required: {what}")
    return value


def input_budget() -> float:
    """Bytes of decoded frames an input may take: half the memory available now (the verbs make
    copies of the clip as they work), so a clip too long for this machine is refused while it is
    decoded rather than killed by the system halfway through a render."""
    import psutil  # deferred: psutil is heavy; kept off the CLI's top (--help)

    return 0.5 * psutil.virtual_memory().available


def read_input(path, option: str = "--video"):
    """The video at `path` (a file or a folder of frames), or an InputError naming the option."""
    need(path, option, "a video file or a folder of PNG/JPG frames")
    try:
        return media.read_video(path, max_bytes=input_budget())
    except InputError as e:
        raise InputError(f"{option}: {e}") from None


def check_before_work(args, *inputs, prompt: str = "") -> object:
    """Everything about a verb's run that can fail cheaply, before the model loads: sampling
    settings, the prompt policy, the output path (never one of the inputs). Returns the
    policy decision for the record."""
    from engine.request import GenerateRequest  # deferred: loads torch; kept off the CLI's top (--help)

    GenerateRequest(prompt or "edit", steps=args.steps, guidance=args.guidance,
                    fps=24.0 if args.fps is None else args.fps).validate()
    decision = check_prompt(args, prompt)
    media.check_output_path(args.out)
    media.check_not_input(args.out, *inputs)
    return decision


def finish(result, args, decision, extra: dict | None = None, audio_from=None, audio_start=None) -> int:
    """Retime to --fps when one was given (the clip's length, hence its sound, stays), then the
    common write path."""
    if args.fps is not None and abs(args.fps - result.fps) > 1e-6:
        from engine.verbs import retime  # deferred: loads torch; kept off the CLI's top (--help)

        result = retime(result, args.fps)
    if result.settings.get("tracks"):  # which path a verb took: the footage's tracks (verbs through layouts)
        sys.stderr.write(result.settings["tracks"] + "\n")
    write_result(result, args.out, args, decision, extra, audio_from=audio_from, audio_start=audio_start)
    return 0
