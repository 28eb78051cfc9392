"""Conditions as small dataclasses, and how they become held-clean latents.

Every editing verb is the same operation: some spacetime patches are known
(a still, the frames around a gap, the tail of the previous window, the
unmasked part of every frame) and held clean; the rest is denoised. A
condition is placed on the frames of a window in pixel space, the window is
encoded once, and a latent frame is known when every frame it covers is known
(the VAE's latent frame 0 covers frame 0 alone, latent frame j covers frames
t(j-1)+1..tj for a VAE compressing time by t; the bundled VAE has t = 1); a
latent element is known in space when its 8x8 pixel block lies outside the
region to repaint. A condition of strength s < 1 is held only until the noise
level falls to 1 - s, then the model may change it (LTX-Video's semantics); it
is not pasted back.

Fitting policy: an input of any size is scaled to *cover* the model's canvas and
centre-cropped (`fit_frames`; no letterbox bars for the model to copy). Verbs
that take video pick the canvas with `canvas_for`: the native canvas of the
model (1:1, 16:9, 9:16) when the input has that aspect within 2%, else a canvas
of the input's own aspect (sides multiples of 16, short side 128-192; the 3D
rotary positions let the same weights run any token grid), so the crop loses
at most a few percent of one side instead of a quarter of a 4:3 frame.
`unfit_frames` is the inverse: the canvas is scaled back onto the crop window
of the input and the thin margins the crop removed are filled by repeating the
window's edge pixels. `animate` takes a still to a native canvas of its nearest
aspect (`nearest_aspect`), and its output is that canvas.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from PIL import Image

from engine.errors import InputError
from engine.sampling.sampler import LatentConditions


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


def letterbox_frames(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale to fit inside (width, height) keeping aspect, centred on black: the whole picture, with bars
    where its aspect differs (the choice to `fit_frames`' crop). uint8 (F, H, W, 3)."""
    F_, H, W = frames.shape[:3]
    if (W, H) == (width, height):
        return frames
    scale = min(width / W, height / H)
    w, h = max(1, min(width, round(W * scale))), max(1, min(height, round(H * scale)))
    x0, y0 = (width - w) // 2, (height - h) // 2
    out = np.zeros((F_, height, width, 3), np.uint8)
    for i, f in enumerate(frames):
        out[i, y0:y0 + h, x0:x0 + w] = np.asarray(Image.fromarray(f).resize((w, h), Image.LANCZOS))
    return out


