"""Long takes: streamed per window, resumable, identical after a resume, partial file playable."""
import json
from pathlib import Path

import numpy as np
import pytest

from engine import longtake
from engine.errors import InputError
from engine.request import GenerateRequest
from engine.sampling.sampler import Cancelled
from engine.service import Engine
from engine.video import media


def identity(frames, record):
    return frames


@pytest.fixture(scope="module")
def engine(tiny_model):
    return Engine(tiny_model)


def take(engine, out, seconds=5.0, **kw):
    req = GenerateRequest("a red ball moves right", seconds=seconds, fps=12, steps=2, seed=3)
    return longtake.render_take(engine, req, out, watermark=kw.pop("watermark", identity), **kw)


def test_long_take_streams_every_window_and_cleans_up(engine, tmp_path):
    out = tmp_path / "long.mp4"
    seen = []
    res = take(engine, str(out), on_window=lambda d, n, p: seen.append((d, n, Path(p).exists())))
    assert res.windows > 2 and [d for d, _, _ in seen] == list(range(1, res.windows + 1))
    assert all(exists for _, _, exists in seen)  # the partial file is there while rendering
    v = media.read_video(out)
    assert len(v) == res.frames == 60 and res.record.frame_count == 60
    assert not longtake.checkpoint_dir(out).exists() and not longtake.partial_path(out).exists()
    assert res.record.counts().get("generated", 0) > 0 and res.record.counts().get("interpolated", 0) > 0


def test_partial_file_plays_while_rendering(engine, tmp_path):
    out = tmp_path / "p.mp4"
    lengths = []

    def on_window(done, total, partial):
        lengths.append(len(media.read_video(partial)))
    take(engine, str(out), on_window=on_window)
    # each window's frames are in the file when it finishes (the muxer holds back only the
    # newest frame, whose duration it learns from the next)
    assert lengths == sorted(lengths) and len(set(lengths)) == len(lengths) and lengths[0] > 0
    assert lengths[-1] >= 59


def test_killed_render_resumes_and_equals_uninterrupted(engine, tmp_path):
    whole = take(engine, str(tmp_path / "whole.mp4"))
    out = str(tmp_path / "resumed.mp4")
    calls = {"n": 0}

    def stop_in_window_3(frac, stage, info):
        if stage.startswith("window 3/"):
            raise Cancelled()
    first = take(engine, out, progress=stop_in_window_3)
    assert first.cancelled and first.frames > 0
    assert longtake.checkpoint_dir(out).exists() and longtake.partial_path(out).exists()
    state = json.loads((longtake.checkpoint_dir(out) / "state.json").read_text())
    assert state["windows_done"] == 2

    def count(frac, stage, info):
        calls["n"] += 1
        assert not stage.startswith(("window 1/", "window 2/")), "finished windows were rendered again"
    second = take(engine, out, progress=count)
    assert second.resumed_from == 2 and not second.cancelled and calls["n"] > 0
    a, b = media.read_video(tmp_path / "whole.mp4").frames, media.read_video(out).frames
    assert a.shape == b.shape and np.array_equal(a, b)
    assert second.record.to_dict()["ranges"] == whole.record.to_dict()["ranges"]


def test_resume_refuses_a_checkpoint_of_other_settings(engine, tmp_path):
    out = str(tmp_path / "x.mp4")

    def stop_in_window_2(frac, stage, info):
        if stage.startswith("window 2/"):
            raise Cancelled()
    assert take(engine, out, progress=stop_in_window_2).cancelled
    req = GenerateRequest("a blue box", seconds=5.0, fps=12, steps=2, seed=3)
    with pytest.raises(InputError, match="other settings"):
        longtake.render_take(engine, req, out, watermark=identity)
    res = longtake.render_take(engine, req, out, watermark=identity, resume=False)  # --restart
    assert not res.cancelled and res.resumed_from == 0


def test_memory_of_a_take_does_not_grow_with_its_length(engine, tmp_path):
    import tracemalloc

    peaks = []
    for seconds in (4.0, 12.0):
        tracemalloc.start()
        take(engine, str(tmp_path / f"m{seconds}.mp4"), seconds=seconds)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 1.2 * peaks[0], peaks


