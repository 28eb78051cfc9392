"""engine.video.interpolate and `python -m engine interpolate`: small synthetic scenes, seconds to run."""
import json
import os
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from engine.__main__ import main
from engine.errors import InputError
from engine.video.interpolate import (
    Interpolator,
    detect_cuts,
    fill_gap,
    flow_confidence,
    interpolate_frames,
    interpolate_pair,
    plan_retime,
    retime,
)
from engine.video.media import Video, read_video

FIXTURE = Path(__file__).parent / "fixtures" / "record-v1"


@pytest.fixture(autouse=True)
def config_dir(tmp_path_factory, monkeypatch):
    """interpolate signs what it writes: with credentials made once in a test folder, never the user's."""
    from engine.provenance import ensure_local_chain

    folder = tmp_path_factory.getbasetemp() / "tenku-config"
    ensure_local_chain(folder)
    monkeypatch.setenv("TENKU_CONFIG", str(folder))
    return folder


def texture(h=96, w=128, seed=0):
    """Random texture with detail at every scale (blurred noise at sigma 1..16), like the
    1/f spectrum of natural images: trackable at every pyramid level of the flow."""
    rng = np.random.default_rng(seed)
    big = np.zeros((h + 64, w + 64, 3), np.float32)
    for sigma, weight in ((1, 0.5), (3, 1.0), (8, 2.0), (16, 3.0)):
        noise = rng.standard_normal(big.shape).astype(np.float32)
        layer = cv2.GaussianBlur(noise, (0, 0), sigma)
        big += weight * layer / layer.std()
    big = (big - big.min()) / (big.max() - big.min()) * 255
    return big.astype(np.uint8)


def crop(img, x, y, h=96, w=128):
    return img[32 + y:32 + y + h, 32 + x:32 + x + w].copy()


def psnr(a, b, mask=None):
    d = (a.astype(np.float64) - b.astype(np.float64)) ** 2
    mse = d[mask].mean() if mask is not None else d.mean()
    return 10 * np.log10(255 ** 2 / max(mse, 1e-10))


def average(a, b, t=0.5):
    return np.round(a * (1 - t) + b * t).astype(np.uint8)


