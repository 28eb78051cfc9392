"""Renderer of the procedural world: any size, fps and duration (contract: shared WORLD.md).

Every pixel is computed from world coordinates through the camera, so pans and
zooms move the background and the objects together. Objects have flat fills in
their exact colours and hard edges; the `wall` pillar is drawn last, so objects
pass behind it.
"""
from __future__ import annotations

import math

import numpy as np

from engine.world.scene import (
    BOUNCE_HEIGHT,
    BOUNCE_PERIOD_S,
    COLOURS,
    GROUND,
    GROW_RATIO,
    GROW_SECONDS,
    ORBIT_PERIOD_S,
    ORBIT_RADIUS,
    PAN_PER_SECOND,
    SIZES,
    SPEEDS,
    TRAVEL_PER_SECOND,
    WALL_WIDTH,
    ZOOM_PER_SECOND,
    Obj,
    Scene,
)

BG = {
    "studio": (0x7F, 0x7F, 0x7F),
    "sky_top": (0x6F, 0xA8, 0xDC), "sky_bottom": (0xB8, 0xD8, 0xF8),
    "night": (0x0A, 0x0F, 0x2D), "star": (0xFF, 0xFF, 0xFF),
    "band_sky": (0xA9, 0xCF, 0xEF),
    "desert": (0xD9, 0xC4, 0x9A), "grass": (0x55, 0x6B, 0x2F),
    "ocean": (0x14, 0x46, 0x6E), "wave": (0x2A, 0x5F, 0x8A),
    "wall": (0x50, 0x50, 0x50),
}
HORIZON = 0.35
WAVE_ROWS = (0.43, 0.53, 0.64, 0.76, 0.89)


# --------------------------------------------------------------------------
# Motion: where an object is at time t (world units, before the camera)
# --------------------------------------------------------------------------

def object_at(obj: Obj, t: float, aspect: float) -> tuple[float, float, float]:
    """Centre (x, y) in world units and size as a fraction of min(width, height).
    `aspect` is width / height. Horizontal and vertical movers wrap around."""
    k = SPEEDS[obj.speed]
    size = SIZES[obj.size]
    x, y = obj.x0, obj.y0
    v = TRAVEL_PER_SECOND * k * t
    m_over_w, m_over_h = min(1.0, 1 / aspect), min(1.0, aspect)  # min-side length in width / height units
    if obj.motion == "right":
        x = x + v
    elif obj.motion == "left":
        x = x - v
    elif obj.motion == "up":
        y = y - v
    elif obj.motion == "down":
        y = y + v
    elif obj.motion == "bounce":
        lift = BOUNCE_HEIGHT * abs(math.sin(math.pi * t * k / BOUNCE_PERIOD_S))
        y = GROUND - lift - size * m_over_h / 2
    elif obj.motion == "orbit":
        a = 2 * math.pi * t * k / ORBIT_PERIOD_S  # counter-clockwise as the viewer sees it
        x = 0.5 + ORBIT_RADIUS * m_over_w * math.cos(a)
        y = 0.5 - ORBIT_RADIUS * m_over_h * math.sin(a)
    elif obj.motion in ("grow", "shrink"):
        p = min(t * k / GROW_SECONDS, 1.0)
        size = size * (0.7 * GROW_RATIO ** p if obj.motion == "grow" else 1.6 * GROW_RATIO ** -p)
    return x % 1.0 if obj.motion in ("right", "left") else x, y % 1.0 if obj.motion in ("up", "down") else y, size


def camera_at(camera: str, t: float) -> tuple[float, float]:
    """(horizontal offset of the camera in world units, zoom factor)."""
    if camera == "pan_right":
        return PAN_PER_SECOND * t, 1.0
    if camera == "pan_left":
        return -PAN_PER_SECOND * t, 1.0
    if camera == "zoom_in":
        return 0.0, 1.0 + ZOOM_PER_SECOND * t
    if camera == "zoom_out":
        return 0.0, 1.0 / (1.0 + ZOOM_PER_SECOND * t)
    return 0.0, 1.0


def to_screen(x: float, y: float, cam: tuple[float, float]) -> tuple[float, float]:
    dx, z = cam
    return (x - dx - 0.5) * z + 0.5, (y - 0.5) * z + 0.5


# --------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------

def _stars(seed: int, n: int = 160) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(-2, 3, n), rng.uniform(0, 1, n)], 1)  # world coords, wide for pans


