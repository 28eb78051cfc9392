"""Reading and writing video: the one place the engine touches containers.

Reading goes through PyAV (its own FFmpeg libraries), so any common container
and codec works, and a folder of PNG/JPG frames is accepted too. Writing gives
what browsers and Gradio play without conversion: H.264 in MP4, yuv420p, even
sizes (../shared/docs/ECOSYSTEM.md, "moviepy 2.x" and "Gradio 6"). Every write
lands in a temporary name in the destination folder first and is moved into
place with `os.replace` only once it is complete and verified, so a failure
never leaves a partial file behind (CLI contract: "no partial output").

Frames are always uint8 RGB arrays shaped (N, H, W, 3).
"""
from __future__ import annotations

import contextlib
import errno
import itertools
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.video.audio import RATE, AacTrack, aac_writer

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
ANIMATED_FORMATS = ("GIF", "PNG", "WEBP")  # formats whose animated files are refused where a still is read
SIDECAR_NAME = "tenku.json"
_FRAME_NAME = re.compile(r"^\d{6}\.png$")
# The largest frame or still read, per side: 4096 holds DCI 4K; past it the engine would spend minutes
# retiming frames it then shrinks to its canvas anyway (an 8000x8000 clip ran for minutes, silently).
MAX_INPUT_SIDE = 4096
JITTER_SECONDS = 0.0015  # timestamp rounding that is not a variable frame rate (Video.variable_rate)


# ---------------------------------------------------------------------------
# The clip in memory
# ---------------------------------------------------------------------------

@dataclass
class Video:
    """A decoded clip.

    frames: uint8 (N, H, W, 3) RGB.
    fps: average frame rate; for a variable-frame-rate file, frames over duration.
    timestamps: presentation time of each frame in seconds (float64, N), as the
        source gives them, so variable frame rate survives; `timestamps[0]` is
        usually 0 but need not be (edit lists, trimmed streams).
    source: the file or folder it was read from, None when built in memory.
    has_audio: the source file has an audio stream (see `write_video(audio_from=)`).
    """
    frames: np.ndarray
    fps: float
    timestamps: np.ndarray
    source: str | None = None
    has_audio: bool = False
    metadata: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.frames.shape[2]), int(self.frames.shape[1])

    @property
    def variable_rate(self) -> bool:
        """True when frame intervals differ by more than 1% of the mean interval, and by more than a
        millisecond-and-a-half: WebM and MKV keep time in whole milliseconds, so 29.97 fps comes out as
        33 and 34 ms steps, which is constant-rate video."""
        if len(self.timestamps) < 3:
            return False
        d = np.diff(self.timestamps)
        return bool(np.ptp(d) > max(0.01 * d.mean(), JITTER_SECONDS))

    @classmethod
    def from_frames(cls, frames, fps=24.0) -> "Video":
        """Wrap in-memory frames as a constant-rate clip starting at 0 s."""
        frames = as_frames(frames)
        rate = float(parse_fps(fps))
        return cls(frames, rate, np.arange(len(frames), dtype=np.float64) / rate)


def parse_fps(fps) -> Fraction:
    """A positive frame rate as an exact fraction: 24, 23.976, "24000/1001", Fraction.

    Floats are snapped to the nearest fraction with denominator 1001 or less when
    that is exact to 1e-6 (so 29.97... becomes 30000/1001, the NTSC rate).
    """
    try:
        if isinstance(fps, Fraction):
            rate = fps
        elif isinstance(fps, str):
            rate = Fraction(fps.strip())
        else:
            value = float(fps)
            if not np.isfinite(value):
                raise ValueError
            rate = Fraction(value).limit_denominator(1001)
            if abs(float(rate) - value) > 1e-6 * value:
                rate = Fraction(value).limit_denominator(1_000_000)
    except (ValueError, ZeroDivisionError, TypeError):
        raise InputError(f"frame rate {fps!r} is not a number; use a positive number such as 24 or "
                         "24000/1001") from None
    if rate <= 0:
        raise InputError(f"frame rate must be positive, got {fps!r}")
    return rate


