"""A timeline clip's speed (issue 32, item 3), without a server: a clip slowed to 0.5x (frames interpolated) with
its sound stretched keeps every click on its flash through a trim, a crossfade and the export; a 2x clip drops
frames; the timeline's total is the exported cut to the frame; the edit lists and the sidecar say it."""
import json

import numpy as np
import pytest
from soundclips import click_flash_clip, click_times, flash_times
from test_studio_sound import footage

from engine.errors import InputError
from engine.video import audio, media
from studio import cut, export, speed

FRAME = 1 / 24


def test_a_half_speed_clip_with_its_sound_stretched_stays_in_sync_and_the_total_is_the_export(store, tmp_path):
    import opentimelineio as otio

    pid = store.create_project("Speed")
    a = footage(store, pid, click_flash_clip(tmp_path / "a.mp4", fps=24, flashes=(0.5, 1.5), rate=44100))
    b = footage(store, pid, click_flash_clip(tmp_path / "b.mp4", fps=30, flashes=(0.5, 1.5), rate=48000))
    c = footage(store, pid, click_flash_clip(tmp_path / "c.mp4", fps=24, flashes=(0.5,), rate=48000))
    ea, eb, ec = store.promote(a), store.promote(b), store.promote(c)
    store.update_entry(ea, trim_in=3)
    assert "slow motion (frames interpolated); sound time-stretched" in speed.set_speed(store, ea, 0.5, "stretch")
    cut.crossfade(store, pid, eb, 0.25)
    assert "faster (frames dropped)" in speed.set_speed(store, ec, 2, "mute")
    assert cut.clip_seconds(store, store.entry(ea))[0] == pytest.approx(45 / 12)  # 45 frames at 12 fps: 3.75 s
    spans = export.cut_length(store, pid, 24.0)
    assert [s[2] for s in spans] == [89, 48, 24]  # 0.5x: 45 frames kept of 48 become 89; 2x: 48 become 24

    out = export.export(store, pid, 24.0, ["MP4", "OTIO", "EDL", "FCP XML"], tmp_path / "config")
    video, sound = media.read_video(out["MP4"]), audio.read_sound(out["MP4"])
    assert len(video) == sum(s[1] for s in spans) == 89 + 48 - 6 + 24  # the total, to the frame
    assert abs(sound.seconds - len(video) / 24) < 0.03
    seen, heard = flash_times(video), click_times(sound)
    assert seen[:4] == pytest.approx([0.75, 2.75, 95 / 24, 119 / 24])  # A's at twice their time after the trim
    assert len(seen) == 5 and len(heard) == 4  # C is muted: its flash has no click
    for s, h in zip(seen, heard):
        assert abs(s - h) < FRAME, (seen, heard)

    side = json.loads(open(out["MP4"] + ".json").read())["audio"]["sources"]
    assert [s["speed"] for s in side] == [0.5, 1.0] and "pitch kept" in side[0]["retimed"]
    assert side[0]["take_seconds"] == pytest.approx([0.125, 0.125 + 89 / 48])  # the take time: 89 frames at 0.5x
    tl = otio.adapters.read_from_file(out["OTIO"])
    v = [x for x in tl.tracks[0] if isinstance(x, otio.schema.Clip)]
    assert sum(x.source_range.duration.value for x in v) == len(video)  # the clips at their speeds: the cut
    assert v[0].source_range.duration.value == 89 - 3  # half of the 6-frame dissolve is the next clip's
    assert tl.duration().value == len(video)
    xml = otio.adapters.read_from_file(out["FCP XML"])
    assert xml.tracks[0].duration().value == len(video)


def test_speeds_and_sound_choices_are_checked(store, tmp_path):
    pid = store.create_project("Bad speeds")
    e = store.promote(footage(store, pid, click_flash_clip(tmp_path / "a.mp4", flashes=(0.5,))))
    for bad, said in [(0.1, "from 0.25x"), (5, "to 4x"), ("fast", "got 'fast'")]:
        with pytest.raises(InputError, match=said):
            speed.set_speed(store, e, bad, "stretch")
    with pytest.raises(InputError, match="one of stretch, keep, mute"):
        speed.set_speed(store, e, 0.5, "bogus")
    assert speed.speed_of(store.entry(e)) == 1.0 and speed.label(store.entry(e)) == "1x"
    speed.set_speed(store, e, 0.5, "keep")
    assert speed.label(store.entry(e)) == "0.5x keep"
    clip = export.timeline_clips(store, pid, 24.0)[0]
    kept = speed.window(clip, clip.start, clip.stop, 24.0)
    assert kept.shape[1] == audio.samples(95 / 24)  # the picture's 95 frames: 2 s of sound at its own speed, silence
    assert click_times(audio.Sound(kept)) == pytest.approx([0.5], abs=0.01) and not np.abs(kept[:, -90000:]).any()
