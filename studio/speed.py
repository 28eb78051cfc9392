"""A timeline clip's speed (issue 32, item 3: retiming keeps sync).

A clip at speed s plays its take's time t at cut time t / s: slower than 1x is slow motion made by frame
interpolation (engine.video.retime, the engine's optical flow), faster drops frames (the conform export.retime
does). Both come from treating the take as if shot at s times its rate, so trims (in the take's own frames),
crossfades, the timeline's total (export.cut_length) and every export follow without a rule of their own.

The clip's sound is cut at the same take times as its picture and then, as the filmmaker chooses:
stretch (time-stretched to the clip's new length, pitch kept: FFmpeg's atempo, engine.video.timestretch),
keep (the original speed from the clip's first frame: silence after it when slowed, cut where the picture
ends when sped up) or mute.
"""
from __future__ import annotations

import numpy as np

from engine.errors import InputError
from engine.video import audio, timestretch

MIN_SPEED, MAX_SPEED = 0.25, 4.0
SOUNDS = {"stretch": "stretch", "keep": "keep", "mute": "none"}  # the studio's word -> timestretch's mode


def speed_of(entry) -> float:
    """A timeline entry's speed (1.0 for a bridge, which has no entry, or a project made before speeds)."""
    return float((entry or {}).get("speed") or 1.0)


def sound_of(entry) -> str:
    return (entry or {}).get("sound") or "stretch"


def played_fps(take_fps: float, entry) -> float:
    """The rate the take plays at in the cut: its own rate times the clip's speed."""
    return float(take_fps) * speed_of(entry)


def check(speed, sound) -> tuple[float, str]:
    try:
        s = float(speed)
    except (TypeError, ValueError):
        s = float("nan")
    if not MIN_SPEED <= s <= MAX_SPEED:
        raise InputError(f"a clip's speed is from {MIN_SPEED:g}x (slow motion) to {MAX_SPEED:g}x, got {speed!r}")
    if sound not in SOUNDS:
        raise InputError(f"a retimed clip's sound is one of {', '.join(SOUNDS)}, got {sound!r}")
    return round(s, 4), sound


def set_speed(store, eid: str, speed, sound) -> str:
    """Set a clip's speed and what its sound does; returns what was done, in words."""
    s, how = check(speed, sound)
    store.entry(eid)
    store.update_entry(eid, speed=s, sound=how)
    return said(s, how)


def said(speed: float, sound: str) -> str:
    """What a clip at `speed` does with its sound, in one line (the table, the message, the sidecar)."""
    if abs(speed - 1.0) < 1e-9:
        return "1x" if sound != "mute" else "1x, sound muted"
    how = "slow motion (frames interpolated)" if speed < 1 else "faster (frames dropped)"
    return f"{speed:g}x {how}; {timestretch.said(SOUNDS[sound], 1.0 / speed)}"


def label(entry) -> str:
    """The table's short form: '1x', '0.5x stretch', '2x keep', '1x mute'."""
    s, how = speed_of(entry), sound_of(entry)
    return f"{s:g}x" + ("" if abs(s - 1.0) < 1e-9 and how != "mute" else f" {how}")


def window(c, lo: int, hi: int, fps: float) -> np.ndarray | None:
    """A clip's sound under its delivery frames [lo, hi), exactly as long as they play; None when its take has
    none or the clip is muted. The take times are the picture's (frame j shows take time t0 + j * speed / fps)."""
    mode = SOUNDS[getattr(c, "sound_mode", "stretch")]
    if c.sound is None or mode == "none":
        return None
    s = float(getattr(c, "speed", 1.0))
    pcm = c.sound.window(c.t0 + lo * s / fps, c.t0 + hi * s / fps)
    if abs(s - 1.0) < 1e-9:
        return pcm
    out = timestretch.retimed(pcm, 1.0 / s, mode)
    n = audio.samples((hi - lo) / fps)
    return np.ascontiguousarray(np.pad(out[:, :n], ((0, 0), (0, max(0, n - out.shape[1])))), np.float32)
