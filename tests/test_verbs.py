"""The editing verbs (issue 3) on tiny models: shapes, held frames exact, provenance, the
replacement path for models without per-token noise levels, bad input and the CLI contract."""
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine import defaults, verbs
from engine.__main__ import main
from engine.errors import InputError
from engine.request import BASE_FPS, OVERLAP_FRAMES, WINDOW_FRAMES, GenerateRequest
from engine.sampling.conditioning import ImageCondition, canvas_for, crop_window, fit_frames, unfit_frames
from engine.sampling.sampler import Cancelled
from engine.service import Engine, _seam_window, _windows
from engine.video import media
from engine.video.media import Video
from engine.video.retime import delivered_count, resample, retime, retime_loop
from engine.world import render
from engine.world.scene import Obj, Scene

FAST = dict(steps=2, guidance=3.0)


@pytest.fixture(scope="module")
def engine(tiny_model):
    return Engine(tiny_model, dtype="float32")


@pytest.fixture(scope="module")
def clip():
    """A red ball crossing a grey studio, 16 frames."""
    scene = Scene((Obj("red", "ball", "big", "right", x0=0.2, y0=0.5),), "studio")
    return render(scene, 128, 128, 8.0, 16)


def kinds(result):
    return result.record.per_frame()


# --------------------------------------------------------------------------
# Geometry and time
# --------------------------------------------------------------------------

def test_canvas_policy_keeps_native_aspects_and_fits_others():
    assert canvas_for(1920, 1080) == (256, 144) and canvas_for(1080, 1920) == (144, 256)
    assert canvas_for(500, 500) == (128, 128)
    assert canvas_for(640, 480) == (192, 144)  # 4:3 gets its own canvas, not a quarter cropped away
    w, h = canvas_for(2390, 1000)
    assert w % 16 == h % 16 == 0 and abs(w / h / 2.39 - 1) < 0.03
    frames = np.random.default_rng(0).integers(0, 255, (2, 120, 160, 3), dtype=np.uint8)
    back = unfit_frames(fit_frames(frames, 192, 144), 160, 120)
    assert back.shape == frames.shape and crop_window(160, 120, 192, 144) == (0, 0, 160, 120)


def test_windows_run_backward_and_respect_latent_groups():
    fwd = _windows(40, 1)
    assert fwd[0] == (0, WINDOW_FRAMES) and fwd[-1] == (40 - WINDOW_FRAMES, 40)
    assert all(b0 - a1 >= OVERLAP_FRAMES for (_, b0), (a1, _) in zip(fwd, fwd[1:]))
    assert _windows(40, 1, backward=True) == [(40 - b, 40 - a) for a, b in fwd]
    for a, b in _windows(41, 4):  # a VAE compressing time by 4: windows of 1 + 4k frames on group starts
        assert a % 4 == 0 and (b - a - 1) % 4 == 0


@pytest.mark.parametrize("P,r", [(16, 1), (40, 1), (8, 1), (16, 4)])
def test_loop_seam_window_puts_the_wrap_between_held_ends(P, r):
    idx, hold = _seam_window(P, r)
    assert len(set(idx.tolist())) == len(idx) and hold[0] and hold[-1] and not hold.all()
    wrap = int(np.flatnonzero(idx == 0)[0])  # frame 0 follows frame P-1 inside the window
    assert idx[wrap - 1] == P - 1 and not hold[wrap - 1] and not hold[wrap]


def test_resample_copies_exact_frames_and_interpolates_between(clip):
    out, pos = resample(clip[:3], [0, 0.125, 0.25], np.arange(7) / 24)
    assert np.array_equal(out[0], clip[0]) and np.array_equal(out[3], clip[1]) and np.array_equal(out[6], clip[2])
    assert np.allclose(pos, np.arange(7) / 3)


def test_one_retime_for_takes_loops_and_verbs(clip):
    # 9 frames at 8 fps span 1 s: 25 frames at 24 fps, the last on the last frame; 30 fps keeps 0..1 s too
    assert [delivered_count(9, 8, fps) for fps in (24, 30, 8, 5)] == [25, 31, 9, 6]
    assert delivered_count(0, 8, 24) == 0 and delivered_count(1, 8, 24) == 1
    out, pos = retime(clip[:9], 8, 24)
    assert len(out) == 25 and np.allclose(pos, np.arange(25) / 3)
    assert np.array_equal(out[3], clip[1]) and np.array_equal(out[24], clip[8])
    assert len(retime(clip[:9], 8, 24, count=10)[0]) == 10 and len(retime(clip[:9], 8, 24, count=99)[0]) == 25
    assert len(retime(clip[:0], 8, 24)[0]) == 0
    # a loop of 4 frames at 8 fps: 12 frames at 24 fps, the last two leading back into frame 0
    out, pos = retime_loop(clip[:4], 8, 24)
    assert len(out) == 12 and np.allclose(pos, np.arange(12) / 3) and np.array_equal(out[0], clip[0])


# --------------------------------------------------------------------------
# Every verb on the tiny model
# --------------------------------------------------------------------------

def test_animate_holds_frame_0_on_the_nearest_aspect(engine):
    scene = Scene((Obj("red", "ball", "big", "still", x0=0.3, y0=0.5),), "grass")
    still = render(scene, 224, 112, 8.0, 1)[0][6:106, 7:217]  # a world still of 210x100
    r = verbs.animate(engine, still, "a red ball rolls right", seconds=2.0, fps=24, **FAST)
    assert r.frames.shape == (48, 144, 256, 3) and r.fps == 24
    assert np.array_equal(r.frames[0], fit_frames(still[None], 256, 144)[0])
    k = kinds(r)
    assert k[0] == "camera" and k[3] == "generated" and k[1] == "interpolated"
    assert r.record.frame_count == 48


