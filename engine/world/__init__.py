"""The procedural world of coloured shapes (contract: shared WORLD.md): scene sampler,
renderer, captioner and the measurements the evaluator makes on any video."""
from engine.world.captioner import caption
from engine.world.render import render, truth_track
from engine.world.scene import BACKGROUNDS, COLOURS, HELD_OUT_COMBOS, MOTIONS, SHAPES, Obj, Scene, sample_scene

__all__ = ["BACKGROUNDS", "COLOURS", "HELD_OUT_COMBOS", "MOTIONS", "SHAPES", "Obj", "Scene",
           "caption", "render", "sample_scene", "truth_track"]
