"""Sound through the studio's project and export (issue 32), without a server: footage takes keep the camera's
sound; audio tracks are checked, kept inside the project, placed, trimmed, levelled and faded; the export's MP4
carries the mix in sync through a trim, a conform and a crossfade; the PNG sequence gets a WAV beside it; the
edit lists carry the sound tracks and their files; the sidecar says which sound came from the camera and which
from a file."""
import json
import shutil

import numpy as np
import pytest
from soundclips import click_flash_clip, click_pcm, click_times, flash_times, write_sound

from engine.errors import InputError
from engine.provenance import ProvenanceRecord
from engine.video import audio, media
from studio import export, soundtracks
from studio.jobs import save_take

FRAME = 1 / 24


def footage(store, pid, path) -> str:
    """A camera clip kept as the studio's upload keeps it (studio.panels.fill: upload)."""
    video = media.read_video(path)
    rec = ProvenanceRecord.camera(len(video), source=path.name, fps=video.fps)
    return save_take(store, pid, None, video.frames, video.fps, rec, {"source_file": path.name, "fps": video.fps},
                     "camera", label=path.name, mark=False, audio_from=video)


def test_a_footage_take_keeps_its_sound_under_its_frames(store, tmp_path):
    pid = store.create_project("Sound")
    src = click_flash_clip(tmp_path / "cam.mp4", fps=30, flashes=(0.4, 1.3), layout="mono", rate=8000)
    take = store.take(footage(store, pid, src))
    path = store.path(take["path"])
    video, sound = media.read_video(path), audio.read_sound(path)
    assert sound is not None and sound.info["codec"] == "aac"
    for seen, heard in zip(flash_times(video), click_times(sound), strict=True):
        assert abs(seen - heard) < 1 / 30, (seen, heard)
    assert json.loads(path.with_name(path.name + ".json").read_text())["audio"]["from"] == "camera"


def test_tracks_are_checked_and_kept_inside_the_project(store, tmp_path):
    pid = store.create_project("Tracks")
    song = write_sound(tmp_path / "song.flac", click_pcm(2.0, 44100, 2, tone=0.4), 44100, "flac")
    tid = soundtracks.add_track(store, pid, song)
    t = store.audio_track(tid)
    assert t["name"] == "song.flac" and abs(t["seconds"] - 2.0) < 0.01 and t["info"]["codec"] == "flac"
    assert store.path(t["path"]).is_file() and store.path(soundtracks.wave_of(t)).is_file()
    assert store.path(t["path"]).parent == store.root / "media" / pid / "audio"
    notes = tmp_path / "notes.ogg"
    notes.write_text("hello")
    with pytest.raises(InputError, match=r"notes.ogg is not a sound file this studio takes; upload \.wav, \.mp3"):
        soundtracks.add_track(store, pid, notes)
    fake = tmp_path / "fake.wav"
    fake.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(InputError, match="fake.wav"):
        soundtracks.add_track(store, pid, fake)
    silent = tmp_path / "silent.m4a"
    shutil.copyfile(media.write_video(tmp_path / "silent.mp4", np.zeros((4, 16, 16, 3), np.uint8), 8), silent)
    with pytest.raises(InputError, match="silent.m4a holds no sound"):
        soundtracks.add_track(store, pid, silent)
    for bad, said in [({"start": -1}, "starts at 0 s or later"), ({"trim_in": 1.5, "trim_out": 0.5}, "leave at least"),
                      ({"gain_db": 30}, r"-60 to \+12 dB"), ({"fade_in": 1.5, "fade_out": 1.0}, "together at most")]:
        with pytest.raises(InputError, match=said):
            soundtracks.set_track(store, tid, **bad)
    assert store.audio_track(tid)["start"] == 0 and store.audio_track(tid)["gain_db"] == 0  # nothing kept
    assert soundtracks.set_track(store, tid, start=1.0, gain_db=-6)["trim_in"] == 0
    dup = store.duplicate_project(pid)
    [copy] = store.audio_tracks(dup)
    assert copy["start"] == 1.0 and store.path(copy["path"]).is_file()
    assert store.path(soundtracks.wave_of(copy)).is_file()
    store.remove_audio_track(tid)
    assert not store.audio_tracks(pid) and not store.path(t["path"]).exists()


