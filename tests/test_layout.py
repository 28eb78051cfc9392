"""Layouts (engine.layout): the JSON form and its checks, the planner, rasterisation, the transformer's
layout input, and the command line's --layout / --plan-only / --no-plan."""
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import InputError
from engine.layout import Layout
from engine.layout.planner import draw, plan_scene, random_layout, scene_layout
from engine.layout.raster import cover, layout_arrays, null_arrays, stack
from engine.world.reading import Reading
from engine.world.render import render
from engine.world.scene import SIZES, sample_scene

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = {"background": "grass", "pillar": False, "camera": "static",
           "objects": [{"colour": "red", "shape": "ball", "size": "small",
                        "path": [[0.0, 0.1, 0.5], [1.0, 0.5, 0.2], [2.0, 0.9, 0.5]]}]}


# -- the JSON form ------------------------------------------------------------------------------

def test_layout_round_trip_and_linear_paths():
    lay = Layout.from_dict(EXAMPLE)
    again = Layout.from_dict(json.loads(json.dumps(lay.to_dict())))
    assert again.to_dict() == lay.to_dict() == {**EXAMPLE, "objects": [{**EXAMPLE["objects"][0]}]}
    x, y, s = lay.objects[0].at([0.5])[0]
    assert (x, y) == pytest.approx((0.3, 0.35)) and s == SIZES["small"]
    assert lay.objects[0].at([5.0])[0][:2] == pytest.approx((0.9, 0.5))  # holds after the last keyframe
    assert lay.seconds == 2.0


@pytest.mark.parametrize("change, words", [
    ({"colour": "teal"}, ["colour", "teal", "allowed", "red"]),
    ({"shape": "star"}, ["shape", "star", "allowed"]),
    ({"size": "huge"}, ["size", "huge", "small, big"]),
    ({"path": [[0.0, 0.1, 0.5]]}, ["at least two keyframes"]),
    ({"path": [[1.0, 0.1, 0.5], [0.5, 0.2, 0.5]]}, ["path[1]", "not after", "time order"]),
    ({"path": [[0.0, 0.1, 0.5], [1.0, 1.2, 0.5]]}, ["path[1]", "off the canvas", "0..1"]),
    ({"path": [[0.0, 0.1, 0.5], [1.0, "x", 0.5]]}, ["path[1]", "number"]),
])
def test_bad_object_fields_name_the_field_and_what_is_allowed(change, words):
    d = json.loads(json.dumps(EXAMPLE))
    d["objects"][0].update(change)
    with pytest.raises(InputError) as e:
        Layout.from_dict(d, where="shot.json")
    msg = str(e.value)
    assert msg.startswith("shot.json: objects[0]") and "\n" not in msg
    assert all(w in msg for w in words), msg


def test_bad_layout_fields():
    four = [{**EXAMPLE["objects"][0], "colour": c} for c in ("red", "blue", "green", "pink")]
    for d, words in (({**EXAMPLE, "objects": four}, ["4 objects", "at most 3"]),
                     ({**EXAMPLE, "background": "moon"}, ["background", "moon", "grass"]),
                     ({**EXAMPLE, "camera": "dolly"}, ["camera", "dolly", "pan_left"]),
                     ({**EXAMPLE, "pillar": "yes"}, ["pillar", "true or false"]),
                     ({**EXAMPLE, "speed": 2}, ["unknown field", "speed"]),
                     ([1, 2], ["JSON object"])):
        with pytest.raises(InputError) as e:
            Layout.from_dict(d)
        assert all(w in str(e.value) for w in words), str(e.value)


# -- the planner ------------------------------------------------------------------------------

def reading(*objects, background=None, wall=False, camera=None):
    return Reading(objects=[dict(o) for o in objects], background=background, wall=wall, camera=camera)