def fit_mask(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """The same cover-and-crop for a mask (bool H, W); any pixel touched stays True."""
    m = fit_frames(np.repeat((mask.astype(np.uint8) * 255)[None, ..., None], 3, -1), width, height)[0, ..., 0]
    return m > 0


def crop_window(width: int, height: int, canvas_w: int, canvas_h: int) -> tuple[int, int, int, int]:
    """(x0, y0, w, h): the part of a width x height input that `fit_frames` shows on the canvas."""
    scale = max(canvas_w / width, canvas_h / height)
    w, h = min(width, round(canvas_w / scale)), min(height, round(canvas_h / scale))
    return (width - w) // 2, (height - h) // 2, w, h


def unfit_frames(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    """Inverse of `fit_frames`: canvas frames (F, h, w, 3) back to the input's size (F, height,
    width, 3). The canvas lands on the crop window; the margins outside it repeat its edge."""
    F_, ch, cw = frames.shape[:3]
    if (cw, ch) == (width, height):
        return frames
    x0, y0, w, h = crop_window(width, height, cw, ch)
    out = np.empty((F_, height, width, 3), np.uint8)
    pad = ((y0, height - h - y0), (x0, width - w - x0), (0, 0))
    for i, f in enumerate(frames):
        out[i] = np.pad(np.asarray(Image.fromarray(f).resize((w, h), Image.LANCZOS)), pad, mode="edge")
    return out


NATIVE_CANVASES = {"1:1": (128, 128), "16:9": (256, 144), "9:16": (144, 256)}  # (width, height)
MAX_CANVAS_SIDE = 512


def nearest_aspect(width: int, height: int) -> str:
    """The native aspect ("1:1", "16:9", "9:16") closest to width / height (in log ratio)."""
    a = math.log(width / height)
    return min(NATIVE_CANVASES, key=lambda k: abs(a - math.log(NATIVE_CANVASES[k][0] / NATIVE_CANVASES[k][1])))


def canvas_for(width: int, height: int) -> tuple[int, int]:
    """The canvas a video verb renders an input of this size on (see the fitting policy above)."""
    if width <= 0 or height <= 0:
        raise InputError(f"frames must have a positive size, got {width}x{height}")
    a = width / height
    for w, h in NATIVE_CANVASES.values():
        if abs(math.log(a * h / w)) < 0.02:
            return w, h
    best = None
    for short in (128, 144, 160, 176, 192):
        long = min(MAX_CANVAS_SIDE, max(short, 16 * round(short * max(a, 1 / a) / 16)))
        w, h = (long, short) if a >= 1 else (short, long)
        err = abs(math.log(w / h / a))
        if best is None or err < best[0] - 1e-9:
            best = (err, (w, h))
    return best[1]


# --------------------------------------------------------------------------
# Pixel-space knowledge -> latent conditions
# --------------------------------------------------------------------------

@dataclasses.dataclass
class WindowKnowledge:
    """What is known on a window of F frames at the canvas size."""
    frames: np.ndarray  # uint8 (F, H, W, 3), unknown frames filled with something plausible
    known_frames: np.ndarray  # bool (F,)
    known_pixels: np.ndarray | None = None  # bool (H, W): for spatial masks, True where kept
    strength: np.ndarray | None = None  # float (F,): strength of each known frame's condition (None: all 1)
    pixel_strength: float = 1.0  # strength of the spatial mask's condition

    @classmethod
    def empty(cls, frames: int, width: int, height: int):
        return cls(np.full((frames, height, width, 3), 127, np.uint8), np.zeros(frames, bool))

    def place(self, frames: np.ndarray, start: int, strength: float = 1.0):
        """Put known frames at [start, start + len) (clipped to the window)."""
        F_ = len(self.frames)
        if strength < 1.0 and self.strength is None:
            self.strength = np.ones(F_, np.float32)
        for i, f in enumerate(frames):
            j = start + i
            if 0 <= j < F_:
                self.frames[j] = f
                self.known_frames[j] = True
                if self.strength is not None:
                    self.strength[j] = strength

    def place_still(self, still: np.ndarray, at: int, frames, strength: float = 1.0):
        """A still (1, H, W, 3) at frame `at`, and on `frames` (its token's, `still_frames`) wherever
        nothing else is known yet (clipped to the window)."""
        for j in frames:
            if j == at or not (0 <= j < len(self.known_frames) and self.known_frames[j]):
                self.place(still, j, strength)

    def take(self, idx: np.ndarray) -> "WindowKnowledge":
        """The knowledge of frames `idx` (any order, repeats allowed), as a new window."""
        return WindowKnowledge(self.frames[idx].copy(), self.known_frames[idx].copy(), self.known_pixels,
                               None if self.strength is None else self.strength[idx].copy(), self.pixel_strength)

    def hold(self, frames: np.ndarray, where: np.ndarray):
        """Frames already made (sliding windows, loops) held at full strength where `where`."""
        self.frames[where] = frames[where]
        self.known_frames |= where
        if self.strength is not None:
            self.strength[where] = 1.0

    @property
    def exact(self) -> np.ndarray:
        """bool (F,): known frames that come back exactly (conditions of strength 1)."""
        return self.known_frames if self.strength is None else self.known_frames & (self.strength >= 1.0)

    def filled(self) -> np.ndarray:
        """Unknown frames take the nearest known frame, so the encoder sees plausible content
        (with a spatial mask the frames already hold the video around the region to repaint)."""
        out = self.frames.copy()
        known = np.flatnonzero(self.known_frames)
        if len(known) and self.known_pixels is None:
            for j in np.flatnonzero(~self.known_frames):
                out[j] = self.frames[known[np.argmin(np.abs(known - j))]]
        return out

    def any(self) -> bool:
        return bool(self.known_frames.any()) or (self.known_pixels is not None and bool(self.known_pixels.any()))


def still_frames(index: int, n: int, temporal_ratio: int, time_patch: int = 1) -> range:
    """The frames a still at frame `index` of an n-frame clip is laid on: every frame that shares
    a transformer token with it (the latent frame covering it, and the other latent frames of its
    time patch), so the token is held clean whole. A token covering two frames would otherwise be
    half known, and a half-known token is only nudged toward the still (the replacement path), not
    shown clean: an "S2" transformer (time patch 2) lost the still from frame 1 on. The price is
    that the still lasts those frames (two at 8 fps for "S2", one for the bundled "XS")."""
    j = 0 if index <= 0 else 1 + (index - 1) // temporal_ratio  # its latent frame
    first, last = j // time_patch * time_patch, j // time_patch * time_patch + time_patch - 1
    lo = 0 if first == 0 else (first - 1) * temporal_ratio + 1
    return range(lo, min(n - 1, last * temporal_ratio) + 1)


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
    Tt, Ht, Wt = -(-T // pt), -(-h // ph), -(-w // pw)  # token grid; padding counts as known
    c = torch.nn.functional.pad(clean[:, 0].float(), (0, Wt * pw - w, 0, Ht * ph - h, 0, Tt * pt - T), value=1.0)
    tok = c.bool().view(1, Tt, pt, Ht, ph, Wt, pw).all(6).all(4).all(2)  # 1, T', h', w'
    held = tok[:, :, None, :, None, :, None].expand(1, Tt, pt, Ht, ph, Wt, pw)
    held = held.reshape(1, Tt * pt, Ht * ph, Wt * pw)[:, :T, :h, :w]
    held = held[:, None].expand(1, C, T, h, w)
    level, token_level = _release_levels(known, clean, frame_known, temporal_ratio, patch)
    return LatentConditions(latents=latents, clean=clean, held=held & clean, token_clean=tok.flatten(1),
                            level=level, token_level=token_level)


def _release_levels(known: WindowKnowledge, clean: torch.Tensor, frame_known: torch.Tensor, r: int, patch):
    """Noise level at which each known latent element (and held token) is released: 1 - strength
    of its condition (the weakest condition a latent frame covers). None when all strengths are 1."""
    weak = known.strength is not None and bool((known.strength[known.known_frames] < 1).any())
    if not weak and known.pixel_strength >= 1.0:
        return None, None
    _, C, T, h, w = clean.shape
    s = np.ones(len(known.known_frames), np.float32) if known.strength is None else known.strength
    per_latent = [1 - s[0]] + [1 - s[1 + (j - 1) * r: 1 + j * r].min() for j in range(1, T)]
    level = torch.ones(1, C, T, h, w)
    level = torch.where(frame_known.view(1, 1, T, 1, 1), torch.tensor(per_latent).view(1, 1, T, 1, 1), level)
    level = torch.where(clean & ~frame_known.view(1, 1, T, 1, 1),
                        torch.full_like(level, 1 - known.pixel_strength), level)
    pt, ph, pw = patch
    Tt, Ht, Wt = -(-T // pt), -(-h // ph), -(-w // pw)
    lv = torch.nn.functional.pad(level[:, 0], (0, Wt * pw - w, 0, Ht * ph - h, 0, Tt * pt - T), value=0.0)
    token_level = lv.view(1, Tt, pt, Ht, ph, Wt, pw).amax(dim=(2, 4, 6)).flatten(1)  # 1, N
    return level, token_level
