"""The cut's sound in the edit lists: the clips' own sound as track A1, each audio track as a track of its own.

A1 follows the picture: each clip with sound is there again with the same media file (studio.export renders
every clip's media with its sound) and the same range, a gap where a clip has none, the crossfades where both
sides have sound. Each audio track of the project (A2, A3, ...) is a gap up to where it starts and then the
track's file, copied beside the clips' media, trimmed as set; its level and fades are in the clip's `tenku`
metadata (OTIO) since no edit-list format here keeps them. The CMX 3600 adapter writes one track per EDL, so
cut.edl stays the picture and each sound track gets its own EDL beside it (cut.A1.edl, ...).
"""
from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

from studio.soundtracks import kept_seconds


def add_tracks(tl, clips, tracks, fps: float, store, media_dir) -> None:
    """Add the sound tracks to the OTIO timeline `tl` that studio.export.edit_list made of `clips`."""
    import opentimelineio as otio  # deferred: OpenTimelineIO is heavy; this module imports without it

    video = tl.tracks[0]
    rate = video.duration().rate
    end = video.duration().to_seconds()
    if any(c.sound is not None for c in clips):
        tl.tracks.append(_follow_picture(video, [c.sound is not None for c in clips], "A1"))
    for n, t in enumerate(tracks, start=2):
        if t["start"] >= end:
            continue
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", t["name"])[:60]
        dst = Path(media_dir) / f"A{n}-{t['id']}-{name}"
        shutil.copyfile(store.path(t["path"]), dst)
        rt = lambda s: otio.opentime.RationalTime(round(s * rate), rate)  # noqa: E731
        track = otio.schema.Track(name=f"A{n}", kind=otio.schema.TrackKind.Audio)
        if t["start"] > 0:
            track.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(rt(0), rt(t["start"]))))
        ref = otio.schema.ExternalReference(target_url=dst.resolve().as_uri(),
                                            available_range=otio.opentime.TimeRange(rt(0), rt(t["seconds"])))
        ref.name = t["name"]
        plays = min(kept_seconds(t), end - t["start"])
        clip = otio.schema.Clip(name=t["name"], media_reference=ref,
                                source_range=otio.opentime.TimeRange(rt(t["trim_in"]), rt(plays)))
        clip.metadata["tenku"] = {"sound": "file", "source_file": t["name"], "gain_db": t["gain_db"],
                                  "fade_in": t["fade_in"], "fade_out": t["fade_out"], "track": t["id"]}
        clip.metadata["cmx_3600"] = {"reel": f"A{n}"[:8]}
        track.append(clip)
        tl.tracks.append(track)


def _follow_picture(video, has_sound: list[bool], name: str):
    """An audio track with the picture track's clips where they have sound, gaps where they have none."""
    import opentimelineio as otio  # deferred: OpenTimelineIO is heavy; this module imports without it

    track = otio.schema.Track(name=name, kind=otio.schema.TrackKind.Audio)
    clips = iter(has_sound)
    items = []
    for item in video:
        if isinstance(item, otio.schema.Transition):
            items.append(copy.deepcopy(item))  # an item belongs to one track
            continue
        sound = next(clips, False)
        if sound:
            c = copy.deepcopy(item)
            c.metadata["tenku"] = {**c.metadata.get("tenku", {}), "sound": "camera" if c.metadata.get(
                "tenku", {}).get("source_file") else "take"}
            items.append(c)
        else:
            length = item.source_range.duration
            items.append(otio.schema.Gap(source_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(0, length.rate), length)))
    for i, item in enumerate(items):
        if isinstance(item, otio.schema.Transition):
            if not (isinstance(items[i - 1], otio.schema.Clip) and isinstance(items[i + 1], otio.schema.Clip)):
                continue  # a dissolve into or out of silence is no audio transition
        track.append(item)
    return track


def write_sound_edls(tl, folder) -> dict:
    """One CMX 3600 EDL per sound track of `tl` (cut.A1.edl, ...): {"EDL A1": path, ...}."""
    # deferred: OpenTimelineIO and the EDL adapter are heavy; this module imports without it
    import opentimelineio as otio
    from otio_cmx3600_adapter.cmx_3600 import EDLWriter

    out = {}
    for track in tl.tracks[1:]:
        if track.kind != otio.schema.TrackKind.Audio or not len(track):
            continue
        path = Path(folder) / f"cut.{track.name}.edl"
        alone = otio.schema.Timeline(name=tl.name)  # the writer reads (and changes) a timeline's own tracks
        alone.tracks.append(copy.deepcopy(track))
        writer = EDLWriter(tracks=alone.tracks, rate=track.duration().rate, style="avid")
        path.write_text(writer.get_content_for_track_at_index(0, title=f"{tl.name} {track.name}"))
        out[f"EDL {track.name}"] = str(path)
    return out


def picture_only(tl):
    """A copy of `tl` with its picture track alone (what CMX 3600's adapter writes into cut.edl)."""
    out = copy.deepcopy(tl)
    while len(out.tracks) > 1:
        out.tracks.pop()
    return out
