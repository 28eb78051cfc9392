import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.defaults import REAL_FOOTAGE_VARIABLE, real_footage  # noqa: E402 (after the path)

REAL_DATA = real_footage(os.environ.get(REAL_FOOTAGE_VARIABLE))  # the shared real footage


@pytest.fixture()
def store(tmp_path):
    """An empty studio projects folder (studio.project.Store) for tests without a server."""
    from studio.project import Store

    s = Store(tmp_path / "projects")
    yield s
    s.close()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A tiny model folder built from config with fixed seeds (random weights, real layout)."""
    import torch

    from engine.families.pipeline import WorldPipeline
    from engine.models.dit import PRESETS, SpacetimeDiT
    from engine.models.vae import VideoVAE

    torch.manual_seed(0)
    vae = VideoVAE(latent_channels=4, channels=(16, 16, 16))
    dit = SpacetimeDiT(in_channels=4, **PRESETS["tiny"])
    for p in dit.parameters():  # leave adaLN-Zero's zeros behind so outputs depend on every input
        torch.nn.init.normal_(p, std=0.02)
    path = tmp_path_factory.mktemp("models") / "tiny-world"
    WorldPipeline(vae, dit, {"num_train_timesteps": 1000, "shift": 2.0}).save_pretrained(path)
    return path


def broken_audio_clip(path, seconds: float = 2.0, fps: int = 8, size: int = 64) -> Path:
    """A clip whose picture is fine and whose audio stream is not: made by ffmpeg (test pattern and a
    tone, H.264 and AAC), then every audio packet's bytes overwritten with noise in place."""
    import subprocess

    import av
    import imageio_ffmpeg
    import numpy as np

    path = Path(path)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error",
                    "-f", "lavfi", "-i", f"testsrc=size={size}x{size}:rate={fps}:duration={seconds}",
                    "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)], check=True)
    with av.open(str(path)) as c:
        packets = [(p.pos, p.size) for p in c.demux(c.streams.audio[0]) if p.size]
    data = bytearray(path.read_bytes())
    noise = np.random.default_rng(0)
    for pos, n in packets:
        data[pos:pos + n] = noise.integers(0, 256, n, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path
