"""The cut: assemble the timeline, retime to the delivery rate, write MP4 / PNGs / edit lists.

Takes are stored at the rate they were made (the model's base rate, or a
camera clip's own rate); every clip is retimed to the chosen delivery rate
(`retime`: optical-flow in-betweens for slower clips, a nearest-frame conform
for footage at or above it) and the cut is assembled in memory: crossfades
blend the overlapping frames (a dissolve centred on the cut), generated
bridges are clips of their own. Frames are composed with numpy and encoded once by
`engine.video.media` (H.264 yuv420p, verified), which avoids moviepy's
crossfade-padding trap (ECOSYSTEM.md) and a second encode; the MP4 is signed
last, since any re-encode strips the C2PA manifest.

Edit lists (OTIO, CMX3600 EDL, FCP7 XML) point at one media file per clip,
rendered at the delivery rate from the take's own frames: the trimmed range
plus up to HANDLE_SECONDS of the frames the take really has before and after
it. An editor can extend a trim into those handles and see real footage; where
a take has nothing beyond a trim the handle is shorter (or none), never padded
with held frames. A crossfade is centred on its cut and uses only frames inside
both trims, so every dissolve has real media on both sides. A clip of the
filmmaker's own footage names its uploaded file: as the file name (FCP XML), in
the clip's name (EDL, OTIO) and in its `tenku.source_file` metadata (OTIO); its EDL
reel is made from that name within CMX 3600's 8 characters (`reel_names`). Its
source timecodes are the uploaded file's own (its media file starts at the
timecode of its first frame in the upload, written as the file's timecode track), so
an editor who relinks to the camera original lands on the same frames.
"""
from __future__ import annotations

import math
import re
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.provenance import ProvenanceRecord, SignerConfig, concatenate
from engine.provenance.publish import publish
from engine.sampling.conditioning import fit_frames
from engine.video import audio, media
from studio import edit_sound, mixdown
from studio.jobs import take_record
from studio.speed import played_fps, sound_of, speed_of

HANDLE_SECONDS = 1.0
CONFORM = 0.99  # a source rate at least this fraction of the delivery rate is conformed by frame picking
FORMATS = ("MP4", "PNG sequence", "OTIO", "EDL", "FCP XML")
DELIVERY_RATES = {"8": 8.0, "12": 12.0, "24": 24.0, "24000/1001": 24000 / 1001, "25": 25.0, "30": 30.0}
EDIT_LISTS = (("OTIO", "cut.otio", "otio_json"), ("EDL", "cut.edl", "cmx_3600"), ("FCP XML", "cut.xml", "fcp_xml"))
REEL_LEN = 8  # CMX 3600: a reel (source) name is at most 8 characters, here of A-Z, 0-9 and _
SPECIAL_REELS = ("AX", "BL", "BLACK", "BARS")  # what EDL readers take for an unknown source, black, colour bars


@dataclass
class Clip:
    name: str
    take: dict
    frames: np.ndarray  # the whole take at the delivery rate
    record: ProvenanceRecord
    start: int  # trimmed range [start, stop) in delivery frames
    stop: int
    transition: str = "cut"  # into this clip
    overlap: int = 0  # crossfade frames shared with the previous clip
    sound: audio.Sound | None = None  # the take's own sound (a camera clip's), None when it has none
    t0: float = 0.0  # the take's time of its first frame (its sound is cut from there)
    speed: float = 1.0  # the timeline clip's speed (studio.speed): take time t plays at t / speed
    sound_mode: str = "stretch"  # what its sound does when speed is not 1: stretch, keep or mute


def retime(frames: np.ndarray, record: ProvenanceRecord, src_fps: float, fps: float):
    """Frames and record at `fps`. A clip slower than the delivery rate (the model's 8 fps takes) gets
    in-betweens from the engine's interpolator (optical flow), marked interpolated. A clip at or above it
    (camera footage at 29.97 or 25 delivered at 24, 29.97 at 30) is conformed the way an editor does: each
    delivered frame is the source frame nearest its time (frames dropped, or now and then repeated), so
    every frame of the footage in the cut is still a camera frame and says so."""
    if abs(src_fps - fps) < 1e-6 or len(frames) < 2:
        return frames, ProvenanceRecord(record.ranges, fps, record.decisions, record.watermark)
    count = int(math.floor((len(frames) - 1) * fps / src_fps + 1e-9)) + 1
    out_times = np.arange(count) / fps
    if src_fps >= fps * CONFORM:
        pos = np.round(out_times * src_fps).clip(0, len(frames) - 1).astype(int)
        return frames[pos], record.retime([float(p) for p in pos], fps)
    try:
        from engine.video.retime import resample  # deferred: an engine without resample falls back below
        out, pos = resample(frames, np.arange(len(frames)) / src_fps, out_times)
    except ImportError:  # an engine without resample: hold the nearest frame
        pos = np.round(out_times * src_fps).clip(0, len(frames) - 1)
        out = frames[pos.astype(int)]
    return out, record.retime([float(p) for p in pos], fps, details={"method": "optical flow"})


