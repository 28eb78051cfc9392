"""Speed and memory figures of the engine, measured side by side in one run.

`run_bench` loads the model once, renders default clips (2 s, 1:1, delivery 24 fps
through interpolation) and reports wall seconds per second of video, peak memory
and the transformer's achieved FLOP/s next to a bf16 matmul peak measured in the
same process, so the ratio means something on a noisy machine.
"""
from __future__ import annotations

import resource
import time

import torch


def matmul_peak(dtype=torch.bfloat16, n: int = 2048, seconds: float = 3.0) -> float:
    """Achieved FLOP/s of a large square matmul (the ceiling to compare the model with)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    count, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        count += 1
    return 2 * n ** 3 * count / (time.perf_counter() - t0)


def transformer_flops(pipe, req) -> float:
    """FLOPs of one transformer call at the request's size (with guidance: batch 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    w, h = req.canvas()
    shape = pipe.latent_shape(min(pipe.frames_for(req.duration(), 8.0), 16), w, h)
    x = torch.zeros(2, *shape)
    tok, mask, pooled = pipe.encode_prompt(["a", "b"])
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        pipe.transformer(x, torch.zeros(2), tok, mask, pooled)
    return float(counter.get_total_flops())


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_bench(engine, prompt: str = "a small red ball rolls to the right on a sandy desert",
              repeats: int = 3, seconds: float = 2.0, fps: float = 24.0, steps: int = 24) -> dict:
    from engine.service import GenerateRequest

    req = GenerateRequest(prompt=prompt, seconds=seconds, fps=fps, steps=steps)
    t0 = time.perf_counter()
    engine.generate(GenerateRequest(prompt=prompt, seconds=seconds, fps=fps, steps=2))  # load + warm-up
    load_s = time.perf_counter() - t0
    pipe = engine.pipe
    dit_time = [0.0]
    calls = [0]
    inner = pipe.model_fn

    def timed(*a, **k):
        t = time.perf_counter()
        out = inner(*a, **k)
        dit_time[0] += time.perf_counter() - t
        calls[0] += 1
        return out

    pipe.model_fn = timed
    walls, lengths = [], []
    try:
        for i in range(repeats):
            t = time.perf_counter()
            result = engine.generate(GenerateRequest(**{**req.__dict__, "seed": i}))
            walls.append(time.perf_counter() - t)
            lengths.append(len(result.frames) / result.fps)
    finally:
        pipe.model_fn = inner
    flops = transformer_flops(pipe, req) * calls[0]
    peak = matmul_peak()
    wall_per_s = sum(walls) / sum(lengths)
    return {
        "prompt": prompt, "seconds_of_video": round(lengths[0], 3), "fps": fps, "steps": steps,
        "dtype": engine.dtype, "threads": torch.get_num_threads(),
        "load_and_warmup_s": round(load_s, 2),
        "wall_s_per_video_s": round(wall_per_s, 3),
        "wall_s_per_clip": [round(w, 2) for w in walls],
        "transformer_share_of_wall": round(dit_time[0] / sum(walls), 3),
        "transformer_flops_per_s": round(flops / dit_time[0] / 1e9, 2),
        "bf16_matmul_peak_flops_per_s": round(peak / 1e9, 2),
        "transformer_vs_peak": round(flops / dit_time[0] / peak, 3),
        "flop_unit": "GFLOP/s",
        "peak_rss_mb": round(peak_rss_bytes() / 2 ** 20, 1),
    }
