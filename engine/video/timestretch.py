"""Sound retimed with its picture (issue 32, item 3): when a clip is slowed down or sped up, its sound is either
time-stretched to the new length with its pitch kept, kept at its original speed (then silence, or cut at the
picture's end), or left out.

The stretch is FFmpeg's `atempo` filter (WSOLA: overlapping windows of the sound laid at a new spacing, so the
pitch does not move) run through PyAV's filter graph; one atempo stage takes tempos from 0.5 to 2.0, so a larger
change is a chain of stages. atempo lays its first window half a window early, so its output leads the input
by a few tens of milliseconds per stage; `stretch` measures that lead once per chain on a click (`_lead`) and
takes it back, so a click at source time t is heard at factor * t to within a few milliseconds.

PCM is float32 (2, N) at engine.video.audio.RATE, as everywhere in the mix.
"""
from __future__ import annotations

import functools
from fractions import Fraction

import numpy as np

from engine.errors import InputError
from engine.video.audio import CHANNELS, LAYOUT, RATE

MODES = ("stretch", "keep", "none")  # what a retimed clip's sound does (CLI --audio, the studio's sound choice)
MIN_FACTOR, MAX_FACTOR = 1 / 16, 16.0  # length changes stretched: 16x faster to 16x slower
PAD = 0.25  # seconds of silence around the sound while stretching: room for atempo's lead and its last window


def check_mode(mode) -> str:
    if mode not in MODES:
        raise InputError(f"the sound of a retimed clip is one of {', '.join(MODES)}, got {mode!r}")
    return mode


def tempo_stages(factor: float) -> list[float]:
    """The atempo tempos (each 0.5..2.0) whose product is 1 / factor: a sound `factor` times as long."""
    if not MIN_FACTOR <= factor <= MAX_FACTOR:
        raise InputError(f"a sound is stretched from {MIN_FACTOR:g} to {MAX_FACTOR:g} times its length, got {factor:g}")
    tempo, stages = 1.0 / float(factor), []
    while tempo < 0.5 - 1e-12:
        stages.append(0.5)
        tempo /= 0.5
    while tempo > 2.0 + 1e-12:
        stages.append(2.0)
        tempo /= 2.0
    return stages + [tempo] if abs(tempo - 1.0) > 1e-9 or not stages else stages


def _atempo(pcm: np.ndarray, stages) -> np.ndarray:
    """`pcm` through a chain of atempo stages (FFmpeg), as float32 (2, M)."""
    import av  # deferred: PyAV is heavy; this module imports without it
    import av.filter

    graph = av.filter.Graph()
    nodes = [graph.add_abuffer(format="fltp", sample_rate=RATE, layout=LAYOUT, time_base=Fraction(1, RATE))]
    nodes += [graph.add("atempo", f"{s:.12f}") for s in stages]
    nodes += [graph.add("aformat", f"sample_fmts=fltp:channel_layouts={LAYOUT}"), graph.add("abuffersink")]
    graph.link_nodes(*nodes).configure()
    out: list[np.ndarray] = []

    def drain():
        while True:
            try:
                out.append(graph.pull().to_ndarray())
            except (av.BlockingIOError, av.EOFError):
                return

    step = 8192
    for i in range(0, pcm.shape[1], step):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm[:, i:i + step], np.float32), format="fltp",
                                           layout=LAYOUT)
        frame.sample_rate, frame.pts, frame.time_base = RATE, i, Fraction(1, RATE)
        graph.push(frame)
        drain()
    graph.push(None)
    drain()
    return np.concatenate(out, axis=1) if out else np.zeros((CHANNELS, 0), np.float32)


@functools.lru_cache(maxsize=32)
def _lead(stages: tuple) -> float:
    """How many output samples early a chain lays a sound's onset: bursts of 80 ms (longer than atempo's window,
    so a faster tempo cannot skip them) at several places in the windows' grid, the first loud sample of each
    compared with where the factor puts it, averaged."""
    factor = 1.0 / float(np.prod(stages))
    at = [0.25 + k * 0.5 + k * 0.0137 for k in range(4)]
    pcm = np.zeros((CHANNELS, int((at[-1] + 0.5) * RATE)), np.float32)
    for t in at:
        pcm[:, int(round(t * RATE)):int(round((t + 0.08) * RATE))] = 0.9
    env = np.abs(_atempo(pcm, stages)).max(axis=0)
    loud = env > 0.45
    leads = []
    for t in at:
        lo = int(round((factor * t - 0.1 * max(1.0, factor)) * RATE))
        hits = np.flatnonzero(loud[max(0, lo):]) + max(0, lo)
        if len(hits):
            leads.append(factor * t * RATE - hits[0])
    return float(np.mean(leads)) if leads else 0.0


def stretch(pcm: np.ndarray, factor: float) -> np.ndarray:
    """`pcm` (2, N) made `factor` times as long (exactly round(N * factor) samples) at the same pitch: a click at
    sample i is heard at about factor * i. factor 1 returns a copy."""
    n_out = int(round(pcm.shape[1] * float(factor)))
    if abs(float(factor) - 1.0) < 1e-9:
        return np.array(pcm, np.float32, copy=True)
    stages = tuple(tempo_stages(factor))
    pad = int(PAD * RATE * max(1.0, 1.0 / factor))
    padded = np.pad(np.asarray(pcm, np.float32), ((0, 0), (pad, pad)))
    out = _atempo(padded, stages)
    start = int(round(pad * factor - _lead(stages)))
    out = out[:, max(0, start):max(0, start) + n_out]
    return np.ascontiguousarray(np.pad(out, ((0, 0), (0, n_out - out.shape[1]))), np.float32)


def retimed(pcm: np.ndarray, factor: float, mode: str) -> np.ndarray | None:
    """A clip's sound `pcm` for its picture made `factor` times as long: `stretch` (pitch kept, same length as
    the picture), `keep` (original speed from the first frame; silence after it ends, or cut at the picture's
    end when the picture is shorter) or `none` (None: no sound)."""
    check_mode(mode)
    if mode == "none":
        return None
    n_out = int(round(pcm.shape[1] * float(factor)))
    if mode == "stretch":
        return stretch(pcm, factor)
    return np.ascontiguousarray(np.pad(pcm[:, :n_out], ((0, 0), (0, max(0, n_out - pcm.shape[1])))), np.float32)


def said(mode: str, factor: float) -> str:
    """One sentence on what the sound of a clip made `factor` times as long does (the CLI's note, the studio's)."""
    if mode == "none":
        return "sound left out"
    if abs(factor - 1.0) < 1e-9:
        return "sound unchanged (the clip keeps its length)"
    how = f"{factor:g}x as long" if factor > 1 else f"{1 / factor:g}x faster"
    if mode == "stretch":
        return f"sound time-stretched to the new length ({how}), pitch kept (FFmpeg atempo)"
    if factor > 1:
        return f"sound kept at its original speed from the first frame; the last {1 - 1 / factor:.0%} of the " \
               f"clip is silent"
    return "sound kept at its original speed from the first frame, cut where the faster picture ends"
