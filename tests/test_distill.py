"""Guidance distillation (engine.training.distill, issue 30 item 2): a transformer with a guidance input that
starts as its teacher, learns the teacher's guided velocity, and renders with one model call a guided step
where the engine's sampler is "auto" or "distilled"; "full" and models without one keep two calls."""
import json
import shutil

import pytest
import torch
from diffusers import FlowMatchEulerDiscreteScheduler

from engine.__main__ import main
from engine.errors import InputError
from engine.models.dit import GUIDED, PRESETS, SpacetimeDiT
from engine.request import GenerateRequest
from engine.sampling.sampler import sample
from engine.service import Engine
from engine.training import distill
from engine.training.train import save_checkpoint


def tiny_teacher(seed: int = 0) -> SpacetimeDiT:
    torch.manual_seed(seed)
    model = SpacetimeDiT(in_channels=4, **PRESETS["tiny"])
    for p in model.parameters():  # past adaLN-Zero's zeros, so the prompt changes the velocity
        torch.nn.init.normal_(p, std=0.05)
    return model.eval().requires_grad_(False)


def inputs(batch: int = 2, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, 4, 5, 8, 8, generator=g), torch.rand(batch, generator=g),
            torch.randn(batch, 5, 384, generator=g), torch.ones(batch, 5, dtype=torch.bool),
            torch.randn(batch, 384, generator=g))


@torch.no_grad()
def test_the_student_starts_as_its_teacher_and_stays_it_at_guidance_one():
    teacher = tiny_teacher()
    student = distill.student_from(teacher)
    x = inputs()
    ref = teacher(*x)
    for w in (1.0, 5.0, 9.0):
        assert torch.allclose(student(*x, guidance=torch.full((2,), w)), ref, atol=1e-6)
    torch.nn.init.normal_(student.guidance_embed.fc2.weight, std=0.5)  # as after training
    assert torch.allclose(student(*x, guidance=torch.ones(2)), ref, atol=1e-6)
    assert torch.allclose(student(*x), ref, atol=1e-6)  # no scale given: no guidance
    assert not torch.allclose(student(*x, guidance=torch.full((2,), 5.0)), ref, atol=1e-3)


def test_distillation_steps_bring_the_student_to_the_teachers_guided_velocity():
    teacher = tiny_teacher()
    student = distill.student_from(teacher).train()
    opt = torch.optim.Adam(student.parameters(), lr=3e-3)
    x0, _, tok, mask, pooled = inputs(4, seed=2)
    empty = (torch.zeros_like(tok), mask.clone(), torch.zeros_like(pooled))
    maps = torch.zeros(4, 5, 2, 2)  # no objects: every token weighs the same
    clean = torch.zeros(4, 5 * 2 * 2, dtype=torch.bool)
    clean[0, :4] = True  # a held-clean first frame: no loss there

    def loss():  # the same noise levels, noise and guidance scales every time
        gen = torch.Generator().manual_seed(3)
        return distill.distill_loss(student, teacher, x0, maps, (tok, mask, pooled), empty, None, clean, gen,
                                    2.0, 0.5, 0.15, 3.0)

    first = loss().item()
    for _ in range(40):
        opt.zero_grad()
        loss().backward()
        opt.step()
    assert first > 0.01 and loss().item() < 0.5 * first, (first, loss().item())


def test_a_guided_step_asks_the_distilled_model_once():
    calls = {"model": 0, "guided": 0}

    def model(x, t, text):
        calls["model"] += x.shape[0]
        return torch.zeros_like(x)

    def guided(x, t, text, w):
        assert w == 5.0 and x.shape[0] == 1
        calls["guided"] += 1
        return torch.zeros_like(x)

    noise, text = torch.randn(1, 4, 3, 8, 8), (torch.zeros(1, 5, 384),)
    sample(model, FlowMatchEulerDiscreteScheduler(shift=2.0), noise, text, text, steps=6, guidance=5.0, guided=guided)
    assert calls == {"model": 0, "guided": 6}
    sample(model, FlowMatchEulerDiscreteScheduler(shift=2.0), noise, text, text, steps=6, guidance=1.0, guided=guided)
    assert calls == {"model": 6, "guided": 6}  # no guidance: one plain call a step, as before
    sample(model, FlowMatchEulerDiscreteScheduler(shift=2.0), noise, text, text, steps=6, guidance=5.0)
    assert calls == {"model": 6 + 12, "guided": 6}  # the full sampler: with and without the prompt, batch 2


