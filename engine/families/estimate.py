"""Pre-flight estimate of peak memory and time for a render, shown before any work starts
(running out of memory without warning is the most common complaint about local video tools).

Read from the folder without loading weights: parameter counts from the safetensors headers,
the transformer's width and depth from its config, the VAE's compression from its config.
Peak memory = all weights + the biggest stage's working set (transformer activations for the
CFG batch, or the VAE decode, which tiling bounds); with offload, the largest of (text encoder),
(transformer + its activations), (VAE + decode), as one model visits the device at a time.
Time = model FLOPs / the device's measured matmul rate x an efficiency factor.
These are first-order figures, labelled "~"; they have not been calibrated against GPU
measurements yet (docs/MODELS.md says what was checked).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import struct
import time
from pathlib import Path

from engine.families import family_of

GIB = 1024 ** 3
BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
EFFICIENCY = 0.45  # fraction of the measured matmul rate a whole model step reaches (attention, norms, launches)
ACT_FACTOR = 10  # live (N, D) tensors in a transformer block at its peak: residual, qkv, attention out, MLP (4D)...


@dataclasses.dataclass
class Estimate:
    weights_gib: float
    transformer_gib: float  # working set of one denoising step (CFG batch)
    decode_gib: float  # working set of the VAE decode
    peak_gib: float
    seconds: float
    steps_seconds: float
    tflops: float  # measured device rate used for the time figure
    available_gib: float | None
    advice: list[str]

    def describe(self) -> str:
        lines = [f"estimate: peak memory ~{_gib(self.peak_gib)} (weights {_gib(self.weights_gib)}, "
                 f"denoising {_gib(self.transformer_gib)}, decode {_gib(self.decode_gib)}); "
                 f"time ~{_duration(self.seconds)} ({_duration(self.steps_seconds)} denoising at "
                 f"{self.tflops:.2g} TFLOP/s measured)"]
        if self.available_gib is not None:
            lines[0] += f"; {_gib(self.available_gib)} free"
        lines += [f"  {a}" for a in self.advice]
        return "\n".join(lines)


def _gib(x: float) -> str:
    return f"{x:.1f} GiB" if x >= 0.1 else f"{x * 1024:.0f} MiB"


def _duration(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


def safetensors_params(folder: Path) -> int:
    """Parameter count of every *.safetensors file in `folder`, from the headers only."""
    total = 0
    for f in sorted(Path(folder).glob("*.safetensors")):
        with open(f, "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(n))
        for name, t in header.items():
            if name != "__metadata__":
                total += math.prod(t["shape"])
    return total


def _config(path: Path, sub: str) -> dict:
    f = path / sub / "config.json"
    return json.loads(f.read_text()) if f.is_file() else {}


def geometry(path: Path, family: str, width: int, height: int, frames: int) -> dict:
    """Latent tokens, transformer width/depth and VAE factors of a folder."""
    t, v = _config(path, "transformer"), _config(path, "vae")
    if family == "ltx":
        sp = 2 ** sum(v.get("spatio_temporal_scaling", (1, 1, 1, 1))) * v.get("patch_size", 4)
        tr = 2 ** sum(v.get("spatio_temporal_scaling", (1, 1, 1, 1))) * v.get("patch_size_t", 1)
        patch, patch_t = t.get("patch_size", 1), t.get("patch_size_t", 1)
        dim = t.get("num_attention_heads", 32) * t.get("attention_head_dim", 64)
        ffn, layers = 4 * dim, t.get("num_layers", 28)
        dec_ch = min(v.get("decoder_block_out_channels", (128,))) / max(1, v.get("patch_size", 4)) ** 2 * 3
    elif family == "wan":
        sp, tr = v.get("scale_factor_spatial", 8), v.get("scale_factor_temporal", 4)
        patch_t, patch, _ = t.get("patch_size", (1, 2, 2))
        dim = t.get("num_attention_heads", 12) * t.get("attention_head_dim", 128)
        ffn, layers = t.get("ffn_dim", 8960), t.get("num_layers", 30)
        dec_ch = v.get("base_dim", 96)
    else:  # the bundled world model
        sp, tr = 8, v.get("temporal_ratio", 4)
        p = t.get("patch_size", (1, 2, 2))
        patch_t, patch = p[0], p[1]
        dim = t.get("hidden_size", t.get("width", 256))
        ffn, layers = 4 * dim, t.get("depth", t.get("num_layers", 8))
        dec_ch = min(v.get("channels", (64,)))
    T = (frames - 1) // tr + 1
    tokens = max(1, T // patch_t) * max(1, height // sp // patch) * max(1, width // sp // patch)
    return {"tokens": tokens, "dim": dim, "ffn": ffn, "layers": layers, "decoder_channels": dec_ch,
            "latent_frames": T}


def measure_tflops(device: str, dtype: str) -> float:
    """Achievable matmul rate on `device` (a ~0.1 s probe)."""
    import torch  # deferred: torch is heavy; this module imports without it

    dt = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
    n = 2048 if device != "cpu" else 512
    if device == "cpu" and dt == torch.float16:
        dt = torch.float32
    a = torch.randn(n, n, device=device, dtype=dt)
    b = torch.randn(n, n, device=device, dtype=dt)
    reps = 0
    _sync(device)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 0.1 or reps < 3:
        a @ b
        reps += 1
        _sync(device)
    return 2 * n ** 3 * reps / (time.perf_counter() - t0) / 1e12


def _sync(device: str):
    import torch  # deferred: torch is heavy; this module imports without it

    if device == "cuda":
        torch.cuda.synchronize()
    elif device == "mps":
        torch.mps.synchronize()


def available_gib(device: str) -> float | None:
    try:
        if device == "cuda":
            import torch  # deferred: torch is heavy; this module imports without it
            return torch.cuda.mem_get_info()[0] / GIB
        if device == "cpu":
            return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / GIB
    except (OSError, ValueError, RuntimeError, AttributeError):
        pass
    return None


def estimate(path, *, width: int, height: int, frames: int, steps: int, guidance: float, device: str = "cpu",
             dtype: str = "bfloat16", offload: bool = False, vae_tiling: bool = False,
             tflops: float | None = None) -> Estimate:
    """Peak memory and time for rendering `frames` at `width` x `height` with `steps` steps."""
    path = Path(path)
    family = family_of(path)
    nbytes = BYTES[dtype]
    sizes = {sub: safetensors_params(path / sub) * nbytes for sub in ("text_encoder", "transformer", "vae")}
    if family == "world":
        sizes["text_encoder"] = 23_000_000 * 4  # MiniLM, float32
    g = geometry(path, family, width, height, frames)
    batch = 2 if guidance > 1 else 1
    n, d = g["tokens"], g["dim"]
    act = batch * n * (ACT_FACTOR * d + g["ffn"]) * nbytes
    # the VAE decode: full-resolution features of a chunk of frames (tiling: one 512 x 512 tile at a time)
    area = min(width * height, 512 * 512) if vae_tiling else width * height
    chunk = 4 if family == "wan" else (16 if vae_tiling else frames)  # Wan decodes latent frame by frame
    decode = area * chunk * g["decoder_channels"] * 4 * nbytes
    if offload:  # one model on the device at a time, each with its own stage's working set
        resident = max(sizes.values())
        peak = max(sizes["text_encoder"], sizes["transformer"] + act, sizes["vae"] + decode)
    else:
        resident = sum(sizes.values())
        peak = resident + max(act, decode)
    # time: 2 * params * tokens per linear layer, plus attention (4 * N^2 * D per layer), per sample
    params = sizes["transformer"] / nbytes
    flops_step = batch * (2 * params * n + 4 * n * n * d * g["layers"])
    flops_decode = area * frames * g["decoder_channels"] * 2000  # ~ conv MACs per output pixel, rough
    rate = (tflops if tflops is not None else measure_tflops(device, dtype)) * 1e12 * EFFICIENCY
    steps_s = steps * flops_step / rate
    seconds = steps_s + flops_decode / rate
    if offload and device != "cpu":
        seconds += sum(sizes.values()) / (10 * GIB)  # host-device copies at ~10 GiB/s
    free = available_gib(device)
    advice = []
    if free is not None and peak / GIB > free:
        advice.append(f"this will likely not fit in the {free:.1f} GiB free on {device}:")
        if not offload and device != "cpu":
            off = max(sizes["text_encoder"], sizes["transformer"] + act, sizes["vae"] + decode)
            advice.append(f"--offload keeps one model on the device at a time (peak ~{off / GIB:.1f} GiB)")
        if not vae_tiling and decode > act:
            advice.append("--vae-tiling decodes in tiles")
        advice.append("fewer frames or a smaller size shrink the denoising working set")
    return Estimate(resident / GIB, act / GIB, decode / GIB, peak / GIB, seconds, steps_s, rate / EFFICIENCY / 1e12,
                    free, advice)
