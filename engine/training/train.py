"""Training the bundled model from scratch on the procedural world (recipe: docs/TRAINING.md).

Three stages, each resumable from its last checkpoint in the run folder:
  1. `vae`     : the video compression network on rendered clips;
  2. `data`    : a cache of (latents, caption embeddings, clean-pattern-free scenes) so the
                 transformer never pays for rendering, encoding or MiniLM during its steps;
  3. `dit`     : the spacetime transformer with flow matching, per-token noise levels drawn from
                 random clean patterns, text dropout for guidance, EMA weights.
`export` writes the diffusers-layout model folder (assets/models/tenku-world by default).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import shutil
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engine.defaults import REPO, autocast_dtype
from engine.layout.planner import draw, random_layout, scene_layout
from engine.layout.raster import cover, layout_arrays
from engine.models.dit import PRESETS, SpacetimeDiT
from engine.models.text import TextEncoder
from engine.models.vae import VideoVAE
from engine.world import caption, render, sample_scene
from engine.world.reading import train_reader
from engine.world.scene import SIZES

ASPECT_SIZES = {"1:1": (128, 128), "16:9": (256, 144), "9:16": (144, 256)}  # (width, height)
ASPECT_WEIGHTS = {"1:1": 0.6, "16:9": 0.2, "9:16": 0.2}
BASE_FPS = 8.0
CLIP_FRAMES = 16  # 2 s at the base rate


def log(run: Path, **fields):
    line = json.dumps({"time": round(time.time(), 1), **fields})
    print(line, flush=True)
    with open(run / "log.jsonl", "a") as f:
        f.write(line + "\n")


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 (F, H, W, 3) -> float (3, F, H, W) in [-1, 1]."""
    return torch.from_numpy(frames).permute(3, 0, 1, 2).float() / 127.5 - 1


def pick_aspect(rng: random.Random) -> str:
    return rng.choices(list(ASPECT_WEIGHTS), weights=list(ASPECT_WEIGHTS.values()))[0]


def device_type(device: str) -> str:
    """"cpu" or "cuda" (for autocast) from a device string such as "cuda:1"."""
    return torch.device(device).type


def check_device(device: str) -> str:
    """The training device, checked: "cpu" (the recipe's machine) or an available CUDA device."""
    try:
        kind = torch.device(device).type
    except RuntimeError:
        raise ValueError(f"unknown device {device!r}; use 'cpu' or 'cuda' (or 'cuda:N')") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but this machine has no CUDA GPU; use 'cpu'")
    if kind not in ("cpu", "cuda"):
        raise ValueError(f"device {device!r} is not supported for training; use 'cpu' or 'cuda'")
    return device


def save_checkpoint(path: Path, **state):
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def resume(ckpt: Path, model, opt, device: str) -> int:
    """The step a stage goes on from: 0, or its checkpoint's model and optimiser state loaded (the VAE stages;
    the transformer's own resume also brings its EMA and a warm start)."""
    if not ckpt.exists():
        return 0
    state = torch.load(ckpt, weights_only=False, map_location=device)
    model.load_state_dict(state["model"])
    if state.get("opt"):
        opt.load_state_dict(state["opt"])
    return state["step"]


# --------------------------------------------------------------------------
# 1. VAE
# --------------------------------------------------------------------------

def vae_batch(rng: random.Random, batch: int, frames: int = 3, edge_weight: float = 0.0, small_weight: float = 0.0):
    """Clips (B, 3, F, H, W) and per-pixel loss weights (B, 1, F, H, W): objects are a few percent
    of the pixels, so without weighting the VAE learns the backgrounds and blurs the objects.
    `edge_weight`: extra weight on a band of EDGE_BAND pixels either side of every object's
    outline, where a blurred decoder makes colour fringes (yellow edges read as orange, pink as
    purple) that count as objects of another colour. `small_weight` > 1: each object's pixels
    weighted by how much smaller it is than a big object, up to that factor (`object_weights`), so a
    small object counts about as much as a big one."""
    aspect = pick_aspect(rng)
    w, h = ASPECT_SIZES[aspect]
    clips, weights = [], []
    for _ in range(batch):
        fps = rng.choice([6.0, 8.0, 8.0, 12.0])
        scene = sample_scene(rng, seconds=frames / fps)
        f = render(scene, w, h, fps, frames)
        empty = render(dataclasses_replace_objects(scene), w, h, fps, frames)
        obj = (f != empty).any(-1)
        wt = 1.0 + (object_weights(scene, empty, w, h, fps, small_weight) if small_weight > 1 else
                    VAE_OBJECT_WEIGHT * obj)
        if edge_weight:
            wt = wt + edge_weight * edge_band(obj)
        clips.append(to_tensor(f))
        weights.append(torch.from_numpy(wt).float()[None])
    return torch.stack(clips), torch.stack(weights)


VAE_OBJECT_WEIGHT = 10.0
EDGE_BAND = 2  # pixels either side of an object's outline


def object_weights(scene, empty: np.ndarray, w: int, h: int, fps: float, small_weight: float) -> np.ndarray:
    """(F, H, W) loss weight of object pixels: VAE_OBJECT_WEIGHT times, for each object, the area of a big
    object over its own (its largest frame's), between 1 and `small_weight`; where objects overlap, the
    larger weight. A small object (about a fifth of a big one's area) has a few dozen pixels, too few to
    steer the decoder at one weight for all: its colour is what the decoder blurs toward a neighbour's
    (orange reading as yellow on the sea, yellow as orange on the grey studio)."""
    big = (SIZES["big"] * min(w, h)) ** 2 * 0.75  # about a big object's pixels (a ball pi/4, a triangle 1/2)
    out = np.zeros(empty.shape[:3], np.float32)
    for o in scene.objects:
        alone = (render(dataclasses.replace(scene, objects=(o,)), w, h, fps, len(empty)) != empty).any(-1)
        area = max(1, int(alone.sum((1, 2)).max()))
        out = np.maximum(out, VAE_OBJECT_WEIGHT * float(np.clip(big / area, 1.0, small_weight)) * alone)
    return out


def edge_band(obj: np.ndarray) -> np.ndarray:
    """(F, H, W) bool object pixels -> bool pixels within EDGE_BAND of an outline (both sides)."""
    t = torch.from_numpy(obj).float()[:, None]
    k = 2 * EDGE_BAND + 1
    grown = F.max_pool2d(t, k, stride=1, padding=EDGE_BAND)
    shrunk = -F.max_pool2d(-t, k, stride=1, padding=EDGE_BAND)
    return (grown - shrunk)[:, 0].numpy() > 0


