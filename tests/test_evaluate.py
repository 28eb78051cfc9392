"""The world benchmark's scoring, checked on the ground truth: a case's own scene, rendered,
must score perfectly, and the same clip played backwards must fail direction and permanence."""
import pytest

from engine.bench import world as ev
from engine.world import measure


@pytest.fixture(scope="module")
def cases():
    return ev.build_cases(n_direction=8, n_colour=4, n_permanence=4)


def test_truth_scores_perfectly(cases):
    report = ev.evaluate(None, cases, truth="render")
    assert report["cases"] == 16
    for key in ("colour_adherence", "dominant_colour", "background", "direction_accuracy", "permanence"):
        assert report[key] == 1.0, (key, [r for r in report["rows"] if r.get(key) is False])


def test_reversed_truth_fails_direction_and_permanence(cases):
    for case in cases:
        frames = ev.truth_frames(case)[::-1]
        obj = case.scene.objects[0]
        if case.kind == "direction":
            assert not ev.score_direction(frames, obj), case.prompt
        if case.kind == "permanence":
            assert not ev.score_permanence(frames, obj), case.prompt


def test_cases_are_fixed_by_their_seed(cases):
    again = ev.build_cases(n_direction=8, n_colour=4, n_permanence=4)
    assert [(c.prompt, c.seed, c.scene) for c in again] == [(c.prompt, c.seed, c.scene) for c in cases]
    wall = [c for c in cases if c.kind == "permanence"]
    assert all(c.scene.wall and c.scene.objects[0].motion in ("left", "right") for c in wall)


def test_unknown_truth_is_refused(cases):
    with pytest.raises(ValueError, match="truth must be one of"):
        ev.evaluate(None, cases[:1], truth="perfect")


def test_colour_score_counts_a_stray_colour(cases):
    case = next(c for c in cases if c.kind == "direction")
    frames = ev.truth_frames(case).copy()
    other = next(c for c in measure.COLOURS if c != case.scene.objects[0].colour)
    frames[:, :8, :8] = measure.COLOURS[other]  # 64 px of 16384: over the 0.2 % presence floor
    assert ev.score_colours(ev.truth_frames(case), case.scene)
    assert not ev.score_colours(frames, case.scene)


def test_training_combinations_leave_out_every_held_out_one():
    from engine.world.scene import HELD_OUT_COMBOS

    held = ev.build_cases(n_direction=24, n_colour=8, n_permanence=8)
    train = ev.build_cases(n_direction=24, n_colour=8, n_permanence=8, phrasing="train", combos="train")
    combo = lambda o: (o.colour, o.shape, o.motion)  # noqa: E731
    assert any(combo(c.scene.objects[0]) in HELD_OUT_COMBOS for c in held)
    assert not any(combo(o) in HELD_OUT_COMBOS for c in train for o in c.scene.objects)
    assert ev.evaluate(None, train[:4], truth="render")["direction_accuracy"] == 1.0
    with pytest.raises(ValueError, match="combos must be"):
        ev.build_cases(combos="seen")


def test_an_outline_fringe_is_not_an_object(cases):
    """A two-pixel ring of another colour round the object (a soft decoder's fringe) is not an
    unprompted object; a solid patch of the same number of pixels is."""
    case = next(c for c in cases if c.kind == "direction")
    frames = ev.truth_frames(case).copy()
    other = next(c for c in measure.COLOURS if c != case.scene.objects[0].colour)
    ring = frames.copy()
    ring[:, 20:60, 20:22] = ring[:, 20:60, 58:60] = measure.COLOURS[other]  # 160 px, 2 px wide
    assert ev.score_colours(ring, case.scene)
    frames[:, 20:33, 20:33] = measure.COLOURS[other]  # 169 px, solid
    assert not ev.score_colours(frames, case.scene)


def test_unplaceable_words_are_held_out_colour_words():
    from engine.world.captioner import COLOUR_WORDS

    held = {w[1:] for ws in COLOUR_WORDS.values() for w in ws if w.startswith("~")}
    words = ev.encoder_confusions()
    assert words <= held
    # a held-out word that contains its training colour word is always placeable
    assert "sunflower yellow" not in words and "flamingo pink" not in words
    for w in words:
        assert ev.confusing_words(f"A big {w} ball moves left.") == [w]
    assert ev.confusing_words("A big red ball moves left.") == []


def test_scoring_in_training_matches_the_engine(tiny_model):
    """score_transformer (batched, no Engine) makes the engine's clips: same seeds, noise and sampler."""
    from engine.service import Engine

    engine = Engine(tiny_model, dtype="float32")
    cases = ev.build_cases(n_direction=2, n_colour=1, n_permanence=1)
    ref = ev.evaluate(engine, cases, steps=3)
    got = ev.score_transformer(engine.pipe.transformer, engine.pipe.vae, cases, steps=3, batch=3, bf16=False)
    assert got["cases"] == 4
    assert got["flicker"] == pytest.approx(ref["flicker"], abs=1e-3)
    for key in ("colour_adherence", "dominant_colour", "background", "direction_accuracy", "permanence"):
        assert got[key] == ref[key], key
    other = ev.score_transformer(engine.pipe.transformer, engine.pipe.vae, cases, steps=3, guidance=1.0, bf16=False)
    assert other["flicker"] != pytest.approx(got["flicker"], abs=1e-3)  # the settings are used
