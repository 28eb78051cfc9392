"""Measurements on any video of the world, using only what WORLD.md lets an evaluator assume:
a pixel belongs to an object of colour C when its sRGB distance to C is below 60, and object
centres are the centroids of such pixels. Left, right, up and down are the viewer's."""
from __future__ import annotations

import numpy as np

from engine.world.render import BG
from engine.world.scene import COLOURS

COLOUR_DISTANCE = 60.0
PRESENT_FRACTION = 0.002  # of the frame's pixels: well under a small object (~1.1%), over edge blends


def colour_mask(frames: np.ndarray, colour: str) -> np.ndarray:
    """bool (F, H, W): pixels within the contract's distance of `colour`."""
    c = np.array(COLOURS[colour], np.float32)
    d = frames.astype(np.float32) - c
    return (d * d).sum(-1) < COLOUR_DISTANCE ** 2


def object_mask(frames: np.ndarray, colour: str) -> np.ndarray:
    """bool (F, H, W): `colour_mask` less anything thinner than an object can be (a morphological
    opening, 3 px at 128 px on the short side, scaled with it). Removes the one- and two-pixel
    fringes that blending, chroma subsampling or a soft decoder leaves along an outline between
    two other colours (yellow edges reading as orange, pink as purple); the smallest object the
    world draws is about 15 px across at 128 px, so no object is lost."""
    import cv2  # deferred: OpenCV is heavy; this module imports without it

    m = colour_mask(frames, colour)
    k = 2 * max(1, round(min(m.shape[1:]) / 128)) + 1
    kernel = np.ones((k, k), np.uint8)
    return np.stack([cv2.morphologyEx(f.astype(np.uint8), cv2.MORPH_OPEN, kernel) > 0 for f in m]) if len(m) else m


def coverage(frames: np.ndarray, colour: str) -> np.ndarray:
    """Fraction of pixels of `colour` per frame, (F,)."""
    return colour_mask(frames, colour).mean((1, 2))


def present(frames: np.ndarray, colour: str, min_frames: float = 0.5) -> bool:
    """An object of `colour` is in at least `min_frames` of the frames (its opened mask covers at
    least PRESENT_FRACTION of the pixels)."""
    objects = object_mask(frames, colour).mean((1, 2))
    return float((objects >= PRESENT_FRACTION).mean()) >= min_frames


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


# Expected colours of the top band (first 20% of rows) and the bottom band (last 30%) of each
# background, from WORLD.md (the sky gradient's band averages; stars and waves are sparse).
BACKGROUND_BANDS = {
    "studio": ((0x7F, 0x7F, 0x7F), (0x7F, 0x7F, 0x7F)),
    "sky": ((0x76, 0xAD, 0xE0), (0xA9, 0xCF, 0xF2)),
    "night": ((0x0A, 0x0F, 0x2D), (0x0A, 0x0F, 0x2D)),
    "desert": ((0xA9, 0xCF, 0xEF), (0xD9, 0xC4, 0x9A)),
    "grass": ((0xA9, 0xCF, 0xEF), (0x55, 0x6B, 0x2F)),
    "ocean": ((0xA9, 0xCF, 0xEF), (0x14, 0x46, 0x6E)),
}