def timeline_clips(store, project_id: str, fps: float, sounds=None) -> list[Clip]:
    """The timeline's clips with their frames at `fps` (and their takes' sound). sounds: an executor that
    reads each take's sound beside the picture's decoding (export: sound then costs the cut little wall time);
    None reads it in turn."""
    entries = store.timeline(project_id)
    if not entries:
        raise InputError("the timeline is empty; press Use on timeline on a take in the storyboard first")
    takes = []
    for i, e in enumerate(entries):
        if i > 0 and e["transition"] == "bridge":
            if not e["bridge_take_id"]:
                raise InputError(f"clip {i + 1} has a bridge transition that is not rendered yet; "
                                 "press 'Render bridge' or choose cut/crossfade")
            takes.append((store.take(e["bridge_take_id"]), f"bridge {i}-{i + 1}", None))
        takes.append((store.take(e["take_id"]), f"clip {i + 1}", e))
    heard = {t["id"]: sounds.submit(mixdown.take_sound, store.path(t["path"])) for t, _, _ in takes} if sounds \
        else {}
    clips = []
    for take, name, e in takes:
        clip = _clip(store, take, fps, name, e, heard.get(take["id"]))
        if e is not None and clips and e["transition"] == "crossfade":
            prev = clips[-1]
            m = int(round(e["transition_seconds"] * fps))
            m = max(0, min(m, prev.stop - prev.start - 1, clip.stop - clip.start - 1))
            clip.transition, clip.overlap = ("crossfade", m) if m else ("cut", 0)
        clips.append(clip)
    return clips


def delivered_frames(frames: int, src_fps: float, fps: float) -> int:
    """How many frames `retime` makes of `frames` at `src_fps` for delivery at `fps`."""
    if abs(src_fps - fps) < 1e-6 or frames < 2:
        return frames
    return int(math.floor((frames - 1) * fps / src_fps + 1e-9)) + 1


def _span(n: int, k: float, entry: dict | None) -> tuple[int, int]:
    """A clip's kept frames [start, stop) of its `n` delivered frames, its trims (at its own rate) scaled by `k`."""
    start = int(round((entry or {}).get("trim_in", 0) * k))
    stop = n - int(round((entry or {}).get("trim_out", 0) * k))
    start, stop = max(0, min(start, n - 1)), max(1, min(n, stop))
    return start, max(stop, start + 1)


def cut_length(store, project_id: str, fps: float) -> list[tuple[int, int, int]]:
    """Without decoding anything, what the exported cut holds at `fps`: per timeline clip, (the cut's frame it
    starts at, the frames it adds: a rendered bridge into it counts with it, a crossfade into it does not, the
    frames it plays itself), as
    `timeline_clips` and `assemble` make them, so the timeline's totals are the export's to the frame."""
    out, at, prev = [], 0, None
    for i, e in enumerate(store.timeline(project_id)):
        t = store.take(e["take_id"])
        start = at
        if i > 0 and e["transition"] == "bridge" and e["bridge_take_id"]:
            b = store.take(e["bridge_take_id"])
            prev = delivered_frames(b["frames"], float(b["fps"]), fps)
            at += prev
        rate = played_fps(t["fps"], e)  # a clip's speed plays its take as if shot at speed times its rate
        a, z = _span(delivered_frames(t["frames"], rate, fps), fps / rate, e)
        m = 0
        if i > 0 and e["transition"] == "crossfade" and prev is not None:
            m = max(0, min(int(round(e["transition_seconds"] * fps)), prev - 1, z - a - 1))
        first = at - m  # a crossfade starts the clip under the end of the one before
        at += z - a - m
        out.append((first, at - start, z - a))
        prev = z - a
    return out