def train_vae(run: Path, steps: int = 1200, batch: int = 8, lr: float = 1e-3, seed: int = 0,
              max_seconds: float = 1e9, schedule_steps: int | None = None, device: str = "cpu"):
    run.mkdir(parents=True, exist_ok=True)
    ckpt = run / "vae.pt"
    torch.manual_seed(seed)
    vae = VideoVAE().to(device)
    opt = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    step = resume(ckpt, vae, opt, device)
    rng = random.Random(seed * 1000 + step)
    start = time.time()
    horizon = schedule_steps or steps
    while step < steps and time.time() - start < max_seconds:
        for g in opt.param_groups:  # cosine decay after a short warm-up
            g["lr"] = lr * min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * step / horizon))
        x, wts = (v.to(device) for v in vae_batch(rng, batch))
        dtype = autocast_dtype(device_type(device))  # bfloat16 where the processor computes it (emulated: 12x)
        with torch.autocast(device_type(device), dtype=dtype, enabled=dtype != torch.float32):
            mean, logvar = vae.encode_dist(x)
            z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
            y = vae.decode(z).float()
        rec = (((y - x).abs() + (y - x) ** 2) * wts).mean() / wts.mean()
        kl = 0.5 * (mean.float() ** 2 + logvar.float().exp() - 1 - logvar.float()).mean()
        loss = rec + 1e-4 * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 25 == 0 or step == steps:
            psnr = -10 * math.log10(F.mse_loss(y.clamp(-1, 1), x).item() / 4 + 1e-12)
            log(run, stage="vae", step=step, loss=round(loss.item(), 5), kl=round(kl.item(), 3),
                psnr=round(psnr, 2))
        if step % 100 == 0 or step == steps:
            save_checkpoint(ckpt, model=vae.state_dict(), opt=opt.state_dict(), step=step)
    save_checkpoint(ckpt, model=vae.state_dict(), opt=opt.state_dict(), step=step)
    return vae, step