def test_export_mixes_camera_sound_and_a_track_in_sync_through_trim_conform_and_crossfade(store, tmp_path):
    import opentimelineio as otio

    pid = store.create_project("Mix")
    a = footage(store, pid, click_flash_clip(tmp_path / "a.mp4", fps=24, flashes=(0.5, 1.5), rate=44100))
    b = footage(store, pid, click_flash_clip(tmp_path / "b.mp4", fps=30, flashes=(0.5, 1.5), layout="5.1",
                                             rate=96000))
    ea, eb = store.promote(a), store.promote(b)
    store.update_entry(ea, trim_in=3)
    store.update_entry(eb, transition="crossfade", transition_seconds=0.25)
    song = write_sound(tmp_path / "song.wav", click_pcm(3.0, 22050, 1, tone=0.4), 22050)
    tid = soundtracks.add_track(store, pid, song)
    soundtracks.set_track(store, tid, start=0.25, trim_in=0.5, gain_db=-6.0206, fade_in=0.1, fade_out=0.1)
    out = export.export(store, pid, 24.0, ["MP4", "PNG sequence", "OTIO", "EDL", "FCP XML"], tmp_path / "config")
    mp4 = out["MP4"]
    video, sound = media.read_video(mp4), audio.read_sound(mp4)
    assert sound.info == {"codec": "aac", "rate": 48000, "channels": 2, "layout": "stereo"}
    seen, heard = flash_times(video), click_times(sound)
    assert len(seen) == 4, seen  # both clips' flashes, outside the dissolve
    assert len(heard) == 4 and all(abs(s - h) < FRAME for s, h in zip(seen, heard)), (seen, heard)
    # the track: its 220 Hz tone at half its level (-6 dB), from 0.25 s (after its fade in) to the end
    quiet = sound.window(0.4, 0.6)  # no click here: a's first flash is at 0.375 s, the next at 1.375 s
    assert abs(np.sqrt((quiet ** 2).mean()) - 0.2 / np.sqrt(2)) < 0.01
    assert np.abs(sound.window(0.0, 0.2)).max() < 0.05  # before the track starts: the camera's silence
    side = json.loads(open(mp4 + ".json").read())["audio"]
    assert [s["kind"] for s in side["sources"]] == ["camera", "camera", "file"]
    assert side["sources"][2]["file"] == "song.wav" and side["sources"][2]["gain_db"] == pytest.approx(-6.0206)
    assert side["sources"][1]["crossfade_in_seconds"] == 0.25
    # frames and a WAV beside them, as long as the frames play
    wav = audio.read_sound(out["WAV"])
    assert abs(wav.seconds - len(video) / 24) < 1e-3
    assert all(abs(a - b) < 0.002 for a, b in zip(click_times(wav), heard, strict=True))  # the same mix, unencoded
    # the edit lists: the clips' sound on A1 (their media carry it), the track's file on A2
    tl = otio.adapters.read_from_file(out["OTIO"])
    assert [t.kind for t in tl.tracks] == ["Video", "Audio", "Audio"]
    a1, a2 = tl.tracks[1], tl.tracks[2]
    assert len(list(a1.find_clips())) == 2 and any(isinstance(x, otio.schema.Transition) for x in a1)
    music = list(a2.find_clips())[0]
    assert music.metadata["tenku"]["gain_db"] == pytest.approx(-6.0206)
    assert music.source_range.start_time.to_seconds() == pytest.approx(0.5)
    assert audio.read_sound(music.media_reference.target_url.removeprefix("file://")) is not None
    clip_media = list(a1.find_clips())[0].media_reference.target_url.removeprefix("file://")
    assert audio.read_sound(clip_media) is not None
    assert {"EDL A1", "EDL A2"} <= set(out) and "song" in open(out["EDL A2"]).read().lower()
    xml = otio.adapters.read_from_file(out["FCP XML"])
    assert sum(t.kind == "Audio" for t in xml.tracks) == 2


def test_a_cut_without_sound_exports_without_an_audio_stream(store, tmp_path):
    pid = store.create_project("Silent")
    video = media.Video.from_frames(np.full((12, 32, 32, 3), 90, np.uint8), 24)
    t = save_take(store, pid, None, video.frames, 24, ProvenanceRecord.camera(12, source="x.mp4", fps=24),
                  {"source_file": "x.mp4"}, "camera", mark=False, audio_from=video)
    store.promote(t)
    out = export.export(store, pid, 24.0, ["MP4", "PNG sequence"], tmp_path / "config")
    assert audio.read_sound(out["MP4"]) is None and "WAV" not in out
