"""The cut as a track the timeline panel draws and edits (studio/panels/timeline.js): each clip a thumbnail as
long as it plays, in the cut's frames at the delivery rate (studio.export.cut_length, so the track is the
export to the frame), and the edits a drag makes: move a clip, trim an edge, set a crossfade. The same checks
serve the panel's buttons and fields."""
from __future__ import annotations

import json
from urllib.parse import quote

from PIL import Image

from engine.errors import InputError
from engine.video import media
from studio import export, mixdown, soundtracks
from studio.naming import take_name
from studio.speed import label, played_fps

THUMB_HEIGHT = 72  # px: the track's clips show their first kept frame at this height


def clip_seconds(store, entry) -> tuple[float, float]:
    """A timeline clip's length after its trims, and its take's frame time, in seconds."""
    t = store.take(entry["take_id"])
    rate = played_fps(t["fps"], entry)  # the clip's speed
    return max(1, t["frames"] - entry["trim_in"] - entry["trim_out"]) / rate, 1 / rate


def longest_crossfade(store, before, entry) -> float:
    """A crossfade shares frames of the clips it joins, so it is shorter than either by a frame at least (as
    export.timeline_clips plays and exports it)."""
    (a, fa), (b, fb) = clip_seconds(store, before), clip_seconds(store, entry)
    return max(0.0, min(a - fa, b - fb))


def trim(store, eid: str, a, b) -> None:
    """Trim a clip: `a` frames off its start and `b` off its end (its take's own frames)."""
    e = store.entry(eid)
    n = store.take(e["take_id"])["frames"]
    a, b = int(a or 0), int(b or 0)
    if a < 0 or b < 0 or a + b >= n:
        raise InputError(f"trim in + trim out must leave at least one of the clip's {n} frames (and be >= 0)")
    store.update_entry(eid, trim_in=a, trim_out=b)


def crossfade(store, pid: str, eid: str, seconds: float) -> int:
    """A crossfade of `seconds` into a clip (0: a cut); returns the clip's place (0-based). Refused on the first
    clip and when longer than the clips it joins allow."""
    entries = store.timeline(pid)
    ids = [x["id"] for x in entries]
    if eid not in ids:
        raise InputError("that clip is not on this project's timeline")
    pos = ids.index(eid)
    if pos == 0:
        raise InputError("the first clip has nothing before it; set the transition on a later clip")
    if seconds <= 0:
        store.update_entry(eid, transition="cut", bridge_take_id=None)
        return pos
    if seconds > 5:
        raise InputError("a transition lasts more than 0 and at most 5 seconds")
    most = longest_crossfade(store, entries[pos - 1], entries[pos])
    if seconds > most:
        raise InputError(f"a crossfade into clip {pos + 1} lasts at most {most:.2f} s: it overlaps the two clips "
                         f"it joins, and must be shorter than both")
    store.update_entry(eid, transition="crossfade", transition_seconds=float(seconds), bridge_take_id=None)
    return pos


def move_to(store, pid: str, eid: str, to: int) -> None:
    ids = [x["id"] for x in store.timeline(pid)]
    if eid not in ids:
        raise InputError("that clip is not on this project's timeline")
    store.move_entry(eid, int(to) - ids.index(eid))


def thumbnail(store, take: dict, frame: int) -> str | None:
    """The project-relative path of a small JPEG of the take's frame `frame` (made once, kept in the project's
    thumbs folder); None when the file cannot be read."""
    folder = store.media(take["project_id"], "thumbs")
    path = folder / f"{take['id']}-{frame}.jpg"
    if not path.exists():
        try:
            video = media.read_video(store.path(take["path"]), max_frames=frame + 1)
        except (InputError, OSError):
            return None
        img = Image.fromarray(video.frames[min(frame, len(video) - 1)])
        img.thumbnail((THUMB_HEIGHT * 4, THUMB_HEIGHT))
        img.save(path, quality=80)
    return store.rel(path)


def take_wave(store, take: dict) -> str | None:
    """The project-relative path of a waveform picture of the take's own sound (made once, kept in the thumbs
    folder); None when the take has no sound."""
    if not take["settings"].get("sound"):
        return None
    path = store.media(take["project_id"], "thumbs") / f"{take['id']}-wave.png"
    if not path.exists():
        sound = mixdown.take_sound(store.path(take["path"]))
        if sound is None:
            return None
        soundtracks.draw_wave(sound, path)
    return store.rel(path)


def url(store, rel: str | None) -> str | None:
    """What the page loads a project file by (Gradio serves the projects' media folder)."""
    return "gradio_api/file=" + quote(str(store.path(rel))) if rel else None


def audio_state(store, pid: str) -> list[dict]:
    """The audio tracks as the track draws them: seconds in the cut and in their files, level, fades, waveform."""
    keys = ("name", "start", "seconds", "trim_in", "trim_out", "gain_db", "fade_in", "fade_out")
    return [{"track": t["id"], **{k: t[k] for k in keys}, "wave": url(store, soundtracks.wave_of(t))}
            for t in store.audio_tracks(pid)]


def track_state(store, pid: str | None, rate: str = "24", spans=None) -> str:
    """The track's value (JSON): the delivery rate and the cut's length in frames, and per clip where it starts
    in the cut, how many frames it adds, its trims, its crossfade in, its take's frames and the rate they play
    at (the take's times the clip's speed, so a drag converts cut frames to take frames), its speed, its name and
    its thumbnail's URL. `spans`: export.cut_length at this rate, when the caller has counted it already."""
    if not pid:
        return json.dumps({"clips": [], "frames": 0, "fps": 24.0, "audio": []})
    fps = export.DELIVERY_RATES.get(str(rate), 24.0)
    entries = store.timeline(pid)
    spans = spans if spans is not None else export.cut_length(store, pid, fps)
    clips = []
    for i, (e, (first, added, plays)) in enumerate(zip(entries, spans)):
        t = store.take(e["take_id"])
        thumb = thumbnail(store, t, int(e["trim_in"]))
        fade = e["transition"] == "crossfade" and i > 0
        clips.append({"entry": e["id"], "name": f"{i + 1}. {take_name(store, t)}", "first": first, "frames": plays,
                      "trim_in": e["trim_in"], "trim_out": e["trim_out"], "take_frames": t["frames"],
                      "take_fps": played_fps(t["fps"], e), "speed": label(e),
                      "transition": e["transition"] if i else "cut",
                      "fade_seconds": e["transition_seconds"] if fade else 0.0,
                      "thumb": url(store, thumb), "wave": url(store, take_wave(store, t))})
    return json.dumps({"clips": clips, "frames": sum(a for _, a, _ in spans), "fps": fps, "rate": str(rate),
                       "audio": audio_state(store, pid)})
