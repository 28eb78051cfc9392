"""Sound: read any audio PyAV decodes into one mixing format, shape and mix it with numpy, write it as AAC or WAV.

Everything is mixed as float32 stereo at 48 kHz (`RATE`, `LAYOUT`), the rate and layout the MP4 delivery
carries (issue 32): PyAV's `AudioResampler` (FFmpeg's swresample) converts every source, mono or 5.1, 8 to
192 kHz, on the way in, so a mix is plain array arithmetic and sync is kept to one sample. No codec is
written by hand; decode and encode are FFmpeg's.

PCM arrays are shaped (C, N): channels first, as PyAV's planar formats give them.
"""
from __future__ import annotations

import io
import os
import secrets
import threading
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from engine.errors import InputError

RATE = 48000
LAYOUT = "stereo"
CHANNELS = 2
MIN_RATE, MAX_RATE = 8000, 192000  # source sample rates read (telephone speech to high-resolution masters)
AUDIO_TYPES = (".wav", ".mp3", ".m4a", ".aac", ".flac")
AAC_BITRATE = 192_000  # stereo AAC-LC at 192 kb/s: transparent for a delivery, small beside the picture


class AudioError(InputError):
    """A file whose sound cannot be used: no audio stream, a broken one, or a codec or rate not read."""


@dataclass
class Sound:
    """Decoded sound at RATE, stereo.

    pcm: float32 (2, N).
    start: the source's time (seconds) of sample 0, so a clip's sound lines up with its frames' timestamps.
    info: what the source was (codec, rate, channels), for provenance and messages.
    """
    pcm: np.ndarray
    start: float = 0.0
    source: str | None = None
    info: dict = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return self.pcm.shape[1] / RATE

    def window(self, t0: float, t1: float) -> np.ndarray:
        """The sound between source times t0 and t1 (seconds), silence where the source has none."""
        a, n = samples(t0 - self.start), samples(t1 - t0)
        out = np.zeros((CHANNELS, max(0, n)), np.float32)
        lo, hi = max(0, a), min(self.pcm.shape[1], a + n)
        if hi > lo:
            out[:, lo - a:hi - a] = self.pcm[:, lo:hi]
        return out


def samples(seconds: float) -> int:
    """Seconds as a whole number of samples at RATE (rounded: sync is kept to half a sample)."""
    return int(round(seconds * RATE))


def silence(seconds: float) -> np.ndarray:
    return np.zeros((CHANNELS, max(0, samples(seconds))), np.float32)


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------

def read_sound(path, max_seconds: float | None = None) -> Sound | None:
    """The first audio stream of `path` as a Sound at RATE, stereo; None when the file has no audio stream.

    Raises AudioError when the stream cannot be used: a codec FFmpeg does not decode, a sample rate outside
    MIN_RATE..MAX_RATE, packets that do not decode (a damaged file), or more than `max_seconds` of sound.
    """
    import av  # deferred: PyAV is heavy; this module imports without it

    path = os.fspath(path)
    name = os.path.basename(path)
    try:
        with av.open(path) as container:
            if not container.streams.audio:
                return None
            stream = container.streams.audio[0]
            info = _describe(stream, name)
            # Mono plays at its own level in both ears (FFmpeg's upmix would lower it 3 dB); 5.1 and the
            # rest are folded down to stereo by swresample's standard matrix.
            mono = info["channels"] == 1
            resampler = av.AudioResampler(format="fltp", layout="mono" if mono else LAYOUT, rate=RATE)
            chunks, first = [], None
            for frame in container.decode(stream):
                if first is None:
                    first = float(frame.time or 0.0)
                chunks += [r.to_ndarray() for r in resampler.resample(frame)]
                if max_seconds is not None and sum(c.shape[1] for c in chunks) > max_seconds * RATE:
                    raise AudioError(f"{name} holds more than {max_seconds:g} s of sound; trim it first")
            chunks += [r.to_ndarray() for r in resampler.resample(None)]
    except av.FFmpegError as e:
        raise AudioError(f"{name}: its sound cannot be decoded ({_reason(e)}); it may be damaged or cut short; "
                         f"give {', '.join(AUDIO_TYPES)} that plays") from None
    if not chunks:
        raise AudioError(f"{name}: its audio stream holds no sound")
    pcm = np.concatenate(chunks, axis=1)
    pcm = np.ascontiguousarray(np.repeat(pcm, CHANNELS, axis=0) if mono else pcm, dtype=np.float32)
    return Sound(pcm, first or 0.0, path, info)


