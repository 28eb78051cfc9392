"""Keyframes for scene shots: reading a member's motion, its path, and the clips that hold it."""
import numpy as np
import pytest

from engine.scenes.keyframes import (
    EDGE,
    KEY_SECONDS,
    key_frames,
    keyframe_conditions,
    member_words,
    paths,
    place,
    read_motion,
)
from engine.world.measure import colour_mask
from engine.world.scene import COLOURS, GROUND


@pytest.mark.parametrize("words, motion", [
    ("rolls to the right", ("right", "normal")),  # the world's own phrasing
    ("moves to the left", ("left", "normal")),  # not one of its phrasings: read by the stem
    ("drifts upward", ("up", "normal")),
    ("slowly sinks", ("down", "slowly")),
    ("bounces up and down", ("bounce", "normal")),  # the phrase, not "up" and "down"
    ("goes from left to right", ("right", "normal")),
    ("hops along quickly", ("bounce", "quickly")),
    ("stays still", ("still", "normal")),
    ("circles the centre", ("orbit", "normal")),
    ("gets bigger", ("grow", "normal")),
    ("moves left, then right", None),  # two motions: none
    ("rises and falls", None),
    ("is red", None),
    ("", None),
])
def test_read_motion(words, motion):
    assert read_motion(words) == motion


def test_member_words_reach_a_shared_verb():
    p = "{a} moves left while {b} stays still"
    assert read_motion(member_words(p, "a")) == ("left", "normal")
    assert read_motion(member_words(p, "b")) == ("still", "normal")
    assert read_motion(member_words("{ball} and {box} rest", "ball")) == ("still", "normal")
    assert read_motion(member_words("{a}, {b} and {c} bounce", "a")) == ("bounce", "normal")
    assert member_words("{a} rests", "nobody") == ""


def test_paths_follow_the_world_rates_and_stay_in_frame():
    half = 0.06
    right, left, up, still, bounce = paths([("right", "normal"), ("left", "slowly"), ("up", "normal"),
                                            ("still", "normal"), ("bounce", "normal")], [(half, half)] * 5, 2.0, 1.0)
    x0, x1 = right(0)[0], right(2.0)[0]
    assert x1 - x0 == pytest.approx(0.8) and x0 + x1 == pytest.approx(1.0)  # the world's 0.4/s, centred
    assert left(2.0)[0] - left(0)[0] == pytest.approx(-0.4)  # slowly: half
    assert up(1.0)[1] < up(0)[1]
    assert len({still(t) for t in (0, 0.5, 2.0)}) == 1
    assert len({right(0)[1], left(0)[1], up(0)[0]}) == 3  # each member on its own lane
    assert bounce(0)[1] == pytest.approx(GROUND - half) and bounce(1.0)[1] == pytest.approx(GROUND - half)
    assert bounce(0.5)[1] < bounce(0)[1] - 0.3
    (long,) = paths([("right", "quickly")], [(half, half)], 10.0, 1.0)  # 8 frame widths: it wraps
    xs = [long(t)[0] for t in np.linspace(0, 10, 81)]
    assert min(xs) >= half + EDGE - 1e-9 and max(xs) <= 1 - half - EDGE + 1e-9
    (grow,) = paths([("grow", "normal")], [(half, half)], 2.0, 1.0)
    assert grow(0)[2] == pytest.approx(0.7) and grow(2.0)[2] > 1.5


def test_key_frames_one_token_a_second_and_the_last():
    assert KEY_SECONDS == 1.0
    assert key_frames(16, 8.0, 1, 2) == [[0, 1], [8, 9], [14, 15]]
    assert key_frames(17, 8.0, 1, 2) == [[0, 1], [8, 9], [16]]
    assert key_frames(9, 8.0, 1, 1) == [[0], [8]]
    assert key_frames(33, 8.0, 1, 1) == [[0], [8], [16], [24], [32]]
    assert key_frames(1, 8.0, 1, 2) == [[0]]


def look(colour, side=16, at=(40, 40)):
    frame = np.full((128, 128, 3), 90, np.uint8)
    y, x = at
    frame[y:y + side, x:x + side] = COLOURS[colour]
    pixels = np.zeros((128, 128), bool)
    pixels[y:y + side, x:x + side] = True
    return frame, pixels


def centre(image, colour):
    ys, xs = np.nonzero(colour_mask(image[None], colour)[0])
    return xs.mean() / image.shape[1], ys.mean() / image.shape[0], len(xs)


def test_keyframe_conditions_hold_each_member_where_its_words_move_it():
    grey = np.full((128, 128, 3), 90, np.uint8)
    looks = [look("red"), look("blue", 12)]
    conds = keyframe_conditions(grey, looks, "{a} rolls to the right while {b} falls", ["a", "b"], 16, 8.0, 0.8, 1, 2)
    assert [(c.frame_index, len(c.frames), c.strength) for c in conds] == [(0, 2, 0.8), (8, 2, 0.8), (14, 2, 0.8)]
    red = [centre(f, "red") for c in conds for f in c.frames]
    blue = [centre(f, "blue") for c in conds for f in c.frames]
    assert all(n == 16 * 16 for *_, n in red) and all(n == 12 * 12 for *_, n in blue)  # whole, every frame
    assert [x for x, _, _ in red] == sorted(x for x, _, _ in red) and red[-1][0] - red[0][0] > 0.6
    assert [y for _, y, _ in blue] == sorted(y for _, y, _ in blue) and blue[-1][1] - blue[0][1] > 0.6
    assert keyframe_conditions(grey, looks, "{a} rolls to the right while {b} is blue", ["a", "b"], 16, 8.0, 0.8) \
        is None  # b's motion cannot be read: no keyframes at all


def test_place_scales_and_keeps_a_member_in_view():
    grey = np.full((128, 128, 3), 90, np.uint8)
    out = place(grey, [look("red", 20)], [(1.2, -0.3, 1.0)])  # asked for outside the frame: kept in
    ys, xs = np.nonzero(colour_mask(out[None], "red")[0])
    assert len(xs) == 400 and xs.max() <= 125 and ys.min() >= 2
    big = place(grey, [look("red", 20)], [(0.5, 0.5, 2.0)])
    assert colour_mask(big[None], "red")[0].sum() == pytest.approx(1600, rel=0.1)
