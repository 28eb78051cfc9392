"""The cut's sound: each clip's own sound under its own frames, the audio tracks laid over them, one stereo mix.

A clip's sound is its take's (a camera clip keeps what the camera recorded; generated takes have none) for
exactly the frames the clip plays: delivery frame j of a take is the take's time j / fps (studio.export.retime
keeps every clip's duration; a clip's speed plays take time t at t / speed), so the sound is cut at the same
times as the picture and a conformed clip keeps its original speed; a slowed or sped-up clip's sound is
stretched to its new length with its pitch kept, kept at its own speed, or muted (studio.speed). Where two
clips crossfade, their sounds cross linearly over the same frames as the picture's dissolve. Audio tracks
(studio.soundtracks) are trimmed, set to their level, faded and added at their start. Anything past the
picture's end is left out; a mix louder than full scale is clipped and the sidecar says so. Mixing is numpy
on 48 kHz stereo float (engine.video.audio).
"""
from __future__ import annotations

import numpy as np

from engine.video import audio
from studio import speed
from studio.soundtracks import kept_seconds


def take_sound(path) -> audio.Sound | None:
    """A take's own sound, None when it has none (or none that decodes: its picture is still used)."""
    try:
        return audio.read_sound(path)
    except audio.AudioError:
        return None


def clip_window(c, lo: int, hi: int, fps: float) -> np.ndarray | None:
    """A clip's sound under its delivery frames [lo, hi), None when its take has none or it is muted; at the
    clip's speed, stretched or kept as its sound choice says (studio.speed.window)."""
    return speed.window(c, lo, hi, fps)


def placements(clips, fps: float) -> list[int]:
    """The cut's frame each clip starts at, as studio.export.assemble lays them (a crossfade starts a clip
    under the end of the one before)."""
    out, at = [], 0
    for c in clips:
        begin = at - c.overlap if out else 0
        out.append(begin)
        at = begin + (c.stop - c.start)
    return out


def cut_sound(clips, tracks, fps: float, frames: int, store=None) -> tuple[np.ndarray | None, dict]:
    """The cut's mix (float32 (2, N) at audio.RATE, N the picture's length) and what went into it, for the
    sidecar; (None, {...}) when nothing in the cut has sound, so a silent cut stays without an audio stream."""
    mix = audio.silence(frames / fps)
    sources: list[dict] = []
    starts = placements(clips, fps)
    for i, (c, at) in enumerate(zip(clips, starts)):
        pcm = clip_window(c, c.start, c.stop, fps)
        if pcm is None:
            continue
        fade_out = clips[i + 1].overlap / fps if i + 1 < len(clips) else 0.0
        audio.place(mix, audio.shaped(pcm, 0.0, c.overlap / fps, fade_out), audio.samples(at / fps))
        sources.append({"kind": "camera" if _camera(c) else "take", "clip": c.name, "take": c.take["id"],
                        "file": c.take["settings"].get("source_file") or "", "cut_seconds": _span(at, c, fps),
                        "take_seconds": [round(c.t0 + c.start * c.speed / fps, 6),
                                         round(c.t0 + c.stop * c.speed / fps, 6)],
                        "crossfade_in_seconds": round(c.overlap / fps, 6), "speed": c.speed,
                        "retimed": speed.said(c.speed, c.sound_mode)})
    for t in tracks:
        if t["start"] >= frames / fps:
            continue
        sound = audio.read_sound(store.path(t["path"]))
        pcm = sound.window(sound.start + t["trim_in"], sound.start + t["trim_in"] + kept_seconds(t))
        audio.place(mix, audio.shaped(pcm, t["gain_db"], t["fade_in"], t["fade_out"]), audio.samples(t["start"]))
        sources.append({"kind": "file", "track": t["id"], "file": t["name"],
                        "cut_seconds": [round(t["start"], 6), round(min(frames / fps, t["start"] + kept_seconds(t)),
                                                                    6)],
                        "file_seconds": [round(t["trim_in"], 6), round(t["trim_in"] + kept_seconds(t), 6)],
                        "gain_db": t["gain_db"], "fade_in": t["fade_in"], "fade_out": t["fade_out"]})
    said = {"rate": audio.RATE, "channels": audio.CHANNELS, "codec": "aac", "sources": sources}
    if not sources:
        return None, said
    peak = audio.limit(mix)
    said["peak_db"] = round(20 * np.log10(max(peak, 1e-9)), 2)
    if peak > 1.0:
        said["clipped"] = "the mix was louder than full scale and was clipped; lower a track's level"
    return mix, said


def _camera(c) -> bool:
    return any(r.kind == "camera" for r in c.record.slice(c.start, c.stop).ranges)


def _span(at: int, c, fps: float) -> list[float]:
    return [round(at / fps, 6), round((at + c.stop - c.start) / fps, 6)]
