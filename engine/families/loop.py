"""The engine's loop for multistep schedulers (UniPC, which the released Wan 2.1 folders ship).

`engine.sampling.sampler.sample` writes the Euler update out (x + (s_next - s) * v), which is exact for
FlowMatchEulerDiscreteScheduler and is what every family uses when its folder ships that
scheduler. A multistep solver such as UniPC keeps a history of model outputs and corrects the
previous step with the new one, so its update cannot be written as a function of the current
velocity alone: this variant hands the update to `scheduler.step` and keeps everything else as
in `sample` (guidance on the batch [cond, uncond], conditions by replacement, per-step callback).
"""
from __future__ import annotations

from typing import Callable

import torch

from engine.sampling.sampler import LatentConditions, StepInfo, _cat, start_step


def sample_stepped(model: Callable, scheduler, noise: torch.Tensor, text, uncond, *, steps: int, guidance: float,
                   cond: LatentConditions | None = None, start_latents: torch.Tensor | None = None,
                   strength: float = 1.0, callback: Callable[[StepInfo], None] | None = None) -> torch.Tensor:
    """Denoise `noise` with `scheduler.step`. `model(x, t, text)` with t = timestep / num_train_timesteps (B,).
    Known content in `cond` is reset after every step to itself noised to the current level (for a
    condition of strength s < 1, only while the level is above 1 - s, as `sample` does)."""
    scheduler.set_timesteps(steps)
    timesteps, sigmas = scheduler.timesteps, scheduler.sigmas.tolist()
    train = scheduler.config.num_train_timesteps
    first, x = 0, noise
    if start_latents is not None and strength < 1.0:
        first = start_step(sigmas, steps, strength)
        x = (1 - sigmas[first]) * start_latents + sigmas[first] * noise
        scheduler.set_begin_index(first)
    B = x.shape[0]
    for i in range(first, steps):
        s, s_next = sigmas[i], sigmas[i + 1]
        # conditions of strength < 1 are released once the level falls to theirs (cond.level)
        on = None if cond is None else cond.clean if cond.level is None else cond.clean & (s > cond.level)
        if cond is not None:
            x = torch.where(on, (1 - s) * cond.latents + s * noise, x)
        t = torch.full((B,), float(timesteps[i]) / train)
        if guidance != 1.0:
            v_c, v_u = model(torch.cat([x, x]), torch.cat([t, t]), _cat(text, uncond)).chunk(2)
            v = v_u + guidance * (v_c - v_u)
        else:
            v = model(x, t, text)
        denoised = x - s * v
        x = scheduler.step(v, timesteps[i], x, return_dict=False)[0]
        if cond is not None:
            x = torch.where(on, (1 - s_next) * cond.latents + s_next * noise, x)
        if callback is not None:
            callback(StepInfo(i + 1, steps, s_next, x, denoised))
    return x