def as_frames(frames) -> np.ndarray:
    """Stack frames into one uint8 (N, H, W, 3) array, checking shape and type."""
    if isinstance(frames, np.ndarray) and frames.ndim == 4:
        arr = frames
    else:
        frames = list(frames)
        if not frames:
            raise InputError("no frames given; at least one frame is needed")
        first = np.asarray(frames[0]).shape
        for i, f in enumerate(frames):
            if np.asarray(f).shape != first:
                raise InputError(f"frame {i} is {np.asarray(f).shape}, frame 0 is {first}; all frames must have the "
                                 f"same size")
        arr = np.stack([np.asarray(f) for f in frames])
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.shape[0] == 0:
        raise InputError(f"frames must be shaped (N, H, W, 3) RGB with N >= 1, got {arr.shape}")
    if arr.dtype != np.uint8:
        raise InputError(f"frames must be uint8, got {arr.dtype}")
    return arr


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------

class TooLarge(InputError):
    """A clip whose decoded frames would not fit the memory allowed for it."""


class UnreadableImage(InputError):
    """A file that is not an image Pillow decodes (callers may say it in their own words)."""


def read_video(path, fps=24.0, max_frames: int | None = None, max_bytes: float | None = None) -> Video:
    """Read a video file (any container PyAV opens) or a folder of PNG/JPG frames.

    `fps` applies to folders only (files carry their own rate). `max_frames`
    stops decoding early. `max_bytes`: decoding stops with TooLarge as soon as
    the decoded RGB frames pass it (a long 4K clip is gigabytes once decoded;
    the studio refuses it instead of running out of memory). Raises InputError
    for a missing path, a file that is not a readable video, zero frames, or
    folder frames of different sizes.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"input {path!r} does not exist; give a video file or a folder of PNG/JPG frames")
    if os.path.isdir(path):
        return _read_folder(path, fps, max_frames, max_bytes)
    return _read_file(path, max_frames, max_bytes)


def _check_budget(path, frames: list, max_bytes: float | None) -> None:
    if max_bytes is not None and len(frames) * frames[0].nbytes > max_bytes:
        h, w = frames[0].shape[:2]
        raise TooLarge(f"{os.path.basename(path.rstrip(os.sep)) or path} decodes to more than "
                       f"{max_bytes / 1e9:g} GB of frames at {w}x{h} (reached at frame {len(frames)}); "
                       "trim it or scale it down first")


def _natural_key(name: str):
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", name)]


def list_frame_files(folder) -> list[str]:
    """Image files of a frame folder, in natural name order (2.png before 10.png)."""
    names = [n for n in os.listdir(folder)
             if n.lower().endswith(IMAGE_SUFFIXES) and not n.startswith(".")]
    return [os.path.join(folder, n) for n in sorted(names, key=_natural_key)]


def check_side(width: int, height: int, what: str) -> None:
    if max(width, height) > MAX_INPUT_SIDE:
        raise InputError(f"{what} is {width}x{height}; up to {MAX_INPUT_SIDE} px a side is read (scale it down "
                         "first, e.g. to 1920 wide)")


def open_image(path, what: str):
    """A PIL image of the still or frame at `path`, as it is meant to be seen, in 8 bits a channel: its
    EXIF orientation applied (a phone's portrait photo stands upright), 16-bit grey scaled down (Pillow's
    own conversion clips it to white), and its size checked from the header before it is decoded.
    Modes kept otherwise (RGB, RGBA, L, LA, P...). `what` names it in errors ("image 'x.png'")."""
    from PIL import Image, ImageOps, UnidentifiedImageError  # deferred: Pillow is heavy; this module imports without it

    try:
        with Image.open(path) as im:
            check_side(*im.size, what)
            # Frame 0 of an animation is not the still that was meant (a phone's MPO JPEG, which holds a
            # second picture, is a still and passes).
            if im.format in ANIMATED_FORMATS and getattr(im, "is_animated", False):
                raise InputError(f"{what} is an animated {im.format} ({im.n_frames} frames); give a still PNG or JPEG")
            im = ImageOps.exif_transpose(im)
            im.load()
            if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
                a = np.asarray(im, dtype=np.float64)
                scale = 257.0 if im.mode.startswith("I;16") or a.max(initial=0) > 255 else 1.0
                return Image.fromarray(np.clip(np.round(a / scale), 0, 255).astype(np.uint8), "L")
            if im.mode == "F":
                return Image.fromarray(np.clip(np.asarray(im), 0, 255).astype(np.uint8), "L")
            return im.copy()
    except InputError:
        raise
    except FileNotFoundError:
        raise InputError(f"{what} does not exist") from None
    except Image.DecompressionBombError:
        raise InputError(f"{what} is too many pixels to decode safely; up to {MAX_INPUT_SIDE} px a side is "
                         "read") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise UnreadableImage(f"{what} is not a readable image ({e.__class__.__name__}); give a PNG or JPEG") from None


def _read_folder(folder: str, fps, max_frames, max_bytes=None) -> Video:
    rate = parse_fps(fps)
    files = list_frame_files(folder)
    if max_frames is not None:
        files = files[:max_frames]
    if not files:
        raise InputError(f"folder {folder!r} has no .png/.jpg frames")
    frames = []
    for f in files:
        arr = np.asarray(open_image(f, f"frame {os.path.basename(f)!r} in {folder!r}").convert("RGB"))
        if frames and arr.shape != frames[0].shape:
            h0, w0 = frames[0].shape[:2]
            raise InputError(f"frame {os.path.basename(f)!r} is {arr.shape[1]}x{arr.shape[0]} but "
                             f"{os.path.basename(files[0])!r} is {w0}x{h0}; all frames must have the same size")
        frames.append(arr)
        _check_budget(folder, frames, max_bytes)
    n = len(frames)
    return Video(np.stack(frames), float(rate), np.arange(n, dtype=np.float64) / float(rate),
                 source=folder, has_audio=False, metadata={"frame_files": [os.path.basename(f) for f in files]})


def _read_file(path: str, max_frames, max_bytes=None) -> Video:
    import av  # deferred: PyAV is heavy; this module imports without it

    frames, times = [], []
    rotation = 0
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise InputError(f"{path!r} has no video stream")
            stream = container.streams.video[0]
            check_side(stream.codec_context.width, stream.codec_context.height, f"{path!r}'s frame")
            stream.thread_type = "AUTO"
            audio = container.streams.audio[0] if container.streams.audio else None
            audio_error = None
            # The sound is decoded alongside the picture (and dropped), so a broken audio stream is found
            # now, not when the output is written after the work (issue 34).
            for packet in container.demux(*(s for s in (stream, audio) if s is not None)):
                if audio is not None and packet.stream.index == audio.index:
                    if audio_error is None:
                        audio_error = _try_decode(packet)
                    continue
                for frame in packet.decode():
                    rotation = getattr(frame, "rotation", 0) or 0
                    frames.append(upright(frame.to_ndarray(format="rgb24"), rotation))
                    times.append(frame.time if frame.time is not None else np.nan)
                    _check_budget(path, frames, max_bytes)
                if max_frames is not None and len(frames) >= max_frames:
                    frames, times = frames[:max_frames], times[:max_frames]
                    break
            avg = stream.average_rate or stream.guessed_rate
    except av.FFmpegError as e:
        raise InputError(f"{path!r} is not a readable video ({_av_reason(e)})") from None
    if not frames:
        raise InputError(f"{path!r} contains no video frames")
    if frames[0].shape != frames[-1].shape or any(f.shape != frames[0].shape for f in frames):
        raise InputError(f"{path!r} changes frame size mid-stream; only constant-size video is supported")
    ts = np.asarray(times, dtype=np.float64)
    if np.isnan(ts).any() or np.any(np.diff(ts) <= 0):
        # No usable timestamps (raw streams): fall back to the declared rate.
        rate = float(avg) if avg else 24.0
        ts = np.arange(len(frames), dtype=np.float64) / rate
    if len(ts) > 1:
        fps = (len(ts) - 1) / (ts[-1] - ts[0])
        if avg and abs(fps - float(avg)) < 0.005 * float(avg):  # rounded timestamps: the declared rate is exact
            fps = float(avg)
    else:
        fps = float(avg) if avg else 24.0
    metadata = {"declared_rate": str(avg) if avg else None}
    if rotation:
        metadata["display_rotation"] = rotation
    if audio_error is not None:
        metadata["audio_dropped"] = audio_error
    return Video(np.stack(frames), float(fps), ts, source=path, has_audio=audio is not None and audio_error is None,
                 metadata=metadata)


def _try_decode(packet) -> str | None:
    """None when the audio packet decodes, else why not (the sound is then left out, with a note)."""
    import av  # deferred: PyAV is heavy; this module imports without it

    try:
        packet.decode()
    except av.FFmpegError as e:
        return f"its sound cannot be decoded ({_av_reason(e)})"
    return None


def note_dropped_audio(video: Video, quiet: bool = False) -> None:
    """Say on stderr that an input's sound is left out because it cannot be decoded (media.read_video found
    it); the picture is kept."""
    if video.metadata.get("audio_dropped") and not quiet:
        sys.stderr.write(f"note: {os.path.basename(video.source or 'the input')}: {video.metadata['audio_dropped']}; "
                         "the picture is kept, without sound (repair the file to keep its sound)\n")


def upright(frame: np.ndarray, rotation: float) -> np.ndarray:
    """A decoded frame as it is meant to be seen: phones store portrait clips as landscape frames
    plus a display rotation (counter-clockwise degrees, PyAV's `VideoFrame.rotation`); players
    apply it, so the studio does too. Multiples of 90 degrees only (the only ones cameras write)."""
    k = round(rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(frame, k)) if k else frame


def _av_reason(e: Exception) -> str:
    msg = getattr(e, "strerror", None) or str(e)
    return msg.split(":")[0].strip() or e.__class__.__name__


# ---------------------------------------------------------------------------
# Output paths
# ---------------------------------------------------------------------------

def output_kind(out) -> str | None:
    """"folder" (a path ending in / or naming a folder), "mp4" (ending in .mp4) or None, by the name alone:
    for a path `check_output_path` has passed already (it tries the folder with a real file)."""
    out = os.fspath(out)
    if out.endswith(("/", os.sep)) or os.path.isdir(out):
        return "folder"
    return "mp4" if out.lower().endswith(".mp4") else None


def check_output_path(out) -> str:
    """Validate an output path before any expensive work; returns "mp4" or "folder".

    `out` ending in ".mp4" is a video file, `out` ending in "/" (or naming an
    existing folder) is a PNG sequence. The folder that will hold the result
    must exist and be writable.
    """
    if out is None or os.fspath(out) == "":
        raise InputError("no output path given; use a path ending in .mp4 or / (PNG folder)")
    out = os.fspath(out)
    if output_kind(out) == "folder":
        target = out.rstrip("/" + os.sep) or out
        if os.path.exists(target) and not os.path.isdir(target):
            raise InputError(f"output {out!r} exists and is not a folder")
        parent = os.path.dirname(os.path.abspath(target))
        if os.path.isdir(target):
            _check_writable(target, out)
            other = sorted(n for n in os.listdir(target) if n.lower().endswith(IMAGE_SUFFIXES)
                           and not _FRAME_NAME.match(n) and not n.startswith("."))
            if other:  # read back, the folder would mix them in with the new frames
                raise InputError(f"output folder {out!r} already holds other images ({', '.join(other[:3])}"
                                 f"{', ...' if len(other) > 3 else ''}); give an empty or new folder")
        else:
            _check_writable(parent, out)
        return "folder"
    if output_kind(out) == "mp4":
        parent = os.path.dirname(os.path.abspath(out))
        _check_writable(parent, out)
        return "mp4"
    raise InputError(f"output {out!r} must end in .mp4 (H.264 video) or / (PNG folder)")


def check_not_input(out, *inputs) -> None:
    """Refuse an output path that is one of the inputs (a file, the same file by a link or by "../", or a
    frame folder), or a PNG folder holding an input under a name it writes (000000.png, tenku.json):
    inputs are never modified."""
    def real(p) -> str:
        p = os.fspath(p)
        return os.path.realpath(p.rstrip("/" + os.sep) or p)

    target = real(out)
    folder = output_kind(out) == "folder"
    for path in inputs:
        if path is None:
            continue
        src = real(path)
        if src == target:
            raise InputError(f"--out {os.fspath(out)!r} is one of the inputs; inputs are never modified, "
                             "write elsewhere")
        name = os.path.basename(src)
        if folder and os.path.dirname(src) == target and (_FRAME_NAME.match(name) or name == SIDECAR_NAME):
            raise InputError(f"--out {os.fspath(out)!r} would write over the input {os.fspath(path)!r} (its frames "
                             "are named 000000.png, ...); inputs are never modified, write elsewhere")


def _check_writable(folder: str, out: str) -> None:
    """A file can be made in `folder` now (tried, not assumed: permissions alone pass /proc for root)."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise InputError(f"cannot write {out!r}: {folder!r} is a file, not a folder")
    if not os.path.isdir(folder):
        raise InputError(f"cannot write {out!r}: folder {folder!r} does not exist")
    try:
        fd, probe = tempfile.mkstemp(prefix=".tenku-probe-", dir=folder)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        # /proc exists yet answers "no such file" to a new one: that is a folder that takes no files, said so
        reason = "it takes no new files" if e.errno == errno.ENOENT else e.strerror
        raise InputError(f"cannot write {out!r}: folder {folder!r} is not writable ({reason})") from None


def _sidecar_text(sidecar: dict | None) -> str:
    def default(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, (Path, Fraction)):
            return str(o)
        raise TypeError(f"sidecar value of type {type(o).__name__} is not JSON-serialisable")
    return json.dumps(sidecar or {}, indent=1, default=default, sort_keys=False) + "\n"


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------

def even_pad(frames: np.ndarray) -> np.ndarray:
    """Pad odd heights/widths to even by repeating the last row/column.

    yuv420p subsamples chroma 2x2, so H.264 in yuv420p needs even sizes; one
    replicated edge line is invisible and keeps every source pixel (cropping
    would lose one). The output is therefore up to 1 pixel larger per axis.
    """
    h, w = frames.shape[1:3]
    ph, pw = h % 2, w % 2
    if not (ph or pw):
        return frames
    return np.pad(frames, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")


def write_video(path, frames, fps, audio_from=None, audio_start: float | None = None,
                crf: int = 17, preset: str = "veryfast", timecode: str | None = None, seal=None,
                sound: np.ndarray | None = None) -> str:
    """Write a browser-playable H.264 yuv420p MP4, atomically; returns the path.

    frames: uint8 (N, H, W, 3) RGB (or a list of such frames); odd sizes are
        padded to even (see `even_pad`). Or a `FrameStream`: frames encoded one by
        one as they are made (while the renderer makes the next).
    fps: number or fraction ("24000/1001"); the file is constant frame rate.
    audio_from: a `Video` or a file path whose audio is muxed in, trimmed to the
        video's length. The audio starts at `audio_start` seconds of the source
        (default: the source video's first frame time when a `Video` is given,
        else 0), so a clip retimed to the same duration stays in sync.
    timecode: the start timecode ("HH:MM:SS:FF") written as the file's timecode track, as a camera
        writes it (an edit list's media that stands for part of a camera file).
    The result is checked (h264, yuv420p, every frame present) before it
    replaces anything at `path`.
    seal: called with the finished temporary file before it takes `path`'s place (the CLI signs it
        there, so a file that cannot be signed never stands where a signed one was promised).
    sound: instead of `audio_from`, a mix already made (float32 (2, N) at engine.video.audio.RATE, the
        studio's cut): written as AAC stereo 48 kHz, cut or padded with silence to the picture's length. Or
        an `audio.AacTrack` of it, as long as the picture, perhaps encoded already: its packets are muxed.
    """
    import av  # deferred: PyAV is heavy; this module imports without it

    path = os.fspath(path)
    if check_output_path(path) != "mp4":
        raise InputError(f"write_video needs a path ending in .mp4, got {path!r}")
    frames, count = _frame_source(frames)
    first = next(frames, None)
    if first is None:
        raise RuntimeError(f"a stream of {count} frames gave none")
    rate = parse_fps(fps)
    audio_path, start = _audio_source(audio_from, audio_start)
    written = 0

    with placing_mp4(path, lambda: written, seal) as tmp:
        with av.open(tmp, "w", format="mp4", container_options={"movflags": "+faststart"}) as out:
            if timecode:
                out.metadata["timecode"] = timecode
            stream = out.add_stream("libx264", rate=rate)
            stream.width, stream.height = first.shape[1], first.shape[0]
            stream.pix_fmt = "yuv420p"
            stream.codec_context.time_base = 1 / rate
            stream.options = {"crf": str(int(crf)), "preset": preset}
            audio = _open_audio(out, audio_path, start, count / rate) if audio_path else None
            if sound is not None:  # a mix, or its track encoded already (the studio's export: as frames decoded)
                audio = sound if isinstance(sound, AacTrack) else AacTrack(_fitted(sound, count / rate))
                if abs(audio.seconds - count / rate) > 1 / audio.rate:
                    raise RuntimeError(f"the encoded sound lasts {audio.seconds:.3f} s, the picture "
                                       f"{float(count / rate):.3f} s")
                audio.add_to(out)
            if audio is not None:
                audio.start()
            for f in itertools.chain([first], frames):
                if f.shape != first.shape:
                    raise InputError(f"frame {written} is {f.shape}, frame 0 is {first.shape}; all frames must "
                                     "have the same size")
                vf = av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv420p")
                vf.pts = written
                vf.time_base = stream.codec_context.time_base
                out.mux(stream.encode(vf))
                written += 1
            out.mux(stream.encode(None))
            if written != count:
                raise RuntimeError(f"a stream of {count} frames gave {written}")
            if audio is not None:
                audio.mux()
    return path


def _fitted(pcm: np.ndarray, seconds: float) -> np.ndarray:
    """`pcm` (C, N) at RATE cut or padded with silence to `seconds`."""
    n = int(round(seconds * RATE))
    return np.pad(pcm[:, :n], ((0, 0), (0, max(0, n - pcm.shape[1]))))


@dataclass
class FrameStream:
    """`count` uint8 (H, W, 3) RGB frames that `frames` (an iterable) gives one at a time, as they are made:
    `write_video` and `write_output` encode each as it comes. The count is known before (the sound is cut to
    it); a stream that gives another number is an error and writes nothing."""
    frames: object
    count: int

    def __len__(self) -> int:
        return self.count

    def __iter__(self):
        return iter(self.frames)


def _frame_source(frames):
    """(an iterator of even-sized (H, W, 3) uint8 frames, how many it gives)."""
    if not isinstance(frames, FrameStream):
        frames = even_pad(as_frames(frames))
        return iter(frames), len(frames)
    if frames.count < 1:
        raise InputError("no frames given; at least one frame is needed")

    def padded(source):
        for f in source:
            if not isinstance(f, np.ndarray) or f.ndim != 3 or f.shape[-1] != 3 or f.dtype != np.uint8:
                raise InputError(f"frames must be uint8 (H, W, 3) RGB, got {getattr(f, 'shape', type(f))}")
            yield even_pad(f[None])[0]

    return padded(frames.frames), frames.count


def _audio_source(audio_from, audio_start):
    if audio_from is None:
        return None, 0.0
    if isinstance(audio_from, Video):
        if not audio_from.has_audio or not audio_from.source:
            return None, 0.0
        start = float(audio_from.timestamps[0]) if audio_start is None else float(audio_start)
        return audio_from.source, start
    return os.fspath(audio_from), float(audio_start or 0.0)


def _open_audio(out, src: str, start: float, duration: float):
    """Add an AAC stream to `out` holding src's audio from `start` for `duration` s.

    Returns an AacTrack (engine.video.audio) that encodes and muxes it, or None
    when src has no audio. The whole track is decoded to float planar and cut by
    sample index, which keeps sync exact to one sample; gaps before the source
    audio begins are filled with silence.
    """
    import av  # deferred: PyAV is heavy; this module imports without it

    with av.open(src) as inp:
        if not inp.streams.audio:
            return None
        a = inp.streams.audio[0]
        sr = a.rate or a.codec_context.sample_rate
        layout = "mono" if a.channels == 1 else "stereo"
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=sr)
        chunks, first_time = [], None
        for frame in inp.decode(a):
            if first_time is None:
                first_time = frame.time or 0.0
            for r in resampler.resample(frame):
                chunks.append(r.to_ndarray())
        for r in resampler.resample(None):
            chunks.append(r.to_ndarray())
    if not chunks:
        return None
    pcm = np.concatenate(chunks, axis=1).astype(np.float32)
    offset = int(round((start - (first_time or 0.0)) * sr))
    n = int(round(duration * sr))
    if offset < 0:
        pcm = np.concatenate([np.zeros((pcm.shape[0], -offset), np.float32), pcm], axis=1)
        offset = 0
    pcm = pcm[:, offset:offset + n]
    if pcm.shape[1] < n:
        pcm = np.pad(pcm, ((0, 0), (0, n - pcm.shape[1])))

    return aac_writer(out, pcm, sr, layout)


def _verify_mp4(path: str, n_frames: int) -> None:
    import av  # deferred: PyAV is heavy; this module imports without it

    if os.path.getsize(path) == 0:
        raise RuntimeError(f"encoder wrote an empty file for {path!r}")
    with av.open(path) as c:
        s = c.streams.video[0]
        if s.codec_context.name != "h264" or s.codec_context.pix_fmt != "yuv420p":
            raise RuntimeError(f"encoded {s.codec_context.name}/{s.codec_context.pix_fmt}, expected h264/yuv420p")
        if s.frames and s.frames != n_frames:
            raise RuntimeError(f"encoded {s.frames} frames, expected {n_frames}")


@contextlib.contextmanager
def placing_mp4(path: str, frames, seal=None):
    """A hidden name beside `path` to write an MP4 to; when the block ends, the file is checked (h264, yuv420p,
    `frames` frames: a number, or a function giving it once the block has written them), sealed (`seal(tmp)`:
    the CLI signs there) and put in `path`'s place in one rename. On any error, the temporary file goes and
    whatever stood at `path` stays (write_video, the long take's remux)."""
    tmp = _tmp_name(os.path.dirname(os.path.abspath(path)), os.path.basename(path), ".part.mp4")
    try:
        yield tmp
        _verify_mp4(tmp, frames() if callable(frames) else frames)
        if seal is not None:
            seal(tmp)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def _tmp_name(folder: str, base: str, suffix: str) -> str:
    """A hidden, unused name in `folder` (same filesystem, so os.replace is atomic).

    Not tempfile.mkstemp: its 0600 mode would carry over to the final file."""
    return os.path.join(folder, f".{base}.{secrets.token_hex(4)}{suffix}")


def _remove(path: str) -> None:
    try:
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)
    except OSError:
        pass