def _describe(stream, name: str) -> dict:
    """Codec, rate and channels of an audio stream; refuses what cannot be decoded or resampled."""
    ctx = stream.codec_context  # None when FFmpeg knows no decoder for the stream
    codec = ctx.codec.name if ctx is not None else ""
    if not codec or codec == "none":
        raise AudioError(f"{name}: its sound is in a codec this studio does not decode; give PCM WAV, MP3, AAC "
                         "(M4A) or FLAC")
    rate = int(ctx.sample_rate or stream.rate or 0)
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(f"{name}: its sound is sampled at {rate} Hz; {MIN_RATE} to {MAX_RATE} Hz is read")
    return {"codec": codec, "rate": rate, "channels": int(ctx.channels or 0),
            "layout": getattr(ctx.layout, "name", "")}


def _reason(e) -> str:
    return (getattr(e, "strerror", None) or str(e) or type(e).__name__).strip()


# ---------------------------------------------------------------------------
# Shaping and mixing
# ---------------------------------------------------------------------------

def gain(db: float) -> float:
    """A level in dB as an amplitude factor (0 dB: unchanged, -6 dB: about half)."""
    return float(10.0 ** (float(db) / 20.0))


def shaped(pcm: np.ndarray, gain_db: float = 0.0, fade_in: float = 0.0, fade_out: float = 0.0) -> np.ndarray:
    """`pcm` at `gain_db` with linear fades in and out (seconds; each at most the sound's length)."""
    out = pcm * np.float32(gain(gain_db))
    n = out.shape[1]
    a, b = min(n, samples(fade_in)), min(n, samples(fade_out))
    if a:
        out[:, :a] *= np.linspace(0, 1, a, endpoint=False, dtype=np.float32)
    if b:
        out[:, n - b:] *= np.linspace(1, 0, b, endpoint=False, dtype=np.float32)
    return out


def place(mix: np.ndarray, pcm: np.ndarray, at: int) -> None:
    """Add `pcm` into `mix` starting at sample `at`; what falls outside the mix is left out."""
    lo, hi = max(0, at), min(mix.shape[1], at + pcm.shape[1])
    if hi > lo:
        mix[:, lo:hi] += pcm[:, lo - at:hi - at]


def limit(mix: np.ndarray) -> float:
    """Clip a mix to full scale in place; returns its peak before (above 1.0: the mix was too loud)."""
    peak = float(np.abs(mix).max(initial=0.0))
    if peak > 1.0:
        np.clip(mix, -1.0, 1.0, out=mix)
    return peak


def peaks(pcm: np.ndarray, buckets: int) -> np.ndarray:
    """The loudest sample of each of `buckets` equal slices (for drawing a waveform), 0..1."""
    mono = np.abs(pcm).max(axis=0) if pcm.size else np.zeros(1, np.float32)
    edges = np.linspace(0, len(mono), buckets + 1).astype(int)
    return np.array([mono[a:max(b, a + 1)].max(initial=0.0) for a, b in zip(edges[:-1], edges[1:])]).clip(0, 1)


def waveform_png(pcm: np.ndarray, path, width: int = 600, height: int = 32, colour=(54, 191, 250)) -> str:
    """A waveform picture of `pcm` (peaks mirrored about the middle) at `path`: what the timeline draws."""
    from PIL import Image  # deferred: Pillow is heavy; this module imports without it

    p = peaks(pcm, width)
    half = (height - 1) / 2
    rows = np.arange(height)[:, None]
    on = np.abs(rows - half) <= np.maximum(p[None, :] * half, 0.5)
    img = np.zeros((height, width, 4), np.uint8)
    img[on] = (*colour, 230)
    Image.fromarray(img, "RGBA").save(path)
    return os.fspath(path)


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------

