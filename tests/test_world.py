import random
import re

import numpy as np
import pytest

import engine.world.captioner as caption_mod
from engine.world import COLOURS, HELD_OUT_COMBOS, caption, measure, render, sample_scene, truth_track
from engine.world.scene import Obj, Scene


def held_phrases():
    out = set()
    for table in (caption_mod.COLOUR_WORDS, caption_mod.SHAPE_WORDS, caption_mod.SIZE_WORDS,
                  caption_mod.MOTION_WORDS, caption_mod.SPEED_WORDS, caption_mod.BACKGROUND_WORDS,
                  caption_mod.CAMERA_WORDS, {'w': caption_mod.WALL_WORDS, 'f': caption_mod.FRAMES}):
        for options in table.values():
            for o in options:
                for s in (o if isinstance(o, tuple) else (o,)):
                    if s.startswith("~"):
                        out.add(s[1:])
    return out


def test_same_seed_same_scene_caption_and_frames():
    a, b = sample_scene(7), sample_scene(7)
    assert a == b
    assert caption(a, 3) == caption(b, 3)
    assert np.array_equal(render(a, 128, 128, 8, 9), render(b, 128, 128, 8, 9))
    assert sample_scene(8) != a


@pytest.mark.parametrize("size", [(128, 128), (256, 144), (144, 256), (64, 32)])
def test_render_any_size_with_exact_object_colours(size):
    w, h = size
    scene = Scene((Obj("blue", "box", "big", "still", x0=0.5, y0=0.5),), "studio")
    frames = render(scene, w, h, 12.0, 5)
    assert frames.shape == (5, h, w, 3) and frames.dtype == np.uint8
    centre = frames[0, h // 2, w // 2]
    assert tuple(centre) == COLOURS["blue"]
    with pytest.raises(ValueError):
        render(scene, 100, 128)


def test_training_split_never_uses_held_out_combos_or_phrasings():
    rng = random.Random(0)
    held = held_phrases()
    for _ in range(400):
        s = sample_scene(rng)
        for o in s.objects:
            assert (o.colour, o.shape, o.motion) not in HELD_OUT_COMBOS
        text = caption(s, rng).lower()
        for phrase in held:
            assert not re.search(rf"\b{re.escape(phrase)}\b", text), (phrase, text)
    evals = [caption(sample_scene(i, split="eval"), i, split="eval") for i in range(50)]
    assert sum(any(re.search(rf"\b{re.escape(p)}\b", t.lower()) for p in held) for t in evals) > 25


def test_motion_meets_world_contract():
    for motion, axis, sign in (("right", 0, 1), ("left", 0, -1), ("down", 1, 1), ("up", 1, -1)):
        s = Scene((Obj("red", "ball", "small", motion, "slowly", 0.5, 0.5),), "studio")
        track = truth_track(s, 128, 128, 8.0, 17)[0]
        d = (track[-1, axis] - track[0, axis]) / 128
        assert sign * d >= 0.4, (motion, d)
        frames = render(s, 128, 128, 8.0, 17)
        assert measure.direction_of(measure.centroids(frames, "red"), 128, 128) == motion


def test_wall_hides_the_object_and_it_comes_out_unchanged():
    s = Scene((Obj("green", "ball", "small", "right", "normal", 0.2, 0.5),), "grass", wall=True)
    frames = render(s, 128, 128, 8.0, 17)
    cov = measure.coverage(frames, "green")
    assert cov.min() < 0.3 * cov.max()  # behind the pillar at some point
    assert abs(cov[0] - cov[-1]) < 0.2 * cov[0]  # same size before and after
    from engine.bench.world import score_permanence
    assert score_permanence(frames, s.objects[0])


def test_unseen_words_are_words_no_training_caption_has():
    from engine.world.captioner import training_words, unseen_words

    rng = random.Random(5)
    for i in range(300):  # every training caption is fully known
        assert unseen_words(caption(sample_scene(i), rng)) == []
    assert unseen_words("Two red balls bounce, cinematic, 35mm!") == ["two", "cinematic", "mm"]
    held = [caption(sample_scene(i, split="eval"), rng, split="eval") for i in range(50)]
    assert any(unseen_words(c) for c in held)  # held-out phrasings are unseen words
    assert "ruby" not in training_words() and "red" in training_words()


def test_rich_captions_add_wordings_and_keep_the_held_out_ones_out():
    from engine.world.captioner import RICH_WORDS, phrase_text, unseen_words

    held = held_phrases()
    rng = random.Random(2)
    rich = [caption(sample_scene(i), rng, rich=True) for i in range(400)]
    for text in rich:
        assert unseen_words(text, rich=True) == [], text  # every rich word is a training word of a rich model
        for phrase in held:
            assert not re.search(rf"\b{re.escape(phrase)}\b", text.lower()), (phrase, text)
    extra = {p for options in RICH_WORDS["motion"].values() for o in options for p in o}
    assert sum(any(f" {p} " in phrase_text(t) for p in extra) for t in rich) > 150  # they are drawn
    assert unseen_words("the red ball makes its way to the right") == ["makes", "its", "way"]
    assert unseen_words("the red ball makes its way to the right", rich=True) == []
    # no rich phrasing shares the leading word of a held-out phrasing of its motion
    for motion, options in caption_mod.MOTION_WORDS.items():
        lead = {o[0][1:].split()[0] for o in options if o[0].startswith("~")}
        assert not lead & {o[0].split()[0] for o in RICH_WORDS["motion"].get(motion, [])}, motion
    # plain captions, and every evaluation prompt, are the same with or without the rich tables
    for i in range(30):
        s = sample_scene(i, split="eval")
        assert caption(s, i, split="eval", rich=True) == caption(s, i, split="eval")
    assert caption(sample_scene(3), 3) != caption(sample_scene(3), 3, rich=True)