def train_vae_decoder(run: Path, steps: int = 800, batch: int = 8, lr: float = 5e-4, seed: int = 3,
                      max_seconds: float = 1e9, tune_from: int | None = None, tune_lr: float = 3e-4,
                      edge_weight: float = 0.0, latent_noise: float = 0.0, small_from: int | None = None,
                      small_weight: float = 0.0, device: str = "cpu"):
    """Fine-tune the decoder alone on posterior means, the encoder frozen: latents (and so the
    transformer's training data) do not change, the pictures get sharper. Resumable.
    `tune_from`: from this step on, a second cosine segment (peak `tune_lr`) with `edge_weight` on
    the pixels around object outlines (see vae_batch) and Gaussian noise of up to `latent_noise`
    (in units of each channel's standard deviation, uniform per clip, none for a quarter of the
    clips) added to the latents, so that the decoder maps the transformer's slightly
    off-manifold latents to clean objects instead of speckles of other palette colours.
    None: one segment over `steps`. `small_from` (after `tune_from`): from this step on, a third cosine
    segment (peak `tune_lr`, the same edge weight and noise) with small objects weighted up to `small_weight`
    times (vae_batch)."""
    ckpt = run / "vae_decoder.pt"
    vae = load_vae(run).to(device)
    vae.encoder.requires_grad_(False)
    params = list(vae.decoder_in.parameters()) + list(vae.decoder.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    step = resume(ckpt, vae, opt, device)
    rng = random.Random(seed * 1000 + step)
    start = time.time()
    first_end = tune_from or steps
    std = torch.tensor(vae.config.latents_std or [1.0] * vae.config.latent_channels, dtype=torch.float32)
    std = std.view(1, -1, 1, 1, 1).to(device)
    dtype = autocast_dtype(device)  # bfloat16 where the processor computes it; emulated it costs 12x (issue 30)
    while step < steps and time.time() - start < max_seconds:
        tuning = tune_from is not None and step >= tune_from
        small = tuning and small_from is not None and step >= small_from
        for g in opt.param_groups:
            if tuning:
                a, b = (small_from, steps) if small else (tune_from, min(small_from or steps, steps))
                k = (step - a) / max(1, b - a)
                g["lr"] = tune_lr * min(1.0, (step - a + 1) / 20) * 0.5 * (1 + math.cos(math.pi * k))
            else:
                g["lr"] = lr * min(1.0, (step + 1) / 20) * 0.5 * (1 + math.cos(math.pi * step / first_end))
        x, wts = (v.to(device) for v in vae_batch(rng, batch, edge_weight=edge_weight if tuning else 0.0,
                                                  small_weight=small_weight if small else 0.0))
        with torch.no_grad(), torch.autocast(device_type(device), dtype=dtype, enabled=dtype != torch.float32):
            z = vae.encode(x).float()
        if tuning and latent_noise:
            sigma = torch.tensor([0.0 if rng.random() < 0.25 else rng.uniform(0, latent_noise)
                                  for _ in range(len(z))]).view(-1, 1, 1, 1, 1)
            noise = torch.randn(z.shape, generator=torch.Generator().manual_seed(rng.getrandbits(31)))
            z = z + (sigma * std.cpu() * noise).to(device)
        with torch.autocast(device_type(device), dtype=dtype, enabled=dtype != torch.float32):
            y = vae.decode(z).float()
        loss = (((y - x).abs() + (y - x) ** 2) * wts).mean() / wts.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        if step % 25 == 0 or step == steps:
            psnr = -10 * math.log10(F.mse_loss(y.clamp(-1, 1), x).item() / 4 + 1e-12)
            log(run, stage="vae_decoder", step=step, loss=round(loss.item(), 5), psnr=round(psnr, 2))
        if step % 100 == 0 or step == steps:
            save_checkpoint(ckpt, model=vae.state_dict(), opt=opt.state_dict(), step=step)
    save_checkpoint(ckpt, model=vae.state_dict(), opt=opt.state_dict(), step=step)
    return step


# --------------------------------------------------------------------------
# 2. Data cache: latents, caption embeddings, object maps
# --------------------------------------------------------------------------

CAPTIONS_PER_CLIP = 2
TOKEN_PIXELS = 32  # one transformer token covers 32x32 pixels of one frame (VAE 8x, patch 4x4)


def object_map(scene, frames: np.ndarray, w: int, h: int, fps: float) -> np.ndarray:
    """Fraction of object pixels per token, (F, ceil(h/32), ceil(w/32)) (per-frame VAE)."""
    empty = render(dataclasses_replace_objects(scene), w, h, fps, len(frames))
    hit = (np.abs(frames.astype(np.int16) - empty.astype(np.int16)).sum(-1) > 0).astype(np.float32)
    P = TOKEN_PIXELS
    hh, ww = -(-h // P), -(-w // P)
    hit = np.pad(hit, ((0, 0), (0, hh * P - h), (0, ww * P - w)))
    return hit.reshape(len(hit), hh, P, ww, P).mean((2, 4))


def dataclasses_replace_objects(scene):
    """The scene with its objects made invisible: a zero-size still object keeps Scene valid."""
    ghost = dataclasses.replace(scene.objects[0], motion="still", x0=-5.0, y0=-5.0)
    return dataclasses.replace(scene, objects=(ghost,))


def _render_clip(job):
    """(scene, width, height) -> (frames, per-token object map): one training clip (a worker's task)."""
    scene, w, h = job
    frames = render(scene, w, h, BASE_FPS, CLIP_FRAMES)
    return frames, object_map(scene, frames, w, h, BASE_FPS)


def shard_items(seed: int, s: int, n: int, rich: bool = False, captions: int = CAPTIONS_PER_CLIP,
                fits=None) -> list:
    """The (aspect, scene, captions) of shard `s`'s `n` clips. The scenes depend only on (seed, s):
    plain captions are drawn from the same stream as the scenes, as the first data sets did, and
    `rich` captions (RICH_WORDS, `captions` of them) from a stream of their own, so a rich data set
    has the same clips as a plain one. `fits(caption) -> bool`: a rich caption that does not fit the
    text encoder is drawn again (a cut-off caption would teach the model to ignore its last words)."""
    rng = random.Random(seed * 100003 + s)
    crng = random.Random(seed * 100003 + s + 1_000_000_007)
    items = []
    for _ in range(n):
        aspect = pick_aspect(rng)
        scene = sample_scene(rng, seconds=CLIP_FRAMES / BASE_FPS)
        caps = [caption(scene, rng) for _ in range(CAPTIONS_PER_CLIP)]
        if rich:
            caps = []
            for _ in range(captions):
                c = caption(scene, crng, rich=True)
                for _ in range(5):
                    if fits is None or fits(c):
                        break
                    c = caption(scene, crng, rich=True)
                caps.append(c)
        items.append((aspect, scene, caps))
    return items


def build_data(run: Path, vae: VideoVAE, clips: int = 8000, shard: int = 500, seed: int = 1,
               max_seconds: float = 1e9, device: str = "cpu", workers: int = 0, rich: bool = False,
               captions: int = CAPTIONS_PER_CLIP, reuse: Path | None = None):
    """Render, caption and encode `clips` training clips into shards under run/data (resumable).
    `workers`: render in that many processes (the same clips; for a GPU machine with many cores).
    `rich`, `captions`: captions per clip from the rich grammar (see shard_items). `reuse`: a data
    folder built with the same VAE and seed whose shards hold the same clips (any captions): their
    latents and object maps are taken instead of rendering and encoding again."""
    out = run / "data"
    out.mkdir(parents=True, exist_ok=True)
    pool = Pool(workers) if workers > 0 else None  # forked before CUDA starts in this process
    text = TextEncoder(device)
    vae = vae.eval().to(device)
    start = time.time()
    for s, path in _shards_to_make(out, clips, shard, start, max_seconds):
        by_aspect = {a: dict(latents=[], maps=[], tokens=[], masks=[], pooled=[]) for a in ASPECT_SIZES}
        n = min(shard, clips - s * shard)  # the last shard holds the remainder
        items = shard_items(seed, s, n, rich, captions, lambda c: text.count_tokens(c) <= text.max_tokens)
        old = torch.load(reuse / path.name) if reuse is not None and (reuse / path.name).exists() else None
        for aspect in ASPECT_SIZES:  # batched: one VAE call per 16 clips, one MiniLM call per chunk
            group = [it for it in items if it[0] == aspect]
            w, h = ASPECT_SIZES[aspect]
            if old is not None:
                if len(old.get(aspect, {}).get("latents", ())) != len(group):
                    raise ValueError(f"{reuse / path.name} holds other clips than shard {s} of seed {seed}")
                rendered = None
            else:
                jobs = [(sc, w, h) for _, sc, _ in group]
                rendered = pool.map(_render_clip, jobs, chunksize=8) if pool else [_render_clip(j) for j in jobs]
            for i in range(0, len(group), 16):
                chunk = group[i:i + 16]
                if rendered is None:
                    z, maps = old[aspect]["latents"][i:i + 16], old[aspect]["maps"][i:i + 16]
                else:
                    frames = [f for f, _ in rendered[i:i + 16]]
                    dtype = autocast_dtype(device_type(device))  # bfloat16 where the processor computes it
                    with torch.no_grad(), torch.autocast(device_type(device), dtype=dtype,
                                                         enabled=dtype != torch.float32):
                        x = torch.stack([to_tensor(f) for f in frames]).to(device)
                        z = vae.normalize(vae.encode(x).float()).cpu()
                    maps = torch.stack([torch.from_numpy(m) for _, m in rendered[i:i + 16]])
                tok, mask, pooled = (v.cpu() for v in text.encode([c for _, _, caps in chunk for c in caps]))
                k = len(chunk[0][2])
                d = by_aspect[aspect]
                d["latents"].append(z.half())
                d["maps"].append(maps.half())
                d["tokens"].append(tok.half().view(len(chunk), k, *tok.shape[1:]))
                d["masks"].append(mask.view(len(chunk), k, -1))
                d["pooled"].append(pooled.half().view(len(chunk), k, -1))
        packed = {a: {k: torch.cat(v) for k, v in d.items()} for a, d in by_aspect.items() if d["latents"]}
        torch.save(packed, path.with_suffix(".tmp"))
        os.replace(path.with_suffix(".tmp"), path)
        log(run, stage="data", shard=s, seconds=round(time.time() - start, 1))
    if pool:
        pool.close()


def _shards_to_make(out: Path, clips: int, shard: int, start: float, max_seconds: float):
    """(index, path) of each of the shards holding `clips` clips, `shard` a shard, that is not written yet, until
    `max_seconds` have passed since `start` (the data stages resume shard by shard)."""
    for s in range(math.ceil(clips / shard)):
        path = out / f"shard_{s:04d}.pt"
        if path.exists():
            continue
        if time.time() - start > max_seconds:
            return
        yield s, path


def latent_stats(vae: VideoVAE, n: int = 64, seed: int = 7):
    """Per-channel mean and std of raw latents over rendered clips (stored in the VAE config)."""
    rng = random.Random(seed)
    zs = []
    for _ in range(n):
        w, h = ASPECT_SIZES[pick_aspect(rng)]
        frames = render(sample_scene(rng), w, h, BASE_FPS, CLIP_FRAMES)
        with torch.no_grad():
            zs.append(vae.encode(to_tensor(frames)[None]).float().flatten(2).squeeze(0))
    z = torch.cat(zs, dim=1)
    return z.mean(1).tolist(), z.std(1).clamp_min(1e-3).tolist()


# --------------------------------------------------------------------------
# 3. Transformer
# --------------------------------------------------------------------------

# Clean patterns (which tokens are given, not denoised), so one model serves every editing verb.
PATTERNS = {"none": 0.40, "first": 0.15, "last": 0.05, "ends": 0.07, "keyframes": 0.05,
            "prefix": 0.10, "suffix": 0.05, "inpaint": 0.08, "outpaint": 0.05}


# A curriculum's first phase (session 9's lineage): 80% of clips keep every token noisy or only one
# end frame clean, so the motion has to come from the prompt. In the mix above, 27% of clips are
# given their motion by clean frames (both ends, keyframes, prefix, suffix) and 13% most of the
# picture (inpaint, outpaint), which teaches the verbs but not the words.
TEXT_FIRST_PATTERNS = {"none": 0.60, "first": 0.15, "last": 0.05, "ends": 0.04, "keyframes": 0.03,
                       "prefix": 0.06, "suffix": 0.03, "inpaint": 0.025, "outpaint": 0.015}


def phase_at(step: int, schedule, default=None):
    """What a schedule of phases [(first_step, mix), ...] uses at `step` (a plain mix: always that
    mix; None: `default`)."""
    if not schedule:
        return default
    if isinstance(schedule, dict):
        return schedule
    phases = sorted(schedule, key=lambda phase: phase[0])
    return ([mix for first, mix in phases if step >= first] or [phases[0][1]])[-1]


def patterns_at(step: int, schedule) -> dict:
    """The clean-pattern mix at `step` for a schedule [(first_step, mix), ...]; None: PATTERNS."""
    return phase_at(step, schedule, PATTERNS)


def clean_pattern(rng: random.Random, grid: tuple[int, int, int], patterns: dict | None = None) -> torch.Tensor:
    """A random clean mask over the token grid (T, H, W), True = held clean; `patterns`: the mix of
    kinds (default PATTERNS)."""
    T, H, W = grid
    m = torch.zeros(T, H, W, dtype=torch.bool)
    patterns = patterns or PATTERNS
    if set(patterns) - set(PATTERNS):
        raise ValueError(f"unknown clean patterns {sorted(set(patterns) - set(PATTERNS))}; allowed: {list(PATTERNS)}")
    kind = rng.choices(list(patterns), weights=list(patterns.values()))[0]
    if kind == "first":
        m[0] = True
    elif kind == "last":
        m[-1] = True
    elif kind == "ends":
        m[0] = m[-1] = True
    elif kind == "keyframes":
        for i in rng.sample(range(T), rng.randint(1, T - 1)):
            m[i] = True
    elif kind == "prefix":
        m[:rng.randint(1, T - 1)] = True
    elif kind == "suffix":
        m[rng.randint(1, T - 1):] = True
    elif kind in ("inpaint", "outpaint"):
        h, w = rng.randint(1, max(1, H * 3 // 4)), rng.randint(1, max(1, W * 3 // 4))
        y, x = rng.randint(0, H - h), rng.randint(0, W - w)
        box = torch.zeros(H, W, dtype=torch.bool)
        box[y:y + h, x:x + w] = True
        m[:] = ~box if kind == "inpaint" else box
    return m


def sample_t(rng: torch.Generator, n: int, shift: float, uniform: float = 0.5) -> torch.Tensor:
    """Noise levels: logit-normal (SD3) shifted toward noise, mixed with a uniform share.
    Logit-normal alone almost never draws t near 1 (1% above 0.95), yet sampling starts at
    t = 1, where layout, colour and motion are decided: the first run's model, trained on
    logit-normal only, predicted noise-like x0 at t = 1 and sampled garbage."""
    dev = rng.device
    t = torch.sigmoid(torch.randn(n, generator=rng, device=dev))
    t = shift * t / (1 + (shift - 1) * t)
    u = torch.rand(n, generator=rng, device=dev)
    return torch.where(torch.rand(n, generator=rng, device=dev) < uniform, u, t)


class LatentData:
    """All shards in memory, grouped by aspect."""

    def __init__(self, folder: Path, device: str = "cpu"):
        self.device = device
        self.parts: dict[str, dict[str, torch.Tensor]] = {}
        for path in sorted(folder.glob("shard_*.pt")):
            for aspect, d in torch.load(path).items():
                p = self.parts.setdefault(aspect, {k: [] for k in d})
                for k, v in d.items():
                    p[k].append(v)
        self.parts = {a: {k: torch.cat(v).to(device) for k, v in d.items()} for a, d in self.parts.items()}
        self.counts = {a: len(d["latents"]) for a, d in self.parts.items()}

    def batch(self, rng: random.Random, size: int, empty_text, drop: float, wide_frames: int | None = None,
              aspects: dict | None = None, layout_drop: float = 0.0):
        """`wide_frames`: 16:9 and 9:16 batches are cut to a random run of this many frames. They
        have 2.5x the tokens of 1:1 and attention is quadratic, so whole wide clips cost 2.8x a
        square step; the square clips teach the whole 2 seconds of motion. `aspects`: the share of
        batches per aspect (default: as many as the data has clips). Data with layouts (the layout
        lineage) also returns the batch's packed layouts, each dropped with `layout_drop`."""
        if aspects and set(aspects) - set(self.counts):
            raise ValueError(f"no training clips for aspect(s) {sorted(set(aspects) - set(self.counts))}; "
                             f"the data has {sorted(self.counts)}")
        weights = aspects or self.counts
        aspect = rng.choices(list(weights), weights=list(weights.values()))[0]
        d = self.parts[aspect]
        idx = torch.tensor([rng.randrange(self.counts[aspect]) for _ in range(size)], device=self.device)
        cap = torch.tensor([rng.randrange(d["tokens"].shape[1]) for _ in range(size)], device=self.device)
        tokens, masks, pooled = d["tokens"][idx, cap].float(), d["masks"][idx, cap], d["pooled"][idx, cap].float()
        dropped = [rng.random() < drop for _ in range(size)]
        for i in range(size):  # text dropout: the unconditional branch of guidance sees the empty prompt
            if dropped[i]:
                tokens[i], masks[i], pooled[i] = empty_text
        latents, maps = d["latents"][idx], d["maps"][idx]
        T = latents.shape[2]
        s = 0
        if wide_frames and aspect != "1:1" and wide_frames < T:
            s = rng.randrange(T - wide_frames + 1)
            latents, maps = latents[:, :, s:s + wide_frames], maps[:, s:s + wide_frames]
        if "boxes" not in d:
            return latents.float(), maps.float(), tokens, masks, pooled
        F_ = latents.shape[2]
        layout = {"boxes": d["boxes"][idx][:, :, s:s + F_].float(), "visible": d["visible"][idx][:, :,
                                                                                                 s:s + F_].float(),
                  "attrs": d["attrs"][idx].long(), "pillar": d["pillar"][idx][:, s:s + F_].float(),
                  "scene": d["scene"][idx].long()}
        for i in range(size):  # layout dropout: about half the text-dropped clips lose it too (unconditional)
            if rng.random() < (LAYOUT_DROP_WITH_TEXT if dropped[i] else layout_drop):
                layout["boxes"][i], layout["visible"][i] = 0, 0
                layout["attrs"][i], layout["pillar"][i], layout["scene"][i] = -1, float("nan"), -1
        return latents.float(), maps.float(), tokens, masks, pooled, layout


def lr_at(step: int, segments) -> float:
    """The learning rate at `step` for a schedule of segments (first_step, peak, last_step): each
    warms up (200 steps for the first segment, 100 after) and decays by cosine to a tenth of its peak
    at its last step. A later run that extends a finished schedule adds a segment."""
    i = max(k for k, seg in enumerate(segments) if step >= seg[0] or k == 0)
    first, peak, last = segments[i]
    warm = min(1.0, (step - first + 1) / (200 if i == 0 else 100))
    return peak * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - first) / max(1, last - first)))))


