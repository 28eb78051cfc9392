"""The write path end to end (engine.cli.common): what gets watermarked, and verify on what it wrote."""
import json
import random

import numpy as np
import pytest
from PIL import Image

from engine.__main__ import main
from engine.video import media


@pytest.fixture
def files(tmp_path, monkeypatch):
    """A 2-second camera clip, a mask covering its centre, and a test signing folder."""
    from engine.world import render, sample_scene

    monkeypatch.setenv("TENKU_CONFIG", str(tmp_path / "config"))
    clip = render(sample_scene(random.Random(4)), 128, 128, 8, 16)
    media.write_video(tmp_path / "in.mp4", clip, 8)
    m = np.zeros((128, 128), np.uint8)
    m[32:96, 24:88] = 255
    Image.fromarray(m).save(tmp_path / "mask.png")
    return tmp_path


def run_cli(tiny_model, *args):
    return main([*args, "--model", str(tiny_model), "--steps", "2", "--dtype", "float32", "--quiet"])


@pytest.mark.parametrize("invert", [False, True])
def test_inpaint_watermarks_only_the_painted_region(tiny_model, files, invert):
    out = files / "out"
    args = ["inpaint", "--video", f"{files}/in.mp4", "--mask", f"{files}/mask.png", "--prompt", "a blue box"]
    assert run_cli(tiny_model, *args, *(["--invert"] if invert else []), "--out", f"{out}/") == 0
    painted = np.asarray(Image.open(files / "mask.png")) > 127
    painted = ~painted if invert else painted
    camera = media.read_video(files / "in.mp4").frames
    frames = np.stack([np.asarray(Image.open(p)) for p in sorted(out.glob("*.png"))])
    # camera pixels come out exactly as they went in: no watermark outside the painted region
    assert np.array_equal(frames[:, ~painted], camera[:, ~painted])
    side = json.loads((out / "tenku.json").read_text())["provenance"]
    assert side["watermark"]["scope"]["inpainted"].startswith("painted region only")
    assert all("watermark_region" in r.get("details", {}) for r in side["ranges"] if r["kind"] == "inpainted")


def test_generate_then_verify_checks_the_sidecar(tiny_model, files, capsys):
    out = files / "a.mp4"
    assert run_cli(tiny_model, "generate", "--prompt", "a red ball moves right", "--fps", "8", "--out", str(out)) == 0
    capsys.readouterr()
    assert main(["verify", str(out), "--config", str(files / "config")]) == 0
    text = capsys.readouterr().out
    assert "VERIFIED" in text and "matches the signed record" in text
    side = json.loads((files / "a.mp4.json").read_text())
    side["provenance"]["generations"][0]["seed"] = 12345
    (files / "a.mp4.json").write_text(json.dumps(side))
    assert main(["verify", str(out), "--config", str(files / "config")]) == 1
    assert "sidecar: MISMATCH" in capsys.readouterr().out
    # a trust file with no certificate in it, or a config folder that is not there, is a mistake said aloud
    (files / "notes.pem").write_text("my root\n")
    assert main(["verify", str(out), "--trust", str(files / "notes.pem")]) == 2
    assert "holds no PEM certificate" in capsys.readouterr().err
    assert main(["verify", str(out), "--config", str(files / "no-such-config")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_inpainted_mp4_verifies_and_says_what_was_marked(tiny_model, files, capsys):
    out = files / "p.mp4"
    assert run_cli(tiny_model, "inpaint", "--video", f"{files}/in.mp4", "--mask", f"{files}/mask.png",
                   "--prompt", "a blue box", "--out", str(out)) == 0
    capsys.readouterr()
    assert main(["verify", str(out), "--config", str(files / "config")]) == 0
    text = capsys.readouterr().out
    assert "watermarked inpainted frames: painted region only (4096 of 16384 pixels)" in text
    assert "(painted regions of inpainted frames)" in text and '"watermark_region": "1024 grid cells"' in text
    assert "matches the signed record" in text
