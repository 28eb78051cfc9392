"""LTX-Video (Lightricks) through the engine's sampler: T5 text, `AutoencoderKLLTXVideo`,
`LTXVideoTransformer3DModel` on packed tokens with a noise level per token.

Parity target: diffusers' `LTXConditionPipeline` (folders whose model_index names it, LTX 0.9.5
and later) and `LTXPipeline` (0.9.0/0.9.1 folders, text to video). Everything the reference
draws from the generator is drawn here in the same order and shape: the initial noise
(B, C, T, h, w) before packing; per condition, the VAE posterior sample and, for conditions
away from frame 0, the noise they are blended with; per step, the noise added to
hard-conditioned tokens (`image_cond_noise_scale`); the decoder's noise when the VAE is
timestep-conditioned.

How conditions become tokens (as LTXConditionPipeline does it): a still or clip at frame 0
replaces the first latent frames in place; one elsewhere is encoded on its own and appended
as extra tokens whose rotary coordinates place it at its frame (a clip longer than two latent
frames puts its first two there and the rest in place). Conditioned tokens see timestep 0
and are held clean: the sampler's native per-token path.

A condition of strength s < 1 (as LTXConditionPipeline's `strength`): its tokens start from the
condition blended with the noise, lerp(noise, condition, s), which is the condition at noise level
1 - s; they are told that level (timestep min(t, 1 - s)) and held at that blend until the schedule
falls to 1 - s, then the model denoises them like the rest; LTX's small added noise goes to the
tokens of strength 1 only.

Loops: the clip, then a seam window across the wrap-around (engine.families.seam) whose held latent
frames replace the latents in place and are told timestep 0 token by token, as a clip at frame 0 is.
"""
from __future__ import annotations

import numpy as np
import torch

from engine.errors import InputError
from engine.families.base import DiffusersFamily, pad_to, place_conditions
from engine.sampling.conditioning import MaskCondition, build_latent_conditions, fit_frames
from engine.sampling.sampler import LatentConditions

IMAGE_COND_NOISE_SCALE = 0.15  # LTXConditionPipeline's default
DECODE_TIMESTEP = 0.0  # the reference default (Lightricks suggest 0.05 with noise scale 0.025 for 0.9.5+)


# --------------------------------------------------------------------------
# Schedules
# --------------------------------------------------------------------------

def linear_quadratic_sigmas(steps: int, threshold: float = 0.025) -> list[float]:
    """LTX-Video's schedule (ltx_video/schedulers/rf.py): in 1 - sigma, linear from 0 to
    `threshold` over the first half of the steps, then the quadratic that continues it with the
    same slope and reaches 1 at `steps`. Returns the `steps` sigmas (the final 0 is implied)."""
    if steps < 2:
        return [1.0]
    lin = steps // 2
    quad = steps - lin
    slope = threshold / lin
    curve = (1.0 - threshold - slope * quad) / quad ** 2
    done = [i * slope for i in range(lin)] + [threshold + slope * u + curve * u * u for u in range(quad)]
    return [1.0 - d for d in done]


class Schedule:
    """The sampler's view of a schedule: `set_timesteps(n)`, then `sigmas` (n + 1 values, last 0)."""

    def __init__(self, sigmas_for):
        self._sigmas_for = sigmas_for
        self.sigmas = None

    def set_timesteps(self, steps: int):
        self.sigmas = self._sigmas_for(steps)


# --------------------------------------------------------------------------
# The family
# --------------------------------------------------------------------------