def scene(x, bg, fg, y=30, size=28):
    """Background panning left by x/2 under a square moving right by x: occlusion both sides."""
    img = crop(bg, 16 - x // 2, 0)
    img[y:y + size, 20 + x:20 + x + size] = crop(fg, 0, 0, size, size)
    return img


# ---------------------------------------------------------------------------
# Quality on motion with a known answer
# ---------------------------------------------------------------------------

def test_translation_middle_frame_is_recovered():
    tex = texture()
    a, mid, b = crop(tex, 0, 0), crop(tex, 5, 3), crop(tex, 10, 6)
    out = interpolate_pair(a, b, 0.5)
    assert out.shape == a.shape and out.dtype == np.uint8
    inner = np.zeros(a.shape[:2], bool)
    inner[8:-8, 8:-8] = True  # frame edges have no source on one side
    assert psnr(out, mid, inner) > 33
    assert psnr(out, mid, inner) > psnr(average(a, b), mid, inner) + 10


def test_any_t_places_the_content():
    tex = texture(seed=1)
    a, b = crop(tex, 0, 0), crop(tex, 12, 0)
    inner = np.zeros(a.shape[:2], bool)
    inner[8:-8, 16:-16] = True
    for t, x in ((0.25, 3), (0.75, 9)):
        ours = psnr(interpolate_pair(a, b, t), crop(tex, x, 0), inner)
        assert ours > 40 and ours > psnr(average(a, b, t), crop(tex, x, 0), inner) + 10


def test_occlusion_does_not_ghost():
    bg, fg = texture(seed=2), texture(seed=3)
    a, mid, b = scene(0, bg, fg), scene(8, bg, fg), scene(16, bg, fg)
    out = interpolate_pair(a, b, 0.5)
    box = np.zeros(a.shape[:2], bool)
    box[24:64, 14:84] = True  # the square's path, where a blend would double it
    assert psnr(out, mid, box) > psnr(average(a, b), mid, box) + 10
    # the per-pixel choice of motion hypothesis is what gets the uncovered edges right:
    # mixing the three hypotheses equally gives about 37 dB here, choosing gives about 41
    assert psnr(out, mid, box) > 39


# ---------------------------------------------------------------------------
# Sequences, retiming, cuts
# ---------------------------------------------------------------------------

def clip(n=5, step=4, seed=0):
    tex = texture(w=128 + step * n, seed=seed)
    return np.stack([crop(tex, step * i, 0) for i in range(n)])


def test_interpolate_frames_keeps_originals_and_counts():
    frames = clip(4)
    out = interpolate_frames(frames, 3)
    assert len(out) == (4 - 1) * 3 + 1
    for i in range(4):
        np.testing.assert_array_equal(out[3 * i], frames[i])
    assert not np.array_equal(out[1], frames[0]) and not np.array_equal(out[1], out[2])


def test_cuts_are_detected_and_never_interpolated():
    shot1, shot2 = clip(6, seed=4), clip(6, seed=5)[:, ::-1]
    frames = np.concatenate([shot1, shot2])
    assert detect_cuts(frames) == [6]
    out = interpolate_frames(frames, 2)
    # the in-between at the cut (output 11) repeats a real frame: no frame mixes two shots
    assert any(np.array_equal(out[11], f) for f in (frames[5], frames[6]))
    assert not any(np.array_equal(out[9], f) for f in frames)  # ordinary pairs are interpolated
    assert detect_cuts(clip(8, step=6)) == []  # fast steady motion is not a cut


def test_plan_for_variable_frame_rate():
    ts = np.array([0.0, 0.1, 0.25, 0.3])
    plan = plan_retime(ts, 20, cuts=[3])
    assert [round(p.time, 3) for p in plan] == [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3]
    assert [p.kind for p in plan] == ["original", "interpolated", "original", "interpolated",
                                      "interpolated", "original", "original"]
    assert plan[3].source == 1 and plan[3].t == pytest.approx(1 / 3)
    assert plan[4].t == pytest.approx(2 / 3)
    assert plan[1].t == pytest.approx(0.5)
    held = plan_retime(ts, 40, cuts=[3])  # 0.275 lies between frames 2 and 3 across the cut
    assert [p.kind for p in held if abs(p.time - 0.275) < 1e-9] == ["held"]


def test_retime_by_fps_and_factor():
    v = Video.from_frames(clip(5), 8)
    frames, fps = retime(v, factor=3)
    assert fps == 24 and len(frames) == 13
    frames, fps = retime(v, fps=20)  # 0.5 s span at 20 fps
    assert fps == 20 and len(frames) == 11
    np.testing.assert_array_equal(frames[10], v.frames[4])


def test_fill_gap_and_confidence():
    tex = texture(seed=6)
    before, after = crop(tex, 0, 0), crop(tex, 12, 0)
    gap = fill_gap(before, after, 3)
    assert gap.shape == (3,) + before.shape
    inner = np.zeros(before.shape[:2], bool)
    inner[8:-8, 16:-16] = True
    assert psnr(gap[1], crop(tex, 6, 0), inner) > 30
    good = flow_confidence(before, after)
    bad = flow_confidence(before, texture(seed=7)[:96, :128])
    assert good > 0.8 and bad < 0.5


def test_bad_arguments():
    a = clip(2)
    with pytest.raises(InputError):
        interpolate_pair(a[0], a[1][:50], 0.5)
    for t in (0, 1, 1.5):
        with pytest.raises(InputError):
            interpolate_pair(a[0], a[1], t)
    for k in (1, 0, 2.5, "x"):
        with pytest.raises(InputError):
            interpolate_frames(a, k)
    with pytest.raises(InputError):
        interpolate_frames(a[:1], 2)
    with pytest.raises(InputError, match="too small"):
        interpolate_pair(a[0][:8, :8], a[1][:8, :8], 0.5)
    with pytest.raises(InputError):
        retime(Video.from_frames(a, 8), fps=0)
    with pytest.raises(InputError):
        retime(Video.from_frames(a, 8), fps=24, factor=2)


def test_one_interpolator_is_reused_and_flows_once_per_pair(monkeypatch):
    ip = Interpolator()
    calls = []
    real = ip.flow
    monkeypatch.setattr(ip, "flow", lambda a, b: calls.append(1) or real(a, b))
    ip.interpolate_frames(clip(3), 4)  # 2 pairs, 3 new frames each
    assert len(calls) == 2


def test_threads_make_the_same_frames_as_one():
    frames = np.concatenate([clip(5, seed=8), clip(4, seed=9)[:, ::-1]])  # a cut at 5: held frames too
    plan = Interpolator().plan(Video.from_frames(frames, 8), factor=3)
    serial = Interpolator(threads=1).render(plan.frames, plan.steps)
    for threads in (2, 3):
        np.testing.assert_array_equal(Interpolator(threads=threads).render(plan.frames, plan.steps), serial)


def test_one_interpolator_serves_many_threads():
    from concurrent.futures import ThreadPoolExecutor

    pairs = [clip(2, step=2 + i, seed=10 + i) for i in range(6)]
    ip = Interpolator()
    alone = [Interpolator(threads=1).interpolate_pair(a, b, 0.5) for a, b in pairs]
    with ThreadPoolExecutor(3) as pool:
        together = list(pool.map(lambda ab: ip.interpolate_pair(*ab, 0.5), pairs))
    for x, y in zip(alone, together):
        np.testing.assert_array_equal(x, y)


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def save_folder(folder, frames):
    folder.mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"f{i:03d}.png")
    return str(folder)


