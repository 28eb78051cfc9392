"""engine.video.media: round trips, odd sizes, atomic writes, frame folders, errors."""
import json
import os
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import REAL_DATA
from PIL import Image

from engine.errors import InputError
from engine.video.media import (
    FrameStream,
    Video,
    check_output_path,
    parse_fps,
    read_video,
    write_frames,
    write_output,
    write_video,
)

REAL = REAL_DATA / "clips"


def moving_frames(n=12, h=64, w=96, seed=0):
    """A smooth textured square sliding over a gradient: compresses well, so
    round-trip error measures the codec path, not noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (w + h)], -1)
    tex = rng.integers(60, 200, size=(3,)).astype(np.float64)
    frames = []
    for i in range(n):
        f = base.copy()
        x0 = 4 + 3 * i
        f[16:40, x0:x0 + 20] = tex
        frames.append(f.clip(0, 255).astype(np.uint8))
    return np.stack(frames)


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255 ** 2 / max(mse, 1e-12))


def leftovers(folder):
    return [n for n in os.listdir(folder) if n.startswith(".")]


def test_mp4_round_trip(tmp_path):
    frames = moving_frames()
    out = write_video(tmp_path / "a.mp4", frames, 24)
    v = read_video(out)
    assert v.frames.shape == frames.shape
    assert v.fps == pytest.approx(24, rel=1e-6)
    np.testing.assert_allclose(np.diff(v.timestamps), 1 / 24, atol=1e-4)
    assert psnr(v.frames, frames) > 35
    with av.open(out) as c:
        s = c.streams.video[0]
        assert (s.codec_context.name, s.codec_context.pix_fmt) == ("h264", "yuv420p")
    assert not leftovers(tmp_path)


def test_odd_size_is_padded_by_replicating_the_edge(tmp_path):
    frames = moving_frames(n=5, h=33, w=47)
    v = read_video(write_video(tmp_path / "odd.mp4", frames, 10))
    assert v.frames.shape == (5, 34, 48, 3)
    assert psnr(v.frames[:, :33, :47], frames) > 30
    # the padded row/column repeats the last one (up to codec error)
    assert np.abs(v.frames[:, 33].astype(int) - v.frames[:, 32]).mean() < 3
    assert np.abs(v.frames[:, :, 47].astype(int) - v.frames[:, :, 46]).mean() < 3


@pytest.mark.parametrize("fps, expected", [("24000/1001", "24000/1001"), (30000 / 1001, "30000/1001"),
                                           (12.5, "25/2"), (8, "8")])
def test_fractional_rates(tmp_path, fps, expected):
    out = write_video(tmp_path / "r.mp4", moving_frames(n=4), fps)
    with av.open(out) as c:
        assert str(c.streams.video[0].average_rate) == expected


def test_bad_rates_are_input_errors():
    for bad in (0, -1, "abc", float("nan"), "1/0"):
        with pytest.raises(InputError):
            parse_fps(bad)


def test_failed_write_leaves_nothing_and_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "keep.mp4"
    target.write_bytes(b"old")
    calls = {"n": 0}
    real = av.VideoFrame.from_ndarray

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] > 3:
            raise RuntimeError("disk on fire")
        return real(*a, **k)
    monkeypatch.setattr(av.VideoFrame, "from_ndarray", flaky)
    with pytest.raises(RuntimeError):
        write_video(target, moving_frames(), 24)
    assert target.read_bytes() == b"old"
    assert not leftovers(tmp_path)
    with pytest.raises(RuntimeError):
        write_output(str(tmp_path / "new.mp4"), moving_frames(), 24, {"a": 1})
    assert sorted(os.listdir(tmp_path)) == ["keep.mp4"]


def test_png_folder_round_trip_and_sidecar(tmp_path):
    frames = moving_frames(n=4, h=31, w=41)  # odd sizes are kept as is in PNG
    out = write_output(str(tmp_path / "seq") + "/", frames, 24, {"seed": np.int64(3), "why": "test"})
    names = sorted(os.listdir(out))
    assert names == ["000000.png", "000001.png", "000002.png", "000003.png", "tenku.json"]
    assert json.loads((tmp_path / "seq" / "tenku.json").read_text()) == {"seed": 3, "why": "test"}
    v = read_video(out, fps=12)
    np.testing.assert_array_equal(v.frames, frames)
    assert v.fps == 12 and v.timestamps[1] == pytest.approx(1 / 12)
    # rewriting a shorter sequence into the now existing folder drops stale frames
    write_output(out, frames[:2], 24, {})
    assert sorted(os.listdir(out)) == ["000000.png", "000001.png", "tenku.json"]
    assert not leftovers(tmp_path)


def test_failed_frame_write_leaves_no_folder(tmp_path, monkeypatch):
    def broken(self, *a, **k):
        raise OSError("no space")
    monkeypatch.setattr(Image.Image, "save", broken)
    with pytest.raises(OSError):
        write_frames(tmp_path / "seq", moving_frames(n=3))
    assert os.listdir(tmp_path) == []


def test_mp4_output_has_sidecar(tmp_path):
    out = write_output(str(tmp_path / "clip.mp4"), moving_frames(n=3), 8, {"settings": {"factor": 3}})
    assert json.loads(Path(out + ".json").read_text()) == {"settings": {"factor": 3}}


def test_a_stream_of_frames_is_encoded_as_it_comes(tmp_path):
    frames = moving_frames(n=6, h=33, w=47)
    side = {"seconds": None}
    given = []

    def made():  # the sidecar is completed when the last frame is made, as the interpolate command does
        for f in frames:
            given.append(len(given))
            yield f
        side["seconds"] = 1.5
    out = write_output(str(tmp_path / "s.mp4"), FrameStream(made(), 6), 24, side)
    assert given == list(range(6)) and json.loads(Path(out + ".json").read_text()) == {"seconds": 1.5}
    # the same frames as the array path, within the encoder's own noise (two encodes of the same pictures
    # decoded a few grey levels apart at some pixels on a CI machine)
    diff = np.abs(read_video(out).frames.astype(int) - read_video(write_video(tmp_path / "a.mp4", frames, 24)).frames)
    assert diff.mean() < 0.5 and diff.max() <= 8, (diff.mean(), diff.max())
    folder = write_output(str(tmp_path / "seq") + "/", FrameStream(iter(frames), 6), 24, {})
    np.testing.assert_array_equal(read_video(folder).frames, frames)


@pytest.mark.parametrize("count", [5, 7])
def test_a_stream_that_gives_another_count_writes_nothing(tmp_path, count):
    with pytest.raises(RuntimeError, match="a stream of"):
        write_output(str(tmp_path / "s.mp4"), FrameStream(iter(moving_frames(n=6)), count), 24, {})
    assert os.listdir(tmp_path) == []


def test_folder_reads_in_natural_order(tmp_path):
    frames = moving_frames(n=3)
    for i, name in enumerate(["f2.png", "f10.jpg", "f1.png"]):
        Image.fromarray(frames[i]).save(tmp_path / name, quality=95)
    v = read_video(tmp_path)
    assert v.metadata["frame_files"] == ["f1.png", "f2.png", "f10.jpg"]
    assert v.frames.shape == (3, 64, 96, 3)


def test_read_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_video(tmp_path / "missing.mp4")
    (tmp_path / "junk.mp4").write_bytes(os.urandom(4000))
    with pytest.raises(InputError, match="not a readable video"):
        read_video(tmp_path / "junk.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(InputError):
        read_video(tmp_path / "empty.mp4")
    empty = tmp_path / "nothing"
    empty.mkdir()
    with pytest.raises(InputError, match="no .png"):
        read_video(empty)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    Image.fromarray(moving_frames(n=1)[0]).save(mixed / "a.png")
    Image.fromarray(moving_frames(n=1, h=32, w=32)[0]).save(mixed / "b.png")
    with pytest.raises(InputError, match="same size"):
        read_video(mixed)
    (mixed / "b.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="not a readable image"):
        read_video(mixed)


def test_audio_only_file_is_rejected(tmp_path):
    path = str(tmp_path / "tone.m4a")
    with av.open(path, "w") as c:
        s = c.add_stream("aac", rate=16000, layout="mono")
        pcm = np.zeros((1, 1024), np.float32)
        for i in range(5):
            f = av.AudioFrame.from_ndarray(pcm, format="fltp", layout="mono")
            f.sample_rate, f.pts = 16000, i * 1024
            c.mux(s.encode(f))
        c.mux(s.encode(None))
    with pytest.raises(InputError, match="no video stream"):
        read_video(path)


def test_check_output_path(tmp_path):
    assert check_output_path(str(tmp_path / "x.mp4")) == "mp4"
    assert check_output_path(str(tmp_path / "new") + "/") == "folder"
    assert check_output_path(str(tmp_path)) == "folder"  # existing folder, no slash
    for bad in [str(tmp_path / "x.avi"), str(tmp_path / "no" / "x.mp4"), str(tmp_path / "no" / "deeper") + "/", ""]:
        with pytest.raises(InputError):
            check_output_path(bad)
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError):
        check_output_path(str(tmp_path / "file") + "/")


def test_bad_frames_are_input_errors(tmp_path):
    with pytest.raises(InputError):
        write_video(tmp_path / "a.mp4", np.zeros((0, 8, 8, 3), np.uint8), 24)
    with pytest.raises(InputError):
        write_video(tmp_path / "a.mp4", np.zeros((2, 8, 8, 3), np.float32), 24)
    with pytest.raises(InputError, match="same size"):
        write_video(tmp_path / "a.mp4", [np.zeros((8, 8, 3), np.uint8), np.zeros((8, 10, 3), np.uint8)], 24)
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(not (REAL / "fire2.mp4").exists(), reason="real clips not present")
def test_variable_rate_timestamps_and_audio_sync(tmp_path):
    v = read_video(REAL / "fire2.mp4", max_frames=12)
    assert v.variable_rate and v.has_audio
    assert v.timestamps[6] - v.timestamps[5] == pytest.approx(0.09, abs=2e-3)
    assert v.timestamps[1] - v.timestamps[0] == pytest.approx(0.1, abs=2e-3)
    out = write_video(tmp_path / "a.mp4", v.frames[:10], 10, audio_from=v)
    with av.open(out) as c:
        vs, aus = c.streams.video[0], c.streams.audio[0]
        assert aus.codec_context.name == "aac"
        a_dur = aus.duration * aus.time_base
        v_dur = vs.duration * vs.time_base
        assert abs(float(a_dur) - 1.0) < 0.05 and abs(float(v_dur) - 1.0) < 0.05


def test_video_from_frames():
    v = Video.from_frames(moving_frames(n=3), "24000/1001")
    assert v.fps == pytest.approx(23.976, abs=1e-3) and len(v) == 3 and v.size == (96, 64)
    assert not v.variable_rate


def test_decoding_stops_at_the_memory_allowed(tmp_path):
    """A clip whose decoded frames pass max_bytes is refused while decoding, naming size and limit."""
    from engine.video.media import TooLarge

    frames = moving_frames(n=20)
    one = frames[0].nbytes
    path = write_video(tmp_path / "clip.mp4", frames, 10)
    with pytest.raises(TooLarge, match=r"decodes to more than .* GB of frames at \d+x\d+ \(reached at frame 11\)"):
        read_video(path, max_bytes=10.5 * one)
    assert len(read_video(path, max_bytes=20 * one)) == 20
    folder = write_frames(str(tmp_path / "frames") + "/", frames)
    with pytest.raises(TooLarge):
        read_video(folder, max_bytes=5 * one)


@pytest.mark.parametrize("degrees, white", [(-90, "top"), (90, "bottom"), (180, "right"), (0, "left")])
def test_phone_clips_are_read_upright(tmp_path, degrees, white):
    """Phones store portrait video as landscape frames plus a display rotation (counter-clockwise
    degrees in the container's display matrix); players show it rotated, and so does the studio."""
    import av

    path = tmp_path / f"phone{degrees}.mp4"
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=8)
        s.width, s.height, s.pix_fmt = 64, 32, "yuv420p"
        if degrees:
            s.set_display_rotation(degrees)
        for _ in range(3):
            a = np.zeros((32, 64, 3), np.uint8)
            a[:, :16] = 255  # a white band on the left of the stored frame
            for p in s.encode(av.VideoFrame.from_ndarray(a, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    v = read_video(path)
    f = v.frames[0].astype(int).mean(-1)
    assert v.frames.shape[1:3] == ((64, 32) if degrees in (90, -90) else (32, 64))
    bands = {"top": f[:16].mean(), "bottom": f[-16:].mean(), "left": f[:, :16].mean(), "right": f[:, -16:].mean()}
    assert max(bands, key=bands.get) == white and bands[white] > 200
    assert v.metadata.get("display_rotation", 0) in ({degrees, -degrees} if abs(degrees) == 180 else {degrees})


def test_stills_and_frames_are_read_as_they_are_meant_to_be_seen(tmp_path):
    """Found by a footage fuzz: a phone photo lay on its side, 16-bit grey came out white, a 23 kB PNG
    claiming 16000x12000 ended in Pillow's traceback."""
    from engine.verbs import load_image, load_mask
    from engine.video.media import open_image

    portrait = Image.new("RGB", (64, 32), "red")  # stored landscape, EXIF says: turn 90 degrees to view
    exif = portrait.getexif()
    exif[0x0112] = 6
    portrait.save(tmp_path / "phone.jpg", exif=exif)
    assert load_image(tmp_path / "phone.jpg").shape == (64, 32, 3)
    grey16 = np.full((16, 16), 30000, np.uint16)  # 46% grey
    Image.fromarray(grey16).save(tmp_path / "grey16.png")
    assert abs(int(load_image(tmp_path / "grey16.png").mean()) - 117) <= 1
    half = np.zeros((8, 8), np.uint16)
    half[:, :4] = 60000
    half[:, 4:] = 30000  # under half of 16 bits: not to repaint
    Image.fromarray(half).save(tmp_path / "mask16.png")
    assert load_mask(tmp_path / "mask16.png", 8, 8).sum() == 32
    Image.new("L", (5000, 16)).save(tmp_path / "wide.png")
    with pytest.raises(InputError, match="5000x16; up to 4096 px a side"):
        open_image(tmp_path / "wide.png", "image 'wide.png'")
    with pytest.raises(InputError, match="5000x16"):
        load_image(tmp_path / "wide.png")


def test_a_frame_too_large_is_refused_before_decoding(tmp_path):
    from engine.video import media

    write_video(tmp_path / "ok.mp4", moving_frames(3, 32, 48), 24)
    limit, media.MAX_INPUT_SIDE = media.MAX_INPUT_SIDE, 40
    try:
        with pytest.raises(InputError, match="frame is 48x32; up to 40 px a side"):
            read_video(tmp_path / "ok.mp4")
    finally:
        media.MAX_INPUT_SIDE = limit


def test_an_output_folder_never_mixes_in_other_images(tmp_path):
    from engine.video.media import check_not_input

    folder = tmp_path / "shots"
    folder.mkdir()
    Image.new("RGB", (8, 8)).save(folder / "1.png")
    with pytest.raises(InputError, match=r"already holds other images \(1.png\)"):
        check_output_path(str(folder) + "/")
    write_frames(tmp_path / "ours", moving_frames(3))  # our own frames from an earlier run may be replaced
    assert check_output_path(str(tmp_path / "ours") + "/") == "folder"
    for out, inp in ((tmp_path / "a.mp4", tmp_path / "a.mp4"), (str(folder) + "/", folder)):
        with pytest.raises(InputError, match="is one of the inputs"):
            check_not_input(out, tmp_path / "x.mp4", inp)


def test_millisecond_timestamps_are_not_a_variable_rate():
    ts = np.round(np.arange(30) / (30000 / 1001), 3)  # 29.97 fps kept in whole milliseconds (WebM)
    assert not Video(np.zeros((30, 8, 8, 3), np.uint8), 29.97, ts).variable_rate
    uneven = np.cumsum([0] + [0.08, 0.1] * 10)
    assert Video(np.zeros((21, 8, 8, 3), np.uint8), 11.1, uneven).variable_rate


def test_a_broken_sound_track_is_found_when_read_and_dropped_from_what_is_written(tmp_path):
    from conftest import broken_audio_clip

    src = broken_audio_clip(tmp_path / "in.mp4")
    v = read_video(src)
    assert len(v) == 16 and not v.has_audio
    assert v.metadata["audio_dropped"].startswith("its sound cannot be decoded")
    out = write_video(tmp_path / "out.mp4", v.frames, v.fps, audio_from=v)  # once: InvalidDataError, after the work
    with av.open(str(out)) as c:
        assert len(c.streams.video) == 1 and not c.streams.audio


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_an_animated_image_is_not_read_as_a_still(tmp_path, fmt):
    from engine.video.media import open_image

    path = tmp_path / f"anim.{fmt.lower()}"
    first, *rest = [Image.fromarray(np.full((32, 32, 3), v, np.uint8)) for v in (0, 120, 240)]
    first.save(path, format=fmt, save_all=True, append_images=rest, duration=100)
    with pytest.raises(InputError, match=f"is an animated {fmt} \\(3 frames\\); give a still PNG or JPEG"):
        open_image(path, "image 'anim'")
    first.save(tmp_path / "still.gif")  # a one-frame GIF is a still
    assert open_image(tmp_path / "still.gif", "image").size == (32, 32)


def test_an_output_folder_never_overwrites_an_input_frame(tmp_path):
    from engine.video.media import check_not_input

    (tmp_path / "frames").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "frames" / "000003.png")
    with pytest.raises(InputError, match="would write over the input"):
        check_not_input(f"{tmp_path}/frames/", tmp_path / "frames" / "000003.png")
    check_not_input(f"{tmp_path}/frames/", tmp_path / "elsewhere.png")  # other names and folders are fine