def _clip(store, take: dict, fps: float, name: str, entry: dict | None = None, heard=None) -> Clip:
    """heard: the future of the take's sound (timeline_clips), or None to read it here."""
    video = media.read_video(store.path(take["path"]))
    rec = take_record(take)
    if rec.frame_count != len(video):
        rec = ProvenanceRecord.camera(len(video), take["id"], video.fps)
    rate = played_fps(take["fps"] or video.fps, entry)  # slower: in-betweens by optical flow; faster: conformed
    frames, rec = retime(video.frames, rec, rate, fps)
    start, stop = _span(len(frames), fps / rate, entry)
    sound = None
    if video.has_audio:
        sound = heard.result() if heard is not None else mixdown.take_sound(video.source)
    return Clip(name, take, frames, rec, start, stop, sound=sound, t0=float(video.timestamps[0]),
                speed=speed_of(entry), sound_mode=sound_of(entry))


def cut_frames(clips: list[Clip]) -> int:
    """The length of the cut `assemble` makes of `clips`, in frames, without making it."""
    return sum(c.stop - c.start for c in clips) - sum(c.overlap for c in clips[1:])


def assemble(clips: list[Clip], fps: float):
    """The whole cut: frames (N, H, W, 3) at `fps` and its provenance record."""
    size = clips[0].frames.shape[1:3]
    parts, records = [], []
    for c in clips:
        f = _fit(c.frames[c.start:c.stop], size)
        r = c.record.slice(c.start, c.stop)
        if c.overlap and parts:
            m = c.overlap
            w = (np.arange(1, m + 1) / (m + 1))[:, None, None, None]
            blend = (parts[-1][-m:] * (1 - w) + f[:m] * w).round().astype(np.uint8)
            parts[-1] = parts[-1][:-m]
            records[-1] = records[-1].slice(0, records[-1].frame_count - m)
            parts.append(blend)
            records.append(ProvenanceRecord.uniform("transition", m, fps, details={"style": "crossfade"}))
            f, r = f[m:], r.slice(m, r.frame_count)
        parts.append(f)
        records.append(r)
    keep = [(p, r) for p, r in zip(parts, records) if len(p)]
    frames = np.concatenate([p for p, _ in keep])
    rec = concatenate([ProvenanceRecord(r.ranges, fps, r.decisions, r.watermark) for _, r in keep], fps)
    return frames, rec


def _fit(frames: np.ndarray, size) -> np.ndarray:
    """Frames of another size fitted to the cut's size (cover and centre-crop)."""
    if frames.shape[1:3] == tuple(size):
        return frames
    return fit_frames(frames, size[1], size[0])


def play_cut(store, project_id: str, fps: float = 24.0) -> str:
    """A playable MP4 of the cut for the page (not signed; the export is)."""
    clips = timeline_clips(store, project_id, fps)
    frames, rec = assemble(clips, fps)
    sound, _ = mixdown.cut_sound(clips, store.audio_tracks(project_id), fps, len(frames), store)
    path = store.media(project_id, "previews") / "cut.mp4"
    media.write_video(str(path), frames, fps, sound=sound)
    return str(path)


