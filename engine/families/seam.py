"""Where the seam of a loop is re-rendered, for families whose VAE packs r frames into one latent.

A loop is made as the bundled model makes it (engine.service's `_seam_window`): the clip is
rendered, then one more window across the wrap-around, on frames taken modulo the period P,
holds a few frames before the end and after the start and regenerates those in between, so the
last frame flows into the first as any frame flows into the next. With temporal compression
r > 1 the window's frames must line up with its latent frames, or the held frames would share
latents with regenerated ones: the window has 1 + r*k frames (latent 0 covers window frame 0,
latent j covers frames r(j-1)+1..rj), its held head is 1 + r*a frames (latents 0..a) and its
held tail r*b frames (the last b latents), so the regenerated middle is whole latent frames too.

Frames placed by the request's conditions (a start still, footage) are never regenerated: the
window slides so its middle avoids them (a still at frame 0 puts the wrap at the end of the
middle: the last frames are regenerated to flow into the still), or the request is refused.
"""
from __future__ import annotations

import math

import numpy as np

from engine.errors import InputError

WINDOW_SECONDS = 2.0  # the seam window spans at most this much (the bundled model's window: 2 s)
CONTEXT_SECONDS = 0.5  # frames held on each side of the regenerated middle (the bundled model's 4 at 8 fps)


def min_loop_seconds() -> float:
    # deferred: loads torch; this module imports without it; one minimum for every family
    from engine.request import MIN_LOOP_SECONDS

    return MIN_LOOP_SECONDS


def loop_seconds(req) -> float:
    """How long one period of the requested loop lasts."""
    return req.frames / req.fps if req.frames is not None else (2.0 if req.seconds is None else req.seconds)


def loop_period(req, fps: float, r: int) -> int:
    """Frames of one period at the render rate `fps`; InputError for a loop too short to join."""
    seconds = loop_seconds(req)
    least = min_loop_seconds()
    if seconds < least - 1e-9:
        raise InputError(f"a loop must last at least {least:g} s, got {seconds:g} s")
    P = round(seconds * fps)
    if P < 1 + 2 * r:  # head, middle and tail: one latent frame each at least
        raise InputError(f"a loop of {P} frames at {fps:g} fps is too short to join for this model "
                         f"(it packs {r} frames into one); make it at least {(1 + 2 * r) / fps:.2f} s")
    return P


def seam_geometry(P: int, fps: float, r: int) -> tuple[int, int, int]:
    """(window, head, tail) in frames: window 1 + r*k <= P, head 1 + r*a, tail r*b, a, b >= 0 / 1,
    leaving a middle of at least one latent frame (and at least half the window when it can)."""
    size = min(P, max(1 + 2 * r, round(WINDOW_SECONDS * fps)))
    L = 1 + r * ((size - 1) // r)
    K = 1 + (L - 1) // r  # latent frames in the window
    ctx = min(round(CONTEXT_SECONDS * fps), L // 4)
    head_lat = max(1, 1 + (ctx - 1) // r)  # latent 0 is one frame, every other r frames
    tail_lat = max(1, ctx // r)
    while K - head_lat - tail_lat < 1:
        if head_lat >= tail_lat and head_lat > 1:
            head_lat -= 1
        elif tail_lat > 1:
            tail_lat -= 1
        else:
            raise InputError(f"a loop of {P} frames is too short to join for this model")
    return L, 1 + r * (head_lat - 1), r * tail_lat


def seam_window(P: int, fps: float, r: int, fixed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Frame indices (modulo P) of the window across the wrap-around, and which are held.

    `fixed` (bool, P): frames the request's conditions place; the regenerated middle avoids them.
    The wrap (frame P-1 to frame 0) lies inside the middle, in its centre when nothing is fixed."""
    L, head, tail = seam_geometry(P, fps, r)
    mid = L - head - tail
    hold = np.zeros(L, bool)
    hold[:head] = hold[L - tail:] = True
    fixed = np.zeros(P, bool) if fixed is None else np.asarray(fixed[:P], bool)
    # p: window position of frame P-1; the middle spans positions head..head+mid-1, and the wrap
    # is inside it (or on its edge) when p is in head-1..head+mid-1
    centre = head + mid // 2 - 1
    for p in sorted(range(head - 1, head + mid), key=lambda q: (abs(q - centre), -q)):
        idx = (P - 1 - p + np.arange(L)) % P
        if not fixed[idx[~hold]].any():
            return idx, hold
    raise InputError("the loop's seam would regenerate frames given by conditions at both ends of the clip; "
                     "condition one end only, or make the loop longer")


def latent_aligned(hold: np.ndarray, r: int) -> bool:
    """True when every latent frame of the window is either all held or all regenerated."""
    groups = [hold[:1]] + [hold[1 + r * (j - 1): 1 + r * j] for j in range(1, 1 + (len(hold) - 1) // r)]
    return all(g.all() or not g.any() for g in groups)


def render_frames(P: int, r: int) -> int:
    """Frames of the clip rendered before the seam: the smallest 1 + r*k covering one period."""
    return 1 + r * max(1, math.ceil((P - 1) / r))
