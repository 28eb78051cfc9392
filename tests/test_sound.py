"""Sound in the engine (engine.video.audio, media.write_video(sound=)): every source read as 48 kHz stereo, mixed
with numpy, written as AAC in sync with the picture; damaged and unsupported sound refused by name."""
import numpy as np
import pytest
from soundclips import click_flash_clip, click_pcm, click_times, flash_times, write_sound

from engine.errors import InputError
from engine.video import audio, media

FRAME = 1 / 24


@pytest.mark.parametrize("rate,channels,suffix,codec", [
    (8000, 1, ".wav", "pcm_s16le"), (192000, 6, ".wav", "pcm_s16le"), (44100, 2, ".flac", "flac"),
    (44100, 1, ".mp3", "libmp3lame"), (22050, 2, ".m4a", "aac")])
def test_any_rate_and_layout_reads_as_48k_stereo_with_its_click_in_place(tmp_path, rate, channels, suffix, codec):
    path = write_sound(tmp_path / f"s{suffix}", click_pcm(1.0, rate, channels, at=(0.5,)), rate, codec)
    sound = audio.read_sound(path)
    assert sound.pcm.shape[0] == 2 and sound.pcm.dtype == np.float32
    assert abs(sound.seconds - 1.0) < 0.06, sound.seconds  # lossy codecs pad a frame at most
    assert sound.info["rate"] == rate and sound.info["channels"] == channels
    [t] = click_times(sound)
    assert abs(t - 0.5) < 0.03, t  # MP3 and AAC shift a click by their own delay, a few ms at most
    assert np.abs(sound.pcm).max() > 0.3  # 5.1 and mono both reach both ears


def test_no_sound_broken_sound_and_unknown_codec_are_said(tmp_path):
    from conftest import broken_audio_clip

    silent = media.write_video(tmp_path / "silent.mp4", np.zeros((4, 16, 16, 3), np.uint8), 8)
    assert audio.read_sound(silent) is None
    with pytest.raises(audio.AudioError, match="its sound cannot be decoded"):
        audio.read_sound(broken_audio_clip(tmp_path / "broken.mp4"))
    weird = tmp_path / "weird.wav"  # a WAV header naming format tag 0x1234, which no decoder knows
    data = np.zeros(800, np.int16).tobytes()
    fmt = (0x1234).to_bytes(2, "little") + (1).to_bytes(2, "little") + (8000).to_bytes(4, "little") + \
        (16000).to_bytes(4, "little") + (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
    weird.write_bytes(b"RIFF" + (36 + len(data)).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little") +
                      fmt + b"data" + len(data).to_bytes(4, "little") + data)
    with pytest.raises(InputError, match="codec this studio does not decode; give PCM WAV, MP3, AAC"):
        audio.read_sound(weird)


def test_shaping_and_mixing():
    one = np.ones((2, audio.RATE), np.float32)
    assert np.allclose(audio.shaped(one, -6.0206)[0, 100], 0.5, atol=1e-3)
    faded = audio.shaped(one, 0.0, fade_in=0.5, fade_out=0.25)
    assert faded[0, 0] == 0 and abs(faded[0, audio.RATE // 4] - 0.5) < 1e-3 and faded[0, audio.RATE // 2] == 1
    assert faded[0, -1] < 0.001 and abs(faded[0, -audio.RATE // 8] - 0.5) < 1e-3
    mix = audio.silence(1.0)
    audio.place(mix, one[:, :1000], audio.RATE - 500)  # what falls past the end is left out
    audio.place(mix, one[:, :1000], -500)
    assert mix[0].sum() == 1000 and mix[0, 0] == 1 and mix[0, 500] == 0
    loud = one * 3
    assert audio.limit(loud) == 3.0 and loud.max() == 1.0
    s = audio.Sound(np.arange(2 * audio.RATE, dtype=np.float32).reshape(2, -1) % 7, start=0.5)
    w = s.window(0.25, 0.75)  # a quarter second of silence before the sound starts
    assert w.shape == (2, audio.RATE // 2) and not w[:, :audio.RATE // 4].any() and w[:, audio.RATE // 4:].any()


def test_a_mix_written_with_the_picture_keeps_click_and_flash_together(tmp_path):
    clip = media.read_video(click_flash_clip(tmp_path / "in.mp4", flashes=(0.5, 1.25), layout="5.1", rate=96000))
    sound = audio.read_sound(clip.source)
    out = media.write_video(tmp_path / "out.mp4", clip.frames, clip.fps, sound=sound.window(0, 3.0))  # padded
    back = media.read_video(out)
    heard = audio.read_sound(out)
    assert heard.info == {"codec": "aac", "rate": 48000, "channels": 2, "layout": "stereo"}
    assert abs(heard.seconds - len(back) / back.fps) < 0.03  # cut to the picture's length
    for seen, click in zip(flash_times(back), click_times(heard), strict=True):
        assert abs(seen - click) < FRAME, (seen, click)


def test_sound_encoded_before_the_picture_is_the_same_sound_and_must_last_as_long(tmp_path):
    frames = np.zeros((36, 32, 32, 3), np.uint8)  # 1.5 s at 24 fps
    pcm = click_pcm(1.5, audio.RATE, 2, at=(0.25, 1.0))
    beside = audio.read_sound(media.write_video(tmp_path / "beside.mp4", frames, 24, sound=pcm))
    track = audio.AacTrack(pcm).encode()  # as the studio's export does, on its sound thread, with no file yet
    assert track.packets and track.error is None
    before = audio.read_sound(media.write_video(tmp_path / "before.mp4", frames, 24, sound=track))
    assert before.pcm.shape == beside.pcm.shape and np.array_equal(before.pcm, beside.pcm)
    assert [round(t, 3) for t in click_times(before)] == [round(t, 3) for t in click_times(beside)]
    with pytest.raises(RuntimeError, match="the encoded sound lasts 1.000 s, the picture 1.500 s"):
        media.write_video(tmp_path / "short.mp4", frames, 24, sound=audio.AacTrack(pcm[:, :audio.RATE]))
    assert not (tmp_path / "short.mp4").exists()


def test_wav_beside_frames(tmp_path):
    pcm = click_pcm(0.5, audio.RATE, 2, at=(0.25,))
    back = audio.read_sound(audio.write_wav(tmp_path / "cut.wav", pcm))
    assert back.info["codec"] == "pcm_s16le" and back.pcm.shape == pcm.shape
    assert np.abs(back.pcm - pcm).max() < 1e-3 and not list(tmp_path.glob(".*"))
