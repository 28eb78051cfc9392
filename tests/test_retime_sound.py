"""Retiming keeps sync (issue 32, item 3): `interpolate --slow N --audio stretch|keep|none` and
engine.video.timestretch (FFmpeg atempo through PyAV): a click track and its flash frames stay within one frame
after a 2x slow-down with the sound stretched; kept sound plays at its original speed; the pitch stays put."""
import json

import numpy as np
import pytest
from soundclips import click_flash_clip, click_pcm, click_times, flash_times
from test_interpolate import config_dir  # noqa: F401 (autouse: interpolate signs with test credentials)

from engine.__main__ import main
from engine.video import audio, media, timestretch

FRAME = 1 / 24
FLASHES = (0.0, 0.5, 1.25)


@pytest.fixture(scope="module")
def clicks(tmp_path_factory):
    """2 s at 24 fps: a white frame at each of FLASHES and a click under it, over a quiet tone."""
    return click_flash_clip(tmp_path_factory.mktemp("clip") / "in.mp4", flashes=FLASHES, tone=0.05)


def slowed(tmp_path, src, capsys, *args):
    out = tmp_path / "slow.mp4"
    capsys.readouterr()
    assert main(["interpolate", str(src), "--slow", "2", *args, "--out", str(out)]) == 0
    note = capsys.readouterr().err
    return media.read_video(out), audio.read_sound(out), json.loads((tmp_path / "slow.mp4.json").read_text()), note


def test_slow_2x_with_the_sound_stretched_keeps_every_click_on_its_flash(tmp_path, clicks, capsys):
    video, sound, side, note = slowed(tmp_path, clicks, capsys)  # stretch is the default
    assert len(video) == 95 and video.fps == pytest.approx(24)  # 48 frames, one new between each pair
    assert abs(sound.seconds - len(video) / 24) < 0.03
    seen, heard = flash_times(video), click_times(sound)
    assert seen == pytest.approx([2 * t for t in FLASHES])  # a cut falls at twice its time, not a frame early
    assert len(heard) == len(seen)
    for f, c in zip(seen, heard):
        assert abs(f - c) < FRAME, (seen, heard)
    assert "plays 2x as long; sound time-stretched to the new length (2x as long), pitch kept" in note
    s = side["settings"]
    assert (s["slow"], s["fps"], s["audio"], s["audio_mode"]) == (2, "24", True, "stretch")
    assert s["seconds_out"] == pytest.approx(2 * s["seconds_in"])
    assert '"slow": 2, "audio": "stretch"' in json.dumps(side["provenance"])  # the new frames' record says it


def test_slow_2x_keeping_the_sound_plays_it_at_its_own_speed_then_silence(tmp_path, clicks, capsys):
    video, sound, side, note = slowed(tmp_path, clicks, capsys, "--audio", "keep")
    seen, heard = flash_times(video), click_times(sound)
    assert abs(seen[0] - heard[0]) < FRAME  # the first click stays on the first frame
    assert heard == pytest.approx(list(FLASHES), abs=0.01)  # the rest at their original times, as said
    assert "sound kept at its original speed from the first frame; the last 50% of the clip is silent" in note
    tail = sound.window(2.05, len(video) / 24 - 0.05)
    assert np.abs(tail).max() < 0.01 and np.abs(sound.window(0.1, 0.4)).max() > 0.03  # tone, then silence
    assert side["settings"]["audio_mode"] == "keep"


def test_slow_without_sound_and_to_a_frame_folder(tmp_path, clicks, capsys):
    capsys.readouterr()
    assert main(["interpolate", str(clicks), "--slow", "3", "--audio", "none", "--out", str(tmp_path / "a.mp4")]) == 0
    assert not media.read_video(tmp_path / "a.mp4").has_audio and "sound left out" in capsys.readouterr().err
    out = tmp_path / "frames"
    assert main(["interpolate", str(clicks), "--slow", "2", "--quiet", "--out", f"{out}/"]) == 0
    wav = audio.read_sound(out / "sound.wav")
    frames = len(list(out.glob("*.png")))
    assert frames == 95 and abs(wav.seconds - frames / 24) < 1e-3
    assert json.loads((out / "tenku.json").read_text())["settings"]["audio_file"] == "sound.wav"


@pytest.mark.parametrize("args,says", [
    (["--slow", "1"], "--slow must be a whole number from 2 to 16"),
    (["--slow", "17"], "--slow must be a whole number from 2 to 16"),
    (["--slow", "2.5"], "--slow must be a whole number from 2 to 16"),
    (["--slow", "2", "--audio", "bogus"], "invalid choice: 'bogus'"),
    (["--slow", "2", "--factor", "2"], "give exactly one of --factor"),
    (["--slow", "2", "--no-audio", "--audio", "keep"], "--no-audio leaves the sound out")])
