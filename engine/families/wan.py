"""Wan 2.1 text to video through the engine's sampler: UMT5 text, `AutoencoderKLWan`,
`WanTransformer3DModel` on (B, C, T, H, W) latents with one timestep per sample.

Parity target: diffusers' `WanPipeline`. Wan 2.1 was not trained with a noise level per token,
so every conditioned verb runs by replacement: after each step the known latents are reset to
the known content noised to the current level. A still at frame k > 0 claims the whole latent
frame covering it (the VAE's latent frame j covers pixel frames 4j-3..4j), filled with the still.
A condition of strength s < 1 is replaced only while the noise level is above 1 - s, then the
model may change it.

Loops: the clip, then a seam window across the wrap-around (engine.families.seam) whose held
latent frames are replaced in the same way.
"""
from __future__ import annotations

import html
import re

import numpy as np
import torch

from engine.families.base import DiffusersFamily, pad_to
from engine.families.loop import sample_stepped
from engine.sampling.conditioning import ClipCondition, MaskCondition, build_latent_conditions, fit_frames
from engine.sampling.sampler import sample


def clean_prompt(text: str) -> str:
    """What WanPipeline does to a prompt before tokenizing: ftfy when installed, HTML entities
    unescaped, whitespace collapsed."""
    try:
        import ftfy  # deferred: optional (ftfy): used when installed
        text = ftfy.fix_text(text)
    except ImportError:
        pass
    text = html.unescape(html.unescape(text)).strip()
    return re.sub(r"\s+", " ", text).strip()


