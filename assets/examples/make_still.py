"""Re-make the example still (a frame of the procedural world): `python assets/examples/make_still.py`."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from PIL import Image

from engine.world.render import render_frame
from engine.world.scene import Obj, Scene

scene = Scene((Obj("red", "ball", "big", "right", x0=0.3, y0=0.62),), background="desert", seed=7)
Image.fromarray(render_frame(scene, 0.0, 256, 144)).save(Path(__file__).with_name("desert-ball.png"))