def test_cli_two_frames_factor_2_gives_three(tmp_path, capsys):
    src = save_folder(tmp_path / "in", clip(2, step=8))
    out = str(tmp_path / "out") + "/"
    assert main(["interpolate", src, "--factor", "2", "--out", out]) == 0
    one = str(tmp_path / "one") + "/"
    assert main(["interpolate", src, "--factor", "2", "--out", one, "--threads", "1"]) == 0
    for name in ("000000.png", "000001.png", "000002.png"):  # the same frames on one thread
        np.testing.assert_array_equal(np.asarray(Image.open(os.path.join(out, name))),
                                      np.asarray(Image.open(os.path.join(one, name))))
    names = sorted(os.listdir(out))
    assert names == ["000000.png", "000001.png", "000002.png", "tenku.json"]
    side = json.loads(open(os.path.join(out, "tenku.json")).read())
    assert [f["kind"] for f in side["frames"]] == ["original", "interpolated", "original"]
    assert side["settings"]["factor"] == 2


def test_cli_mp4_with_audio_stays_in_sync(tmp_path):
    src = str(tmp_path / "in.mp4")
    frames = clip(9)
    with av.open(src, "w") as c:  # 9 frames at 8 fps (1.125 s) with a 1.5 s tone
        vs = c.add_stream("libx264", rate=8)
        vs.width, vs.height, vs.pix_fmt = 128, 96, "yuv420p"
        a_s = c.add_stream("aac", rate=16000, layout="mono")
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts = i
            c.mux(vs.encode(vf))
        c.mux(vs.encode(None))
        tone = np.sin(np.arange(24000) * 2 * np.pi * 440 / 16000).astype(np.float32)[None]
        for i in range(0, 24000, 1024):
            af = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone[:, i:i + 1024]), format="fltp", layout="mono")
            af.sample_rate, af.pts = 16000, i
            c.mux(a_s.encode(af))
        c.mux(a_s.encode(None))
    out = str(tmp_path / "out.mp4")
    assert main(["interpolate", src, "--fps", "24", "--out", out]) == 0
    v = read_video(out)
    assert len(v) == 25 and v.fps == pytest.approx(24) and v.has_audio
    with av.open(out) as c:
        a_dur = float(c.streams.audio[0].duration * c.streams.audio[0].time_base)
    assert a_dur == pytest.approx(25 / 24, abs=0.07)  # trimmed to the video, not the 1.5 s tone
    side = json.loads(open(out + ".json").read())
    assert side["counts"]["interpolated"] == 16
    assert side["seconds"] > 0  # the frames are encoded as they are made: timed when the last one is


@pytest.mark.parametrize("case", ["factor1", "factor_frac", "fps0", "one_frame", "sizes", "unreadable",
                                  "missing", "both", "bad_out", "out_is_input", "factor_huge", "fps_huge",
                                  "input_fps_huge", "threads0"])
