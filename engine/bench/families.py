"""Speed and parity of the engine's loop against the diffusers reference, in one run.

    python -m engine bench --families [--family ltx|ltx-t2v|wan|all] [--repeats 5] [--steps 8]

(its options follow --families; `python -m engine.bench.families` with the same options runs the same `main`).

Builds tiny random-weight pipelines offline (engine.families.tiny), loads each folder twice (the
diffusers pipeline, and our family through `load_family`), renders the same request with both,
interleaved, after one warm-up each, and prints JSON: seconds per render (prompt encoding,
denoising and decoding, both sides) and to latents only (prompt, latents and the denoising loop:
`output_type="latent"` against our stages 1-6), the ratios ours / reference (below 1 = we are
faster) on the least process CPU time of the repeats (robust to other load on the machine) and
on the median wall time, and the largest frame difference in 8-bit levels. Run it with
OMP_NUM_THREADS=1 for stable figures on a shared machine.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import torch

from engine.families import load_family
from engine.families.tiny import build_ltx, build_wan

CASES = {"ltx": ("LTXConditionPipeline", "image"), "ltx-t2v": ("LTXPipeline", None), "wan": ("WanPipeline", None)}


def _quiet():
    import diffusers  # deferred: diffusers and transformers are heavy; this module imports without it
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.set_verbosity_error()


def bench_case(case: str, folder, *, width=64, height=64, frames=17, steps=8, guidance=3.0, repeats=5,
               seed=0) -> dict:
    import diffusers  # deferred: diffusers and Pillow are heavy; this module imports without it
    from PIL import Image

    from engine.request import GenerateRequest  # deferred: loads Pillow; this module imports without it
    from engine.sampling.conditioning import ImageCondition

    cls_name, cond = CASES[case]
    pipe = getattr(diffusers, cls_name).from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    fam = load_family(folder)
    fps = fam.native_fps or 24.0
    image = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    kwargs = dict(prompt="a red ball rolls to the right", negative_prompt="", height=height, width=width,
                  num_frames=frames, num_inference_steps=steps, guidance_scale=guidance, output_type="np")
    if cls_name.startswith("LTX"):
        kwargs["frame_rate"] = fps
    if cond == "image":
        # deferred: diffusers is heavy; this module imports without it
        from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition
        kwargs["conditions"] = [LTXVideoCondition(image=Image.fromarray(image), frame_index=0)]
    req = GenerateRequest(prompt=kwargs["prompt"], frames=frames, fps=fps, width=width, height=height, steps=steps,
                          guidance=guidance, seed=seed,
                          conditions=[ImageCondition(image, 0)] if cond == "image" else [])
    def ref(latent=False):
        out = pipe(generator=torch.Generator().manual_seed(seed), **{**kwargs, "output_type": "latent"}
                   if latent else kwargs).frames
        return out if latent else (out[0] * 255).round().astype(np.uint8)

    def ours(latent=False):
        return fam.render_latents(req)["latents"] if latent else fam.generate(req).frames

    a, b = ref(), ours()  # warm-up, and the parity figure
    ref(True), ours(True)
    wall = {"ref": [], "ours": [], "ref_loop": [], "ours_loop": []}
    cpu = {k: [] for k in wall}
    for _ in range(repeats):  # interleaved, so background load hits both sides alike
        for key, fn in (("ref", ref), ("ours", ours), ("ref_loop", lambda: ref(True)),
                        ("ours_loop", lambda: ours(True))):
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall[key].append(time.perf_counter() - t0)
            cpu[key].append(time.process_time() - c0)
    # the ratios use the least CPU time of the repeats: on a shared machine, other processes inflate
    # wall time (and its median) but not the CPU time this process spends
    c = {k: min(v) for k, v in cpu.items()}
    m = {k: statistics.median(v) for k, v in wall.items()}
    return {"case": case, "reference": cls_name, "size": f"{width}x{height}x{frames}", "steps": steps,
            "guidance": guidance, "repeats": repeats,
            "ratio": round(c["ours"] / c["ref"], 3), "loop_ratio": round(c["ours_loop"] / c["ref_loop"], 3),
            "reference_cpu_s": round(c["ref"], 4), "ours_cpu_s": round(c["ours"], 4),
            "reference_to_latents_cpu_s": round(c["ref_loop"], 4), "ours_to_latents_cpu_s": round(c["ours_loop"], 4),
            "wall_median_ratio": round(m["ours"] / m["ref"], 3),
            "wall_median_loop_ratio": round(m["ours_loop"] / m["ref_loop"], 3),
            "max_level_diff": int(np.abs(a.astype(int) - b.astype(int)).max()),
            "threads": torch.get_num_threads()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine bench --families", description=__doc__.split("\n")[0])
    p.add_argument("--family", default="all", choices=[*CASES, "all"])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--height", type=int, default=64)
    p.add_argument("--frames", type=int, default=17)
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    _quiet()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in (CASES if args.family == "all" else [args.family]):
            folder = os.path.join(tmp, case)
            if case == "wan":
                build_wan(folder)
            else:
                build_ltx(folder, condition=case == "ltx")
            results.append(bench_case(case, folder, width=args.width, height=args.height, frames=args.frames,
                                      steps=args.steps, repeats=args.repeats))
            print(json.dumps(results[-1]), flush=True)
    worst = max(max(r["ratio"], r["loop_ratio"]) for r in results)
    print(json.dumps({"worst_ratio": worst, "no_slower": worst <= 1.0}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
