"""Options and steps shared by every command that writes video (CLI.md contract)."""
from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

from engine.errors import InputError
from engine.pipeline import BUNDLED_MODEL, DTYPES, check_model_folder


def add_output_options(p, default_out: str):
    p.add_argument("--out", default=default_out,
                   help=f"PATH.mp4 (H.264) or PATH/ (PNG sequence); a PATH.json sidecar is written too (default {default_out})")
    p.add_argument("--seed", type=int, default=0, help="same seed and settings give the same frames (default 0)")
    p.add_argument("--steps", type=int, default=24, help="denoising steps (default 24)")
    p.add_argument("--guidance", type=float, default=5.0, help="classifier-free guidance scale (default 5)")
    p.add_argument("--model", default=str(BUNDLED_MODEL), help="model folder (default: the bundled model)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda", "mps"], help="device (default cpu)")
    p.add_argument("--dtype", default="bfloat16", choices=list(DTYPES),
                   help="compute dtype; bfloat16 uses AMX on recent CPUs (default bfloat16)")
    p.add_argument("--fps", type=float, default=24.0,
                   help="delivery frame rate; the model renders 8 fps and interpolation fills in (default 24)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def make_engine(args):
    from engine.service import Engine

    check_model_folder(Path(args.model))
    if args.device != "cpu":
        import torch
        ok = torch.cuda.is_available() if args.device == "cuda" else torch.backends.mps.is_available()
        if not ok:
            raise InputError(f"device {args.device} is not available on this machine; use --device cpu")
    return Engine(args.model, device=args.device, dtype=args.dtype)


def progress_printer(quiet: bool):
    start = time.time()

    def show(fraction: float, stage: str, info=None):
        if not quiet:
            sys.stderr.write(f"\r{stage}: {fraction * 100:5.1f}%  {time.time() - start:6.1f}s")
            sys.stderr.flush()
    return show


def write_result(result, out: str, quiet: bool, extra: dict | None = None) -> str:
    from engine import media

    sidecar = {"settings": result.settings, "fps": result.fps, "frames": int(len(result.frames)),
               "provenance": result.provenance, "cancelled": result.cancelled,
               "render_seconds": round(result.seconds, 2), **(extra or {})}
    path = media.write_output(out, result.frames, result.fps, sidecar=sidecar)
    if not quiet:
        sys.stderr.write("\n")
    print(path)
    return path


def request_fields(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}