@pytest.mark.parametrize("motion, axis, sign", [("right", 0, 1), ("left", 0, -1), ("up", 1, -1), ("down", 1, 1)])
@pytest.mark.parametrize("size", [(128, 128), (256, 144), (144, 256)])
def test_planned_directions_follow_the_world(motion, axis, sign, size):
    for seed in range(6):
        lay = scene_layout(plan_scene(reading({"colour": "red", "shape": "ball", "motion": motion}), seed, 2.0, *size),
                           2.0, *size)
        start, end = lay.objects[0].at([0.0, 2.0])
        assert sign * (end[axis] - start[axis]) >= 0.4  # WORLD.md: at least 40% of the frame over the clip
        assert lay.objects[0].path[:, 1:3].min() >= 0 and lay.objects[0].path[:, 1:3].max() <= 1


def test_speed_words_scale_the_travel():
    def travel(speed):
        lay = scene_layout(plan_scene(reading({"colour": "red", "shape": "box", "motion": "right", "speed": speed}),
                                      3, 1.0, 128, 128), 1.0, 128, 128)
        return float(np.diff(lay.objects[0].at([0.0, 1.0])[:, 0])[0])

    assert travel("slowly") == pytest.approx(travel("normal") / 2, rel=0.02)
    assert travel("quickly") == pytest.approx(travel("normal") * 2, rel=0.02)


def test_planned_objects_start_apart_and_plans_are_seeded():
    objs = ({"colour": "red", "motion": "still"}, {"colour": "blue", "motion": "still"},
            {"colour": "green", "motion": "bounce"})
    for seed in range(20):
        lay = scene_layout(plan_scene(reading(*objs), seed, 2.0, 128, 128), 2.0, 128, 128)
        boxes = lay.arrays(128, 128, [0.0])["boxes"][:, 0]
        for i in range(3):
            for j in range(i + 1, 3):
                a, b = boxes[i], boxes[j]
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (seed, i, j)
    one = plan_scene(reading(*objs), 7, 2.0, 128, 128)
    assert plan_scene(reading(*objs), 7, 2.0, 128, 128) == one != plan_scene(reading(*objs), 8, 2.0, 128, 128)


def test_a_pillar_prompt_crosses_the_pillar_and_hides_the_object():
    for seed in range(8):
        for motion in ("right", "left"):
            for size in ("small", "big"):
                said = {"colour": "pink", "shape": "box", "size": size, "motion": motion}
                lay = scene_layout(plan_scene(reading(said, wall=True), seed, 2.0, 128, 128), 2.0, 128, 128)
                x0, x1 = lay.objects[0].at([0.0, 2.0])[:, 0]
                assert min(x0, x1) < 0.5 < max(x0, x1)
                vis = lay.arrays(128, 128, np.arange(17) / 8)["visible"][0]
                assert vis[0] == 1 and vis[-1] > 0.5  # whole at the start, seen again after the pillar...
                assert vis.min() < (0.05 if size == "small" else 0.5)  # ...hidden behind it (a big one in part)


def test_long_takes_are_planned_whole():
    lay = scene_layout(plan_scene(reading({"colour": "red", "shape": "ball", "motion": "right"}), 1, 60.0, 256, 144),
                       60.0, 256, 144)
    assert lay.seconds == pytest.approx(60.0)
    xs = lay.objects[0].at(np.arange(0, 60, 0.125))[:, 0]
    steps = np.diff(xs)
    assert (steps > 0).mean() > 0.9  # moving right all the way, wrapping round the world's edge now and then


def test_a_scene_layout_draws_what_the_world_renders():
    for seed in range(6):
        scene = sample_scene(seed, seconds=2.0)
        lay = scene_layout(scene, 2.0, 128, 128)
        ours = draw(lay, 128, 128, np.arange(16) / 8, seed=scene.seed)
        theirs = render(scene, 128, 128, 8.0, 16)
        assert (np.abs(ours.astype(int) - theirs).sum(-1) > 0).mean() < 0.01