def token_maps(maps: torch.Tensor, pt: int) -> torch.Tensor:
    """Per-frame object fractions (B, F, h, w) -> per token (B, ceil(F / pt) * h * w)."""
    B, F_, h, w = maps.shape
    T = -(-F_ // pt)
    maps = torch.nn.functional.pad(maps, (0, 0, 0, 0, 0, T * pt - F_))
    return maps.view(B, T, pt, h, w).mean(2).flatten(1)


def flow_loss(model, fwd, x0, maps, text, clean, gen: torch.Generator, shift: float, t_uniform: float,
              object_weight: float) -> torch.Tensor:
    """The flow-matching loss of one batch: a noise level per clip (0 on its clean tokens), the
    velocity error per token weighted by 1 + object_weight x object fraction, no loss on clean
    tokens. `fwd` is `model` or its compiled form; `text` = (tokens, mask, pooled)."""
    B = x0.shape[0]
    t = sample_t(gen, B, shift, t_uniform)[:, None].expand(B, clean.shape[1]).masked_fill(clean, 0.0)  # B, N
    noise = torch.randn(x0.shape, generator=gen, device=x0.device)
    t_lat = model.expand_tokens(t, x0.shape)  # B, C, T, H, W
    xt = (1 - t_lat) * x0 + t_lat * noise
    dtype = autocast_dtype(x0.device.type)
    with torch.autocast(x0.device.type, dtype=dtype, enabled=dtype != torch.float32):
        v = fwd(xt, t, *text)
    err = model.patchify((v.float() - (noise - x0)).pow(2)).mean(-1)  # B, N
    w = (1 + object_weight * token_maps(maps, model.config.patch_size[0])) * (~clean)
    return (err * w).sum() / w.sum().clamp_min(1.0)


def train_step(model, fwd, opt, x0, maps, text, rng: random.Random, gen: torch.Generator, shift: float,
               t_uniform: float, object_weight: float, patterns: dict | None = None):
    """One optimiser step on a batch: random clean patterns (`patterns`: their mix, default PATTERNS),
    the flow loss, gradients clipped to norm 1. Returns (loss, gradient norm) as tensors."""
    grid = model.grid(x0.shape)
    clean = torch.stack([clean_pattern(rng, grid, patterns) for _ in range(x0.shape[0])]).flatten(1).to(x0.device)
    loss = flow_loss(model, fwd, x0, maps, text, clean, gen, shift, t_uniform, object_weight)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss, gnorm


def rewarm(step: int, fresh_from: int | None, steps: int = 100) -> float:
    """A factor on the learning rate for the first `steps` steps after a fresh optimizer joins a
    trained model (a run seeded from a model folder): with zero moments Adam's first updates are
    sign-sized whatever the gradient, so they ramp up as a first run's warm-up does."""
    if fresh_from is None:
        return 1.0
    return min(1.0, (step - fresh_from + 1) / steps)


@torch.no_grad()
def ema_update(ema, model, step: int, decay: float):
    """EMA of the weights, with a short warm-up (the decay grows from 0.1 towards `decay`)."""
    d = min(decay, (1 + step) / (10 + step))
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.lerp_(pm, 1 - d)


def train_dit(run: Path, config: dict, steps: int, batch: int = 32, lr: float = 1e-3, shift: float = 2.0,
              t_uniform: float = 0.5, text_drop: float = 0.1, ema_decay: float = 0.998, max_seconds: float = 1e9,
              seed: int = 0,
              compile: bool = True, object_weight: float = 3.0, checkpoint_every_s: float = 600,
              schedule=None, wide_frames: int | None = None, device: str = "cpu", eval_every: int = 0,
              on_eval=None, aspects=None, patterns=None, layout_drop: float = 0.0):
    """`schedule`: segments (first_step, peak_lr, last_step) (see lr_at); default one cosine from
    `lr` over `steps`. `aspects`: the share of batches per aspect, or phases of them [(first_step,
    shares), ...] (default by clip counts); `patterns`: the clean-pattern mix per phase (default
    PATTERNS). `device`: "cpu" is the recipe; "cuda" runs the same steps on a GPU (random streams
    differ, so a GPU run does not reproduce a CPU run bit for bit). `on_eval(ema) -> dict`, every
    `eval_every` steps: figures logged with the step (engine.bench.world.score_transformer)."""
    ckpt = run / "dit.pt"
    torch.manual_seed(seed)
    model = SpacetimeDiT(**config).to(device)
    ema = SpacetimeDiT(**config).to(device).eval().requires_grad_(False)
    ema.load_state_dict(model.state_dict())
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.99), weight_decay=0.01)
    step, fresh_from = 0, None
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False, map_location=device)
        # A model without the layout input warm-starts one with it: the new weights keep their zero start
        strict = bool(state["config"].get("layout_dim")) or not config.get("layout_dim")
        for m, key in ((model, "model"), (ema, "ema")):
            missing, unexpected = m.load_state_dict(state[key], strict=strict)
            if unexpected or any(not k.startswith("layout.") for k in missing):
                raise ValueError(f"{ckpt} does not fit the transformer {config}: {missing[:3]} {unexpected[:3]}")
        step = state["step"]
        if state.get("opt"):
            opt.load_state_dict(state["opt"])
        elif step > 0:
            fresh_from = step  # seeded from a model folder: Adam's moments start from zero
    schedule = schedule or [(0, lr, steps)]
    data = LatentData(run / "data", device)
    log(run, stage="dit", event="start", step=step, clips=data.counts,
        params=sum(p.numel() for p in model.parameters()))
    tok, mask, pooled = TextEncoder(device).encode([""])
    empty_text = (tok[0], mask[0], pooled[0])
    fwd = torch.compile(model, dynamic=False) if compile else model  # three fixed shapes, one graph each
    rng = random.Random(seed * 7919 + step)
    gen = torch.Generator(device).manual_seed(seed * 31 + step)
    start = last_ckpt = time.time()
    while step < steps and time.time() - start < max_seconds:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, schedule) * rewarm(step, fresh_from)
        x0, maps, *text = data.batch(rng, batch, empty_text, text_drop, wide_frames, phase_at(step, aspects),
                                     layout_drop)
        if len(text) == 4:  # a layout: its coverage at the latent grid
            text[3] = cover(text[3], *x0.shape[-2:])
        loss, gnorm = train_step(model, fwd, opt, x0, maps, tuple(text), rng, gen, shift, t_uniform,
                                 object_weight, patterns_at(step, patterns))
        step += 1
        ema_update(ema, model, step, ema_decay)
        if on_eval is not None and eval_every and step % eval_every == 0:
            t_eval = time.time()
            log(run, stage="dit", event="eval", step=step, **on_eval(ema), seconds=round(time.time() - t_eval, 1))
        if step % 20 == 0:
            log(run, stage="dit", step=step, loss=round(loss.item(), 4), gnorm=round(gnorm.item(), 3),
                lr=round(opt.param_groups[0]["lr"], 6), elapsed=round(time.time() - start))
        if time.time() - last_ckpt > checkpoint_every_s or step == steps:
            save_checkpoint(ckpt, model=model.state_dict(), ema=ema.state_dict(), opt=opt.state_dict(),
                            step=step, config=config)
            last_ckpt = time.time()
    save_checkpoint(ckpt, model=model.state_dict(), ema=ema.state_dict(), opt=opt.state_dict(),
                    step=step, config=config)
    return ema, step


