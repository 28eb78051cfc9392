"""Conditions as small dataclasses, and how they become held-clean latents.

Every editing verb is the same operation: some spacetime patches are known
(a still, the frames around a gap, the tail of the previous window, the
unmasked part of every frame) and held clean; the rest is denoised. A
condition is placed on the frames of a window in pixel space, the window is
encoded once, and a latent frame is known when every frame it covers is known
(the VAE's latent frame 0 covers frame 0 alone, latent frame j covers frames
4j-3..4j); a latent element is known in space when its 8x8 pixel block lies
outside the region to repaint.

Fitting policy (`fit_frames`): inputs of any size or aspect are scaled to cover
the model's canvas and centre-cropped (no letterbox bars for the model to copy);
`unfit_frames` maps results back to the input's size for pasting.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch
from PIL import Image

from engine.errors import InputError
from engine.sampler import LatentConditions


@dataclasses.dataclass
class ImageCondition:
    """A still (uint8 H, W, 3) placed at `frame_index` (negative counts from the end)."""
    image: np.ndarray
    frame_index: int = 0
    strength: float = 1.0


@dataclasses.dataclass
class ClipCondition:
    """Frames (uint8 F, H, W, 3) placed from `frame_index` on."""
    frames: np.ndarray
    frame_index: int = 0
    strength: float = 1.0


@dataclasses.dataclass
class MaskCondition:
    """Repaint where `mask` (bool H, W) is True in every frame of `video`; keep the rest."""
    video: np.ndarray
    mask: np.ndarray
    strength: float = 1.0


def check_strength(strength: float, what: str = "strength") -> None:
    if not (0.0 < strength <= 1.0):
        raise InputError(f"{what} must be in (0, 1], got {strength}")


# --------------------------------------------------------------------------
# Fitting inputs to the canvas
# --------------------------------------------------------------------------

def fit_frames(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale to cover (width, height) keeping aspect, then centre-crop. uint8 (F, H, W, 3)."""
    F_, H, W = frames.shape[:3]
    if (W, H) == (width, height):
        return frames
    scale = max(width / W, height / H)
    w, h = max(width, round(W * scale)), max(height, round(H * scale))
    x0, y0 = (w - width) // 2, (h - height) // 2
    out = np.empty((F_, height, width, 3), np.uint8)
    for i, f in enumerate(frames):
        img = Image.fromarray(f).resize((w, h), Image.LANCZOS)
        out[i] = np.asarray(img)[y0:y0 + height, x0:x0 + width]
    return out


def fit_mask(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """The same cover-and-crop for a mask (bool H, W); any pixel touched stays True."""
    m = fit_frames(np.repeat((mask.astype(np.uint8) * 255)[None, ..., None], 3, -1), width, height)[0, ..., 0]
    return m > 0


def unfit_frames(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    """Inverse of `fit_frames` for results: scale the canvas to cover the original size
    (the cropped margins cannot come back, so the result covers the original by cover-and-crop)."""
    return fit_frames(frames, width, height)


# --------------------------------------------------------------------------
# Pixel-space knowledge -> latent conditions
# --------------------------------------------------------------------------

@dataclasses.dataclass
class WindowKnowledge:
    """What is known on a window of F frames at the canvas size."""
    frames: np.ndarray  # uint8 (F, H, W, 3), unknown frames filled with something plausible
    known_frames: np.ndarray  # bool (F,)
    known_pixels: np.ndarray | None = None  # bool (H, W): for spatial masks, True where kept

    @classmethod
    def empty(cls, frames: int, width: int, height: int):
        return cls(np.full((frames, height, width, 3), 127, np.uint8), np.zeros(frames, bool))

    def place(self, frames: np.ndarray, start: int):
        """Put known frames at [start, start + len) (clipped to the window)."""
        F_ = len(self.frames)
        for i, f in enumerate(frames):
            j = start + i
            if 0 <= j < F_:
                self.frames[j] = f
                self.known_frames[j] = True

    def filled(self) -> np.ndarray:
        """Unknown frames take the nearest known frame, so the encoder sees plausible content."""
        out = self.frames.copy()
        known = np.flatnonzero(self.known_frames)
        if len(known):
            for j in np.flatnonzero(~self.known_frames):
                out[j] = self.frames[known[np.argmin(np.abs(known - j))]]
        return out

    def any(self) -> bool:
        return bool(self.known_frames.any())


def latent_frame_known(known_frames: np.ndarray, temporal_ratio: int) -> np.ndarray:
    """A latent frame is known when every frame it covers is known."""
    T = 1 + (len(known_frames) - 1) // temporal_ratio
    out = np.zeros(T, bool)
    out[0] = known_frames[0]
    for j in range(1, T):
        out[j] = known_frames[1 + (j - 1) * temporal_ratio: 1 + j * temporal_ratio].all()
    return out


def build_latent_conditions(latents: torch.Tensor, known: WindowKnowledge, temporal_ratio: int,
                            spatial_ratio: int, patch: tuple[int, int, int]) -> LatentConditions:
    """From encoded window latents (1, C, T, h, w) and what is known, the sampler's conditions."""
    _, C, T, h, w = latents.shape
    frame_known = torch.from_numpy(latent_frame_known(known.known_frames, temporal_ratio))  # T
    clean = frame_known.view(1, 1, T, 1, 1).expand(1, C, T, h, w).clone()
    if known.known_pixels is not None:
        kp = torch.from_numpy(known.known_pixels)
        H, W = kp.shape
        block = kp.view(h, H // h, w, W // w).all(3).all(1)  # h, w: block entirely kept
        clean |= block.view(1, 1, 1, h, w).expand(1, C, T, h, w)
    pt, ph, pw = patch
    tok = clean[:, 0].view(1, T // pt, pt, h // ph, ph, w // pw, pw).all(6).all(4).all(2)  # 1, T', h', w'
    held = tok[:, :, None, :, None, :, None].expand(1, T // pt, pt, h // ph, ph, w // pw, pw)
    held = held.reshape(1, 1, T, h, w).expand(1, C, T, h, w)
    return LatentConditions(latents=latents, clean=clean, held=held & clean, token_clean=tok.flatten(1))