def write_frames(folder, frames, sidecar: dict | None = None) -> str:
    """Write a PNG sequence 000000.png, 000001.png, ... into `folder`; returns it.

    The frames (and `tenku.json` when `sidecar` is given) are written into a
    hidden temporary folder beside `folder` and moved into place only when all
    are written. If `folder` already exists with content, the new files replace
    same-named ones and leftover NNNNNN.png frames from an earlier, longer
    sequence are removed; other files in it are left alone.
    """
    from PIL import Image  # deferred: Pillow is heavy; this module imports without it

    frames = as_frames(frames)
    folder = os.fspath(folder).rstrip("/" + os.sep) or os.fspath(folder)
    if check_output_path(folder + "/") != "folder":
        raise InputError(f"{folder!r} is not a folder path")
    text = _sidecar_text(sidecar) if sidecar is not None else None
    parent = os.path.dirname(os.path.abspath(folder))
    tmp = _tmp_name(parent, os.path.basename(os.path.abspath(folder)), ".part")
    os.mkdir(tmp)
    try:
        for i, f in enumerate(frames):
            Image.fromarray(f).save(os.path.join(tmp, f"{i:06d}.png"), compress_level=1)
        if text is not None:
            with open(os.path.join(tmp, SIDECAR_NAME), "w") as fh:
                fh.write(text)
        _move_into(tmp, folder, len(frames))
    except BaseException:
        _remove(tmp)
        raise
    return folder