# --------------------------------------------------------------------------
# 6. The layout lineage's data: clips drawn from layouts (plan, then render)
# --------------------------------------------------------------------------

LAYOUT_WORLD_SHARE = 0.6  # clips of world scenes, captioned; the rest random paths, uncaptioned
LAYOUT_DROP = 0.12  # layout dropped alone (the text-only path keeps working)...
LAYOUT_DROP_WITH_TEXT = 0.5  # ...and with the text in half the text-dropped clips (guidance's unconditional)


def layout_items(seed: int, s: int, n: int) -> list:
    """The (aspect, layout, captions, background seed) of shard `s`'s `n` clips: world scenes (their
    layout is the world's truth, engine.layout.planner.scene_layout) and random smooth paths (no
    motion word says them, so they carry no caption: the layout alone says where things go)."""
    rng = random.Random(seed * 100003 + s + 7_000_000_019)
    seconds = (CLIP_FRAMES - 1) / BASE_FPS
    items = []
    for _ in range(n):
        aspect = pick_aspect(rng)
        w, h = ASPECT_SIZES[aspect]
        if rng.random() < LAYOUT_WORLD_SHARE:
            scene = sample_scene(rng, seconds=CLIP_FRAMES / BASE_FPS)
            items.append((aspect, scene_layout(scene, seconds, w, h), [caption(scene, rng) for _ in
                                                                       range(CAPTIONS_PER_CLIP)], scene.seed))
        else:
            items.append((aspect, random_layout(rng, seconds, w, h), [""] * CAPTIONS_PER_CLIP, rng.randrange(1 << 30)))
    return items


