"""Audio tracks of a project: music or dialogue files laid under the cut (issue 32).

A track is one sound file copied into the project (media/<project>/audio/<track id><suffix>: its own name is
kept only as a label, so no upload names a path) with where it starts in the cut, how much of the file's
start and end is trimmed off, its level in dB and its fades, all in seconds. The file itself is never
changed; the export mixes it (studio.mixdown). `AudioTrackStore` is the project store's part that keeps
them (studio.project.Store inherits it); the functions below check an upload and an edit before either is
kept, so a refused one leaves the project as it was.
"""
from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

from engine.errors import InputError
from engine.video import audio

AUDIO_SCHEMA = """
CREATE TABLE IF NOT EXISTS audio_tracks (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, position INTEGER,
    path TEXT, name TEXT, seconds REAL, start REAL DEFAULT 0, trim_in REAL DEFAULT 0, trim_out REAL DEFAULT 0,
    gain_db REAL DEFAULT 0, fade_in REAL DEFAULT 0, fade_out REAL DEFAULT 0, info TEXT DEFAULT '{}');
"""
TRACK_FIELDS = ("start", "trim_in", "trim_out", "gain_db", "fade_in", "fade_out")
MAX_SECONDS = 3600.0  # a track longer than an hour is refused while it decodes (no feature cut needs more)
GAIN_RANGE = (-60.0, 12.0)  # dB: from nearly silent to four times as loud
SHORTEST = 0.05  # seconds a track keeps after its trims
WAVE_PX_PER_SECOND = 50  # the waveform picture's detail: 50 columns a second, at most 4000


class AudioTrackStore:
    """The audio_tracks table (mixed into studio.project.Store, which provides _q, _x, media, rel, path)."""

    def audio_tracks(self, project_id: str) -> list[dict]:
        return [_track(r) for r in self._q("SELECT * FROM audio_tracks WHERE project_id=? ORDER BY position",
                                           (project_id,))]

    def audio_track(self, track_id: str) -> dict:
        rows = self._q("SELECT * FROM audio_tracks WHERE id=?", (track_id,))
        if not rows:
            raise InputError("pick an audio track first (add one with 'Add music or dialogue')")
        return _track(rows[0])

    def add_audio_track(self, project_id: str, track_id: str, path, name: str, seconds: float, info: dict) -> str:
        pos = len(self.audio_tracks(project_id))
        self._x("INSERT INTO audio_tracks (id, project_id, position, path, name, seconds, info) "
                "VALUES (?,?,?,?,?,?,?)", (track_id, project_id, pos, self.rel(path), name, float(seconds),
                                           json.dumps(info)))
        self.touch(project_id)
        return track_id

    def update_audio_track(self, track_id: str, **fields) -> None:
        t = self.audio_track(track_id)
        fields = {k: float(v) for k, v in fields.items() if k in TRACK_FIELDS}
        if fields:
            self._x(f"UPDATE audio_tracks SET {','.join(f'{k}=?' for k in fields)} WHERE id=?",
                    (*fields.values(), track_id))
            self.touch(t["project_id"])

    def remove_audio_track(self, track_id: str) -> None:
        """The row and the project's copy of the file (the upload it came from was never kept)."""
        t = self.audio_track(track_id)
        self._x("DELETE FROM audio_tracks WHERE id=?", (track_id,))
        self._renumber("audio_tracks", t["project_id"])
        for rel in (t["path"], wave_of(t)):
            self.path(rel).unlink(missing_ok=True)


def _track(row: dict) -> dict:
    row["info"] = json.loads(row["info"] or "{}")
    return row


def wave_of(t: dict) -> str:
    """The project-relative path of a track's waveform picture: beside its file, named as it is (a duplicated
    project keeps its copies' names, so no second path is kept to fix)."""
    return str(Path(t["path"]).with_suffix(".png"))


def kept_seconds(t: dict) -> float:
    """How long a track plays: its file's length less its trims."""
    return max(0.0, t["seconds"] - t["trim_in"] - t["trim_out"])


# ---------------------------------------------------------------------------
# Checks: an upload and an edit
# ---------------------------------------------------------------------------