def test_a_world_model_refuses_to_paint_into_camera_footage(engine, clip):
    """Camera footage (noise here: nothing of the world's flat palette) is not the world model's to draw into:
    each verb says so and names what can do it; world footage goes through."""
    noise = np.random.default_rng(1).integers(0, 255, (16, 96, 128, 3), dtype=np.uint8)
    camera = Video.from_frames(noise, 8.0)
    for verb, call in (("animate", lambda: verbs.animate(engine, noise[0], "a red ball rolls right", **FAST)),
                       ("extend", lambda: verbs.extend(engine, camera, seconds=1.0, **FAST)),
                       ("bridge", lambda: verbs.bridge(engine, Video.from_frames(clip, 8.0), camera, seconds=1.0,
                                                       **FAST)),
                       ("remix", lambda: verbs.remix(engine, camera, "a blue ball", strength=0.5, **FAST))):
        with pytest.raises(verbs.CameraFootage, match=f"camera footage .*; {verb} it with --model a real checkpoint"):
            call()


@pytest.mark.parametrize("fps", [8.0, 24.0])
def test_extend_forward_and_backward_keep_every_original_frame(engine, clip, fps):
    video = Video.from_frames(clip, fps)
    fwd = verbs.extend(engine, video, seconds=1.0, prompt="a red ball", **FAST)
    back = verbs.extend(engine, video, seconds=1.0, backward=True, **FAST)
    new = round(fps)
    assert fwd.frames.shape == back.frames.shape == (16 + new, 128, 128, 3) and fwd.fps == fps
    assert np.array_equal(fwd.frames[:16], clip) and np.array_equal(back.frames[new:], clip)
    assert kinds(fwd)[:16] == ["camera"] * 16 and kinds(back)[new:] == ["camera"] * 16
    assert "generated" in kinds(fwd)[16:] and "generated" in kinds(back)[:new]
    assert fwd.record.ranges[0].source_start == 0


def test_extend_any_length_by_sliding_windows_both_ways(engine, clip):
    video = Video.from_frames(clip, BASE_FPS)
    for backward in (False, True):
        r = verbs.extend(engine, video, seconds=5.0, backward=backward, **FAST)
        assert len(r.frames) == 56
        kept = r.frames[40:] if backward else r.frames[:16]
        assert np.array_equal(kept, clip)
        assert r.frames[:40 if backward else 56].std(axis=(1, 2, 3)).min() > 0  # no empty (unmade) frames


def test_fill_keeps_untouched_frames_and_says_what_filled_each(engine, clip):
    video = Video.from_frames(clip, BASE_FPS)
    r = verbs.fill(engine, video, [(4, 11)], method="generate", **FAST)
    assert r.frames.shape == clip.shape
    assert np.array_equal(r.frames[:4], clip[:4]) and np.array_equal(r.frames[12:], clip[12:])
    assert not np.array_equal(r.frames[4:12], clip[4:12])
    assert kinds(r) == ["camera"] * 4 + ["generated"] * 8 + ["camera"] * 4
    # a short gap in 24 fps footage goes to the interpolator; gaps at the ends need the model
    v24 = Video.from_frames(render(Scene((Obj("blue", "box", "big", "right", x0=0.2),)), 128, 128, 24, 24), 24)
    r = verbs.fill(engine, v24, [(0, 2), (10, 11), (22, 23)], **FAST)
    k = kinds(r)
    assert k[10:12] == ["interpolated"] * 2 and r.record.range_at(10).details["method"] == "flow"
    assert r.record.range_at(10).generation is None and r.record.range_at(0).generation is not None
    assert k[3:10] == ["camera"] * 7 and np.array_equal(r.frames[3:10], v24.frames[3:10])


def test_one_frame_range_grammar_for_the_command_line_and_the_studio():
    # what `fill --frames` took and what the studio's Fill frames took, in one parser
    assert verbs.parse_ranges("3-5,9,12-14") == [(3, 5), (9, 9), (12, 14)]
    assert verbs.parse_ranges(" 12-14; 3 - 5 ,, 9 ,") == [(12, 14), (3, 5), (9, 9)]  # unchecked: as written
    assert verbs.parse_ranges("12-14; 3-5, 9", n=20) == [(3, 5), (9, 9), (12, 14)]  # checked: sorted
    assert verbs.parse_ranges("", n=20) == [] and verbs.parse_ranges(None) == []
    for text, n, needle in [("3-", None, "'3-' is not A-B"), ("-3", None, "'-3' is not A-B"),
                            ("a-b", None, "is not A-B"), ("3-5-7", None, "is not A-B"),
                            ("10-5", 20, "10-5 is reversed; give the first frame first (5-10)"),
                            ("10-20", 12, "outside the clip"), ("3-8,6-10", 20, "overlap")]:
        with pytest.raises(InputError) as e:
            verbs.parse_ranges(text, n)
        assert needle in str(e.value)


def test_detect_bad_frames_and_fill_auto(engine, clip):
    frames = clip.copy()
    frames[5] = 0  # black
    frames[9] = frames[10] = frames[8]  # frozen 9-10
    frames[12] = frames[11]  # duplicated
    ts = np.arange(16) / 8.0
    ts[14:] += 2 / 8.0  # two frames missing between 13 and 14
    video = Video(frames, 8.0, ts)
    found = verbs.detect_bad_frames(video)
    assert [(f.start, f.end, f.kind) for f in found] == [
        (5, 5, "black"), (9, 10, "frozen"), (12, 12, "duplicated"), (13, 14, "dropped")]
    assert found[-1].missing == 2
    assert verbs.detect_bad_frames(Video.from_frames(np.repeat(clip[:1], 8, 0), 8)) == []  # a still shot is fine
    r = verbs.fill(engine, video, **FAST)
    assert len(r.frames) == 18 and np.array_equal(r.frames[:5], frames[:5])
    assert np.array_equal(r.frames[16:], frames[14:]) and kinds(r)[14:16] != ["camera"] * 2
    assert r.settings["gaps"] == [[5, 5], [9, 10], [12, 12], [14, 15]]