def _background(scene: Scene, cam, width: int, height: int) -> np.ndarray:
    dx, z = cam
    sx = (np.arange(width) + 0.5) / width
    sy = (np.arange(height) + 0.5) / height
    u = (sx - 0.5) / z + 0.5 + dx  # world coords of every pixel column / row
    v = (sy - 0.5) / z + 0.5
    img = np.empty((height, width, 3), np.float32)
    name = scene.background
    if name == "studio":
        img[:] = BG["studio"]
    elif name == "night":
        img[:] = BG["night"]
    elif name == "sky":
        w = np.clip(v, 0, 1)[:, None, None]
        img[:] = (1 - w) * np.array(BG["sky_top"], np.float32) + w * np.array(BG["sky_bottom"], np.float32)
    else:
        ground = v >= HORIZON
        img[~ground] = BG["band_sky"]
        img[ground] = BG[name]
        if name == "ocean":
            vv, uu = np.meshgrid(v, u, indexing="ij")
            line = 1.2 / height / z  # about one pixel thick
            for k, row in enumerate(WAVE_ROWS):
                yk = row + 0.008 * np.sin(2 * math.pi * (uu * 4 + 0.37 * k))
                img[np.abs(vv - yk) < line] = BG["wave"]
    if name == "night":
        for su, sv in _stars(scene.seed):
            px, py = to_screen(su, sv, cam)
            ix, iy = int(px * width), int(py * height)
            if 0 <= ix < width and 0 <= iy < height:
                img[iy, ix] = BG["star"]
    return img


def _shape_mask(shape: str, cx: float, cy: float, r: float, width: int, height: int):
    """Boolean mask inside the bounding box; returns (slice_y, slice_x, mask) or None."""
    x0, x1 = max(int(math.floor(cx - r)), 0), min(int(math.ceil(cx + r)) + 1, width)
    y0, y1 = max(int(math.floor(cy - r)), 0), min(int(math.ceil(cy + r)) + 1, height)
    if x0 >= x1 or y0 >= y1:
        return None
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32) + 0.5
    dx, dy = xx - cx, yy - cy
    if shape == "ball":
        m = dx * dx + dy * dy <= r * r
    elif shape == "box":
        m = (np.abs(dx) <= r) & (np.abs(dy) <= r)
    else:  # triangle, apex up
        m = (dy >= -r) & (dy <= r) & (np.abs(dx) <= (dy + r) / 2)
    return slice(y0, y1), slice(x0, x1), m


def render_frame(scene: Scene, t: float, width: int, height: int) -> np.ndarray:
    cam = camera_at(scene.camera, t)
    img = _background(scene, cam, width, height)
    aspect = width / height
    short = min(width, height)
    for obj in scene.objects:
        x, y, size = object_at(obj, t, aspect)
        r = size * short * cam[1] / 2
        # Wrapping movers are drawn again one world-width (height) away, so they re-enter as they leave.
        copies = [(0, 0)]
        if obj.motion in ("right", "left"):
            copies += [(-1, 0), (1, 0)]
        if obj.motion in ("up", "down"):
            copies += [(0, -1), (0, 1)]
        for ox, oy in copies:
            sx, sy = to_screen(x + ox, y + oy, cam)
            hit = _shape_mask(obj.shape, sx * width, sy * height, r, width, height)
            if hit is not None:
                ys, xs, m = hit
                img[ys, xs][m] = COLOURS[obj.colour]
    if scene.wall:
        half = WALL_WIDTH / 2
        left, _ = to_screen(0.5 - half, 0.5, cam)
        right, _ = to_screen(0.5 + half, 0.5, cam)
        a, b = int(round(left * width)), int(round(right * width))
        img[:, max(a, 0):max(min(b, width), 0)] = BG["wall"]
    return img.astype(np.uint8)


def frame_times(frames: int, fps: float) -> np.ndarray:
    return np.arange(frames, dtype=np.float64) / fps


def render(scene: Scene, width: int = 128, height: int = 128, fps: float = 8.0,
           frames: int = 17) -> np.ndarray:
    """Render a clip: uint8 array (F, H, W, 3), RGB."""
    if width % 16 or height % 16:
        raise ValueError(f"width and height must be multiples of 16, got {width}x{height}")
    return np.stack([render_frame(scene, t, width, height) for t in frame_times(frames, fps)])


def truth_track(scene: Scene, width: int, height: int, fps: float, frames: int) -> np.ndarray:
    """Ground-truth screen centres in pixels, (objects, F, 2), without wrap copies."""
    aspect = width / height
    out = np.zeros((len(scene.objects), frames, 2))
    for f, t in enumerate(frame_times(frames, fps)):
        cam = camera_at(scene.camera, t)
        for i, obj in enumerate(scene.objects):
            x, y, _ = object_at(obj, t, aspect)
            sx, sy = to_screen(x, y, cam)
            out[i, f] = sx * width, sy * height
    return out