def test_random_layouts_are_valid_layouts():
    rng = random.Random(0)
    for _ in range(50):
        lay = random_layout(rng, 1.875, 256, 144)
        assert Layout.from_dict(lay.to_dict()).to_dict() == lay.to_dict()
        assert len({o.colour for o in lay.objects}) == len(lay.objects)


# -- rasterisation and the transformer's input --------------------------------------------------------

def test_cover_on_a_tiny_grid():
    lay = Layout.from_dict({"background": "studio", "pillar": True, "objects": [
        {"colour": "blue", "shape": "box", "size": "big", "path": [[0.0, 0.25, 0.25, 0.5], [1.0, 0.5, 0.5, 0.5]]}]})
    amodal, visible, pillar, attrs, scene = cover(stack([layout_arrays(lay, 64, 64, [0.0, 1.0])]), 4, 4)
    assert amodal.shape == (1, 3, 2, 4, 4) and pillar.shape == (1, 1, 2, 4, 4)
    first = amodal[0, 0, 0]
    assert first[:2, :2].tolist() == [[1.0, 1.0], [1.0, 1.0]] and float(first.sum()) == pytest.approx(4.0)
    assert float(amodal[0, 1:].abs().sum()) == 0  # absent objects cover nothing
    # at t=1 the box spans 0.25..0.75; the pillar (0.43..0.57) hides its middle
    assert float(amodal[0, 0, 1].sum()) == pytest.approx(4.0)
    assert float(visible[0, 0, 1].sum()) == pytest.approx(4.0 * (1 - 0.14 / 0.5), rel=1e-4)
    assert float(pillar[0, 0, 1, 0].sum()) == pytest.approx(0.14 * 4, rel=1e-4)
    assert attrs[0, 0].tolist() == [4, 1, 1, 0] and attrs[0, 1].tolist() == [-1, -1, -1, -1]
    assert scene[0].tolist() == [0, 1, 0]


def tiny_dit(layout_dim=8):
    from engine.models.dit import PRESETS, SpacetimeDiT

    torch.manual_seed(0)
    dit = SpacetimeDiT(in_channels=4, **PRESETS["tiny"], layout_dim=layout_dim)
    return dit.eval()


def test_the_layout_input_starts_at_zero_and_then_matters():
    dit = tiny_dit()
    for p in (p for n, p in dit.named_parameters() if not n.startswith("layout.")):
        torch.nn.init.normal_(p, std=0.02)
    x = torch.randn(1, 4, 4, 8, 8)
    t = torch.full((1,), 0.7)
    text = (torch.randn(1, 5, 384), torch.ones(1, 5, dtype=torch.bool), torch.randn(1, 384))
    lay = Layout.from_dict(EXAMPLE)
    cond = cover(stack([layout_arrays(lay, 64, 64, np.arange(4) / 8)]), 8, 8)
    with torch.no_grad():
        plain = dit(x, t, *text)
        given = dit(x, t, *text, cond)
    assert torch.equal(plain, given)  # zero-initialised: a trained model is unchanged by the new input
    for p in dit.layout.parameters():
        torch.nn.init.normal_(p, std=0.02)
    with torch.no_grad():
        moved = dit(x, t, *text, cond)
        none = dit(x, t, *text, cover(stack([null_arrays(4)]), 8, 8))
    assert not torch.allclose(moved, plain) and not torch.allclose(moved, none)


def test_layout_dim_round_trips_through_save_and_load(tmp_path):
    from engine.models.dit import SpacetimeDiT

    dit = tiny_dit()
    dit.save_pretrained(tmp_path / "t")
    back = SpacetimeDiT.from_pretrained(tmp_path / "t")
    assert back.config.layout_dim == 8
    assert all(torch.equal(a, b) for a, b in zip(dit.state_dict().values(), back.state_dict().values()))


# -- the engine and the command line ---------------------------------------------------------------