@pytest.mark.parametrize("anchor", [False, True])
def test_the_stream_equals_the_in_memory_render(engine, tmp_path, anchor):
    """Engine.generate (scenes, PNG output, the API) and the stream make the same take, anchor and all."""
    req = GenerateRequest("a red ball moves right", seconds=5.0, fps=8, steps=2, seed=3)
    mem = engine.generate(req, anchor=anchor)
    out = str(tmp_path / "s.mp4")
    written = []

    def capture(frames, record):  # what goes to the encoder, window by window
        written.append(frames)
        return frames
    res = longtake.render_take(engine, req, out, watermark=capture, anchor=anchor)
    assert res.frames == len(mem.frames) and len(written) == res.windows > 2
    assert np.array_equal(np.concatenate(written), mem.frames)
    if anchor:  # the anchor changed the later windows
        assert not np.array_equal(mem.frames, engine.generate(req, anchor=False).frames)


def test_long_take_refuses_non_mp4_and_loops(engine, tmp_path):
    with pytest.raises(InputError, match="MP4"):
        take(engine, str(tmp_path) + "/frames/")
    req = GenerateRequest("a red ball", seconds=2.0, loop=True)
    assert not longtake.streamable(engine, req)


def test_a_killed_cli_render_resumes_to_the_same_file(tiny_model, tmp_path):
    """SIGKILL in the middle of `generate --seconds 10`, run the same command again: the finished
    windows are not redone and the frames equal those of an uninterrupted run."""
    import os
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "TENKU_CONFIG": str(tmp_path / "config"), "OMP_NUM_THREADS": "1"}
    root = Path(__file__).resolve().parent.parent

    def cmd(out):
        return [sys.executable, "-m", "engine", "generate", "--model", str(tiny_model), "--prompt", "a red ball",
                "--seconds", "10", "--fps", "8", "--steps", "30", "--dtype", "float32", "--quiet", "--out", out]
    whole, cut = str(tmp_path / "whole.mp4"), str(tmp_path / "cut.mp4")
    subprocess.run(cmd(whole), cwd=root, env=env, check=True, capture_output=True)
    p = subprocess.Popen(cmd(cut), cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = longtake.checkpoint_dir(cut) / "state.json"
    deadline = time.time() + 300
    while time.time() < deadline and p.poll() is None:
        if state.exists() and json.loads(state.read_text())["windows_done"] >= 2:
            p.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    p.wait()
    assert p.returncode == -signal.SIGKILL, "the render finished before it could be killed"
    assert not Path(cut).exists() and longtake.partial_path(cut).exists()
    done_before = json.loads(state.read_text())["windows_done"]
    subprocess.run(cmd(cut), cwd=root, env=env, check=True, capture_output=True)
    side = json.loads(Path(cut + ".json").read_text())
    assert side["resumed_from_window"] == done_before >= 2
    assert np.array_equal(media.read_video(cut).frames, media.read_video(whole).frames)


def test_render_windows_resumed_from_a_chunk_equals_the_uninterrupted_windows(engine):
    """The API a farm worker runs: handed only the last finished window's chunk (and the counts), it renders
    the windows after it, and they are the uninterrupted render's, bit for bit."""
    req = GenerateRequest("a red ball moves right", seconds=5.0, fps=12, steps=2, seed=3)
    plan = longtake.plan_take(engine, req)
    whole = list(longtake.render_windows(engine, plan))
    assert len(whole) > 2 and [wi for wi, _ in whole] == list(range(len(whole)))
    k = 1
    point = longtake.Resume(k, sum(len(c["delivered"]) for _, c in whole[:k]), whole[k - 1][1])
    resumed = list(longtake.render_windows(engine, longtake.plan_take(engine, req), point))
    assert [wi for wi, _ in resumed] == list(range(k, len(whole)))
    for (_, a), (_, b) in zip(whole[k:], resumed):
        assert set(a) == set(b) and all(np.array_equal(a[key], b[key]) for key in a)