def _draw_clip(job):
    """(layout, width, height, seed) -> (frames, per-token object map, packed layout arrays)."""
    layout, w, h, seed = job
    times = np.arange(CLIP_FRAMES) / BASE_FPS
    frames = draw(layout, w, h, times, seed)
    empty = draw(dataclasses.replace(layout, objects=[]), w, h, times, seed)
    hit = (np.abs(frames.astype(np.int16) - empty.astype(np.int16)).sum(-1) > 0).astype(np.float32)
    P = TOKEN_PIXELS
    hh, ww = -(-h // P), -(-w // P)
    hit = np.pad(hit, ((0, 0), (0, hh * P - h), (0, ww * P - w)))
    return frames, hit.reshape(len(hit), hh, P, ww, P).mean((2, 4)), layout_arrays(layout, w, h, times)


def build_layout_data(run: Path, vae: VideoVAE, clips: int, shard: int = 250, seed: int = 11,
                      max_seconds: float = 1e9, device: str = "cpu"):
    """Draw, caption and encode `clips` clips with their layouts into shards under run/data (resumable);
    the shards hold what `build_data`'s do plus each clip's packed layout (engine.layout.raster.pack)."""
    out = run / "data"
    out.mkdir(parents=True, exist_ok=True)
    text = TextEncoder(device)
    vae = vae.eval().to(device)
    dtype = autocast_dtype(device)
    start = time.time()
    for s, path in _shards_to_make(out, clips, shard, start, max_seconds):
        items = layout_items(seed, s, min(shard, clips - s * shard))
        packed = {}
        for aspect in ASPECT_SIZES:
            group = [it for it in items if it[0] == aspect]
            if not group:
                continue
            w, h = ASPECT_SIZES[aspect]
            d = {}
            for i in range(0, len(group), 16):
                chunk = group[i:i + 16]
                drawn = [_draw_clip((lay, w, h, sd)) for _, lay, _, sd in chunk]
                with torch.no_grad(), torch.autocast(device_type(device), dtype=dtype, enabled=dtype != torch.float32):
                    z = vae.normalize(vae.encode(torch.stack([to_tensor(f) for f, _, _ in drawn]).to(device)).float())
                tok, mask, pooled = (v.cpu() for v in text.encode([c for _, _, caps, _ in chunk for c in caps]))
                k = CAPTIONS_PER_CLIP
                parts = {"latents": z.cpu().half(), "maps": torch.stack([torch.from_numpy(m) for _, m,
                                                                         _ in drawn]).half(),
                         "tokens": tok.half().view(len(chunk), k, *tok.shape[1:]), "masks": mask.view(len(chunk), k,
                                                                                                      -1),
                         "pooled": pooled.half().view(len(chunk), k, -1)}
                for key in ("boxes", "visible", "pillar"):
                    parts[key] = torch.from_numpy(np.stack([a[key] for _, _, a in drawn])).half()
                for key in ("attrs", "scene"):
                    parts[key] = torch.from_numpy(np.stack([a[key] for _, _, a in drawn])).to(torch.int8)
                for key, v in parts.items():
                    d.setdefault(key, []).append(v)
            packed[aspect] = {key: torch.cat(v) for key, v in d.items()}
        torch.save(packed, path.with_suffix(".tmp"))
        os.replace(path.with_suffix(".tmp"), path)
        log(run, stage="data", shard=s, layouts=True, seconds=round(time.time() - start, 1))


# --------------------------------------------------------------------------
# Export and the whole recipe
# --------------------------------------------------------------------------

SHIFT = 2.0
SCHEDULER_CONFIG = {"num_train_timesteps": 1000, "shift": SHIFT, "use_dynamic_shifting": False}  # what models ship with
RECIPE = dict(vae_steps=800, vae_schedule_steps=900, vae_batch=8, clips=6000, dit_preset="XS", dit_steps=12000,
              dit_batch=16, dit_lr=1e-3, shift=SHIFT, text_drop=0.1, ema_decay=0.998, object_weight=5.0,
              vae_decoder_steps=800, vae_decoder_tune_from=None, vae_decoder_edge_weight=0.0,
              vae_decoder_latent_noise=0.0, t_uniform=0.5, wide_frames=8,
              # share of batches per aspect (None: as many as the data has clips) and the clean-pattern
              # mix per phase (None: PATTERNS throughout)
              dit_aspects=None, dit_patterns=None,
              # captions from the rich grammar (RICH_WORDS), and how many per clip
              data_rich=False, data_captions=CAPTIONS_PER_CLIP,
              # learning-rate segments (first step, peak, last step): the first two runs, then a restart
              # in the third run (docs/TRAINING.md)
              dit_schedule=[(0, 1e-3, 4500), (4500, 6e-4, 12000)])
# Every lineage's recipe, by name (`python -m engine train --recipe NAME`). "xs" made the bundled
# model. "s2-rich" is session 9's lineage (docs/TRAINING.md): the same VAE, twice the clips (the
# first 6000 are the xs recipe's; the second 6000 from its second run on), four rich captions per
# clip, the S2 transformer (two frames per token, x0 prediction) at batch 32, one
# cosine over 26000 steps, mostly square batches and the text-first clean patterns until step 17000,
# then the xs recipe's aspect and pattern mix (wide shots and the verbs).
RECIPES = {
    "xs": RECIPE,
    "s2-rich": {**RECIPE, "clips": 12000, "data_rich": True, "data_captions": 4, "dit_preset": "S2", "dit_batch": 32,
                "dit_steps": 26000, "dit_lr": 1e-3, "dit_schedule": [(0, 1e-3, 26000)],
                "dit_aspects": [(0, {"1:1": 0.85, "16:9": 0.075, "9:16": 0.075}),
                                (17000, {"1:1": 0.6, "16:9": 0.2, "9:16": 0.2})],
                "dit_patterns": [(0, TEXT_FIRST_PATTERNS), (17000, PATTERNS)]},
    # Plan, then render (docs/TRAINING.md, "The layout lineage"): the bundled S2 transformer, warm-started,
    # given a layout input (engine.layout; zero at the start, so it begins as the bundled model), on clips drawn
    # from layouts: world scenes with captions and random smooth paths without. `dit_steps` count from the
    # warm start's step; the learning rate warms up again and decays by cosine over them.
    # `data_rich`: the words the transformer knows are the warm start's (s2-rich); its own clips have plain captions.
    # Its second run (session 19) added 1250 clips (shards 11-15, same seed) and a second cosine segment.
    "layout": {**RECIPE, "warm_start": "assets/models/tenku-world", "layout_data": True, "clips": 4000,
               "data_rich": True,
               "dit_preset": "S2", "layout_dim": 16, "dit_batch": 16, "dit_steps": 5500, "dit_lr": 1.5e-4,
               "dit_schedule": None, "layout_segments": [(0, 1.5e-4, 3000), (3000, 1e-4, 5500)],
               "layout_drop": LAYOUT_DROP, "dit_aspects": None,
               "dit_patterns": [(0, TEXT_FIRST_PATTERNS)],
               # the decoder tuned on (`train --stage decoder`): outlines weighted and latents jittered, so that
               # the transformer's slightly off-manifold latents decode to clean objects (docs/TRAINING.md)
               "vae_decoder_steps": 1300, "vae_decoder_tune_from": 800, "vae_decoder_edge_weight": 10.0,
               "vae_decoder_latent_noise": 0.4},
}


def load_vae(run: Path, decoder: bool = False) -> VideoVAE:
    """The trained VAE of a run, with latent statistics filled in (computed once). `decoder=True`:
    with the fine-tuned decoder of stage 4 when it exists."""
    state = torch.load(run / "vae.pt", weights_only=False, map_location="cpu")
    vae = VideoVAE()
    vae.load_state_dict(state["model"])
    if decoder and (run / "vae_decoder.pt").exists():
        vae.load_state_dict(torch.load(run / "vae_decoder.pt", weights_only=False, map_location="cpu")["model"])
    stats = run / "latent_stats.json"
    if not stats.exists():
        mean, std = latent_stats(vae.eval())
        stats.write_text(json.dumps({"mean": mean, "std": std}))
    s = json.loads(stats.read_text())
    vae.register_to_config(latents_mean=s["mean"], latents_std=s["std"])
    return vae.eval()


READER = dict(captions=12000, steps=1500, batch=64, lr=1e-3, seed=0)  # engine.world.reading.train_reader's recipe


def reader_recipe(recipe: dict | None) -> dict:
    """READER with a lineage recipe's own "reader" settings over it."""
    return {**READER, **((recipe or {}).get("reader") or {})}


def train_reader_stage(run: Path, recipe: dict | None = None):
    """Stage 5: the prompt reader (engine.world.reading), trained on tagged training captions with MiniLM
    frozen; a few minutes. Saved in the run folder (`reader/`), which `export` copies."""
    if (run / "reader" / "config.json").exists():
        return
    run.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    model = train_reader(**reader_recipe(recipe), log=lambda **k: log(run, stage="reader", **k))
    model.save_pretrained(run / "reader")
    log(run, stage="reader", done=True, seconds=round(time.time() - t0, 1))


def export_reader(source: Path, out: Path, recipe: dict | None = None):
    """Copy a trained reader folder into a model folder and record its recipe in model_index.json."""
    shutil.copytree(source, out / "reader", dirs_exist_ok=True)
    index = json.loads((out / "model_index.json").read_text())
    index["reader"] = ["engine.models.reader", "PromptReader"]
    index.setdefault("training", {})["reader"] = reader_recipe(recipe)
    (out / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")


def decoder_stage(run: Path, model: Path, minutes: float, recipe: dict | None = None) -> bool:
    """Stage 4 again on a model folder's VAE (`train --stage decoder`): its decoder fine-tuned on, from the
    steps its recipe says it has, to the recipe's `vae_decoder_steps`, with the tuning segment's edge weight
    and latent noise; the encoder, hence the latents and the transformer, unchanged. Resumable: a run folder
    without a decoder checkpoint starts from `model`'s VAE. True when the stage's steps are done."""
    r = recipe or RECIPE
    if r.get("vae_decoder_tune_from") is None:
        raise ValueError("the recipe has no decoder tuning segment (vae_decoder_tune_from); the layout recipe has")
    if not (run / "vae_decoder.pt").exists():
        done = model_decoder_steps(model)
        if done >= r["vae_decoder_steps"]:
            raise ValueError(f"{model}'s decoder already has the recipe's {r['vae_decoder_steps']} steps; nothing to "
                             "tune")
        if done > r["vae_decoder_tune_from"] and done != r.get("vae_decoder_small_from"):
            raise ValueError(f"{model}'s decoder has {done} steps, inside one of the recipe's tuning segments "
                             f"(from {r['vae_decoder_tune_from']} and {r.get('vae_decoder_small_from')} to "
                             f"{r['vae_decoder_steps']}); it goes on only from a segment's start")
        seed_vae_from_model(run, model)
    step = train_vae_decoder(run, max_seconds=minutes * 60, **decoder_settings(r))
    return step >= r["vae_decoder_steps"]


DECODER_KEYS = ("vae_decoder_steps", "vae_decoder_tune_from", "vae_decoder_edge_weight", "vae_decoder_latent_noise",
                "vae_decoder_small_from", "vae_decoder_small_weight")


def decoder_settings(r: dict) -> dict:
    """train_vae_decoder's arguments from a recipe (the small-object segment only where it has one)."""
    return dict(steps=r["vae_decoder_steps"], tune_from=r["vae_decoder_tune_from"],
                edge_weight=r["vae_decoder_edge_weight"], latent_noise=r["vae_decoder_latent_noise"],
                small_from=r.get("vae_decoder_small_from"), small_weight=r.get("vae_decoder_small_weight", 0.0))


def export_decoder(run: Path, out: Path, recipe: dict | None = None):
    """The run's VAE with its tuned decoder into the model folder `out` (the rest of the folder as it is), and
    the decoder's recipe keys into its model_index.json."""
    r = recipe or RECIPE
    load_vae(run, decoder=True).save_pretrained(out / "vae")
    index = json.loads((out / "model_index.json").read_text())
    said = index.setdefault("training", {}).setdefault("recipe", {})
    said.update({k: r[k] for k in DECODER_KEYS if k in r})
    (out / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
    log(run, stage="export_decoder", out=str(out), vae_decoder_steps=r["vae_decoder_steps"])


def export(run: Path, out: Path, recipe: dict | None = None):
    """The run's EMA transformer and VAE (with its fine-tuned decoder) as a model folder; `recipe`
    (default RECIPE) is recorded in its model_index.json."""
    # deferred: loads SciPy (diffusers' schedulers); this module imports without it
    from engine.families.pipeline import WorldPipeline

    vae = load_vae(run, decoder=True)
    state = torch.load(run / "dit.pt", weights_only=False, map_location="cpu")
    dit = SpacetimeDiT(**state["config"])
    dit.load_state_dict(state["ema"])
    pipe = WorldPipeline(vae, dit, SCHEDULER_CONFIG)
    # float16 storage halves the transformer on disk (21 MB to 11 MB for "XS"); loading upcasts
    pipe.save_pretrained(out, extra_index={"training": {"dit_steps": state["step"], "recipe": recipe or RECIPE}},
                         transformer_dtype=torch.float16)
    if (run / "reader" / "config.json").exists():
        export_reader(run / "reader", out, recipe)
    log(run, stage="export", out=str(out), dit_steps=state["step"])


def train_all(run: Path, minutes: float, resume_from: Path | None = None, out: Path | None = None,
              compile: bool = True, device: str = "cpu", recipe: dict | None = None):
    """Run every stage that is not finished yet, within `minutes` of wall time in total. `device`:
    "cpu" is the recipe's machine; "cuda" runs the same stages on a GPU (for trying recipes fast:
    a model trained there is not the CPU recipe's model, see docs/TRAINING.md). `recipe`: one of
    RECIPES (default RECIPE, the bundled model's)."""
    run.mkdir(parents=True, exist_ok=True)
    deadline = time.time() + minutes * 60
    r = recipe or RECIPE
    if resume_from is None and r.get("warm_start"):
        resume_from = REPO / r["warm_start"]
    if resume_from is not None and not (run / "dit.pt").exists():
        seed_run_from_model(run, resume_from)
    if r.get("layout_data"):
        train_layout(run, r, deadline, compile, device)
        if out is not None:
            export(run, safe_out(run, out), r)
        return
    vae_state = torch.load(run / "vae.pt", weights_only=False,
                           map_location="cpu") if (run / "vae.pt").exists() else {"step": 0}
    if vae_state["step"] < r["vae_steps"]:
        train_vae(run, steps=r["vae_steps"], batch=r["vae_batch"], max_seconds=deadline - time.time(),
                  schedule_steps=r["vae_schedule_steps"], device=device)
    vae = load_vae(run)
    build_data(run, vae, clips=r["clips"], max_seconds=deadline - time.time(), device=device,
               rich=r.get("data_rich", False), captions=r.get("data_captions", CAPTIONS_PER_CLIP))
    train_dit(run, {**PRESETS[r["dit_preset"]]}, steps=r["dit_steps"], batch=r["dit_batch"], lr=r["dit_lr"],
              shift=r["shift"], t_uniform=r["t_uniform"], text_drop=r["text_drop"], ema_decay=r["ema_decay"],
              object_weight=r["object_weight"], max_seconds=deadline - time.time() - 60, compile=compile,
              schedule=r["dit_schedule"], wide_frames=r["wide_frames"], device=device,
              aspects=r.get("dit_aspects"), patterns=r.get("dit_patterns"))
    # 4. The decoder alone, encoder frozen (latents unchanged). In the first run it trained
    # alongside the transformer on the machine's second core.
    train_vae_decoder(run, max_seconds=max(0.0, deadline - time.time()), device=device, **decoder_settings(r))
    # 5. The prompt reader (minutes; MiniLM frozen, so it does not depend on the stages above)
    train_reader_stage(run, r)
    if out is not None:
        export(run, safe_out(run, out), r)


def train_layout(run: Path, r: dict, deadline: float, compile: bool, device: str):
    """The layout lineage's stages: its data (clips drawn from layouts), then the transformer from the
    warm start with the layout input added; the VAE and the prompt reader are the warm start's."""
    lineage = run / "lineage.json"
    if not lineage.exists():  # the step the warm start ended at: this lineage's steps count from it
        start = torch.load(run / "dit.pt", weights_only=False,
                           map_location="cpu")["step"] if (run / "dit.pt").exists() else 0
        lineage.write_text(json.dumps({"from_step": start}))
    first = json.loads(lineage.read_text())["from_step"]
    build_layout_data(run, load_vae(run), clips=r["clips"], max_seconds=deadline - time.time(), device=device)
    last = first + r["dit_steps"]
    segments = r.get("layout_segments") or [(0, r["dit_lr"], r["dit_steps"])]  # steps from the warm start's
    train_dit(run, {**PRESETS[r["dit_preset"]], "layout_dim": r["layout_dim"]}, steps=last, batch=r["dit_batch"],
              lr=r["dit_lr"], shift=r["shift"], t_uniform=r["t_uniform"], text_drop=r["text_drop"],
              ema_decay=r["ema_decay"], object_weight=r["object_weight"], max_seconds=deadline - time.time() - 60,
              compile=compile, schedule=[(first + a, lr, first + b) for a, lr, b in segments],
              wide_frames=r["wide_frames"], device=device,
              aspects=r.get("dit_aspects"), patterns=r.get("dit_patterns"), layout_drop=r["layout_drop"])


def safe_out(run: Path, out: Path) -> Path:
    """`out`, unless it holds a model trained further than this run's transformer: then the run's own
    export folder, so a short or early run never replaces a better model (the bundled one)."""
    index = out / "model_index.json"
    if not index.exists():
        return out
    theirs = json.loads(index.read_text()).get("training", {}).get("dit_steps", 0)
    ours = torch.load(run / "dit.pt", weights_only=False, map_location="cpu")["step"]
    if ours >= theirs:
        return out
    log(run, stage="export", note=f"{out} holds a model trained for {theirs} steps, this run {ours}: "
                                  f"exported to {run / 'export'} instead")
    return run / "export"


def model_decoder_steps(model: Path) -> int:
    """The decoder steps (stage 4) a model folder's VAE carries, as its recipe records them."""
    index = json.loads((model / "model_index.json").read_text())
    return index.get("training", {}).get("recipe", {}).get("vae_decoder_steps", RECIPE["vae_decoder_steps"])


def seed_vae_from_model(run: Path, model: Path):
    """A run's VAE checkpoints and latent statistics from a model folder's VAE. The committed VAE carries the
    fine-tuned decoder (stage 4) as far as its recipe took it: a recipe with more decoder steps continues
    from there."""
    run.mkdir(parents=True, exist_ok=True)
    vae = VideoVAE.from_pretrained(model / "vae")
    save_checkpoint(run / "vae.pt", model=vae.state_dict(), opt=None, step=RECIPE["vae_steps"])
    save_checkpoint(run / "vae_decoder.pt", model=vae.state_dict(), opt=None, step=model_decoder_steps(model))
    (run / "latent_stats.json").write_text(json.dumps({"mean": vae.config.latents_mean,
                                                       "std": vae.config.latents_std}))


def seed_run_from_model(run: Path, model: Path):
    """Start a run from a committed model folder (a later training session resumes from it)."""
    seed_vae_from_model(run, model)
    dit = SpacetimeDiT.from_pretrained(model / "transformer", torch_dtype=torch.float32)
    step = json.loads((model / "model_index.json").read_text()).get("training", {}).get("dit_steps", 0)
    save_checkpoint(run / "dit.pt", model=dit.state_dict(), ema=dit.state_dict(), opt=None, step=step,
                    config={k: v for k, v in dit.config.items() if not k.startswith("_")})
    if (model / "reader" / "config.json").exists() and not (run / "reader").exists():  # the model's reader goes on
        shutil.copytree(model / "reader", run / "reader")