class LTXFamily(DiffusersFamily):
    family = "ltx"
    per_token_timesteps = True
    verbs = {"generate": "native", "animate": "native", "extend": "native", "fill": "native",
             "bridge": "native", "loop": "native", "remix": "native", "inpaint": "replacement"}
    native_fps = None  # the transformer takes the frame rate (rotary coordinates): render at the asked rate
    size_multiple = 32
    aspects = {"1:1": (512, 512), "16:9": (768, 448), "9:16": (448, 768)}
    text_encoder_class = "T5EncoderModel"

    def __init__(self, path, device="cpu", dtype=torch.float32, *, offload=False, vae_tiling=False):
        super().__init__(path, device, dtype, offload=offload, vae_tiling=vae_tiling)
        self.condition_pipeline = self.index["_class_name"] == "LTXConditionPipeline"
        self.max_sequence_length = 256 if self.condition_pipeline else 128  # the references' defaults
        self.spatial_ratio = self.vae.spatial_compression_ratio
        self.temporal_ratio = self.vae.temporal_compression_ratio
        self.patch, self.patch_t = self.transformer.config.patch_size, self.transformer.config.patch_size_t
        self.image_cond_noise_scale = IMAGE_COND_NOISE_SCALE
        self.decode_timestep, self.decode_noise_scale = DECODE_TIMESTEP, None
        self._state = None

    # -- stage 2: prompt ----------------------------------------------------------------
    @torch.no_grad()
    def encode_prompt(self, prompts: list[str]):
        """[prompt, negative] -> ((embeds, mask) for the prompt, (embeds, mask) for the negative),
        padded to max length; T5 sees the padding mask in LTXConditionPipeline, not in LTXPipeline."""
        batch = self.tokenizer(list(prompts), padding="max_length", max_length=self.max_sequence_length,
                               truncation=True, add_special_tokens=True, return_tensors="pt")
        mask = batch.attention_mask.bool().to(self.device)
        with self.on_device(self.text_encoder):
            emb = self.text_encoder(batch.input_ids.to(self.device),
                                    attention_mask=mask if self.condition_pipeline else None)[0].to(self.dtype)
        return (emb[:1], mask[:1]), (emb[1:], mask[1:])

    # -- packing -------------------------------------------------------------------------
    def pack(self, z: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> (B, N, D) tokens, D = C * pt * p * p, N ordered frame, row, column."""
        B, C, T, H, W = z.shape
        p, pt = self.patch, self.patch_t
        z = z.reshape(B, C, T // pt, pt, H // p, p, W // p, p)
        return z.permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(B, (T // pt) * (H // p) * (W // p), -1)  # B, N, D

    def unpack(self, x: torch.Tensor, T: int, H: int, W: int) -> torch.Tensor:
        B = x.shape[0]
        p, pt = self.patch, self.patch_t
        x = x.reshape(B, T // pt, H // p, W // p, -1, pt, p, p)
        return x.permute(0, 4, 1, 5, 2, 6, 3, 7).reshape(B, -1, T, H, W)  # B, C, T, H, W

    def coords(self, T: int, H: int, W: int, frame_index: int = 0) -> torch.Tensor:
        """Pixel-space (frame, y, x) of every token (1, 3, N): a latent frame sits at the last pixel
        frame it covers, shifted by `frame_index` for conditions placed away from frame 0."""
        grid = torch.meshgrid(torch.arange(0, T, self.patch_t), torch.arange(0, H, self.patch),
                              torch.arange(0, W, self.patch), indexing="ij")
        ids = torch.stack(grid).reshape(1, 3, -1)  # 1, 3, N
        ids = ids * torch.tensor([self.temporal_ratio, self.spatial_ratio, self.spatial_ratio])[None, :, None]
        ids[:, 0] = (ids[:, 0] + 1 - self.temporal_ratio).clamp(min=0) + frame_index
        return ids

    # -- stages 3-5: latents and conditions ------------------------------------------------
    def check_request(self, req):
        out = super().check_request(req)
        if any(isinstance(c, MaskCondition) for c in req.conditions) and len(req.conditions) > 1:
            raise InputError("inpaint cannot be combined with other conditions for LTX models")
        return out

    def trim(self, start: int, frames: int, total: int) -> int:
        """A clip condition keeps at most what fits after `start`, as 1 + k * temporal ratio frames."""
        n = min(frames, total - start)
        return (n - 1) // self.temporal_ratio * self.temporal_ratio + 1

    @torch.no_grad()
    def encode_condition(self, frames: np.ndarray, width: int, height: int, sample: bool = True) -> torch.Tensor:
        """uint8 (F, H, W, 3) -> normalised latents, sampled from the posterior with the request's
        generator as the reference does (its `retrieve_latents` default); the mean with `sample=False`."""
        x = self.to_pixels(frames, width, height).to(self.device, self.vae.dtype)
        with self.on_device(self.vae):
            dist = self.vae.encode(x).latent_dist
            z = (dist.sample(generator=self._generator) if sample else dist.mode()).float()
        mean = self.vae.latents_mean.view(1, -1, 1, 1, 1).to(z)
        std = self.vae.latents_std.view(1, -1, 1, 1, 1).to(z)
        return (z - mean) / std  # the reference normalises conditions without the scaling factor

    def prepare(self, req, n: int, width: int, height: int) -> dict:
        T = (n - 1) // self.temporal_ratio + 1
        h, w = height // self.spatial_ratio, width // self.spatial_ratio
        noise = self.randn((1, self.transformer.config.in_channels, T, h, w))
        latents = noise.clone()
        frame_strength = torch.zeros(T, device=self.device)
        extra_latents, extra_coords, extra_strength = [], [], []
        conditions = place_conditions(req, n, width, height)
        if conditions and conditions[0][0] == "mask":
            return self.prepare_replacement(req, n, width, height, noise)
        for kind, frames, index, strength in conditions:
            if kind == "clip":
                frames = frames[: self.trim(index, len(frames), n)]
            z = self.encode_condition(frames, width, height)
            k = z.shape[2]
            if index == 0:
                latents[:, :, :k] = torch.lerp(latents[:, :, :k], z, strength)
                frame_strength[:k] = strength
                continue
            if len(frames) > 1:
                if k < 2:
                    raise InputError(f"a clip placed at frame {index} needs at least "
                                     f"{self.temporal_ratio + 1} frames")
                if k > 2:  # the first two latent frames go in as extra tokens, the rest in place
                    a = index // self.temporal_ratio + 2
                    latents[:, :, a:a + k - 2] = torch.lerp(latents[:, :, a:a + k - 2], z[:, :, 2:], strength)
                    frame_strength[a:a + k - 2] = strength
                    z = z[:, :, :2]
            z = torch.lerp(self.randn(z.shape), z, strength)
            extra_latents.append(self.pack(z))
            extra_coords.append(self.coords(z.shape[2], h, w, index))
            extra_strength.append(torch.full(extra_latents[-1].shape[:2], strength, device=self.device))
        ids = self.coords(T, h, w)
        state = {"T": T, "h": h, "w": w, "fps": self.render_fps(req), "extra": 0, "hard": None,
                 "seq_len": T * h * w, "noise": self.pack(noise), "conditioned": bool(conditions)}
        if self.condition_pipeline or conditions:
            token_frame = torch.arange(0, T, self.patch_t).repeat_interleave((h // self.patch) * (w // self.patch))
            strength = torch.cat([*extra_strength, frame_strength[token_frame.to(self.device)][None]], 1)  # 1, N
            coords = torch.cat([*extra_coords, ids], 2).float()
            coords[:, 0] = coords[:, 0] * (1.0 / state["fps"])
            state["coords"] = coords.to(self.device)
        if conditions:
            # the reference's initial latents: conditions blended with the noise by their strength
            # (1: the condition itself); the sampler starts from them and, for strength s < 1, holds
            # them there (at noise level 1 - s) until the schedule reaches that level
            packed = torch.cat([*extra_latents, self.pack(latents)], 1)  # 1, N_extra + N, D
            hard = strength >= 1.0 - 1e-6  # 1, N: LTX's added noise goes to these only
            known = strength > 0  # 1, N
            clean = known[..., None].expand_as(packed)
            level = token_level = None
            if bool((known & ~hard).any()):
                token_level = (1.0 - strength).masked_fill(~known, 1.0)  # 1, N, float32 as the reference
                level = token_level[..., None].expand_as(packed)
            cond = self.conditions_on_device(LatentConditions(latents=packed, clean=clean, held=clean,
                                                              token_clean=known, level=level,
                                                              token_level=token_level))
            state.update(extra=packed.shape[1] - state["noise"].shape[1], hard=hard, noise=packed, cond=cond)
        if req.init_video is not None:
            state["start"] = self.pack(self.encode_condition(pad_to(fit_frames(req.init_video, width, height), n),
                                                             width, height, sample=False))
        self._state = state
        return state

    def prepare_replacement(self, req, n, width, height, noise) -> dict:
        """Inpainting: the kept region, encoded, replaces the latents after every step (LTX was
        trained on whole conditioned frames, not regions, so this is not the per-token path)."""
        T, h, w = noise.shape[2:]
        known = self.knowledge(req, n, width, height)
        c = build_latent_conditions(self.encode_condition(known.filled(), width, height, sample=False), known,
                                    self.temporal_ratio, self.spatial_ratio, (self.patch_t, self.patch, self.patch))
        cond = self.conditions_on_device(LatentConditions(
            latents=self.pack(c.latents), clean=self.pack(c.clean.float()) > 0.5,
            held=self.pack(c.held.float()) > 0.5, token_clean=c.token_clean,
            level=None if c.level is None else self.pack(c.level), token_level=c.token_level))
        coords = self.coords(T, h, w).float()
        coords[:, 0] = coords[:, 0] * (1.0 / self.render_fps(req))
        self._state = {"T": T, "h": h, "w": w, "fps": self.render_fps(req), "extra": 0, "hard": None,
                       "seq_len": T * h * w, "noise": self.pack(noise), "conditioned": False,
                       "coords": coords.to(self.device), "cond": cond, "replacement": True}
        return self._state

    def prepare_seam(self, req, frames, hold, width, height, init=None) -> dict:
        """A loop's seam window (engine.families.seam), natively: the window is encoded once, its held
        latent frames replace the latents in place and are told noise level 0 token by token (with
        LTX's small added noise, as for any hard condition); the rest is denoised from fresh noise."""
        T = (len(frames) - 1) // self.temporal_ratio + 1
        h, w = height // self.spatial_ratio, width // self.spatial_ratio
        noise = self.randn((1, self.transformer.config.in_channels, T, h, w))
        c = self.seam_conditions(frames, hold, self.encode_condition(frames, width, height, sample=False))
        cond = self.conditions_on_device(LatentConditions(
            latents=self.pack(c.latents), clean=self.pack(c.clean.float()) > 0.5,
            held=self.pack(c.held.float()) > 0.5, token_clean=c.token_clean))
        fps = self.render_fps(req)
        coords = self.coords(T, h, w).float()
        coords[:, 0] = coords[:, 0] * (1.0 / fps)
        state = {"T": T, "h": h, "w": w, "fps": fps, "extra": 0, "hard": c.token_clean.to(self.device),
                 "seq_len": T * h * w, "noise": self.pack(noise), "conditioned": True,
                 "coords": coords.to(self.device), "cond": cond}
        if init is not None:
            state["start"] = self.pack(self.encode_condition(init, width, height, sample=False))
        self._state = state
        return state

    # -- stage 6: the model and its schedule ---------------------------------------------------
    def make_scheduler(self, state: dict | None = None) -> Schedule:
        """LTXConditionPipeline folders: the linear-quadratic schedule, timesteps = 1000 * sigma.
        LTXPipeline folders: linspace(1, 1/n) through the folder's scheduler with its
        sequence-length shift (mu), as LTXPipeline calls it."""
        # deferred: diffusers is heavy; this module imports without it
        from diffusers import FlowMatchEulerDiscreteScheduler

        if self.condition_pipeline:
            def sigmas_for(steps):
                t = torch.tensor(linear_quadratic_sigmas(steps), dtype=torch.float32) * 1000.0
                return torch.cat([t / 1000.0, torch.zeros(1)])
            return Schedule(sigmas_for)

        config = self.scheduler_config
        seq_len = (state or self._state or {}).get("seq_len", 1024)

        def sigmas_for(steps):
            base, top = config.get("base_image_seq_len", 256), config.get("max_image_seq_len", 4096)
            lo, hi = config.get("base_shift", 0.5), config.get("max_shift", 1.15)
            mu = lo + (hi - lo) * (seq_len - base) / (top - base)
            scheduler = FlowMatchEulerDiscreteScheduler.from_config(config)
            scheduler.set_timesteps(sigmas=np.linspace(1.0, 1 / steps, steps), mu=mu)
            return scheduler.sigmas
        return Schedule(sigmas_for)

    def model_fn(self, x, t, text):
        """Velocity for packed tokens x (B, N, D) at sigma t (B,) or per token (B, N)."""
        emb, mask = text
        state = self._state
        B = x.shape[0]
        t = t.to(self.device, torch.float32)
        if state["conditioned"] and self.image_cond_noise_scale > 0:
            # LTX adds a little noise, shrinking with the level, to the hard-conditioned tokens
            # before every call ("helps with motion continuity"); held tokens are back to clean
            # after each step, so it is added here, to what the model sees
            sigma = float(t.max())
            add = self.image_cond_noise_scale * self.randn(x.shape[1:])[None] * sigma ** 2
            state["last_added"] = add
            x = torch.where(state["hard"][..., None], x + add, x)
        kwargs = {}
        if "coords" in state:
            kwargs["video_coords"] = state["coords"].expand(B, -1, -1)
        else:
            kwargs.update(num_frames=state["T"], height=state["h"], width=state["w"],
                          rope_interpolation_scale=(self.temporal_ratio / state["fps"], self.spatial_ratio,
                                                    self.spatial_ratio))
        with self.on_device(self.transformer):
            v = self.transformer(hidden_states=x.to(self.dtype), encoder_hidden_states=emb, timestep=t * 1000.0,
                                 encoder_attention_mask=mask, return_dict=False, **kwargs)[0]
        return v.float()

    # -- stage 7: decode ---------------------------------------------------------------------
    @torch.no_grad()
    def decode(self, x: torch.Tensor, state: dict) -> np.ndarray:
        if state.get("last_added") is not None:  # the reference keeps the last step's added noise
            x = torch.where(state["hard"][..., None], x + state["last_added"], x)
        z = self.unpack(x[:, state["extra"]:], state["T"], state["h"], state["w"])
        mean = self.vae.latents_mean.view(1, -1, 1, 1, 1).to(z)
        std = self.vae.latents_std.view(1, -1, 1, 1, 1).to(z)
        z = (z * std / self.vae.config.scaling_factor + mean).to(self.dtype)
        temb = None
        if self.vae.config.timestep_conditioning:
            scale = self.decode_timestep if self.decode_noise_scale is None else self.decode_noise_scale
            z = (1 - scale) * z + scale * self.randn(z.shape).to(z.dtype)
            temb = torch.tensor([self.decode_timestep], device=self.device, dtype=z.dtype)
        with self.on_device(self.vae):
            video = self.vae.decode(z.to(self.vae.dtype), temb, return_dict=False)[0]
        return self.to_uint8(video)