def add_track(store, project_id: str, upload, label: str | None = None) -> str:
    """Check an uploaded sound file (type by its name, then a full decode) and keep a copy of it in the project
    as a new track starting at the cut's start; returns the track id. Size is the panel's check (the studio's
    upload limit)."""
    name = label or Path(upload).name
    suffix = Path(name).suffix.lower()
    if suffix not in audio.AUDIO_TYPES:
        raise InputError(f"{name} is not a sound file this studio takes; upload {', '.join(audio.AUDIO_TYPES)}")
    try:
        sound = audio.read_sound(upload, max_seconds=MAX_SECONDS)
    except audio.AudioError as e:
        raise InputError(str(e).replace(Path(upload).name, name)) from None
    if sound is None:
        raise InputError(f"{name} holds no sound (it has no audio stream); upload {', '.join(audio.AUDIO_TYPES)}")
    if sound.seconds < SHORTEST:
        raise InputError(f"{name} holds {sound.seconds * 1000:.0f} ms of sound; a track needs at least "
                         f"{SHORTEST * 1000:.0f} ms")
    tid = f"a{uuid.uuid4().hex[:10]}"  # as studio.project.new_id
    folder = store.media(project_id, "audio")
    copy, wave = folder / f"{tid}{suffix}", folder / f"{tid}.png"
    shutil.copyfile(upload, copy)
    draw_wave(sound, wave)
    return store.add_audio_track(project_id, tid, copy, _label(name), sound.seconds, sound.info)


def draw_wave(sound: audio.Sound, path) -> str:
    """The waveform picture the timeline draws under a clip or a track: 50 columns a second (100 to 4000)."""
    return audio.waveform_png(sound.pcm, path, width=int(min(4000, max(100, sound.seconds * WAVE_PX_PER_SECOND))))


def _label(name: str) -> str:
    """The file's name as one line of printable text: it titles the track on the page and in the edit lists."""
    return " ".join("".join(c if c.isprintable() else " " for c in name).split())[:120] or "sound"


def set_track(store, track_id: str, **fields) -> dict:
    """Check and keep a track's placement, trims, level and fades (seconds, dB); returns the track as kept.
    Fields not given keep their values."""
    t = store.audio_track(track_id)
    try:
        v = {k: float(t[k] if fields.get(k) is None else fields[k]) for k in TRACK_FIELDS}
    except (TypeError, ValueError):
        raise InputError("start, trims, level and fades are numbers (seconds, and dB for the level)") from None
    name = t["name"]
    if v["start"] < 0:
        raise InputError(f"{name} starts at {v['start']:g} s; a track starts at 0 s or later in the cut "
                         "(trim its start instead)")
    if v["trim_in"] < 0 or v["trim_out"] < 0 or t["seconds"] - v["trim_in"] - v["trim_out"] < SHORTEST:
        raise InputError(f"trims of {name} must be >= 0 and leave at least {SHORTEST:g} s of its "
                         f"{t['seconds']:.2f} s")
    if not GAIN_RANGE[0] <= v["gain_db"] <= GAIN_RANGE[1]:
        raise InputError(f"a track's level is {GAIN_RANGE[0]:g} to {GAIN_RANGE[1]:+g} dB, got {v['gain_db']:g}")
    kept = t["seconds"] - v["trim_in"] - v["trim_out"]
    if v["fade_in"] < 0 or v["fade_out"] < 0 or v["fade_in"] + v["fade_out"] > kept + 1e-6:
        raise InputError(f"fades of {name} are >= 0 s and together at most the {kept:.2f} s it plays")
    store.update_audio_track(track_id, **v)
    return store.audio_track(track_id)


def track_of(store, project_id: str, track_id: str) -> dict:
    """The track, refused when it belongs to another project."""
    if not track_id:
        raise InputError("pick an audio track first (add one with 'Add music or dialogue')")
    t = store.audio_track(track_id)
    if t["project_id"] != project_id:
        raise InputError("that audio track belongs to another project")
    return t


# ---------------------------------------------------------------------------
# Footage: what the page says of a camera clip's sound
# ---------------------------------------------------------------------------

def footage_sound(video) -> dict:
    """What a footage take's settings keep of its sound: where it came from, or why it was left out."""
    if video.has_audio:
        return {"sound": "camera"}
    if video.metadata.get("audio_dropped"):
        return {"sound_dropped": video.metadata["audio_dropped"]}
    return {}


def sound_note(video) -> str:
    """The end of the upload message: the clip's sound kept, left out (and why), or none to keep."""
    if video.has_audio:
        return ", with its sound (kept under its frames)"
    if video.metadata.get("audio_dropped"):
        return (f"; {video.metadata['audio_dropped']}, so the picture is kept without sound (repair the file to "
                "keep its sound, or add the sound as an audio track)")
    return ", without sound (the file has none)"


def sound_only(path, name: str) -> InputError:
    """The refusal of a file with no picture uploaded as footage: said as sound only when it holds sound."""
    try:
        has_sound = audio.read_sound(path, max_seconds=MAX_SECONDS) is not None
    except audio.AudioError:
        has_sound = False
    if has_sound:
        return InputError(f"{name} holds sound only, no picture; add it on the Timeline as an audio track "
                          f"({', '.join(audio.AUDIO_TYPES)}), and upload video here")
    return InputError(f"{name} has no picture (no video stream); upload a video clip here")