@pytest.fixture(scope="module")
def layout_model(tmp_path_factory):
    """A tiny world model folder whose transformer takes layouts (random weights, fixed seed)."""
    from engine.families.pipeline import WorldPipeline
    from engine.models.vae import VideoVAE

    torch.manual_seed(0)
    vae = VideoVAE(latent_channels=4, channels=(16, 16, 16))
    dit = tiny_dit()
    for p in dit.parameters():
        torch.nn.init.normal_(p, std=0.02)
    path = tmp_path_factory.mktemp("models") / "tiny-layout"
    WorldPipeline(vae, dit, {"num_train_timesteps": 1000, "shift": 2.0}).save_pretrained(path)
    return path


def test_engine_renders_a_given_layout_and_records_it(layout_model):
    from engine.request import GenerateRequest
    from engine.service import Engine

    engine = Engine(layout_model, dtype="float32")
    assert engine.takes_layout
    lay = Layout.from_dict(EXAMPLE)
    result = engine.generate(GenerateRequest(prompt="", layout=lay, seconds=1.0, steps=2, fps=8))
    assert result.settings["layout"] == lay.to_dict() and result.settings["planned"].startswith("given: small red ball")
    plain = engine.generate(GenerateRequest(prompt="a red ball", seconds=1.0, steps=2, fps=8, plan=False))
    assert plain.settings["layout"] is None
    assert not np.array_equal(result.frames, plain.frames)


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=cwd, capture_output=True, text=True,
                          env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1",
                               "PYTHONPATH": str(ROOT)}, timeout=600)