class AacTrack:
    """AAC packets for `pcm` (C, N), encoded apart from any file and muxed into an MP4 afterwards.

    The encoder is a stream of a scratch container in memory (no file), so the sound can be encoded before the
    picture's file exists (the studio's export encodes its mix on a second thread while the frames are still
    decoded: issue 32) or beside the picture's encoder (`start()`: FFmpeg's encoders run without Python's
    lock). `add_to(out)` gives an output container a stream like the encoder's (before its header is
    written); `mux()` waits for the packets and writes them there. Only the caller's thread touches `out`."""

    def __init__(self, pcm: np.ndarray, rate: int = RATE, layout: str = LAYOUT):
        import av  # deferred: PyAV is heavy; this module imports without it

        self.rate, self.layout = rate, layout
        self.pcm = np.ascontiguousarray(pcm, dtype=np.float32)
        self.scratch = av.open(io.BytesIO(), "w", format="mp4")
        self.encoder = self.scratch.add_stream("aac", rate=rate, layout=layout)
        self.encoder.codec_context.bit_rate = AAC_BITRATE if pcm.shape[0] > 1 else AAC_BITRATE // 2
        # FFmpeg's own choice since 2018 (commit fcb681a: at higher bit rates "fast" sounds better than twoloop);
        # left unset here the encoder ran twoloop, three times slower (0.95 s against 0.31 s for 19 s of stereo)
        self.encoder.options = {"aac_coder": "fast"}
        self.scratch.start_encoding()  # opens the encoder: its parameters are what add_to() copies
        self.packets: list | None = None
        self.error: BaseException | None = None
        self.thread = None
        self.out = self.stream = None

    @property
    def seconds(self) -> float:
        return self.pcm.shape[1] / self.rate

    def encode(self) -> "AacTrack":
        """Encode every packet now, on this thread (a no-op once done); returns the track."""
        import av  # deferred: PyAV is heavy; this module imports without it

        if self.packets is not None or self.error is not None:
            return self
        try:
            packets = []
            step = self.encoder.codec_context.frame_size or 1024
            for i in range(0, self.pcm.shape[1], step):
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(self.pcm[:, i:i + step]), format="fltp",
                                                   layout=self.layout)
                frame.sample_rate, frame.pts, frame.time_base = self.rate, i, Fraction(1, self.rate)
                packets += self.encoder.encode(frame)
            self.packets = packets + self.encoder.encode(None)
        except BaseException as e:  # raised again in the muxing thread by mux()
            self.error = e
        return self

    def start(self) -> None:
        """Begin encoding on a thread of its own (nothing to do once encoded)."""
        if self.packets is None and self.thread is None:
            self.thread = threading.Thread(target=self.encode, name="aac", daemon=True)
            self.thread.start()

    def add_to(self, out) -> None:
        """Give `out` (an output container whose header is not written yet) the stream the packets go into."""
        self.out, self.stream = out, out.add_stream_from_template(self.encoder)

    def mux(self) -> None:
        """Wait for the packets (encoding them now if nothing started them) and write them into add_to's stream."""
        if self.thread is not None:
            self.thread.join()
        self.encode()
        try:
            if self.error is not None:
                raise self.error
            for packet in self.packets:
                packet.stream = self.stream
            self.out.mux(self.packets)
        finally:
            self.scratch.close()


def aac_writer(out, pcm: np.ndarray, rate: int = RATE, layout: str = LAYOUT) -> AacTrack:
    """An AacTrack for `pcm` with its stream in `out` (start() it before the picture, mux() it after)."""
    track = AacTrack(pcm, rate, layout)
    track.add_to(out)
    return track


def write_wav(path, pcm: np.ndarray, rate: int = RATE) -> str:
    """A 16-bit PCM WAV of `pcm` (C, N), written under a hidden name and moved into place when whole."""
    import av  # deferred: PyAV is heavy; this module imports without it

    path = os.fspath(path)
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.{secrets.token_hex(4)}")
    layout = LAYOUT if pcm.shape[0] == 2 else "mono"
    ints = (np.clip(pcm, -1, 1) * 32767).round().astype(np.int16)
    try:
        with av.open(tmp, "w", format="wav") as out:
            stream = out.add_stream("pcm_s16le", rate=rate, layout=layout)
            step = 4096
            for i in range(0, ints.shape[1], step):
                part = np.ascontiguousarray(ints[:, i:i + step].T.reshape(1, -1))  # packed: L R L R ...
                frame = av.AudioFrame.from_ndarray(part, format="s16", layout=layout)
                frame.sample_rate, frame.pts, frame.time_base = rate, i, Fraction(1, rate)
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path