@pytest.fixture(scope="module")
def distilled_model(tiny_model, tmp_path_factory):
    """The tiny model folder with a guidance-distilled transformer exported into it as `train --stage distill`
    does (its student given a guidance input that does something)."""
    root = tmp_path_factory.mktemp("distilled")
    folder = root / "tiny-distilled"
    shutil.copytree(tiny_model, folder)
    teacher = SpacetimeDiT.from_pretrained(folder / "transformer", torch_dtype=torch.float32)
    student = distill.student_from(teacher)
    torch.nn.init.normal_(student.guidance_embed.fc2.weight, std=0.05)
    save_checkpoint(root / "guided.pt", model=student.state_dict(), ema=student.state_dict(), opt=None, step=7)
    distill.export_guided(root, folder, default=True)
    return folder


def test_the_engine_renders_with_the_distilled_sampler_where_it_can(tiny_model, distilled_model):
    index = json.loads((distilled_model / "model_index.json").read_text())
    assert index["guided_transformer"] == ["engine.models.dit", "SpacetimeDiT"]
    assert index["training"]["guided"]["trained_steps"] == 7 and (distilled_model / GUIDED / "config.json").exists()
    req = dict(prompt="a red ball rolls to the right", seconds=1.0, fps=8, steps=3, seed=4)
    engine = Engine(distilled_model)
    calls = []
    inner = engine.pipe.guided_fn
    engine.pipe.guided_fn = lambda *a, **k: calls.append(a[0].shape[0]) or inner(*a, **k)
    fast = engine.generate(GenerateRequest(**req))
    assert fast.settings["sampler"] == "distilled" and calls == [1, 1, 1]
    full = Engine(distilled_model, sampler="full").generate(GenerateRequest(**req))
    assert full.settings["sampler"] == "full" and fast.frames.shape == full.frames.shape
    assert Engine(distilled_model).generate(GenerateRequest(**{**req, "guidance": 12.0})).settings["sampler"] == "full"
    with pytest.raises(InputError, match="takes guidance up to 9, got 12"):
        Engine(distilled_model, sampler="distilled").generate(GenerateRequest(**{**req, "guidance": 12.0}))
    assert Engine(tiny_model).generate(GenerateRequest(**req)).settings["sampler"] == "full"
    index["training"]["guided"]["default"] = False  # a draft sampler: by name only
    (distilled_model / "model_index.json").write_text(json.dumps(index))
    try:
        assert Engine(distilled_model).generate(GenerateRequest(**req)).settings["sampler"] == "full"
        assert Engine(distilled_model, sampler="distilled").generate(GenerateRequest(**req)).settings["sampler"] == \
            "distilled"
    finally:
        index["training"]["guided"]["default"] = True
        (distilled_model / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(InputError, match="has no distilled sampler"):
        Engine(tiny_model, sampler="distilled").generate(GenerateRequest(**req))
    with pytest.raises(InputError, match="unknown sampler 'fast'; allowed: auto, full, distilled"):
        Engine(tiny_model, sampler="fast")


def test_the_distill_stage_says_what_it_needs(tmp_path, tiny_model, capsys):
    assert main(["train", "--stage", "distill", "--run", str(tmp_path / "run"), "--out", str(tmp_path)]) == 2
    assert "is not a model folder" in capsys.readouterr().err
    assert main(["train", "--stage", "distill", "--run", str(tmp_path / "run"), "--out", str(tiny_model)]) == 2
    assert "holds no cached clips" in capsys.readouterr().err


def test_bench_compares_the_distilled_and_the_full_sampler_side_by_side(distilled_model, capsys):
    assert main(["bench", "--model", str(distilled_model), "--compare", "float32:2,float32+full:2", "--repeats", "1",
                 "--seconds", "0.5"]) == 0
    rows = json.loads(capsys.readouterr().out)["settings"]
    assert [(r["sampler"], r["steps"], r["guidance"]) for r in rows] == [("distilled", 2, 5.0), ("full", 2, 5.0)]
    assert all(r["transformer_flops_per_s"] > 0 for r in rows)