def export(store, project_id: str, fps: float, formats, config_dir) -> dict:
    """Write the chosen formats into media/<project>/exports/<time>/; returns {format: path}."""
    formats = list(formats or [])
    if not formats:
        raise InputError("pick at least one export format")
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise InputError(f"unknown export format {unknown[0]!r}; allowed: {', '.join(FORMATS)}")
    tracks = store.audio_tracks(project_id)
    # The sound is made on a second thread beside the picture: each take's sound read while the frames are
    # decoded, then the mix and its AAC encoding while they are assembled, so the MP4's writer only muxes the
    # packets after the picture. PyAV and numpy work without Python's lock, so on a second core the sound adds
    # little to the export's wall time (studio.bench_sound measures it side by side; issue 32).
    with ThreadPoolExecutor(1, thread_name_prefix="sound") as sounds:
        clips = timeline_clips(store, project_id, fps, sounds)
        mixing = sounds.submit(mixed, clips, tracks, fps, store, "MP4" in formats)
        frames, rec = assemble(clips, fps)
        sound, said, encoded = mixing.result()
    project = store.project(project_id)
    folder = store.media(project_id, "exports", time.strftime("%Y%m%d-%H%M%S"))
    out: dict[str, str] = {}
    sidecar = {"project": project["name"], "fps": fps, "provenance": rec.to_dict(), "audio": said}
    if "MP4" in formats:
        # the takes in the cut carry their marks already: written and signed as they are, through the one
        # publish step (signed before the file takes its name)
        out["MP4"], _ = publish(str(folder / "cut.mp4"), frames, fps, rec, sidecar, marked=False,
                                signer=SignerConfig.from_config_dir(config_dir), sound=encoded)
    if "PNG sequence" in formats:
        out["PNG sequence"] = media.write_frames(str(folder / "frames"), frames, sidecar=sidecar)
        if sound is not None:  # frames carry no sound: the cut's mix lies beside them, as long as they play
            out["WAV"] = audio.write_wav(folder / "cut.wav", sound)
    if {"OTIO", "EDL", "FCP XML"} & set(formats):
        timeline = edit_list(clips, fps, project["name"], folder)
        edit_sound.add_tracks(timeline, clips, tracks, fps, store, folder / "media")
        out.update(write_edit_lists(timeline, folder, formats))
    return out


def mixed(clips: list[Clip], tracks: list, fps: float, store, encode: bool):
    """The cut's mix, what went into it (mixdown.cut_sound) and, with `encode`, its AAC track encoded already
    (None without sound)."""
    sound, said = mixdown.cut_sound(clips, tracks, fps, cut_frames(clips), store)
    return sound, said, audio.AacTrack(sound).encode() if encode and sound is not None else None


def write_edit_lists(timeline, folder, formats) -> dict:
    """The edit lists among `formats` of an OTIO timeline (`edit_list`), written into `folder`; {format: path}."""
    import opentimelineio as otio  # deferred: OpenTimelineIO is heavy; this module imports without it

    out = {}
    for fmt, name, adapter in EDIT_LISTS:
        if fmt in formats:
            # CMX 3600 holds one track: the picture's in cut.edl, each sound track's in an EDL of its own
            tl = edit_sound.picture_only(timeline) if fmt == "EDL" else timeline
            otio.adapters.write_to_file(tl, str(Path(folder) / name), adapter_name=adapter)
            out[fmt] = str(Path(folder) / name)
    if "EDL" in formats:
        out.update(edit_sound.write_sound_edls(timeline, folder))
    return out


def camera_source(clip: Clip) -> str:
    """The uploaded file a clip's camera frames come from ('' for clips with no camera frames)."""
    if not any(r.kind == "camera" for r in clip.record.slice(clip.start, clip.stop).ranges):
        return ""
    return str(clip.take["settings"].get("source_file") or
               next((r.source for r in clip.record.ranges if r.kind == "camera" and r.source), ""))


def source_offset(c: Clip, lo: int, fps: float) -> int:
    """For a clip of the filmmaker's footage: where delivery frame `lo` of the clip sits in the uploaded file,
    in delivery frames from the file's start (the source timecode of a media file that starts at `lo`). Found
    from the first camera frame at or after `lo` and the upload's own rate, so a fix or a trim keeps the file's
    time. 0 for a clip with no camera frames, or where `lo` would fall before the file's start (frames a
    backward extension added)."""
    src_fps = float(c.take["fps"] or fps)  # a footage take keeps the camera's rate
    for r in c.record.ranges:
        if r.kind == "camera" and r.source_start is not None and r.stop > lo:
            j = max(r.start, lo)
            step = getattr(r, "source_step", None) or 1
            seconds = (r.source_start + (j - r.start) * step) / src_fps - (j - lo) * c.speed / fps
            return max(0, int(round(seconds * fps)))
    return 0


