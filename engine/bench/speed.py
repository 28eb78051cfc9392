"""Speed and memory figures of the engine, measured side by side in one run.

`run_bench` loads the model once, renders default clips (2 s, 1:1, delivery 24 fps
through interpolation) and reports wall seconds per second of video, peak memory
and the transformer's achieved FLOP/s next to a bf16 matmul peak measured in the
same process, so the ratio means something on a noisy machine.
"""
from __future__ import annotations

import functools
import random
import resource
import time

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from engine import defaults
from engine.errors import InputError


def matmul_peak(dtype=torch.float32, n: int = 2048, seconds: float = 3.0) -> float:
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
    w, h = req.canvas()
    shape = pipe.latent_shape(min(pipe.frames_for(req.duration(), 8.0), 16), w, h)
    x = torch.zeros(2, *shape)
    tok, mask, pooled = pipe.encode_prompt(["a", "b"])
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        pipe.transformer(x, torch.zeros(2), tok, mask, pooled)
    return float(counter.get_total_flops())


def train_speed(preset: str = "S2", batch: int = 32, steps: int = 6, rounds: int = 3, compile: bool = True,
                log=lambda line: None) -> dict:
    """Seconds per step of the recipe's training step (`engine.training.train_step`: clean patterns, flow
    loss, backward, clipping, AdamW; and the EMA update) for a transformer preset on 1:1 batches (2 s,
    128 px: the recipe's main shape), with the plain attention the CPU trains with and with the fused
    kernel, timed in alternating rounds in one process. Inputs are random: a step's cost does not
    depend on the values."""
    from engine.models import dit  # deferred: loads diffusers; this module imports without it
    from engine.training import ASPECT_SIZES, CLIP_FRAMES, ema_update, train_step

    w, h = ASPECT_SIZES["1:1"]
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(batch, 8, CLIP_FRAMES, h // 8, w // 8, generator=gen)
    text = (torch.randn(batch, 16, 384, generator=gen), torch.ones(batch, 16, dtype=torch.bool),
            torch.randn(batch, 384, generator=gen))
    runs = {}
    for form in ("plain", "fused"):
        torch.manual_seed(0)
        model = dit.SpacetimeDiT(**dit.PRESETS[preset])
        ema = dit.SpacetimeDiT(**dit.PRESETS[preset]).requires_grad_(False)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        fwd = torch.compile(model, dynamic=False) if compile else model
        runs[form] = dict(model=model, ema=ema, opt=opt, fwd=fwd, rng=random.Random(0), times=[])
    _, gh, gw = runs["plain"]["model"].grid(x0.shape)
    maps = torch.rand(batch, CLIP_FRAMES, gh, gw, generator=gen) * 0.1  # object share per token, per frame

    def steps_of(form: str, n: int) -> float:
        r = runs[form]
        dit.PLAIN_CPU_TRAINING_ATTENTION = form == "plain"
        t = time.perf_counter()
        for i in range(n):
            train_step(r["model"], r["fwd"], r["opt"], x0, maps, text, r["rng"], gen, 2.0, 0.5, 5.0)
            ema_update(r["ema"], r["model"], i, 0.998)
        return (time.perf_counter() - t) / n

    try:
        for form in runs:  # compile and warm up
            t = time.perf_counter()
            steps_of(form, 2)
            log(f"{form}: warm-up (compile) {time.perf_counter() - t:.0f} s")
        for k in range(rounds):
            for form in runs:
                runs[form]["times"].append(steps_of(form, steps))
                log(f"round {k + 1}: {form} {runs[form]['times'][-1]:.3f} s/step")
        dit.PLAIN_CPU_TRAINING_ATTENTION = True
        counter = FlopCounterMode(display=False)
        r = runs["plain"]
        with counter:
            train_step(r["model"], r["model"], r["opt"], x0, maps, text, r["rng"], gen, 2.0, 0.5, 5.0)
    finally:
        dit.PLAIN_CPU_TRAINING_ATTENTION = True
    per_step = {form: sorted(r["times"])[len(r["times"]) // 2] for form, r in runs.items()}
    flops = float(counter.get_total_flops())
    dtype = defaults.autocast_dtype("cpu")  # what train_step computes in: the peak to compare with is that dtype's
    peak = matmul_peak(dtype)
    return {
        "preset": preset, "batch": batch, "clip": f"1:1 {w}x{h}, {CLIP_FRAMES} frames",
        "params_m": round(sum(p.numel() for p in runs["plain"]["model"].parameters()) / 1e6, 2),
        "compiled": compile, "threads": torch.get_num_threads(),
        "s_per_step": {f: round(v, 3) for f, v in per_step.items()},
        "clips_per_s": {f: round(batch / v, 1) for f, v in per_step.items()},
        "plain_vs_fused_speedup": round(per_step["fused"] / per_step["plain"], 2),
        "train_flops_per_s": round(flops / per_step["plain"] / 1e9, 1),
        "matmul_peak_dtype": str(dtype).removeprefix("torch."),
        "matmul_peak_flops_per_s": round(peak / 1e9, 1),
        "bf16_matmul_peak_flops_per_s": round(peak / 1e9, 1) if dtype == torch.bfloat16 else None,
        "train_vs_peak": round(flops / per_step["plain"] / peak, 3),
        "flop_unit": "GFLOP/s",
    }


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_bench(engine, prompt: str = "a small red ball rolls to the right on a sandy desert",
              repeats: int = 3, seconds: float = 2.0, fps: float = 24.0, steps: int = 24) -> dict:
    from engine.request import GenerateRequest  # deferred: loads Pillow; this module imports without it

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
    plan_s = None
    if engine.takes_layout:  # what planning adds to a render (issue 28: at most 5%)
        t = time.perf_counter()
        for i in range(repeats):
            engine.plan(GenerateRequest(**{**req.__dict__, "seed": 1000 + i}))
        plan_s = (time.perf_counter() - t) / repeats
    flops = transformer_flops(pipe, req) * calls[0]
    peak = matmul_peak(getattr(torch, engine.dtype))  # in the dtype the render computes in (emulated bf16: 12x slower)
    wall_per_s = sum(walls) / sum(lengths)
    return {
        "prompt": prompt, "seconds_of_video": round(lengths[0], 3), "fps": fps, "steps": steps,
        "dtype": engine.dtype, "compiled": engine.compiled, "processor": defaults.processor(),
        "threads": torch.get_num_threads(),
        "plan_s": None if plan_s is None else round(plan_s, 4),
        "plan_share_of_wall": None if plan_s is None else round(plan_s / (sum(walls) / len(walls)), 4),
        "load_and_warmup_s": round(load_s, 2),
        "wall_s_per_video_s": round(wall_per_s, 3),
        "wall_s_per_clip": [round(w, 2) for w in walls],
        "transformer_share_of_wall": round(dit_time[0] / sum(walls), 3),
        "transformer_flops_per_s": round(flops / dit_time[0] / 1e9, 2),
        "matmul_peak_flops_per_s": round(peak / 1e9, 2),
        "bf16_matmul_peak_flops_per_s": round(peak / 1e9, 2) if engine.dtype == "bfloat16" else None,
        "transformer_vs_peak": round(flops / dit_time[0] / peak, 3),
        "flop_unit": "GFLOP/s",
        "peak_rss_mb": round(peak_rss_bytes() / 2 ** 20, 1),
    }


def parse_settings(spec: str) -> list[tuple[str, int, float]]:
    """`--compare`'s settings: comma-separated DTYPE[+compile]:STEPS[:GUIDANCE], e.g.
    "float32:24,float32+compile:24,bfloat16:24,float32:12:1"."""
    out = []
    for item in (spec or "").split(","):
        parts = item.strip().split(":")
        try:
            if setting_parts(parts[0])[0] not in ("float32", "bfloat16") or not 2 <= len(parts) <= 3:
                raise ValueError
            steps, guidance = int(parts[1]), float(parts[2]) if len(parts) == 3 else defaults.GUIDANCE
            if not 1 <= steps <= 200 or not 0 <= guidance <= 30:
                raise ValueError
        except ValueError:
            raise InputError(f"--compare setting {item.strip()!r} is not DTYPE:STEPS[:GUIDANCE] with DTYPE float32 "
                             "or bfloat16 (+compile: through torch.compile; +full: two model calls a guided step "
                             "even where the model has a distilled sampler), STEPS 1-200 and GUIDANCE 0-30 (e.g. "
                             "float32:24,float32+full:24,float32+compile:24,float32:12:1)") from None
        out.append((parts[0], steps, guidance))
    return out


def setting_parts(name: str) -> tuple[str, bool, str]:
    """A --compare DTYPE with its suffixes ("float32+compile+full") -> (dtype, compiled, sampler)."""
    dtype, *flags = name.split("+")
    if set(flags) - {"compile", "full"} or len(set(flags)) != len(flags):
        raise ValueError(name)
    return dtype, "compile" in flags, "full" if "full" in flags else "auto"


def compare_settings(model, settings: list[tuple[str, int, float]], repeats: int = 3, seconds: float = 2.0,
                     fps: float = 24.0, prompt: str = "a small red ball rolls to the right on a sandy desert",
                     log=lambda line: None) -> dict:
    """Wall seconds per second of video for each (dtype, steps, guidance), side by side in one run: one engine
    per dtype (loaded and warmed once), then `repeats` rounds that render one clip of every setting in turn,
    so a machine that slows down mid-run slows every setting alike. With each setting's transformer FLOP/s
    against the matmul peak of its dtype measured in the same run, and the process's peak memory."""
    from engine.request import GenerateRequest  # deferred: loads Pillow and diffusers; this module imports without it
    from engine.service import Engine

    engines = {}
    for name in dict.fromkeys(d for d, _, _ in settings):  # "float32+compile": its own engine, compiled
        dtype, compiled, sampler = setting_parts(name)
        engines[name] = Engine(model, dtype=dtype, compile=compiled, sampler=sampler)
        engines[name].generate(GenerateRequest(prompt=prompt, seconds=seconds, fps=fps, steps=2))  # load, warm
    walls = [[] for _ in settings]
    dit = [[0.0, 0.0] for _ in settings]  # transformer seconds, and the clips' worth of samples it ran
    length = None
    for r in range(repeats):
        for i, (name, steps, guidance) in enumerate(settings):
            pipe = engines[name].pipe
            inner = {f: getattr(pipe, f) for f in ("model_fn", "guided_fn") if hasattr(pipe, f)}

            def timed(x, *a, _i=i, _inner=None, **k):
                t = time.perf_counter()
                out = _inner(x, *a, **k)
                dit[_i][0] += time.perf_counter() - t
                dit[_i][1] += x.shape[0]
                return out

            for f, fn in inner.items():
                setattr(pipe, f, functools.partial(timed, _inner=fn))
            try:
                t = time.perf_counter()
                req = GenerateRequest(prompt=prompt, seconds=seconds, fps=fps, steps=steps, guidance=guidance, seed=r)
                res = engines[name].generate(req)
                walls[i].append(time.perf_counter() - t)
            finally:
                for f, fn in inner.items():
                    setattr(pipe, f, fn)
            length = len(res.frames) / res.fps
            log(f"round {r + 1}/{repeats} {name} {steps} steps guidance {guidance:g}: {walls[i][-1]:.2f} s")
    peaks = {d: matmul_peak(getattr(torch, setting_parts(d)[0])) for d in engines}
    req = GenerateRequest(prompt=prompt, seconds=seconds, fps=fps)
    rows = []
    for i, (name, steps, guidance) in enumerate(settings):
        # transformer_flops counts a guided call (batch 2); a distilled or unguided call runs batch 1
        per_sample = transformer_flops(engines[name].pipe, req) / 2
        flops_s = per_sample * dit[i][1] / dit[i][0] if dit[i][0] else 0.0
        wall = sum(walls[i]) / (repeats * length)
        used = engines[name].sampler(GenerateRequest(prompt=prompt, seconds=seconds, fps=fps, guidance=guidance))
        rows.append({"dtype": setting_parts(name)[0], "compiled": engines[name].compiled, "sampler": used,
                     "steps": steps, "guidance": guidance,
                     "wall_s_per_video_s": round(wall, 3), "wall_s_per_clip": [round(w, 2) for w in walls[i]],
                     "vs_first": round(wall / (sum(walls[0]) / (repeats * length)), 3),
                     "transformer_share_of_wall": round(dit[i][0] / sum(walls[i]), 3),
                     "transformer_flops_per_s": round(flops_s / 1e9, 2),
                     "matmul_peak_flops_per_s": round(peaks[name] / 1e9, 2),
                     "transformer_vs_peak": round(flops_s / peaks[name], 3)})
    return {"processor": defaults.processor(), "threads": torch.get_num_threads(), "seconds_of_video": length,
            "fps": fps, "repeats": repeats, "flop_unit": "GFLOP/s", "settings": rows,
            "peak_rss_mb": round(peak_rss_bytes() / 2 ** 20, 1)}


def profile_render(engine, prompt: str = "a small red ball rolls to the right on a sandy desert",
                   seconds: float = 2.0, fps: float = 24.0, steps: int = 24, top: int = 15) -> dict:
    """Where one render's time goes (torch.profiler, after a warm-up render): the operators with the most
    self CPU time, each with its share of the profiled total, and the render's wall time."""
    from engine.request import GenerateRequest  # deferred: loads Pillow; this module imports without it

    engine.generate(GenerateRequest(prompt=prompt, seconds=seconds, fps=fps, steps=2))  # load + warm-up (+ compile)
    t = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        engine.generate(GenerateRequest(prompt=prompt, seconds=seconds, fps=fps, steps=steps))
    wall = time.perf_counter() - t
    events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    return {"processor": defaults.processor(), "threads": torch.get_num_threads(), "dtype": engine.dtype,
            "compiled": engine.compiled, "steps": steps, "wall_s_profiled": round(wall, 2),
            "self_cpu_s": round(total / 1e6, 2),
            "top": [{"op": e.key, "calls": e.count, "self_cpu_ms": round(e.self_cpu_time_total / 1e3, 1),
                     "share": round(e.self_cpu_time_total / total, 3)} for e in events[:top]]}