def _move_into(tmp: str, folder: str, n: int) -> None:
    if os.path.isdir(folder) and not os.listdir(folder):
        os.rmdir(folder)
    if not os.path.exists(folder):
        os.replace(tmp, folder)
        return
    for name in os.listdir(tmp):
        os.replace(os.path.join(tmp, name), os.path.join(folder, name))
    for name in os.listdir(folder):
        if _FRAME_NAME.match(name) and int(name[:6]) >= n:
            os.remove(os.path.join(folder, name))
    os.rmdir(tmp)


def write_output(out, frames, fps, sidecar: dict | None = None, audio_from=None,
                 audio_start: float | None = None, seal=None, sound: np.ndarray | None = None) -> str:
    """Write frames where the CLI's `--out` says, with the provenance sidecar.

    `out` ending in .mp4: the MP4 plus `out + ".json"`; `out` ending in "/" or an
    existing folder: a PNG sequence plus `out/tenku.json`. The path is checked
    and the sidecar serialised before any file is written. Returns the path of
    the video or folder. `seal`: see `write_video` (MP4 only). With a `FrameStream`,
    the sidecar is serialised again once the last frame is made, so its maker can
    complete it then (the time the work took).
    """
    kind = check_output_path(out)
    out = os.fspath(out)
    text = _sidecar_text(sidecar)
    if kind == "folder":
        return write_frames(out, frames, sidecar=sidecar or {})
    json_path = out + ".json"
    tmp_json = _tmp_name(os.path.dirname(os.path.abspath(out)), os.path.basename(json_path), ".part")
    try:
        with open(tmp_json, "x") as fh:
            fh.write(text)

        def sealed(tmp: str) -> None:
            if isinstance(frames, FrameStream):
                with open(tmp_json, "w") as fh:
                    fh.write(_sidecar_text(sidecar))
            if seal is not None:
                seal(tmp)

        write_video(out, frames, fps, audio_from=audio_from, audio_start=audio_start, seal=sealed, sound=sound)
        os.replace(tmp_json, json_path)
    except BaseException:
        _remove(tmp_json)
        raise
    return out


def copy_output(src, out, sidecar: dict | None = None) -> str:
    """The file `src` itself at `out` (a path ending in .mp4), byte for byte, with the sidecar at
    `out + ".json"`: for a clip that needed no change, so nothing is lost to a re-encode. Written as
    `write_output` writes, hidden copies beside `out` moved into place once both are whole."""
    if check_output_path(out) != "mp4":
        raise InputError(f"output {os.fspath(out)!r} must end in .mp4 to hold a copy of the input file")
    out = os.fspath(out)
    text = _sidecar_text(sidecar)
    folder = os.path.dirname(os.path.abspath(out))
    tmp_json = _tmp_name(folder, os.path.basename(out) + ".json", ".part")
    tmp = _tmp_name(folder, os.path.basename(out), ".part")
    try:
        with open(tmp_json, "x") as fh:
            fh.write(text)
        shutil.copyfile(os.fspath(src), tmp)
        os.replace(tmp, out)
        os.replace(tmp_json, out + ".json")
    except BaseException:
        _remove(tmp)
        _remove(tmp_json)
        raise
    return out