def reel_names(clips: list[Clip]) -> list[str]:
    """Each clip's CMX 3600 reel: the same for clips of one source (the uploaded file its camera frames come from,
    else its take), different for different sources, at most REEL_LEN characters of A-Z, 0-9 and _, never one an
    EDL reader takes for black or bars. Issue 31: the uploaded file's whole name ran past the limit (and a name
    with a space broke the event line)."""
    reels: dict[str, str] = {}
    keys = []
    for c in clips:
        source = camera_source(c)
        keys.append(f"file {source}" if source else f"take {c.take['id']}")
        if keys[-1] in reels:
            continue
        plain = unicodedata.normalize("NFKD", Path(source).stem if source else c.take["id"])
        plain = plain.encode("ascii", "ignore").decode()
        base = re.sub(r"[^A-Z0-9]+", "_", plain.upper()).strip("_")[:REEL_LEN].rstrip("_") or "REEL"
        reel, n = base, 1
        while reel in SPECIAL_REELS or reel in reels.values():
            n += 1
            reel = f"{base[:REEL_LEN - len(str(n)) - 1].rstrip('_')}_{n}"
        reels[keys[-1]] = reel
    return [reels[k] for k in keys]


def timecode(frames: int, fps: float) -> str:
    """Non-drop-frame timecode HH:MM:SS:FF of a frame count at the nominal rate (23.976 counts as 24)."""
    nominal = max(1, int(round(fps)))
    ff, seconds = frames % nominal, frames // nominal
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}:{ff:02d}"


def one_line(text: str) -> str:
    """`text` with control and format characters as spaces: an EDL is read line by line (a name made before
    names were checked must not add lines to it)."""
    return " ".join("".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in text).split())


def edit_list(clips: list[Clip], fps: float, name: str, folder):
    """An OTIO timeline of the cut; per-clip media (the trim plus real handle frames) is rendered into folder/media/."""
    import opentimelineio as otio  # deferred: OpenTimelineIO is heavy; this module imports without it

    rate = 24000 / 1001 if abs(fps - 24000 / 1001) < 1e-6 else fps
    rt = lambda n: otio.opentime.RationalTime(n, rate)  # noqa: E731
    handle = int(round(HANDLE_SECONDS * fps))
    media_dir = folder / "media"
    media_dir.mkdir(exist_ok=True)
    tl = otio.schema.Timeline(name=one_line(name))
    tl.global_start_time = rt(0)
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    tl.tracks.append(track)
    for i, (c, reel) in enumerate(zip(clips, reel_names(clips))):
        lo, hi = max(0, c.start - handle), min(len(c.frames), c.stop + handle)  # handles: real frames only
        source = camera_source(c)
        stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(source).stem)[:40]
        path = media_dir / f"clip{i + 1:02d}-{stem + '-' if stem else ''}{c.take['id']}.mp4"
        tc = source_offset(c, lo, fps) if source else 0  # footage: the uploaded file's time of frame lo
        media.write_video(str(path), c.frames[lo:hi], fps, timecode=timecode(tc, fps) if tc else None,
                          sound=mixdown.clip_window(c, lo, hi, fps))  # the clip's media carries its sound
        start, stop = tc + c.start - lo, tc + c.stop - lo  # the trim, in the media file's timecode
        if c.overlap:
            # The dissolve covers the last `overlap` frames of the previous clip's range and the first of this
            # one's (as `assemble` blends them); the cut sits in its middle.
            before, after = c.overlap // 2, c.overlap - c.overlap // 2
            prev = track[-1]
            prev.source_range = otio.opentime.TimeRange(prev.source_range.start_time,
                                                        prev.source_range.duration - rt(after))
            start += before
            track.append(otio.schema.Transition(name="crossfade",
                                                transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                                                in_offset=rt(before), out_offset=rt(after)))
        s = c.take["settings"]
        ref = otio.schema.ExternalReference(target_url=path.resolve().as_uri(),
                                            available_range=otio.opentime.TimeRange(rt(tc), rt(hi - lo)))
        if source:  # the filmmaker's own footage: the file name (FCP XML) is the uploaded file
            ref.name = source
        clip = otio.schema.Clip(name=one_line(f"{c.name} {source + ' ' if source else ''}{c.take['id']}"),
                                media_reference=ref, source_range=otio.opentime.TimeRange(rt(start), rt(stop - start)))
        clip.metadata["tenku"] = {"prompt": s.get("prompt", ""), "seed": s.get("seed"), "model": s.get("model", ""),
                                  "take": c.take["id"], "shot": c.take["shot_id"], "kind": c.take["kind"],
                                  "negative": s.get("negative", ""), "steps": s.get("steps"),
                                  "guidance": s.get("guidance"), "source_file": source}
        clip.metadata["cmx_3600"] = {"reel": reel}  # the EDL's reel; the uploaded file's name is the clip's
        track.append(clip)
    return tl