def test_cli_layout_file_renders_and_bad_layouts_write_nothing(layout_model, tmp_path):
    good = tmp_path / "shot.json"
    good.write_text(json.dumps(EXAMPLE))
    out = tmp_path / "shot.mp4"
    r = cli("generate", "--layout", str(good), "--model", str(layout_model), "--steps", "2", "--out", str(out),
            "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    side = json.loads(Path(str(out) + ".json").read_text())["settings"]
    assert side["layout"]["objects"][0]["path"][-1] == [2.0, 0.9, 0.5] and side["seconds"] == 2.0
    bad = tmp_path / "bad.json"
    for content, words in ((json.dumps({**EXAMPLE, "objects": [{**EXAMPLE["objects"][0], "colour": "teal"}]}),
                            "colour 'teal' is unknown"), ("{not json", "not valid JSON"),
                           ("[" * 100000 + "]" * 100000, "nested more than")):
        bad.write_text(content)
        r = cli("generate", "--layout", str(bad), "--model", str(layout_model), "--out", str(tmp_path / "b.mp4"),
                cwd=tmp_path)
        assert r.returncode == 2 and words in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert not (tmp_path / "b.mp4").exists() and not (tmp_path / "b.mp4.json").exists()


def test_cli_plan_only_writes_the_layout_and_an_animatic(tmp_path):
    out = tmp_path / "plan.mp4"
    r = cli("generate", "--prompt", "a big blue box moves left on a sandy desert", "--plan-only", "--seed", "4",
            "--aspect", "16:9", "--out", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "planned: big blue box, left" in r.stderr
    lay = Layout.from_dict(json.loads(Path(str(out) + ".layout.json").read_text()))
    assert lay.background == "desert" and lay.objects[0].colour == "blue"
    from engine.video import media

    video = media.read_video(str(out))
    assert video.frames.shape[1:3] == (144, 256) and len(video) == 48
    blue = np.array([0x28, 0x50, 0xDC])
    xs = [np.nonzero((np.abs(f.astype(int) - blue).sum(-1) < 60).any(0))[0].mean() for f in video.frames[[0, -1]]]
    assert xs[1] < xs[0] - 0.3 * 256  # the animatic's box moves left


def test_cli_refuses_layouts_for_models_without_a_layout_input(tiny_model, tmp_path):
    good = tmp_path / "shot.json"
    good.write_text(json.dumps(EXAMPLE))
    r = cli("generate", "--layout", str(good), "--model", str(tiny_model), "--out", str(tmp_path / "x.mp4"),
            cwd=tmp_path)
    assert r.returncode == 2 and "has no layout input" in r.stderr and not (tmp_path / "x.mp4").exists()


def test_the_bundled_model_draws_a_hand_written_layout_where_it_says():
    """The shipped model renders a layout: the object's centre stays within a few pixels of its path (a straight
    line and a V it was never trained on as words), where the prompt alone puts it far from it."""
    from engine.service import Engine, GenerateRequest
    from engine.world import measure

    engine = Engine(dtype="float32")
    assert engine.takes_layout
    for colour, path in (("red", [[0.0, 0.2, 0.5], [2.0, 0.8, 0.5]]),
                         ("blue", [[0.0, 0.8, 0.25], [1.0, 0.5, 0.75], [2.0, 0.2, 0.3]])):
        lay = Layout.from_dict({"background": "studio", "objects": [{"colour": colour, "shape": "ball", "size": "big",
                                                                     "path": path}]})
        frames = engine.generate(GenerateRequest(prompt="", layout=lay, seconds=2.0, fps=8, steps=12)).frames
        H, W = frames.shape[1:3]
        want = lay.objects[0].at(np.arange(len(frames)) / 8)[:, :2] * [W, H]
        found = measure.centroids(frames, colour)
        assert np.mean(~np.isnan(found[:, 0])) >= 0.9
        assert np.nanmedian(np.linalg.norm(found - want, axis=1)) < 0.05 * W  # 6 px at 128
        text = engine.generate(GenerateRequest(prompt=f"a big {colour} ball", seconds=2.0, fps=8, steps=12,
                                               plan=False)).frames
        unled = np.linalg.norm(measure.centroids(text, colour) - want, axis=1)
        assert np.isnan(unled).all() or np.nanmedian(unled) > 0.1 * W  # without the layout it is elsewhere


# -- directed motion (engine.layout.direct) --------------------------------------------------------------
DIRECTED = {"background": "grass", "pillar": False, "camera": "pan_left",
            "objects": [{"colour": "red", "shape": "ball", "size": "small",
                         "points": [[0.1, 0.5], [0.5, 0.2], [0.9, 0.5]], "start": 0.5, "end": 1.5,
                         "easing": "linear"}]}


def test_directed_motion_holds_then_travels_its_path_at_the_speed_its_easing_says():
    from engine.layout.direct import to_layout

    lay = to_layout(DIRECTED, 2.0)
    red = lay.objects[0]
    assert lay.camera == "pan_left" and lay.background == "grass"
    np.testing.assert_allclose(red.at([0.0, 0.5, 1.0, 1.5, 2.0])[:, :2],
                               [[0.1, 0.5], [0.1, 0.5], [0.5, 0.2], [0.9, 0.5], [0.9, 0.5]], atol=1e-6)
    eased = to_layout({**DIRECTED, "objects": [{**DIRECTED["objects"][0], "easing": "ease-in"}]}, 2.0).objects[0]
    # ease-in: a quarter of the time covers a sixteenth of the path, the end is the same
    lin, slow = red.at([0.75])[0, :2], eased.at([0.75])[0, :2]
    assert np.hypot(*(slow - [0.1, 0.5])) < 0.3 * np.hypot(*(lin - [0.1, 0.5]))
    np.testing.assert_allclose(eased.at([1.5, 2.0])[:, :2], [[0.9, 0.5]] * 2, atol=1e-6)
    Layout.from_dict(lay.to_dict())  # what a sidecar records is a valid layout


def test_planned_layouts_round_trip_through_the_editing_form():
    """A plan shown for editing keeps its objects, its ends and its shape (corners kept, at most EDIT_POINTS
    points); straight motions keep their timing too (constant speed, or the easing closest to a fall's)."""
    from engine.layout.direct import EDIT_POINTS, _distance, from_layout, to_layout

    times = np.linspace(0, 2.0, 33)
    for k in range(24):
        scene = sample_scene(random.Random(k))
        lay = scene_layout(scene, 2.0, 256, 144)
        form = from_layout(lay, 2.0)
        back = to_layout(form, 2.0)
        for obj, a, b, o in zip(scene.objects, lay.objects, back.objects, form["objects"]):
            assert (a.colour, a.shape, a.size) == (b.colour, b.shape, b.size) and len(o["points"]) <= EDIT_POINTS
            # an object the world wraps round the frame stops at its edge: the ends are the start and there
            np.testing.assert_allclose(a.at([0.0, o["end"]])[:, :2], b.at([0.0, o["end"]])[:, :2], atol=0.01)
            pa = a.path[:, 1:3]
            for p in b.at(times)[:, :2]:  # every edited position lies on the planned path
                assert min(_distance(p, pa[i], pa[i + 1]) for i in range(len(pa) - 1)) < 0.02, (k, obj.motion)
            wraps = np.abs(np.diff(pa, axis=0)).max() > 0.3
            if obj.motion in ("left", "right", "up", "down") and scene.camera == "static" and not wraps:
                np.testing.assert_allclose(a.at(times)[:, :2], b.at(times)[:, :2], atol=0.02)


@pytest.mark.parametrize("change, words", [
    ({"points": [[0.1, 0.5]]}, "at least two points"),
    ({"points": [[0.1, 0.5], [1.3, 0.5]]}, "point 2 (1.3, 0.5) is off the canvas"),
    ({"points": [[0.1, 0.5], ["a", 0.5]]}, "point 2 must be [x, y]"),
    ({"start": 1.5, "end": 1.0}, "must stop after it starts"),
    ({"end": 3.0}, "within the shot's 0..2 s"),
    ({"easing": "bouncy"}, "allowed: linear, ease-in, ease-out, ease-in-out"),
    ({"colour": "mauve"}, "colour 'mauve' is unknown"),
])
def test_bad_directed_motion_names_the_object_and_what_is_allowed(change, words):
    from engine.layout.direct import to_layout

    with pytest.raises(InputError, match="object 1") as e:
        to_layout({**DIRECTED, "objects": [{**DIRECTED["objects"][0], **change}]}, 2.0)
    assert words in str(e.value)
    with pytest.raises(InputError, match="at most 3"):
        to_layout({**DIRECTED, "objects": DIRECTED["objects"] * 4}, 2.0)
    with pytest.raises(InputError, match="no objects"):
        to_layout({**DIRECTED, "objects": []}, 2.0)


def test_directed_motion_follows_an_edit_of_its_shot():
    from engine.layout.direct import conform

    plan = Layout.from_dict({**EXAMPLE, "objects": [{**EXAMPLE["objects"][0], "colour": "blue", "shape": "box"}]})
    kept = conform(DIRECTED, plan, 2.0, 4.0)
    o = kept["objects"][0]
    assert (o["colour"], o["shape"], o["start"], o["end"]) == ("blue", "box", 1.0, 3.0)
    assert o["points"] == DIRECTED["objects"][0]["points"] and kept["camera"] == "pan_left"
    two = Layout.from_dict({**EXAMPLE, "objects": EXAMPLE["objects"] * 2})
    assert conform(DIRECTED, two, 2.0, 2.0) is None  # other objects now: the plan takes over


# -- verbs through layouts (engine.layout.track, engine.verbs) --------------------------------------------

def test_tracking_world_footage_gives_its_layout_back():
    from engine.layout.track import track
    from engine.world.scene import Obj, Scene

    scene = Scene((Obj("blue", "box", "big", "right", x0=0.25, y0=0.4), Obj("yellow", "ball", "small", "down",
                                                                            x0=0.7, y0=0.2)), "grass", wall=True)
    frames = render(scene, 256, 144, 8.0, 12)
    times = np.arange(12) / 8.0
    lay = track(frames, times)
    truth = scene_layout(scene, 1.5, 256, 144)
    assert lay.background == "grass" and lay.pillar and len(lay.objects) == 2
    got = {o.colour: o for o in lay.objects}
    for want in truth.objects:
        o = got[want.colour]
        assert (o.shape, o.size) == (want.shape, want.size)
        seen = o.path[:, 0]  # where the object is seen (not behind the pillar)
        assert np.abs(o.at(seen)[:, :2] - want.at(seen)[:, :2]).max() < 0.03
    assert track(np.full((4, 64, 64, 3), 127, np.uint8), np.arange(4) / 8.0) is None  # nothing to track


def test_tracks_are_continued_past_the_footage_and_joined_across_a_gap():
    from engine.layout.track import extend_tracks, looping

    path = np.array([[0.0, 0.2, 0.5, 0.12], [0.125, 0.25, 0.5, 0.12], [0.25, 0.3, 0.5, 0.12],
                     [0.75, 0.5, 0.6, 0.12], [0.875, 0.55, 0.6, 0.12], [1.0, 0.6, 0.6, 0.12],
                     [1.125, 0.65, 0.6, 0.12]])
    from engine.layout import Track

    lay = Layout([Track("red", "ball", "small", path)], "studio")
    grid = np.arange(25) / 8.0
    out = extend_tracks(lay, grid).objects[0]
    np.testing.assert_allclose(out.at([0.5])[0, :2], [0.4, 0.55], atol=1e-6)  # joined in a straight line
    np.testing.assert_allclose(out.at([1.5])[0, :2], [0.8, 0.6], atol=1e-6)  # continued at its last speed
    assert out.at([3.0])[0, 0] == 1.0  # kept on the canvas
    loop = looping(lay, 2.0).objects[0]
    np.testing.assert_allclose(loop.at([0.0])[0], loop.at([2.0])[0])  # a loop ends where it starts
    np.testing.assert_allclose(loop.at([0.5])[0], loop.at([1.5])[0])


def test_verbs_render_world_footage_through_its_tracks(layout_model, tmp_path):
    """extend, fill and remix on world footage with a model that takes layouts: the tracks are what it renders
    (recorded, and said); a remix's prompt recasts the tracked object's colour and keeps its path."""
    import shutil

    from engine import verbs
    from engine.families.pipeline import BUNDLED_MODEL
    from engine.service import Engine
    from engine.video.media import Video
    from engine.world.scene import Obj, Scene

    model = tmp_path / "tiny-layout-reader"  # the prompt reader reads the remix's prompt
    shutil.copytree(layout_model, model)
    shutil.copytree(BUNDLED_MODEL / "reader", model / "reader")
    engine = Engine(model, dtype="float32")
    scene = Scene((Obj("red", "ball", "big", "right", speed="slowly", x0=0.2, y0=0.5),), "studio")
    video = Video.from_frames(render(scene, 128, 128, 8.0, 16), 8.0)
    fast = dict(steps=2, guidance=3.0)
    r = verbs.extend(engine, video, seconds=1.0, **fast)
    assert r.settings["tracks"].startswith("tracked: big red ball, right") and r.settings["layout"]
    follows = Layout.from_dict(r.settings["layout"]).objects[0]
    assert follows.at([follows.path[-1, 0]])[0, 0] > follows.at([0.0])[0, 0] + 0.15  # continued to the right
    r = verbs.fill(engine, video, [(6, 9)], method="generate", **fast)
    assert r.settings["tracks"].startswith("tracked: big red ball")
    r = verbs.remix(engine, video, "a big blue ball rolls to the right", strength=0.6, **fast)
    recast = Layout.from_dict(r.settings["layout"]).objects[0]
    assert recast.colour == "blue" and r.settings["tracks"].startswith("tracked: big blue ball, right")
    # the recast ball is repainted along its track, and every pixel away from it is the input's
    assert r.settings["remix_method"] == "tracks" and 0 < r.settings["pixels"] < 128 * 128 // 2
    assert np.array_equal(r.frames[:, :24], video.frames[:, :24]) and np.array_equal(r.frames[:, -24:],
                                                                                       video.frames[:, -24:])
    assert not np.array_equal(r.frames[:, 48:80], video.frames[:, 48:80])
    assert {x.kind for x in r.record.ranges} == {"inpainted"}
    # the studio keeps the way it went in the take, and the take's card says it
    from types import SimpleNamespace

    from studio.cards import take_html
    from studio.jobs import _path_taken

    said = _path_taken(r)
    assert said == {"tracks": r.settings["tracks"], "remix_method": "tracks"}
    take = {"id": "t1", "kind": "remix", "frames": 16, "cancelled": False, "path": "t1.mp4",
            "settings": {"seed": 0, "steps": 2, **said}}
    assert "tracked: big blue ball, right" in take_html(SimpleNamespace(store=SimpleNamespace(path=Path)), 1, take,
                                                         False)
    # a new background is everywhere: the recast tracks rendered afresh; a prompt that recasts nothing is a flowedit
    r = verbs.remix(engine, video, "a big red ball rolls to the right across the grass", strength=0.6, **fast)
    assert r.settings["remix_method"] == "tracks" and Layout.from_dict(r.settings["layout"]).background == "grass"
    assert not np.array_equal(r.frames[:, :24], video.frames[:, :24])
    r = verbs.remix(engine, video, "a big red ball rolls to the right", strength=0.6, **fast)
    assert r.settings["remix_method"] == "flowedit" and "pixels" not in r.settings


def test_animate_moves_the_stills_object_and_refuses_a_still_with_none(layout_model, tmp_path):
    """A still's object is what animate moves: the plan's motion from where the still has it; a world still with
    no object to move is refused with the reason (the command line: one line, exit status 2)."""
    import shutil

    from engine import verbs
    from engine.families.pipeline import BUNDLED_MODEL
    from engine.service import Engine
    from engine.world.scene import Obj, Scene

    model = tmp_path / "tiny-layout-reader"
    shutil.copytree(layout_model, model)
    shutil.copytree(BUNDLED_MODEL / "reader", model / "reader")
    engine = Engine(model, dtype="float32")
    still = render(Scene((Obj("green", "box", "big", "still", x0=0.3, y0=0.6),), "desert"), 128, 128, 8.0, 1)[0]
    r = verbs.animate(engine, still, "a big green box slides to the right", seconds=2.0, fps=8, steps=2)
    lay = Layout.from_dict(r.settings["layout"])
    start, end = lay.objects[0].at([0.0, lay.seconds])[:, :2]
    np.testing.assert_allclose(start, [0.3, 0.6], atol=0.02)  # from where the still has it
    assert end[0] > start[0] + 0.3 and r.settings["tracks"].startswith("tracked: big green box, right")
    from engine.world.render import BG

    empty = np.full((128, 128, 3), BG["desert"], np.uint8)  # the world's desert with nothing in it
    with pytest.raises(InputError, match="found no object in the still"):
        verbs.animate(engine, empty, "a big green box slides to the right", steps=2)


def test_verb_benchmark_scores_every_verb_and_remixes_through_tracks(layout_model, tmp_path):
    """`evaluate --verbs` on a tiny layout model: every figure is reported, and its remixes (another colour,
    another background) take the footage's tracks."""
    import shutil

    from engine.bench.verbs import evaluate_verbs
    from engine.families.pipeline import BUNDLED_MODEL
    from engine.service import Engine

    model = tmp_path / "tiny-layout-reader"
    shutil.copytree(layout_model, model)
    shutil.copytree(BUNDLED_MODEL / "reader", model / "reader")
    report = evaluate_verbs(Engine(model, dtype="float32"), n=1, steps_=1)
    for key in ("held_psnr_min", "fill_track", "extend_seam_ok", "bridge_seam_ok", "loop_seam_ok", "remix_both",
                "remix_background"):
        assert 0 <= report[key] <= 1 or key == "held_psnr_min", key
    row = report["rows"][0]
    assert row["remix_path"] == "tracks" and row["remix_prompt"] != row["remix_background_prompt"]
    assert report["held_psnr_min"] > 20  # the held frames are the input's