def test_cli_bad_input_one_line_exit_2_no_output(tmp_path, capsys, case):
    two = save_folder(tmp_path / "two", clip(2))
    args = {"factor1": [two, "--factor", "1"], "factor_frac": [two, "--factor", "2.5"],
            "fps0": [two, "--fps", "0"], "both": [two, "--fps", "24", "--factor", "2"],
            "threads0": [two, "--factor", "2", "--threads", "0"]}.get(case)
    if case == "one_frame":
        args = [save_folder(tmp_path / "one", clip(1)), "--factor", "2"]
    elif case == "sizes":
        folder = tmp_path / "sizes"
        save_folder(folder, clip(1))
        Image.fromarray(clip(1)[0][:50]).save(folder / "f999.png")
        args = [str(folder), "--factor", "2"]
    elif case == "unreadable":
        (tmp_path / "bad.mp4").write_bytes(b"\x00" * 5000)
        args = [str(tmp_path / "bad.mp4"), "--factor", "2"]
    elif case == "missing":
        args = [str(tmp_path / "nope.mp4"), "--factor", "2"]
    elif case == "factor_huge":  # asked for 105 GB of frames, and a traceback
        args = [two, "--factor", "100000"]
    elif case == "fps_huge":
        args = [two, "--fps", "1e6"]
    elif case == "input_fps_huge":  # wrote an MP4 at 2e9 fps
        args = [two, "--factor", "2", "--input-fps", "1e9"]
    out = tmp_path / "result.mp4"
    if case == "bad_out":
        args, out = [two, "--factor", "2"], tmp_path / "result.avi"
    if case == "out_is_input":  # once overwrote the input: 24 frames became 47 in place
        from engine.video.media import write_video

        out = write_video(tmp_path / "result.mp4", clip(3), 24)
        before = Path(out).read_bytes()
        args = [str(out), "--factor", "2"]
    capsys.readouterr()
    assert main(["interpolate", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    leftover = [n for n in os.listdir(tmp_path) if n.startswith(("result", ".result"))]
    if case == "out_is_input":
        assert "is one of the inputs" in err and Path(out).read_bytes() == before
        return
    assert leftover == []


# ---------------------------------------------------------------------------
# Issue 34: what a bad-input sweep found
# ---------------------------------------------------------------------------

def test_a_retimed_signed_take_is_signed_with_the_input_record_retimed(tmp_path, config_dir, capsys):
    import shutil

    from engine.provenance import ProvenanceRecord

    src = tmp_path / "take.mp4"
    shutil.copy(FIXTURE / "take.mp4", src)
    out = tmp_path / "slow.mp4"
    assert main(["interpolate", str(src), "--factor", "2", "--no-cuts", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["verify", str(out), "--config", str(config_dir)]) == 0
    text = capsys.readouterr().out
    assert "VERIFIED" in text and "matches the signed record" in text
    side = json.loads(Path(f"{out}.json").read_text())
    assert side["input_provenance"] == "the input's signed C2PA record"
    rec = ProvenanceRecord.from_dict(side["provenance"])
    before = ProvenanceRecord.from_dict(json.loads((FIXTURE / "take.mp4.json").read_text())["provenance"])
    assert rec.frame_count == 59 and rec.fps == 48.0
    assert rec.strip() == "".join(k + "I" for k in before.strip())[:-1]  # every frame kept, one new between each
    assert rec.ranges[0].generation == before.ranges[0].generation and rec.decisions == before.decisions
    assert rec.range_at(58).source_start == 45 and rec.watermark == before.watermark


def test_retimed_camera_footage_is_signed_as_footage_with_frames_added(tmp_path, config_dir, capsys):
    from engine.video.media import write_video

    src = write_video(tmp_path / "cam.mp4", clip(4), 8)
    out = tmp_path / "cam24.mp4"
    assert main(["interpolate", src, "--fps", "24", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["verify", str(out), "--config", str(config_dir), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["c2pa"]["digital_source_type"].endswith("compositeSynthetic")
    assert json.loads(Path(f"{out}.json").read_text())["input_provenance"] == "camera footage (no C2PA manifest)"
    assert report["c2pa"]["record"]["ranges"][0]["repeat"][0]["source"] == "cam.mp4"


def test_footage_with_a_broken_sound_track_keeps_its_picture(tmp_path, capsys):
    from conftest import broken_audio_clip

    src = broken_audio_clip(tmp_path / "in.mp4")
    out = tmp_path / "out.mp4"
    assert main(["interpolate", str(src), "--factor", "2", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "note: in.mp4: its sound cannot be decoded" in err and "the picture is kept, without sound" in err
    with av.open(str(out)) as c:
        assert c.streams.video and not c.streams.audio
    settings = json.loads(Path(f"{out}.json").read_text())["settings"]
    assert settings["audio"] is False and settings["audio_dropped"].startswith("its sound cannot be decoded")
