"""torch.compile for the transformer (engine.sampling.compiled): the same frames as the plain module, the
graph kept in the disk cache named, and a machine that cannot compile renders as before and says why."""
import numpy as np
import torch

from engine.request import GenerateRequest
from engine.service import Engine


def render(engine):
    req = GenerateRequest(prompt="a red ball rolls to the right", seconds=0.5, steps=2, seed=3, fps=8)
    return engine.generate(req)


def test_compiled_render_matches_the_plain_module(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "cache"))
    plain = render(Engine(tiny_model, dtype="float32"))
    engine = Engine(tiny_model, dtype="float32", compile=True)
    res = render(engine)
    assert engine.compiled and res.settings["compiled"] is True and plain.settings["compiled"] is False
    assert np.abs(res.frames.astype(int) - plain.frames.astype(int)).max() <= 2
    assert any((tmp_path / "cache").rglob("*")), "nothing was written to the compile cache"


def test_a_failed_compile_renders_as_before_and_says_why(tiny_model, monkeypatch, capsys):
    def broken(module, **kw):
        def call(*a, **k):
            raise RuntimeError("no C++ compiler found")
        return call

    monkeypatch.setattr(torch, "compile", broken)
    plain = render(Engine(tiny_model, dtype="float32"))
    engine = Engine(tiny_model, dtype="float32", compile=True)
    res = render(engine)
    assert not engine.compiled and res.settings["compiled"] is False
    assert np.array_equal(res.frames, plain.frames)
    err = capsys.readouterr().err
    assert err.count("torch.compile failed (RuntimeError: no C++ compiler found)") == 1