def test_bridge_starts_on_a_and_ends_on_b(engine, clip):
    a = Video.from_frames(clip[:8], 24)
    b_frames = render(Scene((Obj("red", "ball", "big", "right", x0=0.7),)), 256, 144, 24, 8)
    r = verbs.bridge(engine, a, Video.from_frames(b_frames, 24), seconds=1.0, **FAST)
    assert r.frames.shape == (25, 128, 128, 3) and r.fps == 24
    assert np.array_equal(r.frames[0], clip[7]) and np.array_equal(r.frames[-1], fit_frames(b_frames[:1], 128, 128)[0])
    k = kinds(r)
    assert k[0] == k[-1] == "camera" and "transition" in k
    assert r.record.ranges[-1].source_start == 0 and r.record.ranges[0].source_start == 7


def test_loop_delivers_one_period(engine):
    r = engine.generate(GenerateRequest("a red ball", seconds=2.0, fps=24, loop=True, **FAST))
    assert r.frames.shape[0] == 48 and len(r.base_frames) == 16
    assert r.settings["loop"] is True
    with pytest.raises(InputError, match="at least 1 s"):
        engine.generate(GenerateRequest("a red ball", seconds=0.5, loop=True, **FAST))


def test_remix_strength_one_is_plain_generation(engine, clip):
    video = Video.from_frames(clip, BASE_FPS)
    soft = verbs.remix(engine, video, "a blue ball", strength=0.3, seed=3, **FAST)
    full = verbs.remix(engine, video, "a blue ball", strength=1.0, seed=3, **FAST)
    plain = engine.generate(GenerateRequest("a blue ball", frames=16, fps=BASE_FPS, seed=3, width=128, height=128,
                                            **FAST))
    assert soft.frames.shape == clip.shape and np.array_equal(full.frames, plain.frames)
    assert not np.array_equal(soft.frames, full.frames)
    assert set(kinds(soft)) == {"generated"} and soft.settings["strength"] == 0.3
    for s in (0.0, 1.5, -1):
        with pytest.raises(InputError, match=r"strength must be in \(0, 1\]"):
            verbs.remix(engine, video, "x", strength=s)


def test_remix_methods(engine, clip):
    """flowedit (the default) and sdedit are different edits of the same clip, each recorded; a
    remix that also holds frames or loops samples, and an unknown method is refused."""
    video = Video.from_frames(clip, BASE_FPS)
    a = verbs.remix(engine, video, "a blue ball", strength=0.6, seed=3, **FAST)
    b = verbs.remix(engine, video, "a blue ball", strength=0.6, seed=3, method="sdedit", **FAST)
    assert a.settings["remix_method"] == "flowedit" and b.settings["remix_method"] == "sdedit"
    assert a.record.ranges[0].generation.settings["remix_method"] == "flowedit"
    assert np.array_equal(a.frames, verbs.remix(engine, video, "a blue ball", strength=0.6, seed=3, **FAST).frames)
    assert not np.array_equal(a.frames, b.frames)
    # two windows: the second holds the first's end
    long = Video.from_frames(np.concatenate([clip, clip[::-1]]), BASE_FPS)
    r = verbs.remix(engine, long, "a blue ball", strength=0.6, seed=3, **FAST)
    assert r.frames.shape == long.frames.shape and r.settings["remix_method"] == "flowedit"
    req = GenerateRequest("a blue ball", frames=16, fps=BASE_FPS, width=128, height=128, init_video=clip,
                          strength=0.6, loop=True, **FAST)
    assert engine.generate(req).settings["remix_method"] == "sdedit"
    with pytest.raises(InputError, match="remix method 'magic' is unknown; allowed: flowedit, sdedit"):
        verbs.remix(engine, video, "a blue ball", strength=0.6, method="magic")


def test_inpaint_and_outpaint_leave_the_rest_exact(engine, clip):
    video = Video.from_frames(np.concatenate([clip, clip[:8]]), 24)  # 24 fps: in-betweens too
    mask = np.zeros((128, 128), bool)
    mask[32:96, 40:100] = True
    for invert in (False, True):
        r = verbs.inpaint(engine, video, mask, "a blue ball", invert=invert, **FAST)
        keep = mask if invert else ~mask
        assert r.frames.shape == video.frames.shape
        assert np.array_equal(r.frames[:, keep], video.frames[:, keep])
        assert not np.array_equal(r.frames[:, ~keep], video.frames[:, ~keep])
        assert set(kinds(r)) == {"inpainted"}
    big = np.kron(mask, np.ones((2, 2), bool))  # the same mask at twice the size is fine
    assert verbs.inpaint(engine, video, big, "x", **FAST).frames.shape == video.frames.shape
    with pytest.raises(InputError, match="aspect"):
        verbs.inpaint(engine, video, np.ones((10, 30), bool), "x")
    with pytest.raises(InputError, match="nothing to repaint"):
        verbs.inpaint(engine, video, np.zeros((128, 128), bool), "x")


def test_other_sizes_and_rates_map_back(engine):
    scene = Scene((Obj("blue", "box", "small", "left", x0=0.7, y0=0.4),), "desert")
    video = Video.from_frames(render(scene, 160, 128, 30.0, 9)[:, 4:124], 30)
    r = verbs.extend(engine, video, seconds=0.5, **FAST)
    assert r.frames.shape == (24, 120, 160, 3) and np.array_equal(r.frames[:9], video.frames)
    assert r.settings["width"] == 192 and r.settings["height"] == 144


def test_cancel_leaves_the_input_as_it_was(engine, clip):
    def stop(fraction, stage, info=None):
        raise Cancelled()

    video = Video.from_frames(clip, BASE_FPS)
    r = verbs.extend(engine, video, seconds=1.0, progress=stop, **FAST)
    assert r.cancelled and np.array_equal(r.frames, clip)


