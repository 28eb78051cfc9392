"""What the command line needs from the families, without loading any weights: the device and
memory options, request checks against the folder's family, and the pre-flight estimate."""
from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from engine.families import family_class, family_of, seam
from engine.families.estimate import estimate


def add_family_options(p) -> None:
    p.add_argument("--offload", action="store_true",
                   help="keep models on the CPU and move each to the device only while it works (smaller GPUs)")
    p.add_argument("--vae-tiling", action="store_true",
                   help="decode frames in tiles (less memory for large sizes)")


def spec(path):
    """A family adapter that knows its geometry from the folder's configs but holds no weights."""
    path = Path(path)
    family = family_of(path)
    cls = family_class(family)
    obj = cls.__new__(cls)
    vae = json.loads((path / "vae" / "config.json").read_text())
    if family == "ltx":
        scaling = sum(vae.get("spatio_temporal_scaling", (True, True, True, False)))
        obj.temporal_ratio = vae.get("patch_size_t", 1) * 2 ** scaling
    elif family == "wan":
        obj.temporal_ratio = vae.get("scale_factor_temporal", 4)
        patch = json.loads((path / "transformer" / "config.json").read_text()).get("patch_size", (1, 2, 2))
        obj.size_multiple = vae.get("scale_factor_spatial", 8) * patch[1]
    return obj


def validate(path, req) -> tuple[int, int, int] | None:
    """InputError for a request the folder's family cannot render, before loading anything.
    Returns (width, height, frames) for LTX / Wan; None for the bundled model (its own rules)."""
    if family_of(path) == "world":
        req.validate()
        return None
    return spec(path).check_request(req)


def preflight(path, req, device: str = "cpu", dtype: str = "bfloat16", offload: bool = False,
              vae_tiling: bool = False):
    geometry = validate(path, req)
    if geometry is None:  # the bundled model renders sliding windows of 17 frames at 8 fps
        width, height = req.canvas()
        frames = 17
    else:
        width, height, frames = geometry
    e = estimate(path, width=width, height=height, frames=frames, steps=req.steps, guidance=req.guidance,
                 device=device, dtype=dtype, offload=offload, vae_tiling=vae_tiling)
    if geometry is not None and req.loop:  # a loop renders its seam window too (smaller than the clip)
        fam = spec(path)
        fps = fam.render_fps(req)
        L = seam.seam_geometry(seam.loop_period(req, fps, fam.temporal_ratio), fps, fam.temporal_ratio)[0]
        w = estimate(path, width=width, height=height, frames=L, steps=req.steps, guidance=req.guidance,
                     device=device, dtype=dtype, offload=offload, vae_tiling=vae_tiling, tflops=e.tflops)
        e = dataclasses.replace(e, seconds=e.seconds + w.seconds, steps_seconds=e.steps_seconds + w.steps_seconds)
    return e


def show_preflight(args, req) -> None:
    """Print the estimate on stderr before rendering (never blocks a render if it fails)."""
    if getattr(args, "quiet", False):
        return
    try:
        e = preflight(args.model, req, args.device, args.dtype, getattr(args, "offload", False),
                      getattr(args, "vae_tiling", False))
    except (OSError, ValueError, KeyError, RuntimeError) as err:  # InputError is a ValueError: raised earlier
        print(f"estimate: unavailable ({err})", file=sys.stderr)
        return
    print(e.describe(), file=sys.stderr)