def background_distance(frames: np.ndarray, background: str) -> float:
    """sRGB distance of the median colours of the top and bottom bands to the background's
    (the larger of the two); medians ignore objects passing through the bands."""
    H = frames.shape[1]
    top = np.median(frames[:, : max(1, H // 5)].reshape(-1, 3), axis=0)
    bottom = np.median(frames[:, H - max(1, 3 * H // 10):].reshape(-1, 3), axis=0)
    want_top, want_bottom = (np.array(c, np.float64) for c in BACKGROUND_BANDS[background])
    return float(max(np.linalg.norm(top - want_top), np.linalg.norm(bottom - want_bottom)))


def dominant_colour(frames: np.ndarray) -> str | None:
    """The object colour covering the most pixels over the clip (None when none is present)."""
    cov = {c: float(coverage(frames, c).mean()) for c in COLOURS}
    best = max(cov, key=cov.get)
    return best if cov[best] >= PRESENT_FRACTION else None


# --------------------------------------------------------------------------
# Is this footage the world's? (issue 31: a world model must not paint its shapes into camera footage)
# --------------------------------------------------------------------------

# The flat colours WORLD.md draws: objects and backgrounds; the sky gradient is the segment between its
# two ends (SKY). Left out, because they would count camera footage far more than the world: the stars'
# white (a star is one pixel, never a flat region; blown-out windows and shirts are) and the wall's
# pillar grey #505050 (at most 14% of a frame, beside a background that counts; flat dark grey is the
# commonest colour of camera footage: asphalt, car bodies, shade. With it, frame 88 of bikes.mp4 measured
# 0.17, without it 0.03).
WORLD_PALETTE = np.array([*COLOURS.values(), *(BG[k] for k in ("studio", "night", "band_sky", "desert", "grass",
                                                               "ocean", "wave"))], np.float32)
SKY = (np.array(BG["sky_top"], np.float32), np.array(BG["sky_bottom"], np.float32))
WORLD_DISTANCE = 20.0  # sRGB distance to the palette: codec and model drift, well short of the next colour
FLAT_WINDOW = 5  # a pixel is flat when no channel moves by FLAT_RANGE or more over this window around it...
FLAT_RANGE = 16  # ...so codec noise stays flat, while texture, grain and detail do not
SHARE_SIDE = 180  # frames are area-reduced to about this short side first (the world's own scale)
SHARE_FRAMES = 8  # frames sampled, evenly over the clip
# Footage is the world's when its world share is at least this. Measured by `python -m engine bench
# --footage` (docs/BENCHMARKS.md, "Footage-safe fill"): 64 world renders (1:1, 16:9, 9:16 and a large
# 16:9; raw and after H.264 at crf 28) lowest 0.65; 20 clips the bundled model made, as the CLI writes
# them and re-encoded at crf 30, lowest 0.33 (a grey studio it tinted purple), median 0.86; the real
# footage (bikes, carphone, chaplin, fire2 and the three interpolation folders) at most 0.06 as a clip
# and 0.066 on any one of its 683 frames. The threshold is their geometric middle, ~2.2x from each side.
WORLD_SHARE_MIN = 0.15


def palette_distance(frame: np.ndarray) -> np.ndarray:
    """float32 (H, W): sRGB distance of each pixel to the nearest world colour (the sky gradient's
    whole segment included)."""
    x = frame.reshape(-1, 3).astype(np.float32)
    d = np.full(len(x), np.inf, np.float32)
    for c in WORLD_PALETTE:
        d = np.minimum(d, ((x - c) ** 2).sum(-1))
    top, bottom = SKY
    ab = bottom - top
    t = np.clip((x - top) @ ab / (ab @ ab), 0.0, 1.0)
    d = np.minimum(d, ((x - top - t[:, None] * ab) ** 2).sum(-1))
    return np.sqrt(d).reshape(frame.shape[:2])


def flat(frame: np.ndarray) -> np.ndarray:
    """bool (H, W): no channel varies by FLAT_RANGE or more over the FLAT_WINDOW square around the pixel."""
    import cv2  # deferred: OpenCV is heavy; this module imports without it

    g = np.ascontiguousarray(frame)
    kernel = np.ones((FLAT_WINDOW, FLAT_WINDOW), np.uint8)
    spread = cv2.dilate(g, kernel).astype(np.int16) - cv2.erode(g, kernel).astype(np.int16)
    return spread.max(-1) < FLAT_RANGE


def world_share(frames: np.ndarray, samples: int = SHARE_FRAMES) -> float:
    """Share of pixels, over `samples` frames spread over the clip, that look like the world: within
    WORLD_DISTANCE of its palette and flat around them. The world is flat fills of a few fixed colours;
    camera footage meets those colours here and there (a pale sky, a dark suit) but is textured."""
    import cv2  # deferred: OpenCV is heavy; this module imports without it

    frames = np.asarray(frames)
    if len(frames) == 0:
        return 0.0
    shares = []
    for i in np.unique(np.linspace(0, len(frames) - 1, samples).round().astype(int)):
        f = frames[i]
        s = max(1, round(min(f.shape[:2]) / SHARE_SIDE))
        if s > 1:
            f = cv2.resize(f, (f.shape[1] // s, f.shape[0] // s), interpolation=cv2.INTER_AREA)
        shares.append(float(((palette_distance(f) < WORLD_DISTANCE) & flat(f)).mean()))
    return float(np.mean(shares))


def is_world_footage(frames: np.ndarray) -> bool:
    """The clip is the world's own (renders, or what a world model made), not camera footage."""
    return world_share(frames) >= WORLD_SHARE_MIN
