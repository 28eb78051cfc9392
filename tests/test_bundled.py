"""The bundled model, loaded as a user gets it, checked with the project's own evaluator.

Phrasings written for this test (not drawn from the captioner). What is asserted is what the
committed model does reliably; the full adherence figures (colour, direction, permanence on
held-out prompts) come from `python -m engine evaluate` and are in docs/BENCHMARKS.md.
"""
import numpy as np
import pytest

from engine.families.pipeline import BUNDLED_MODEL
from engine.request import BASE_FPS, GenerateRequest
from engine.service import Engine
from engine.world import measure

CASES = [
    ("A large blue square falls down at night.", "blue", "night"),
    ("A large green circle moves left on the grass.", "green", "grass"),
]


@pytest.fixture(scope="module")
def engine():
    assert (BUNDLED_MODEL / "model_index.json").exists(), "the bundled model is missing from assets/models"
    return Engine(BUNDLED_MODEL)


@pytest.mark.parametrize("prompt,colour,background", CASES)
def test_bundled_model_follows_colour_and_background(engine, prompt, colour, background):
    frames = engine.generate(GenerateRequest(prompt=prompt, seed=0, fps=BASE_FPS)).frames
    assert frames.shape == (16, 128, 128, 3)
    assert measure.dominant_colour(frames) == colour
    assert measure.background_distance(frames, background) < measure.COLOUR_DISTANCE
    assert measure.flicker(frames) > 0.05  # it moves, not a still


def test_bundled_model_is_deterministic(engine):
    req = GenerateRequest(prompt=CASES[0][0], seed=3, fps=BASE_FPS, steps=6)
    assert np.array_equal(engine.generate(req).frames, engine.generate(req).frames)
