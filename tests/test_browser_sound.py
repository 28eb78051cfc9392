"""Sound in a real browser (Debian's chromium through Playwright), issue 32's acceptance: upload two clips with
sound, put them and a music file on the timeline, trim, crossfade, set the music's level, export; the exported
MP4's sound is there, every click within a frame of its flash, and the music at the level set."""
import numpy as np
import pytest
import test_browser_studio
from soundclips import click_flash_clip, click_pcm, click_times, flash_times, write_sound
from test_browser_studio import CHROMIUM, SHOTS, new_project, says, tab, type_into
from test_browser_timeline import clip, drag_by

from engine.video import audio, media

pytestmark = pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(),
                                reason="Debian's chromium is not installed")
studio, page = test_browser_studio.studio, test_browser_studio.page  # fixtures: the studio on the tiny model, its page
TONE = 0.4  # the music: a 220 Hz tone at this amplitude, mono


def upload_footage(page, path):
    tab(page, "Fill frames")
    page.set_input_files("#fill-upload input[type=file]", str(path))
    says(page, "fill-msg", f"loaded {path.name}")
    says(page, "fill-msg", "with its sound")
    page.click("#fill-use")
    says(page, "fill-msg", f"{path.name} is on the timeline")


def test_clips_with_sound_and_music_trimmed_crossfaded_and_exported_in_sync(studio, page, tmp_path):
    store = studio.store
    pid = new_project(page, studio, "Sound")
    upload_footage(page, click_flash_clip(tmp_path / "a.mp4", fps=24, flashes=(0.5, 1.5), size=96))
    upload_footage(page, click_flash_clip(tmp_path / "b.mp4", fps=30, flashes=(0.5, 1.5), size=96, rate=48000,
                                          layout="mono"))
    tab(page, "Timeline")
    says(page, "timeline-total", "2 clip(s)")
    clip(page, 1).wait_for()
    # the music: added, then started a quarter second in at -6 dB with short fades
    song = write_sound(tmp_path / "song.wav", click_pcm(4.0, 44100, 1, tone=TONE), 44100)
    page.set_input_files("#audio-upload input[type=file]", str(song))
    says(page, "audio-msg", "added song.wav")
    page.locator("#timeline-track .tl-aclip").wait_for()
    for field, value in (("audio-start", 0.25), ("audio-gain", -6), ("audio-fade-in", 0.1), ("audio-fade-out", 0.1)):
        type_into(page, field, value)
    page.click("#audio-apply")
    says(page, "audio-msg", "starts at 0.25 s, plays 4.00 s at -6 dB")
    page.locator("#timeline-track .tl-aclip[title*='starts 0.25 s']").wait_for()  # the track redrawn
    page.locator("#timeline-track").scroll_into_view_if_needed()
    # trim the first clip's start by dragging its left edge; crossfade into the second by its dot
    px = float(page.evaluate("() => document.querySelector('#timeline-track .tl-clip[data-i=\"0\"]').offsetWidth"))
    per = px / 48
    drag_by(page, clip(page, 0).locator(".tl-in"), 4 * per)
    says(page, "timeline-msg", "trimmed")
    assert store.timeline(pid)[0]["trim_in"] > 0
    drag_by(page, clip(page, 1).locator(".tl-fade-dot"), 6 * per)
    says(page, "timeline-msg", "crossfade of")
    assert store.timeline(pid)[1]["transition"] == "crossfade"
    assert page.locator("#timeline-track .tl-clip .tl-wave").count() == 2  # both clips draw their sound
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#timeline-track").screenshot(path=str(SHOTS / "timeline-sound.png"))
    page.click("#export")
    says(page, "export-msg", "exported")
    mp4 = next((store.root / "media" / pid / "exports").rglob("cut.mp4"))
    video, sound = media.read_video(mp4), audio.read_sound(mp4)
    assert sound is not None and sound.info["rate"] == 48000 and sound.info["channels"] == 2
    seen, heard = flash_times(video), click_times(sound)
    assert len(seen) == 4 and len(heard) == 4, (seen, heard)
    assert all(abs(s - h) < 1 / 24 for s, h in zip(seen, heard)), (seen, heard)
    # the music alone between clicks: its tone at -6 dB (half its amplitude) in both ears
    at = next(t for t in np.arange(0.5, 3.0, 0.05) if all(abs(t - h) > 0.1 and abs(t + 0.1 - h) > 0.1 for h in heard))
    quiet = sound.window(at, at + 0.1)
    rms = np.sqrt((quiet ** 2).mean(axis=1))
    assert np.allclose(rms, TONE * audio.gain(-6) / np.sqrt(2), rtol=0.05), rms
    assert np.abs(sound.window(0.0, 0.2)).max() < 0.05  # before the music starts: only the camera's silence
