"""Measurements on any video of the world, using only what WORLD.md lets an evaluator assume:
a pixel belongs to an object of colour C when its sRGB distance to C is below 60, and object
centres are the centroids of such pixels. Left, right, up and down are the viewer's."""
from __future__ import annotations

import numpy as np

from engine.world.scene import COLOURS

COLOUR_DISTANCE = 60.0
PRESENT_FRACTION = 0.002  # of the frame's pixels: well under a small object (~1.1%), over edge blends


def colour_mask(frames: np.ndarray, colour: str) -> np.ndarray:
    """bool (F, H, W): pixels within the contract's distance of `colour`."""
    c = np.array(COLOURS[colour], np.float32)
    d = frames.astype(np.float32) - c
    return (d * d).sum(-1) < COLOUR_DISTANCE ** 2


def coverage(frames: np.ndarray, colour: str) -> np.ndarray:
    """Fraction of pixels of `colour` per frame, (F,)."""
    return colour_mask(frames, colour).mean((1, 2))


def present(frames: np.ndarray, colour: str, min_frames: float = 0.5) -> bool:
    return float((coverage(frames, colour) >= PRESENT_FRACTION).mean()) >= min_frames


def centroids(frames: np.ndarray, colour: str) -> np.ndarray:
    """(F, 2) centroid (x, y) in pixels of `colour` per frame; NaN where absent."""
    m = colour_mask(frames, colour)
    F_, H, W = m.shape
    out = np.full((F_, 2), np.nan)
    ys, xs = np.arange(H)[:, None], np.arange(W)[None, :]
    for i in range(F_):
        n = m[i].sum()
        if n >= PRESENT_FRACTION * H * W:
            out[i] = (m[i] * xs).sum() / n, (m[i] * ys).sum() / n
    return out


def displacement(track: np.ndarray, width: int, height: int) -> tuple[float, float]:
    """Net (dx, dy) as fractions of width and height, summing frame-to-frame steps and skipping
    jumps over a third of the frame (an object wrapping around the edge, or lost for a frame)."""
    ok = ~np.isnan(track[:, 0])
    t = track[ok]
    if len(t) < 2:
        return 0.0, 0.0
    steps = np.diff(t, axis=0) / np.array([width, height])
    steps = steps[np.abs(steps).max(1) < 1 / 3]
    return float(steps[:, 0].sum()), float(steps[:, 1].sum())


def direction_of(track: np.ndarray, width: int, height: int, min_travel: float = 0.15) -> str | None:
    """'right', 'left', 'up', 'down' when the net motion is mostly along one axis and at least
    `min_travel` of the frame, else None."""
    dx, dy = displacement(track, width, height)
    if max(abs(dx), abs(dy)) < min_travel:
        return None
    if abs(dx) >= abs(dy):
        return "right" if dx > 0 else "left"
    return "down" if dy > 0 else "up"


def flicker(frames: np.ndarray) -> float:
    """Mean absolute frame-to-frame change over all pixels, in 8-bit levels (lower is steadier)."""
    if len(frames) < 2:
        return 0.0
    return float(np.abs(np.diff(frames.astype(np.int16), axis=0)).mean())


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    d = (a.astype(np.float64) - b.astype(np.float64)) ** 2
    if mask is not None:
        d = d[np.broadcast_to(mask[..., None], d.shape)]  # mask: (H, W) or (F, H, W)
    mse = float(d.mean())
    return 99.0 if mse < 1e-10 else 10 * np.log10(255.0 ** 2 / mse)