class WanFamily(DiffusersFamily):
    family = "wan"
    per_token_timesteps = False
    verbs = {"generate": "native", "animate": "replacement", "extend": "replacement", "fill": "replacement",
             "bridge": "replacement", "loop": "replacement", "inpaint": "replacement", "remix": "native"}
    native_fps = 16.0
    size_multiple = 16
    aspects = {"1:1": (624, 624), "16:9": (832, 480), "9:16": (480, 832)}
    text_encoder_class = "UMT5EncoderModel"
    max_sequence_length = 512  # WanPipeline's default

    def __init__(self, path, device="cpu", dtype=torch.float32, *, offload=False, vae_tiling=False):
        super().__init__(path, device, dtype, offload=offload, vae_tiling=vae_tiling)
        self.temporal_ratio = self.vae.config.scale_factor_temporal
        self.spatial_ratio = self.vae.config.scale_factor_spatial
        self.size_multiple = self.spatial_ratio * self.transformer.config.patch_size[1]
        self.mean = torch.tensor(self.vae.config.latents_mean).view(1, -1, 1, 1, 1)
        self.inv_std = 1.0 / torch.tensor(self.vae.config.latents_std).view(1, -1, 1, 1, 1)

    def render_fps(self, req) -> float:
        """16 fps (Wan's training rate) for text and stills; verbs that hand over footage (extend, fill,
        bridge, inpaint, remix) lay it on their own time grid, and the model works on that grid, so
        held frames map one to one onto the model's frames."""
        footage = req.init_video is not None or any(isinstance(c, (ClipCondition, MaskCondition))
                                                    for c in req.conditions)
        return req.fps if footage else self.native_fps

    # -- stage 2: prompt ------------------------------------------------------------------
    @torch.no_grad()
    def encode_prompt(self, prompts: list[str]):
        """[prompt, negative] -> (embeds for the prompt, embeds for the negative), zero past each prompt's end."""
        batch = self.tokenizer([clean_prompt(p) for p in prompts], padding="max_length",
                               max_length=self.max_sequence_length, truncation=True, add_special_tokens=True,
                               return_attention_mask=True, return_tensors="pt")
        ids, mask = batch.input_ids.to(self.device), batch.attention_mask.to(self.device)
        with self.on_device(self.text_encoder):
            emb = self.text_encoder(ids, mask).last_hidden_state
        emb = torch.where(mask.bool()[..., None], emb, torch.zeros_like(emb)).to(self.dtype)
        return emb[:1], emb[1:]

    # -- stages 3-5: latents and conditions --------------------------------------------------
    @torch.no_grad()
    def encode_video(self, frames: np.ndarray, width: int, height: int) -> torch.Tensor:
        """uint8 (F, H, W, 3) -> normalised latents (posterior mode, as WanImageToVideoPipeline)."""
        x = self.to_pixels(frames, width, height).to(self.device, self.vae.dtype)
        with self.on_device(self.vae):
            z = self.vae.encode(x).latent_dist.mode().float()
        return (z - self.mean.to(z)) * self.inv_std.to(z)

    def prepare(self, req, n: int, width: int, height: int) -> dict:
        T = (n - 1) // self.temporal_ratio + 1
        h, w = height // self.spatial_ratio, width // self.spatial_ratio
        noise = self.randn((1, self.transformer.config.in_channels, T, h, w))
        state = {"noise": noise, "replacement": True}
        if req.conditions:
            known = self.knowledge(req, n, width, height)
            z = self.encode_video(known.filled(), width, height)
            state["cond"] = self.conditions_on_device(build_latent_conditions(
                z, known, self.temporal_ratio, self.spatial_ratio, tuple(self.transformer.config.patch_size)))
        if req.init_video is not None:
            state["start"] = self.encode_video(pad_to(fit_frames(req.init_video, width, height), n), width, height)
        return state

    def prepare_seam(self, req, frames, hold, width, height, init=None) -> dict:
        """A loop's seam window (engine.families.seam): encoded once, its held latent frames replaced
        after every step by themselves noised to the current level; the rest from fresh noise."""
        T = (len(frames) - 1) // self.temporal_ratio + 1
        h, w = height // self.spatial_ratio, width // self.spatial_ratio
        noise = self.randn((1, self.transformer.config.in_channels, T, h, w))
        cond = self.seam_conditions(frames, hold, self.encode_video(frames, width, height))
        state = {"noise": noise, "replacement": True, "cond": self.conditions_on_device(cond)}
        if init is not None:
            state["start"] = self.encode_video(init, width, height)
        return state

    # -- stage 6 ----------------------------------------------------------------------------
    def make_scheduler(self, state=None):
        """A fresh scheduler of the folder's class (UniPC for the released checkpoints)."""
        import diffusers  # deferred: diffusers is heavy; this module imports without it

        return getattr(diffusers, self.scheduler_config["_class_name"]).from_config(self.scheduler_config)

    def model_fn(self, x, t, text):
        """Velocity for latents x (B, C, T, H, W) at t (B,) in [0, 1]."""
        with self.on_device(self.transformer):
            v = self.transformer(hidden_states=x.to(self.dtype), timestep=t.to(self.device) * 1000.0,
                                 encoder_hidden_states=text, return_dict=False)[0]
        return v.float()

    def denoise(self, state: dict, text, uncond, req, callback=None):
        # deferred: diffusers is heavy; this module imports without it
        from diffusers import FlowMatchEulerDiscreteScheduler

        scheduler = self.make_scheduler()
        guidance = req.guidance if req.guidance > 1.0 else 1.0  # as WanPipeline: no guidance at or below 1
        if isinstance(scheduler, FlowMatchEulerDiscreteScheduler):
            return sample(self.model_fn, scheduler, state["noise"], text, uncond, steps=req.steps, guidance=guidance,
                          cond=state.get("cond"), start_latents=state.get("start"), strength=req.strength,
                          replacement=True, callback=callback)
        return sample_stepped(self.model_fn, scheduler, state["noise"], text, uncond, steps=req.steps,
                              guidance=guidance, cond=state.get("cond"), start_latents=state.get("start"),
                              strength=req.strength, callback=callback)

    # -- stage 7 ------------------------------------------------------------------------------
    @torch.no_grad()
    def decode(self, z: torch.Tensor, state: dict) -> np.ndarray:
        z = z.to(self.vae.dtype)
        z = z / self.inv_std.to(z) + self.mean.to(z)
        with self.on_device(self.vae):
            video = self.vae.decode(z, return_dict=False)[0]
        return self.to_uint8(video)