def test_bad_slow_motion_values_are_refused_in_one_line(tmp_path, clicks, capsys, args, says):
    capsys.readouterr()
    with pytest.raises(SystemExit) if "bogus" in args else _nothing():
        assert main(["interpolate", str(clicks), *args, "--out", str(tmp_path / "x.mp4")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and says in err, err
    assert not list(tmp_path.iterdir())


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def peak_hz(pcm: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(pcm[0] * np.hanning(pcm.shape[1])))
    return float(np.argmax(spectrum) * audio.RATE / pcm.shape[1])


@pytest.mark.parametrize("factor", [2.0, 0.5, 16.0])
def test_a_stretched_tone_keeps_its_pitch_and_the_asked_length(factor):
    tone = np.tile(0.5 * np.sin(2 * np.pi * 1000 * np.arange(audio.RATE) / audio.RATE), (2, 1)).astype(np.float32)
    out = timestretch.stretch(tone, factor)
    assert out.shape == (2, round(audio.RATE * factor))
    assert peak_hz(out) == pytest.approx(1000, abs=5)  # resampling instead would give 500 or 2000 Hz


def test_stretched_clicks_land_at_factor_times_their_time():
    pcm = click_pcm(3.0, audio.RATE, 2, at=(0.0, 0.5, 1.2, 2.5))
    for factor in (2, 3, 4):
        got = click_times(audio.Sound(timestretch.stretch(pcm, factor)), gap=0.1 * factor)
        assert got == pytest.approx([factor * t for t in (0.0, 0.5, 1.2, 2.5)], abs=0.04), (factor, got)


def test_tempo_stages_and_modes():
    assert timestretch.tempo_stages(2) == [0.5] and timestretch.tempo_stages(0.25) == [2.0, 2.0]
    stages = timestretch.tempo_stages(10)
    assert all(0.5 <= s <= 2.0 for s in stages) and np.prod(stages) == pytest.approx(0.1)
    pcm = click_pcm(1.0, audio.RATE, 2, at=(0.1,))
    assert timestretch.retimed(pcm, 2, "none") is None
    kept = timestretch.retimed(pcm, 2, "keep")
    assert kept.shape[1] == 2 * audio.RATE and np.array_equal(kept[:, :audio.RATE], pcm)
    assert not kept[:, audio.RATE:].any()
    assert timestretch.retimed(pcm, 0.5, "keep").shape[1] == audio.RATE // 2
    with pytest.raises(Exception, match="one of stretch, keep, none"):
        timestretch.retimed(pcm, 2, "bogus")


def vfr_clip(path, rate: int = 48000):
    """1 s at 20 fps then 1 s at 40 fps (60 frames, a mean of about 29.5 fps), white frames at 0.5 s and 1.5 s
    with a click under each: at the mean rate the second flash (frame 40) would be shown 0.16 s early."""
    from fractions import Fraction

    import av

    times = [i / 20 for i in range(20)] + [1 + i / 40 for i in range(40)]
    pcm = click_pcm(2.0, rate, 2, at=(0.5, 1.5))
    with av.open(str(path), "w", format="mp4") as out:
        v = out.add_stream("libx264", rate=30)
        v.width = v.height = 64
        v.pix_fmt = "yuv420p"
        v.codec_context.time_base = Fraction(1, 1000)
        a = out.add_stream("aac", rate=rate, layout="stereo")
        for t in times:
            lit = any(abs(t - f) < 1e-9 for f in (0.5, 1.5))
            f = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 250 if lit else 40, np.uint8), format="rgb24")
            f.pts, f.time_base = int(round(t * 1000)), Fraction(1, 1000)
            out.mux(v.encode(f))
        out.mux(v.encode(None))
        step = a.codec_context.frame_size
        for i in range(0, pcm.shape[1], step):
            f = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm[:, i:i + step]), format="fltp", layout="stereo")
            f.sample_rate, f.pts, f.time_base = rate, i, Fraction(1, rate)
            out.mux(a.encode(f))
        out.mux(a.encode(None))
    return path


def test_variable_frame_rate_footage_is_placed_by_its_frame_times_and_keeps_its_sound(tmp_path):
    from engine.video.retime import constant_rate

    raw = media.read_video(vfr_clip(tmp_path / "vfr.mp4"))
    assert raw.variable_rate and len(raw) == 60
    video, shown = constant_rate(raw)
    assert not video.variable_rate and video.metadata["conformed_from_variable_rate"]
    ts = raw.timestamps
    assert np.all(ts[shown] <= video.timestamps + 1e-6)  # each output frame shows the frame on screen then
    assert np.all(np.append(ts, np.inf)[shown + 1] > video.timestamps + 1e-6)
    out = media.write_video(tmp_path / "cfr.mp4", video.frames, video.fps, audio_from=video)
    back, sound = media.read_video(out), audio.read_sound(out)
    seen, heard = flash_times(back), click_times(sound)
    assert len(seen) == len(heard) == 2
    for f, c in zip(seen, heard):
        assert abs(f - c) < 1 / video.fps, (seen, heard)
    flat = media.write_video(tmp_path / "mean.mp4", raw.frames, raw.fps, audio_from=raw)  # at the mean rate
    assert abs(flash_times(media.read_video(flat))[1] - 1.5) > 0.1  # what it fixes: the flash 0.16 s early
    cfr = media.Video.from_frames(raw.frames[:4], 24)
    assert constant_rate(cfr)[0] is cfr  # constant-rate video as it is
