"""Guidance distillation: one model call a sampling step instead of two (issue 30, item 2).

Classifier-free guidance asks the transformer twice a step, with the prompt and layout (v_c) and without
(v_u), and samples along v_u + w (v_c - v_u). A student that takes w as an input and gives that guided
velocity in one call (Meng et al., "On Distillation of Guided Diffusion Models", CVPR 2023, first stage)
halves the transformer's share of a render. The student is the bundled transformer with a guidance input
(engine.models.dit, `guidance_embeds`: zero at the start, scaled by w - 1, so it starts as the teacher) and is
trained on the layout lineage's own cached clips (engine.training.train.LatentData): noised as in training,
with the same held-clean token patterns the verbs use, the prompt and the layout dropped as in training so
the unguided and layout-free paths stay the teacher's; w drawn from [1, W_MAX], some exactly 1 (the teacher's
plain conditional velocity). The loss is the teacher's guided velocity against the student's, on the tokens
that are not held clean. It ships beside the teacher in the model folder (`transformer_guided`), which the
sampler uses for guided steps when asked (engine.sampling.sampler, `guided`).

Resumable (run/guided.pt), within a wall-time budget, as every stage of `python -m engine train`.
"""
from __future__ import annotations

import copy
import json
import random
import time
from pathlib import Path

import torch

from engine.defaults import autocast_dtype
from engine.layout.raster import cover, null_arrays, stack
from engine.models.dit import GUIDED, SpacetimeDiT
from engine.models.text import TextEncoder
from engine.training.train import (
    RECIPES,
    LatentData,
    clean_pattern,
    ema_update,
    log,
    lr_at,
    patterns_at,
    phase_at,
    sample_t,
    save_checkpoint,
    token_maps,
)

W_MAX = 9.0  # guidance scales the student learns: 1 to this (the studio's default is 5, remix's 8)
DISTILL = dict(batch=16, lr=1e-4, steps=1000, w_one=0.15, text_drop=0.1, ema_decay=0.99)


def student_from(teacher: SpacetimeDiT) -> SpacetimeDiT:
    """The teacher with a guidance input added (zero, so the student starts as the teacher)."""
    config = {k: v for k, v in teacher.config.items() if not k.startswith("_")}
    student = SpacetimeDiT(**{**config, "guidance_embeds": True})
    missing, unexpected = student.load_state_dict(teacher.state_dict(), strict=False)
    if unexpected or any(not k.startswith("guidance_embed.") for k in missing):
        raise ValueError(f"the student does not fit the teacher: {missing[:3]} {unexpected[:3]}")
    return student


def guidance_scales(gen: torch.Generator, n: int, w_one: float) -> torch.Tensor:
    """(n,) scales: uniform in [1, W_MAX], a share `w_one` exactly 1."""
    w = 1 + (W_MAX - 1) * torch.rand(n, generator=gen)
    return torch.where(torch.rand(n, generator=gen) < w_one, torch.ones(n), w)


def distill_loss(student, teacher, x0, maps, text, empty, layout, clean, gen, shift, t_uniform, w_one,
                 object_weight):
    """The student's guided velocity against the teacher's, per token weighted as the flow loss (objects count
    more, held-clean tokens not at all). `text` = (tokens, mask, pooled); `empty`: the same for the empty
    prompt; `layout`: the batch's coverage tensors (or None); clean: (B, N) tokens held clean."""
    B = x0.shape[0]
    t = sample_t(gen, B, shift, t_uniform)[:, None].expand(B, clean.shape[1]).masked_fill(clean, 0.0)
    noise = torch.randn(x0.shape, generator=gen)
    t_lat = student.expand_tokens(t, x0.shape)
    xt = (1 - t_lat) * x0 + t_lat * noise
    w = guidance_scales(gen, B, w_one)
    h, wd = x0.shape[-2:]
    null = cover(stack([null_arrays(layout["boxes"].shape[2])] * B), h, wd) if layout is not None else None
    dtype = autocast_dtype(x0.device.type)
    with torch.autocast(x0.device.type, dtype=dtype, enabled=dtype != torch.float32):
        cond = cover(layout, h, wd) if layout is not None else None
        with torch.no_grad():
            both = [torch.cat([a, b]) for a, b in zip(text, empty)]
            pair = tuple(torch.cat([a, b]) for a, b in zip(cond, null)) if cond is not None else None
            v_c, v_u = teacher(torch.cat([xt, xt]), torch.cat([t, t]), *both, pair).float().chunk(2)
            target = v_u + w.view(B, 1, 1, 1, 1) * (v_c - v_u)
        v = student(xt, t, *text, cond, guidance=w)
    err = student.patchify((v.float() - target).pow(2)).mean(-1)  # B, N
    weight = (1 + object_weight * token_maps(maps, student.config.patch_size[0])) * (~clean)
    return (err * weight).sum() / weight.sum().clamp_min(1.0)


