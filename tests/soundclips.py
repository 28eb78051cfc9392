"""Test media with sound, made with PyAV: a clip whose flash frame and click sound at the same time, sound files
at any rate and layout, and the measurements that find the flash and the click again."""
from fractions import Fraction
from pathlib import Path

import numpy as np

CLICK = 0.004  # seconds: a click is a short full-scale burst


def click_pcm(seconds: float, rate: int, channels: int, at=(), amp: float = 0.9, tone: float = 0.0) -> np.ndarray:
    """(channels, N) float32: silence (or a quiet 220 Hz tone of amplitude `tone`) with clicks at times `at`."""
    n = int(round(seconds * rate))
    pcm = np.zeros((channels, n), np.float32)
    if tone:
        pcm += (tone * np.sin(2 * np.pi * 220 * np.arange(n) / rate)).astype(np.float32)
    for t in at:
        a = int(round(t * rate))
        pcm[:, a:a + max(1, int(CLICK * rate))] = amp
    return pcm


def write_sound(path, pcm: np.ndarray, rate: int, codec: str = "pcm_s16le", layout: str | None = None) -> Path:
    """A sound file of `pcm` (C, N) in the container its suffix names (.wav, .flac, .mp3, .m4a)."""
    import av

    layout = layout or {1: "mono", 2: "stereo", 6: "5.1"}[pcm.shape[0]]
    fmt = {".m4a": "mp4", ".mp3": "mp3", ".flac": "flac", ".wav": "wav"}[Path(path).suffix]
    with av.open(str(path), "w", format=fmt) as out:
        s = out.add_stream(codec, rate=rate, layout=layout)
        ctx_fmt = s.codec_context.format.name
        step = s.codec_context.frame_size or 1024
        for i in range(0, pcm.shape[1], step):
            arr = pcm[:, i:i + step]
            if ctx_fmt.startswith(("s16", "s32")):  # the codec's own sample format: whole numbers, full scale
                kind = np.int16 if ctx_fmt.startswith("s16") else np.int32
                arr = (np.clip(arr, -1, 1) * np.iinfo(kind).max).astype(kind)
            if not ctx_fmt.endswith("p"):  # packed: L R L R ...
                arr = arr.T.reshape(1, -1)
            f = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr), format=ctx_fmt, layout=layout)
            f.sample_rate, f.pts, f.time_base = rate, i, Fraction(1, rate)
            out.mux(s.encode(f))
        out.mux(s.encode(None))
    return Path(path)


def click_flash_clip(path, seconds: float = 2.0, fps: int = 24, flashes=(1.0,), size: int = 64,
                     rate: int = 44100, layout: str = "stereo", tone: float = 0.0) -> Path:
    """An H.264 + AAC clip: grey frames, one white frame at each of `flashes` (seconds), a click at the same
    times in its sound."""
    import av

    channels = {"mono": 1, "stereo": 2, "5.1": 6}[layout]
    pcm = click_pcm(seconds, rate, channels, flashes, tone=tone)
    n = int(round(seconds * fps))
    lit = {int(round(t * fps)) for t in flashes}
    with av.open(str(path), "w", format="mp4") as out:
        v = out.add_stream("libx264", rate=fps)
        v.width = v.height = size
        v.pix_fmt = "yuv420p"
        a = out.add_stream("aac", rate=rate, layout=layout)
        for i in range(n):
            f = av.VideoFrame.from_ndarray(np.full((size, size, 3), 250 if i in lit else 40, np.uint8), format="rgb24")
            f.pts, f.time_base = i, Fraction(1, fps)
            out.mux(v.encode(f))
        out.mux(v.encode(None))
        step = a.codec_context.frame_size
        for i in range(0, pcm.shape[1], step):
            f = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm[:, i:i + step]), format="fltp", layout=layout)
            f.sample_rate, f.pts, f.time_base = rate, i, Fraction(1, rate)
            out.mux(a.encode(f))
        out.mux(a.encode(None))
    return Path(path)


def flash_times(video, level: float = 200.0) -> list[float]:
    """Times (seconds from the first frame) of the frames brighter than `level`, one per run of bright frames."""
    bright = video.frames.reshape(len(video), -1).mean(axis=1) > level
    starts = [i for i in range(len(bright)) if bright[i] and (i == 0 or not bright[i - 1])]
    return [i / video.fps for i in starts]


def click_times(sound, level: float = 0.3, gap: float = 0.1) -> list[float]:
    """Times (seconds of the sound, its start counted) where it first goes above `level` after `gap` s below."""
    from engine.video.audio import RATE

    loud = np.flatnonzero(np.abs(sound.pcm).max(axis=0) > level)
    out = []
    for i in loud:
        if not out or i / RATE - out[-1][1] > gap:
            out.append([i / RATE, i / RATE])
        out[-1][1] = i / RATE
    return [sound.start + a for a, _ in out]
