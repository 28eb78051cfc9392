"""The denoising loop: flow matching with classifier-free guidance and per-token conditions.

The loop is ours and fits on one screen; the scheduler is a swappable diffusers
object (`FlowMatchEulerDiscreteScheduler`), one instance per job, `set_timesteps`
before every run. Tokens marked clean in `cond.clean` are held at their given
latents and told the model they have noise level 0 (native per-token path); for
models without per-token noise levels, `replacement=True` resets the known
region after every step to the known content noised to the current level
(RePaint/SDEdit-style replacement).

`edit` is the other way to remake a whole video (remix): instead of noising the input and
denoising it toward the new prompt (SDEdit, `sample` with `start_latents`), it moves the input
along the difference between what the model does with the new prompt and with no prompt at all
(after FlowEdit, Kulikov et al. 2024, with the empty prompt as the source's), so what the prompt
asks for changes and the rest of the input stays.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import torch


class Cancelled(Exception):
    """Raised by a callback to stop sampling; carries the partial latents."""

    def __init__(self, latents=None):
        super().__init__("cancelled")
        self.latents = latents


@dataclasses.dataclass
class LatentConditions:
    """Conditions already in latent space, all (B, C, T, H, W) but `token_clean`.
    `clean`: True where `latents` are known; `held`: known elements of tokens that are entirely
    known, held exactly clean and shown to the model at noise level 0; `token_clean`: (B, N)
    those tokens. Known elements in partly known tokens are replaced by the known content noised
    to the current level, as are all known elements on the replacement path.
    `level` (like `latents`) and `token_level` (B, N), for conditions of strength s < 1: the
    noise level 1 - s at which an element is released to the model; held tokens are shown at
    that level until then (LTX-Video's condition strength). None: everything held to the end."""
    latents: torch.Tensor
    clean: torch.Tensor
    held: torch.Tensor
    token_clean: torch.Tensor
    level: torch.Tensor | None = None
    token_level: torch.Tensor | None = None


@dataclasses.dataclass
class StepInfo:
    step: int
    steps: int
    sigma: float
    latents: torch.Tensor  # current noisy latents
    denoised: torch.Tensor  # current estimate of the clean latents (for previews)


@torch.no_grad()
def sample(model: Callable, scheduler, noise: torch.Tensor, text, uncond, *, steps: int,
           guidance: float, cond: LatentConditions | None = None, start_latents: torch.Tensor | None = None,
           strength: float = 1.0, replacement: bool = False, callback: Callable[[StepInfo], None] | None = None,
           generator: torch.Generator | None = None, churn: float = 0.0,
           guided: Callable | None = None) -> torch.Tensor:
    """Denoise `noise` (B, C, T, H, W). `model(x, t, text) -> velocity` with t (B,) or (B, N).
    `text` / `uncond` are whatever the model takes for the prompt and the empty/negative prompt.
    `guided(x, t, text, w) -> velocity`: a guidance-distilled model (engine.training.distill) that gives the
    guided velocity in one call; with it a guided step asks one model once instead of `model` twice.
    `start_latents` with `strength` < 1 is SDEdit: start from them noised to `strength`.
    `churn` in [0, 1]: the share of the noise estimate replaced by fresh noise (from `generator`)
    at every step; 0 is the deterministic Euler step."""
    scheduler.set_timesteps(steps)
    sigmas = scheduler.sigmas.tolist()  # steps + 1 values, from ~1 down to 0
    first = 0
    if start_latents is not None and strength < 1.0:
        first = start_step(sigmas, steps, strength)
        x = (1 - sigmas[first]) * start_latents + sigmas[first] * noise
    else:
        x = noise
    B = x.shape[0]
    for i in range(first, steps):
        s, s_next = sigmas[i], sigmas[i + 1]
        if cond is not None:
            x = _hold(x, cond, noise, s, s, replacement)
        t = torch.full((B,), s)
        if cond is not None and not replacement:
            held_t = 0.0 if cond.token_level is None else cond.token_level.clamp(max=s)
            t = torch.where(cond.token_clean, held_t, torch.full(cond.token_clean.shape, s))  # B, N
        if guidance != 1.0 and guided is not None:
            v = guided(x, t, text, guidance)
        elif guidance != 1.0:
            v = model(torch.cat([x, x]), torch.cat([t, t]), _cat(text, uncond))
            v_c, v_u = v.chunk(2)
            v = v_u + guidance * (v_c - v_u)
        else:
            v = model(x, t, text)
        denoised = x - s * v
        if churn > 0 and s_next > 0:  # x_next = (1 - s') x0 + s' eps, eps partly fresh
            eps = x + (1 - s) * v
            fresh = torch.randn(x.shape, generator=generator)
            x = (1 - s_next) * denoised + s_next * ((1 - churn ** 2) ** 0.5 * eps + churn * fresh)
        else:
            x = x + (s_next - s) * v  # the same as churn = 0 above
        if cond is not None:
            x = _hold(x, cond, noise, s, s_next, replacement)
        if callback is not None:
            callback(StepInfo(i + 1, steps, s_next, x, denoised))
    return x


def start_step(sigmas: list, steps: int, strength: float) -> int:
    """The step a remix of `strength` starts at: the one whose noise level is nearest it."""
    return min(range(steps), key=lambda i: abs(sigmas[i] - strength))


@torch.no_grad()
def edit(model: Callable, scheduler, source: torch.Tensor, text, uncond, *, steps: int, guidance: float,
         strength: float, generator: torch.Generator, cond: LatentConditions | None = None,
         replacement: bool = False, callback: Callable[[StepInfo], None] | None = None) -> torch.Tensor:
    """Edit `source` latents (B, C, T, H, W) toward `text`, from noise level `strength` down. At every
    level a fresh noising of the source, shifted by the edit so far, is given to the model with the
    new prompt (guided), and the unshifted noising with `uncond` (the empty prompt unless a negative
    one is given); the edit moves by the difference of the two velocities. Nothing is sampled from
    noise, so where the prompt asks for nothing new the difference is small and the source stays.
    `cond`: latents held as they are (frames a previous window already edited), shown to the model
    as `sample` shows them (`replacement`: for models without per-token noise levels)."""
    scheduler.set_timesteps(steps)
    sigmas = scheduler.sigmas.tolist()
    first = start_step(sigmas, steps, strength)
    z, B = source.clone(), source.shape[0]
    for i in range(first, steps):
        s, s_next = sigmas[i], sigmas[i + 1]
        eps = torch.randn(source.shape, generator=generator)
        noised = (1 - s) * source + s * eps
        shifted = noised + (z - source)
        t = t_source = torch.full((B,), s)
        if cond is not None:
            shifted = _hold(shifted, cond, eps, s, s, replacement)
            if not replacement:
                t_source = torch.full(cond.token_clean.shape, s)
                t = torch.where(cond.token_clean, 0.0, t_source)
        v_c, v_u, v_source = model(torch.cat([shifted, shifted, noised]), torch.cat([t, t, t_source]),
                                   _cat(_cat(text, uncond), uncond)).chunk(3)
        z = z + (s_next - s) * (v_u + guidance * (v_c - v_u) - v_source)
        if cond is not None:
            z = torch.where(cond.clean, cond.latents, z)
        if callback is not None:
            callback(StepInfo(i + 1, steps, s_next, z, z))
    return z


def _hold(x, cond: LatentConditions, noise, gate: float, sigma: float, replacement: bool):
    """Known elements not yet released at level `gate` reset to their content at level `sigma`."""
    on = cond.clean if cond.level is None else cond.clean & (gate > cond.level)
    return torch.where(on, _noised(cond, noise, sigma, replacement), x)


def _noised(cond: LatentConditions, noise, sigma: float, replacement: bool):
    """Known content at the current level: clean where held (native path; at its release level
    for a condition of strength < 1), noised elsewhere."""
    noised = (1 - sigma) * cond.latents + sigma * noise
    if replacement:
        return noised
    if cond.level is None:
        return torch.where(cond.held, cond.latents, noised)
    lvl = cond.level.clamp(max=sigma)
    return torch.where(cond.held, (1 - lvl) * cond.latents + lvl * noise, noised)


def _cat(a, b):
    if isinstance(a, torch.Tensor):
        return torch.cat([a, b])
    return type(a)(_cat(x, y) for x, y in zip(a, b))