# --------------------------------------------------------------------------
# The replacement path: a model that takes one noise level per clip
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def scalar_model(tiny_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("scalar") / "scalar-world"
    shutil.copytree(tiny_model, path)
    index = json.loads((path / "model_index.json").read_text())
    (path / "model_index.json").write_text(json.dumps({**index, "per_token_timesteps": False}))
    return path


def test_replacement_path_holds_known_content_with_a_scalar_timestep(scalar_model, clip):
    engine = Engine(scalar_model, dtype="float32")
    pipe = engine.pipe
    assert pipe.per_token_timesteps is False
    seen = []
    forward = pipe.transformer.forward

    def scalar_only(x, t, *a, **k):  # what a checkpoint without per-token noise levels accepts
        if t.dim() != 1:
            raise AssertionError(f"per-token timesteps {tuple(t.shape)} given to a scalar-timestep model")
        seen.append(t.clone())
        return forward(x, t, *a, **k)

    pipe.transformer.forward = scalar_only
    video = Video.from_frames(clip, BASE_FPS)
    r = verbs.extend(engine, video, seconds=1.0, **FAST)
    assert np.array_equal(r.frames[:16], clip) and seen
    mask = np.zeros((128, 128), bool)
    mask[:64] = True
    r = verbs.inpaint(engine, video, mask, "a blue sky", **FAST)
    assert np.array_equal(r.frames[:, 64:], clip[:, 64:]) and r.settings["conditioning"] == "replacement"
    # the known region's latents follow the known content noised to each level: the same
    # request on the native path differs (held tokens are shown at level 0 there)
    assert r.settings["conditioning"] == "replacement"


def test_native_path_shows_held_tokens_at_level_zero(engine, clip):
    seen = []
    pipe = engine.pipe
    forward = pipe.transformer.forward
    pipe.transformer.forward = lambda x, t, *a, **k: (seen.append(t.clone()), forward(x, t, *a, **k))[1]
    try:
        verbs.extend(engine, Video.from_frames(clip, BASE_FPS), seconds=0.5, **FAST)
    finally:
        pipe.transformer.forward = forward
    t = seen[0]
    assert t.dim() == 2 and (t == 0).any() and (t > 0).any()


# --------------------------------------------------------------------------
# The command line: exit codes, no partial output, inputs never modified
# --------------------------------------------------------------------------

@pytest.fixture
def files(tmp_path, clip, monkeypatch):
    monkeypatch.setenv("TENKU_CONFIG", str(tmp_path / "config"))
    media.write_video(tmp_path / "in.mp4", clip, 8)
    Image.fromarray(clip[0]).save(tmp_path / "still.png")
    m = np.zeros((128, 128), np.uint8)
    m[32:96, 32:96] = 255
    Image.fromarray(m).save(tmp_path / "mask.png")
    (tmp_path / "junk.png").write_bytes(b"not an image")
    media.write_video(tmp_path / "short.mp4", clip[:1], 8)
    Image.new("RGB", (1, 1), "red").save(tmp_path / "dot.png")
    return tmp_path


def digest(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file()}


def run_cli(tiny_model, *args):
    return main([*args, "--model", str(tiny_model), "--steps", "2", "--dtype", "float32", "--quiet"])


@pytest.mark.parametrize("args", [
    ["animate", "--image", "{d}/still.png", "--prompt", "a red ball", "--seconds", "1", "--fps", "8"],
    ["extend", "--video", "{d}/in.mp4", "--seconds", "1", "--backward", "--fps", "24"],
    ["fill", "--video", "{d}/in.mp4", "--frames", "4-7,10-11"],
    ["fill", "--video", "{d}/in.mp4", "--auto"],
    ["bridge", "--from", "{d}/in.mp4", "--to", "{d}/in.mp4", "--seconds", "1"],
    ["remix", "--video", "{d}/in.mp4", "--prompt", "a blue ball", "--strength", "0.6"],
    ["inpaint", "--video", "{d}/in.mp4", "--mask", "{d}/mask.png", "--prompt", "a blue box"],
    ["generate", "--prompt", "a red ball", "--loop", "--seconds", "1", "--fps", "8"],
])
def test_cli_verbs_write_frames_and_a_sidecar(tiny_model, files, args):
    before = digest(files)
    out = files / "out"
    assert run_cli(tiny_model, *[a.format(d=files) for a in args], "--out", f"{out}/") == 0
    side = json.loads((out / "tenku.json").read_text())
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == side["frames"] == side["provenance"]["frame_count"] > 0
    assert digest(files) == before  # inputs untouched
    if args[0] == "extend":  # a continuation's own default: the motion is in the held frames
        assert side["settings"]["guidance"] == defaults.EXTEND_GUIDANCE
    elif args[0] == "remix":  # an edit's own default, and its method recorded
        assert side["settings"]["guidance"] == defaults.REMIX_GUIDANCE
        assert side["settings"]["remix_method"] == defaults.REMIX_METHOD
    elif "guidance" in side["settings"]:  # (a fill that found nothing ran no model)
        assert side["settings"]["guidance"] == defaults.GUIDANCE
    if "literal" in side["settings"]:  # between footage the prompt goes as written; elsewhere as read
        assert side["settings"]["literal"] is (args[0] in ("fill", "bridge"))


def test_cli_read_and_literal_flip_the_verbs_default(tiny_model, files):
    for verb, flag, literal in (("bridge", "--read", False), ("extend", "--literal", True)):
        out = files / f"out-{verb}"
        args = ["--from", f"{files}/in.mp4", "--to", f"{files}/in.mp4"] if verb == "bridge" else \
            ["--video", f"{files}/in.mp4"]
        assert run_cli(tiny_model, verb, *args, "--seconds", "1", flag, "--out", f"{out}/") == 0
        assert json.loads((out / "tenku.json").read_text())["settings"]["literal"] is literal


@pytest.mark.parametrize("args,needle", [
    (["extend", "--video", "{d}/missing.mp4", "--seconds", "1"], "does not exist"),
    (["extend", "--video", "{d}/junk.png", "--seconds", "1"], "not a readable video"),
    (["extend", "--video", "{d}/in.mp4"], "--seconds is required"),
    (["extend", "--video", "{d}/in.mp4", "--seconds", "0.01"], "seconds must be at least one frame"),
    (["fill", "--video", "{d}/in.mp4", "--frames", "10-20"], "outside the clip"),
    (["fill", "--video", "{d}/in.mp4", "--frames", "2-5,5-7"], "overlap"),
    (["fill", "--video", "{d}/in.mp4", "--frames", "x-y"], "not A-B"),
    (["fill", "--video", "{d}/short.mp4", "--frames", "0-0"], "at least one good frame"),
    (["inpaint", "--video", "{d}/in.mp4", "--mask", "{d}/junk.png", "--prompt", "x"], "not an image"),
    (["remix", "--video", "{d}/in.mp4", "--prompt", "x", "--strength", "0"], "strength must be in (0, 1]"),
    (["remix", "--video", "{d}/in.mp4", "--prompt", "x", "--strength", "1.01"], "strength must be in (0, 1]"),
    (["animate", "--image", "{d}/junk.png", "--prompt", "x"], "not a readable image"),
    (["bridge", "--from", "{d}/in.mp4", "--to", "{d}/in.mp4", "--seconds", "-1"], "seconds must be"),
    (["extend", "--video", "{d}/in.mp4", "--seconds", "1", "--out", "{d}/in.mp4"], "one of the inputs"),
    (["fill", "--video", "{d}/in.mp4", "--frames", "3-"], "not A-B"),  # once read as frame 3 alone
    (["animate", "--image", "{d}/still.png", "--prompt", "x", "--out", "/proc/x.mp4"], "is not writable"),
    (["animate", "--image", "{d}/still.png", "--prompt", "x", "--config", "{d}/still.png"], "--config"),
    (["animate", "--image", "{d}/dot.png", "--prompt", "x"], "at least 16 px a side"),
])
def test_cli_bad_input_one_line_exit_2_nothing_written(tiny_model, files, capsys, args, needle):
    before = digest(files)
    args = [a.format(d=files) for a in args]
    if "--out" not in args:
        args += ["--out", str(files / "x.mp4")]
    assert run_cli(tiny_model, *args) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1, err
    assert digest(files) == before and not (files / "x.mp4").exists()
    assert not [p for p in os.listdir(files) if p.startswith(".")]  # no temporary leftovers


def test_condition_strength_releases_the_condition(engine):
    still = np.random.default_rng(2).integers(0, 255, (128, 128, 3), dtype=np.uint8)
    make = lambda s: engine.generate(GenerateRequest("a red ball", frames=8, fps=BASE_FPS, seed=1, **FAST,
                                                     conditions=[ImageCondition(still, 0, strength=s)]))
    full, soft = make(1.0), make(0.5)
    assert np.array_equal(full.frames[0], still) and kinds(full)[0] == "camera"
    assert not np.array_equal(soft.frames[0], still) and kinds(soft)[0] == "generated"


def test_sampler_holds_a_weak_condition_until_its_level_then_releases_it():
    """A condition of strength 0.5 is shown at level min(sigma, 0.5) and reset to its content
    noised to that level until sigma falls to 0.5; after that the model alone moves it."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    from engine.sampling.conditioning import WindowKnowledge, build_latent_conditions
    from engine.sampling.sampler import sample

    shape = (1, 4, 2, 4, 4)
    known = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    noise = torch.randn(shape, generator=torch.Generator().manual_seed(2))
    win = WindowKnowledge.empty(2, 32, 32)
    win.place(np.zeros((1, 32, 32, 3), np.uint8), 0, strength=0.5)
    cond = build_latent_conditions(known, win, 1, 8, (1, 4, 4))
    assert torch.allclose(cond.token_level, torch.tensor([[0.5, 1.0]]))
    seen = []

    def still(x, t, text):  # zero velocity: whatever the sampler sets is what comes out
        seen.append(t.clone())
        return torch.zeros_like(x)

    sched = FlowMatchEulerDiscreteScheduler(shift=1.0)
    out = sample(still, sched, noise, None, None, steps=4, guidance=1.0, cond=cond)
    sigmas = sched.sigmas[:-1].tolist()
    assert [float(t[0, 0]) for t in seen] == pytest.approx([min(s, 0.5) for s in sigmas])
    released = next(s for s in sigmas if s <= 0.5)  # held at each level until then, free after
    assert torch.allclose(out[:, :, 0], (1 - released) * known[:, :, 0] + released * noise[:, :, 0], atol=1e-6)
    assert torch.equal(out[:, :, 1], noise[:, :, 1])
    cond.level = cond.token_level = None  # strength 1: held clean to the end
    assert torch.equal(sample(still, sched, noise, None, None, steps=4, guidance=1.0, cond=cond)[:, :, 0],
                       known[:, :, 0])


@pytest.fixture(scope="module")
def engine4(tmp_path_factory):
    """A tiny model whose VAE compresses time by 4 (clips of 1 + 4k frames, like LTX and Wan)."""
    from engine.families.pipeline import WorldPipeline
    from engine.models.dit import PRESETS, SpacetimeDiT
    from engine.models.vae import VideoVAE

    torch.manual_seed(0)
    dit = SpacetimeDiT(in_channels=4, **PRESETS["tiny"])
    for p in dit.parameters():
        torch.nn.init.normal_(p, std=0.02)
    path = tmp_path_factory.mktemp("models") / "tiny-t4"
    WorldPipeline(VideoVAE(latent_channels=4, channels=(16, 16, 16), temporal_ratio=4), dit,
                  {"num_train_timesteps": 1000, "shift": 2.0}).save_pretrained(path)
    return Engine(path, dtype="float32")


def test_a_still_is_laid_on_every_frame_of_its_token():
    from engine.sampling.conditioning import still_frames

    # latent frame 0 is frame 0 alone; a time patch of 2 pairs latent frames (0, 1), (2, 3), ...
    assert [list(still_frames(i, 17, 1, 2)) for i in (0, 1, 5, 16)] == [[0, 1], [0, 1], [4, 5], [16]]
    assert [list(still_frames(i, 17, 1, 1)) for i in (0, 5, 16)] == [[0], [5], [16]]  # "XS": unchanged
    assert [list(still_frames(i, 17, 4, 1)) for i in (0, 5, 16)] == [[0], [5, 6, 7, 8], [13, 14, 15, 16]]
    # latents (0, 1), (2, 3), (4, padding): frames 0 and 1-4, then 13-16 alone
    assert list(still_frames(0, 17, 4, 2)) == [0, 1, 2, 3, 4] and list(still_frames(16, 17, 4, 2)) == [13, 14, 15, 16]


@pytest.fixture(scope="module")
def engine_pt2(tmp_path_factory):
    """A tiny model whose tokens span two latent frames in time, as the "S2" preset's do."""
    from engine.families.pipeline import WorldPipeline
    from engine.models.dit import PRESETS, SpacetimeDiT
    from engine.models.vae import VideoVAE

    torch.manual_seed(0)
    dit = SpacetimeDiT(in_channels=4, **{**PRESETS["tiny"], "patch_size": (2, 4, 4)})
    for p in dit.parameters():
        torch.nn.init.normal_(p, std=0.02)
    path = tmp_path_factory.mktemp("models") / "tiny-pt2"
    WorldPipeline(VideoVAE(latent_channels=4, channels=(16, 16, 16)), dit,
                  {"num_train_timesteps": 1000, "shift": 2.0}).save_pretrained(path)
    return Engine(path, dtype="float32")


def test_a_still_fills_the_token_it_shares_so_it_is_held_clean(engine_pt2, monkeypatch):
    import engine.service as service

    still = np.random.default_rng(3).integers(0, 255, (128, 128, 3), dtype=np.uint8)
    seen = []
    real = service.build_latent_conditions
    monkeypatch.setattr(service, "build_latent_conditions", lambda *a: seen.append(real(*a)) or seen[-1])
    for at in (0, -1):
        r = engine_pt2.generate(GenerateRequest("a red ball", frames=9, fps=BASE_FPS, seed=1, **FAST,
                                                conditions=[ImageCondition(still, at)]))
        both = [0, 1] if at == 0 else [8]  # 9 frames: the last token is frame 8 and padding
        assert all(np.array_equal(r.frames[i], still) for i in both) and not np.array_equal(r.frames[4], still)
        assert [kinds(r)[i] for i in both] == ["camera"] * len(both) and kinds(r)[4] == "generated"
        tokens = seen[-1].token_clean.view(-1, 4, 4)  # (time, height, width) token grid of a 1:1 window
        assert tokens[0 if at == 0 else -1].all() and not tokens[1:-1].any()


def test_verbs_on_a_vae_that_compresses_time(engine4, clip):
    video = Video.from_frames(clip, BASE_FPS)
    for backward in (False, True):
        r = verbs.extend(engine4, video, seconds=3.0, backward=backward, **FAST)
        assert len(r.frames) == 40 and np.array_equal(r.frames[24:] if backward else r.frames[:16], clip)
    r = verbs.fill(engine4, video, [(0, 2), (6, 6), (10, 12)], method="generate", **FAST)
    keep = np.r_[3:6, 7:10, 13:16]
    assert np.array_equal(r.frames[keep], clip[keep]) and kinds(r)[0] == "generated"
    r = verbs.bridge(engine4, video, video, seconds=1.3, **FAST)
    assert len(r.frames) == 11 and np.array_equal(r.frames[0], clip[-1])
    r = engine4.generate(GenerateRequest("a red ball", seconds=3.0, fps=BASE_FPS, loop=True, **FAST))
    assert len(r.frames) == 24


# --------------------------------------------------------------------------
# The bundled model (skipped until it is in assets/models)
# --------------------------------------------------------------------------

BUNDLED_INDEX = Path(__file__).resolve().parent.parent / "assets/models/tenku-world/model_index.json"


@pytest.mark.skipif(not BUNDLED_INDEX.exists(),
                    reason="the bundled model is not in assets/models/tenku-world yet")
def test_every_verb_on_the_bundled_model(clip):
    from engine.families.pipeline import BUNDLED_MODEL

    engine = Engine(BUNDLED_MODEL, dtype="bfloat16")
    video = Video.from_frames(clip, BASE_FPS)
    kw = dict(steps=6, prompt="a big red ball rolls to the right in a grey studio")
    r = verbs.animate(engine, clip[0], kw["prompt"], seconds=1.0, fps=BASE_FPS, steps=6)
    assert np.array_equal(r.frames[0], clip[0]) and len(r.frames) == 8
    r = verbs.extend(engine, video, seconds=1.0, **kw)
    assert np.array_equal(r.frames[:16], clip) and len(r.frames) == 24
    r = verbs.fill(engine, video, [(6, 9)], method="generate", **kw)
    assert np.array_equal(r.frames[:6], clip[:6]) and np.array_equal(r.frames[10:], clip[10:])
    r = verbs.bridge(engine, Video.from_frames(clip[:4], BASE_FPS), Video.from_frames(clip[12:], BASE_FPS),
                     seconds=1.0, **kw)
    assert np.array_equal(r.frames[0], clip[3]) and np.array_equal(r.frames[-1], clip[12])
    r = verbs.remix(engine, video, "a big blue ball rolls to the right in a grey studio", strength=0.6, steps=6)
    assert r.frames.shape == clip.shape
    mask = np.zeros((128, 128), bool)
    mask[:, 64:] = True
    r = verbs.inpaint(engine, video, mask, kw["prompt"], steps=6)
    assert np.array_equal(r.frames[:, :, :64], clip[:, :, :64])
    r = engine.generate(GenerateRequest(kw["prompt"], seconds=2.0, fps=BASE_FPS, loop=True, steps=6))
    assert len(r.frames) == 16



def test_verbs_keep_the_footages_sound_under_its_own_frames(tiny_model, files, tmp_path):
    """fill, remix and inpaint keep the clip's span of time, so its sound stays; extend keeps it under the
    original frames (backward: after the new ones, which are silent). They used to drop it."""
    import av
    from conftest import REAL_DATA

    clip = tmp_path / "world.mp4"  # world footage (a world model draws into no other) with a camera clip's sound
    scene = Scene((Obj("green", "box", "big", "right", x0=0.2, y0=0.5),), "sky")
    media.write_video(str(clip), render(scene, 128, 128, 8.0, 32), 8.0,
                      audio_from=str(REAL_DATA / "clips" / "fire2.mp4"))

    def sound(path):
        with av.open(str(path)) as c:
            if not c.streams.audio:
                return None
            rate = c.streams.audio[0].rate
            x = np.concatenate([f.to_ndarray().mean(0) for f in c.decode(c.streams.audio[0])])
        return x, rate

    src, rate = sound(clip)
    fill = tmp_path / "fill.mp4"
    assert run_cli(tiny_model, "fill", "--video", str(clip), "--frames", "5-7", "--out", str(fill)) == 0
    x, _ = sound(fill)
    n = min(len(x), len(src)) // 2
    assert np.corrcoef(x[:n], src[:n])[0, 1] > 0.9  # the same sound, in sync (AAC re-encoded)
    back = tmp_path / "back.mp4"
    assert run_cli(tiny_model, "extend", "--video", str(clip), "--seconds", "1", "--backward", "--out", str(back)) == 0
    x, _ = sound(back)
    start = -json.loads((tmp_path / "back.mp4.json").read_text())["audio"]["start_seconds"]
    assert 0.9 < start < 1.2 and np.abs(x[:int(0.8 * rate)]).max() == 0  # the new second is silent
    assert np.sqrt((x[int((start + 0.2) * rate):] ** 2).mean()) > 0.5 * np.sqrt((src ** 2).mean())


# --------------------------------------------------------------------------
# Footage-safe fill (issue 31): a world model never paints its shapes into camera footage
# --------------------------------------------------------------------------

REAL_CLIPS = ["bikes", "carphone_pristine", "chaplin", "fire2"]
BUNDLED = Path(__file__).resolve().parent.parent / "assets" / "models" / "tenku-world"


def real_clip(name: str) -> Video:
    from conftest import REAL_DATA

    return media.read_video(REAL_DATA / "clips" / f"{name}.mp4")


def test_world_share_separates_the_worlds_footage_from_camera_footage():
    from conftest import REAL_DATA

    from engine.world.measure import WORLD_SHARE_MIN, is_world_footage, world_share
    from engine.world.scene import sample_scene

    world = [world_share(render(sample_scene(seed), w, h, 8.0, 9)) for seed in range(4)
             for w, h in ((128, 128), (256, 144), (144, 256))]
    bundled = Engine(BUNDLED, dtype="float32")  # what the bundled model makes is its world too
    made = bundled.generate(GenerateRequest("a small red ball rolls to the right on a sandy desert", seconds=1.0,
                                            fps=BASE_FPS, aspect="16:9", steps=12))
    world.append(world_share(made.frames))
    real = [world_share(real_clip(name).frames) for name in REAL_CLIPS]
    for folder in ("block", "low_frame_rate", "low_resolution"):
        real += [world_share(np.asarray(Image.open(p).convert("RGB"))[None])
                 for p in sorted((REAL_DATA / "interp" / folder).glob("*.png"))[::3]]
    assert min(world) >= 1.5 * WORLD_SHARE_MIN and max(real) <= WORLD_SHARE_MIN / 1.5, (world, real)
    assert is_world_footage(made.frames) and not is_world_footage(real_clip("bikes").frames)


def largest_blob(frame: np.ndarray, colour: str) -> int:
    """Pixels of the largest blob of a world object colour in one frame (engine.world.measure.object_mask)."""
    import cv2

    from engine.world.measure import object_mask

    n, _, stats, _ = cv2.connectedComponentsWithStats(object_mask(frame[None], colour)[0].astype(np.uint8))
    return int(stats[1:, cv2.CC_STAT_AREA].max()) if n > 1 else 0


@pytest.mark.parametrize("name,i", [("bikes", 100), ("carphone_pristine", 20)])
def test_the_bundled_model_fills_camera_footage_by_flow_without_painting_shapes(name, i):
    """The issue's case: frame 100 of bikes.mp4 came back as green, purple and yellow blobs. Flow confidence
    there is low (0.33; carphone frame 20: 0.83), so auto used to hand both frames to the model."""
    from engine.world.measure import psnr
    from engine.world.scene import COLOURS

    video = real_clip(name)
    engine = Engine(BUNDLED, dtype="float32")
    plan = verbs.plan_fill(engine, video, [(i, i)])
    assert [(g.start, g.end, g.how, g.warning) for g in plan] == [(i, i, "flow", True)]
    assert "draws only its own world of shapes; this clip is camera footage" in plan[0].why
    r = verbs.fill(engine, video, [(i, i)], **FAST)
    assert engine._pipe is None  # flow alone: the model was never loaded
    assert kinds(r)[i] == "interpolated" and r.record.range_at(i).details["method"] == "flow"
    assert r.settings["plan"][0]["how"] == "flow" and r.settings["world_share"] < 0.15
    ts = video.timestamps
    plain = resample(video.frames[[i - 1, i + 1]], ts[[i - 1, i + 1]], ts[i:i + 1])[0][0]
    assert psnr(r.frames[i], video.frames[i]) >= psnr(plain, video.frames[i]) - 3.0
    pixels = video.frames.shape[1] * video.frames.shape[2]
    for colour in COLOURS:  # no world-colour object the frame did not have
        assert largest_blob(r.frames[i], colour) <= largest_blob(video.frames[i], colour) + 0.002 * pixels, colour
    assert np.array_equal(np.delete(r.frames, i, 0), np.delete(video.frames, i, 0))


def test_generate_on_camera_footage_with_a_world_model_is_refused(engine, tiny_model, files, capsys):
    video = real_clip("carphone_pristine")
    with pytest.raises(verbs.CameraFootage, match="camera footage.*--method interpolate.*--model"):
        verbs.plan_fill(engine, video, [(20, 20)], "generate")
    with pytest.raises(InputError, match="camera footage"):
        verbs.fill(engine, video, [(20, 20)], method="generate", **FAST)
    from conftest import REAL_DATA

    before = digest(files)
    out = files / "x.mp4"
    assert run_cli(tiny_model, "fill", "--video", str(REAL_DATA / "clips" / "carphone_pristine.mp4"), "--frames",
                   "20", "--method", "generate", "--out", str(out)) == 2
    err = capsys.readouterr().err.strip()
    assert "camera footage" in err and "--method interpolate" in err and len(err.splitlines()) == 1, err
    assert digest(files) == before and not out.exists() and not Path(f"{out}.json").exists()


def test_a_world_clip_is_still_filled_by_the_model(engine, clip):
    video = Video.from_frames(clip, BASE_FPS)
    plan = verbs.plan_fill(engine, video, [(6, 7)], "generate")
    assert [(g.how, g.warning) for g in plan] == [("model", False)]
    r = verbs.fill(engine, video, [(6, 7)], method="generate", **FAST)
    assert kinds(r)[6:8] == ["generated"] * 2 and r.settings["plan"][0]["how"] == "model"
    assert r.settings["world_share"] >= 0.5
    # auto: the long gap, and the gap at the start flow cannot bridge, go to the model too
    plan = verbs.plan_fill(engine, video, [(0, 1), (5, 11)], "auto")
    assert [g.how for g in plan] == ["model", "model"]


def test_a_real_checkpoint_may_generate_in_camera_footage(tmp_path):
    """Any family but the world's draws any footage. Its folder is read, never loaded, to plan."""
    from engine.families import NEEDS

    folder = tmp_path / "ltx"
    for sub in NEEDS["ltx"]:
        (folder / sub).parent.mkdir(parents=True, exist_ok=True)
        (folder / sub).write_text("{}")
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "LTXPipeline"}))
    engine = Engine(folder, dtype="float32")
    video = real_clip("carphone_pristine")
    plan = verbs.plan_fill(engine, video, [(0, 1), (20, 20), (40, 59)], "generate")
    assert [g.how for g in plan] == ["model"] * 3
    assert [g.how for g in verbs.plan_fill(engine, video, [(0, 1), (40, 59)])] == ["model", "model"]