def distill_guidance(run: Path, teacher_folder: Path, minutes: float, recipe: dict | None = None,
                     settings: dict | None = None, seed: int = 5) -> tuple[SpacetimeDiT, int]:
    """Train (or go on training) the guidance-distilled student of `teacher_folder`'s transformer on the clips
    cached in run/data, for at most `minutes`; checkpoints to run/guided.pt. Returns (EMA student, step)."""
    r, s = recipe or RECIPES["layout"], {**DISTILL, **(settings or {})}
    ckpt = run / "guided.pt"
    torch.manual_seed(seed)
    teacher = SpacetimeDiT.from_pretrained(teacher_folder / "transformer", torch_dtype=torch.float32)
    teacher = teacher.eval().requires_grad_(False)
    student = student_from(teacher).train()
    ema = copy.deepcopy(student).eval().requires_grad_(False)
    opt = torch.optim.AdamW(student.parameters(), lr=s["lr"], betas=(0.9, 0.99), weight_decay=0.0)
    step = 0
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False, map_location="cpu")
        student.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        step = state["step"]
    data = LatentData(run / "data")
    tok, mask, pooled = TextEncoder("cpu").encode([""])
    empty_one = (tok[0], mask[0], pooled[0])
    log(run, stage="distill", event="start", step=step, clips=data.counts, teacher=str(teacher_folder))
    rng = random.Random(seed * 7919 + step)
    gen = torch.Generator().manual_seed(seed * 31 + step)
    start = last_ckpt = time.time()
    budget = minutes * 60
    patterns = patterns_at(r["dit_steps"], r.get("dit_patterns"))  # the lineage's last mix of clean tokens
    while step < s["steps"] and time.time() - start < budget:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, [(0, s["lr"], s["steps"])])  # 200 steps' warm-up, then a cosine to a tenth
        x0, maps, tokens, masks, pooled_b, layout = data.batch(rng, s["batch"], empty_one, s["text_drop"],
                                                               r["wide_frames"], phase_at(step, r.get("dit_aspects")),
                                                               r["layout_drop"])
        B = x0.shape[0]
        empty = tuple(e.expand(B, *e.shape) for e in empty_one)
        grid = student.grid(x0.shape)
        clean = torch.stack([clean_pattern(rng, grid, patterns) for _ in range(B)]).flatten(1)
        loss = distill_loss(student, teacher, x0, maps, (tokens, masks, pooled_b), empty, layout, clean, gen,
                            r["shift"], r["t_uniform"], s["w_one"], r["object_weight"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        step += 1
        ema_update(ema, student, step, s["ema_decay"])
        if step % 10 == 0:
            log(run, stage="distill", step=step, loss=round(loss.item(), 4), gnorm=round(gnorm.item(), 3),
                lr=round(opt.param_groups[0]["lr"], 7), elapsed=round(time.time() - start))
        if time.time() - last_ckpt > 300:
            save_checkpoint(ckpt, model=student.state_dict(), ema=ema.state_dict(), opt=opt.state_dict(), step=step)
            last_ckpt = time.time()
    save_checkpoint(ckpt, model=student.state_dict(), ema=ema.state_dict(), opt=opt.state_dict(), step=step)
    log(run, stage="distill", event="end", step=step, seconds=round(time.time() - start))
    return ema, step


def export_guided(run: Path, out: Path, default: bool = False) -> None:
    """The run's EMA student into model folder `out` (beside its transformer, float16 as it), listed in its
    model_index.json with the steps it was trained for. `default`: whether the engine's "auto" sampler renders
    with it; only for a student measured within noise of the full sampler (docs/BENCHMARKS.md), else it is the
    opt-in draft sampler ("distilled")."""
    state = torch.load(run / "guided.pt", weights_only=False, map_location="cpu")
    teacher = SpacetimeDiT.from_pretrained(out / "transformer", torch_dtype=torch.float32)
    student = student_from(teacher)
    student.load_state_dict(state["ema"])
    student.to(torch.float16).save_pretrained(out / GUIDED)
    index = json.loads((out / "model_index.json").read_text())
    index["guided_transformer"] = ["engine.models.dit", "SpacetimeDiT"]
    index.setdefault("training", {})["guided"] = {**DISTILL, "w_max": W_MAX, "trained_steps": state["step"],
                                                   "default": default}
    (out / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
    log(run, stage="export", out=str(out), guided_steps=state["step"])
