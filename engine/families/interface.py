"""What the engine asks of every model family (the bundled world model, LTX-Video, Wan): declared here so that
the service and the studio use attributes and methods, never `getattr(pipe, name, default)` probes that hide a
family missing one (the studio's live preview called a world-only method under a bare except, so a real
checkpoint never showed one)."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import torch


@runtime_checkable
class Family(Protocol):
    family: str  # "world", "ltx", "wan"
    name: str  # the model folder's name
    renders_itself: bool  # True: the service hands it the whole request (LTX, Wan); False: the service's windows
    per_token_timesteps: bool  # conditions held clean natively (True) or by replacement
    temporal_ratio: int  # frames per latent frame after the first
    time_patch: int  # latent frames per transformer token
    take_fps: float  # the rate the studio renders takes at
    verbs: dict  # verb -> "native" | "replacement"
    reader: object  # the model's prompt reader (engine.world.reading.Reader), None without one
    takes_layout: bool  # whether the transformer renders layouts (engine.layout)

    def check_verb(self, verb: str) -> None:
        """InputError, before any work, for a verb this family cannot do."""

    def preview(self, denoised: torch.Tensor) -> np.ndarray:
        """uint8 (F, H, W, 3): the frames of a sampling step's clean estimate (engine.sampling.StepInfo.denoised,
        in the family's own latent layout), for the studio's live preview and for keeping a stopped take."""