def test_interpolate_holds_the_ends_and_auto_holds_them_in_camera_footage(engine, clip):
    video = Video.from_frames(clip, BASE_FPS)
    r = verbs.fill(engine, video, [(0, 1), (8, 8), (14, 15)], method="interpolate", **FAST)
    assert [(g["how"], g["warning"]) for g in r.settings["plan"]] == [("hold", True), ("flow", False), ("hold", True)]
    assert np.array_equal(r.frames[0], clip[2]) and np.array_equal(r.frames[1], clip[2])
    assert np.array_equal(r.frames[15], clip[13]) and kinds(r)[:2] == ["interpolated"] * 2
    assert r.record.range_at(0).details == {"method": "hold", "frame": 2}
    assert r.record.range_at(8).details["method"] == "flow" and r.seconds == 0
    cam = real_clip("carphone_pristine")
    plan = verbs.plan_fill(engine, cam, [(0, 2), (119, 119)])
    assert [(g.how, g.warning) for g in plan] == [("hold", True), ("hold", True)]
    assert "frame 3 repeated" in plan[0].why and "camera footage" in plan[0].why


def test_cli_prints_the_plan_and_records_it(tiny_model, files, capsys):
    from conftest import REAL_DATA

    out = files / "flow.mp4"
    assert run_cli(tiny_model, "fill", "--video", str(REAL_DATA / "clips" / "carphone_pristine.mp4"), "--frames",
                   "20,40-49,80", "--out", str(out)) == 0
    err = capsys.readouterr().err  # --quiet: the warnings only (frame 80: a gap flow bridges anyway)
    assert "warning: gap 20-20: optical flow (this world model draws only its own world of shapes; this clip is " \
           "camera footage; flow confidence only 0.83; expect smearing)" in err, err
    assert "warning: gap 40-49: optical flow (" in err and "0.37 s is long for flow" in err and "gap 80" not in err
    side = json.loads(Path(f"{out}.json").read_text())
    assert [(g["how"], g["warning"]) for g in side["settings"]["plan"]] == [("flow", True), ("flow", True),
                                                                          ("flow", False)]
    assert side["provenance"]["ranges"][1]["details"]["method"] == "flow"


@pytest.mark.parametrize("source", ["in.mp4", "carphone_pristine.mp4"])
def test_cli_fill_auto_on_a_clean_clip_copies_it_byte_for_byte(tiny_model, files, capsys, source):
    from conftest import REAL_DATA

    src = files / source if source == "in.mp4" else REAL_DATA / "clips" / source
    out = files / "copy.mp4"
    assert run_cli(tiny_model, "fill", "--video", str(src), "--auto", "--out", str(out)) == 0
    assert out.read_bytes() == src.read_bytes()
    assert "copied the clip unchanged" in capsys.readouterr().err
    side = json.loads(Path(f"{out}.json").read_text())
    assert side["settings"]["changed"] is False and side["settings"]["plan"] == []
    assert "byte for byte" in side["unchanged"]
    assert side["frames"] == side["provenance"]["frame_count"] and side["provenance"]["ranges"][0]["kind"] == "camera"
