"""The training command's pieces on tiny settings: every stage runs, checkpoints, resumes where it
stopped, exports a model folder the engine loads, and a later run seeds itself from that folder."""
import json
import math
import random

import numpy as np
import pytest
import torch

from engine.families.pipeline import WorldPipeline
from engine.models.dit import PRESETS
from engine.training import train


def test_learning_rate_schedule_and_restart():
    segments = [(0, 1e-3, 400), (400, 5e-4, 1000)]
    lr = lambda s: train.lr_at(s, segments)  # noqa: E731
    assert lr(0) == pytest.approx(1e-3 / 200)  # warm-up
    assert lr(200) == pytest.approx(1e-3 * (0.1 + 0.45 * (1 + math.cos(math.pi * 200 / 400))))
    assert lr(399) == pytest.approx(1e-4, rel=0.01)  # the first segment ends where the second starts
    assert lr(400) == pytest.approx(5e-4 / 100)  # warms up again
    assert lr(500) == pytest.approx(5e-4 * (0.1 + 0.45 * (1 + math.cos(math.pi * 100 / 600))))
    assert lr(1000) == pytest.approx(5e-5) and lr(1500) == pytest.approx(5e-5)  # held at the floor after
    assert train.lr_at(10_000, [(0, 1e-3, 10_000)]) == pytest.approx(1e-4)


def test_object_weights_follow_the_token_grid():
    maps = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(2, 3, 2, 2)
    tm = train.token_maps(maps, 2)  # frames (0, 1) and (2, padding)
    assert tm.shape == (2, 8) and tm[0, 0] == (maps[0, 0, 0, 0] + maps[0, 1, 0, 0]) / 2
    assert tm[0, 4] == maps[0, 2, 0, 0] / 2


def test_wide_batches_are_cut_to_a_run_of_frames(tmp_path):
    def part(n, h, w):
        return {"latents": torch.randn(n, 8, 16, h, w).half(), "maps": torch.rand(n, 16, h // 4, w // 4).half(),
                "tokens": torch.randn(n, 2, 48, 384).half(), "masks": torch.ones(n, 2, 48, dtype=torch.bool),
                "pooled": torch.randn(n, 2, 384).half()}
    (tmp_path / "data").mkdir()
    torch.save({"1:1": part(3, 16, 16), "16:9": part(3, 18, 32)}, tmp_path / "data" / "shard_0000.pt")
    data = train.LatentData(tmp_path / "data")
    empty = (torch.zeros(48, 384), torch.zeros(48, dtype=torch.bool), torch.zeros(384))
    rng, seen = random.Random(0), set()
    for _ in range(20):
        x, maps, tokens, masks, pooled = data.batch(rng, 4, empty, drop=0.0, wide_frames=8)
        seen.add(x.shape[3:])
        assert x.shape[2] == (16 if x.shape[3:] == (16, 16) else 8) and maps.shape[1] == x.shape[2]
        assert tokens.shape == (4, 48, 384) and x.dtype == torch.float32
    assert seen == {(16, 16), (18, 32)}
    x, *_ = data.batch(random.Random(1), 4, empty, drop=1.0)  # no cut without wide_frames
    assert x.shape[2] == 16
    for _ in range(10):  # a batch mix of the recipe's choosing rather than the data's
        x, *_ = data.batch(rng, 4, empty, drop=0.0, aspects={"1:1": 1.0, "16:9": 0.0})
        assert x.shape[3:] == (16, 16)
    with pytest.raises(ValueError, match=r"no training clips for aspect\(s\) \['9:16'\]"):
        data.batch(rng, 4, empty, drop=0.0, aspects={"9:16": 1.0})


def test_edge_band_lies_on_both_sides_of_the_outline():
    obj = np.zeros((1, 20, 20), bool)
    obj[0, 5:15, 5:15] = True
    band = train.edge_band(obj)[0]
    e = train.EDGE_BAND
    assert band[10, 5 - e] and band[10, 5 + e - 1] and not band[10, 5 - e - 1] and not band[10, 10]
    assert not train.edge_band(np.zeros((1, 8, 8), bool)).any()
    x, w = train.vae_batch(random.Random(0), 2, edge_weight=10.0)
    assert w.max() == 1 + train.VAE_OBJECT_WEIGHT + 10.0  # object pixels next to an outline


def test_seeding_continues_a_shorter_decoder_stage(tmp_path):
    model = tmp_path / "model"
    run = tmp_path / "run"
    vae = train.VideoVAE(latents_mean=[0.0] * 8, latents_std=[1.0] * 8)
    from engine.models.dit import SpacetimeDiT
    pipe = WorldPipeline(vae, SpacetimeDiT(**PRESETS["tiny"]), {"num_train_timesteps": 1000, "shift": 2.0})
    pipe.save_pretrained(model, extra_index={"training": {"dit_steps": 5, "recipe": {"vae_decoder_steps": 800}}})
    train.seed_run_from_model(run, model)
    assert torch.load(run / "vae_decoder.pt", weights_only=False)["step"] == 800  # a longer recipe goes on


def test_the_decoder_stage_tunes_a_model_folders_decoder_and_leaves_its_encoder(tmp_path, capsys):
    from engine.__main__ import main
    from engine.models.dit import SpacetimeDiT

    model, run = tmp_path / "model", tmp_path / "run"
    torch.manual_seed(0)
    vae = train.VideoVAE(latents_mean=[0.0] * 8, latents_std=[1.0] * 8)
    pipe = WorldPipeline(vae, SpacetimeDiT(**PRESETS["tiny"]), {"num_train_timesteps": 1000, "shift": 2.0})
    pipe.save_pretrained(model, extra_index={"training": {"dit_steps": 5, "recipe": {"vae_decoder_steps": 800}}})
    recipe = {**train.RECIPES["layout"], "vae_decoder_steps": 802}  # the layout recipe's segment, 2 steps long
    assert not train.decoder_stage(run, model, 1e-6, recipe)  # out of time before a step: resumable from 800
    assert torch.load(run / "vae_decoder.pt", weights_only=False)["step"] == 800
    assert train.decoder_stage(run, model, 5, recipe)
    assert torch.load(run / "vae_decoder.pt", weights_only=False)["step"] == 802
    train.export_decoder(run, model, recipe)
    tuned = train.VideoVAE.from_pretrained(model / "vae")
    same = lambda a, b: all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    assert same(tuned.encoder, vae.encoder) and not same(tuned.decoder, vae.decoder)
    assert tuned.config.latents_std == [1.0] * 8  # the latents the transformer was trained on, unchanged
    said = json.loads((model / "model_index.json").read_text())["training"]["recipe"]
    assert said["vae_decoder_steps"] == 802 and said["vae_decoder_latent_noise"] == 0.4
    with pytest.raises(ValueError, match="inside one of the recipe's tuning segments"):
        train.decoder_stage(tmp_path / "run2", model, 1, {**recipe, "vae_decoder_tune_from": 700,
                                                          "vae_decoder_steps": 900})
    with pytest.raises(ValueError, match="already has the recipe's 802 steps; nothing to tune"):
        train.decoder_stage(tmp_path / "run2", model, 1, recipe)
    assert main(["train", "--stage", "decoder", "--recipe", "s2-rich", "--run", str(tmp_path / "run3"),
                 "--out", str(model)]) == 2
    err = capsys.readouterr().err.strip()
    assert "--recipe s2-rich: the recipe has no decoder tuning segment" in err and "the layout recipe has" in err
    assert len(err.splitlines()) == 1
    # a decoder at the end of the outline segment goes on into the small-object one, and says it in the index
    pipe.save_pretrained(model, extra_index={"training": {"dit_steps": 5, "recipe": {"vae_decoder_steps": 1300}}})
    recipe = {**train.RECIPES["layout"], "vae_decoder_steps": 1302, "vae_decoder_small_from": 1300,
              "vae_decoder_small_weight": 4.0}  # session 25's segment (tried, not in the layout recipe)
    assert train.decoder_stage(tmp_path / "run4", model, 5, recipe)
    train.export_decoder(tmp_path / "run4", model, recipe)
    said = json.loads((model / "model_index.json").read_text())["training"]["recipe"]
    assert said["vae_decoder_small_from"] == 1300 and said["vae_decoder_small_weight"] == 4.0


def test_small_objects_weigh_about_as_much_as_big_ones_in_the_decoders_loss():
    from engine.world import render
    from engine.world.scene import Obj, Scene

    scene = Scene((Obj("red", "box", "big", "still", x0=0.3, y0=0.5), Obj("blue", "box", "small", "still", x0=0.75,
                                                                             y0=0.5)), "studio")
    empty = render(train.dataclasses_replace_objects(scene), 128, 128, 8.0, 1)
    w = train.object_weights(scene, empty, 128, 128, 8.0, 10.0)[0]
    big, small = w[64, 38], w[64, 96]
    # a big object's pixels (a ball's) over a small box's: about 3x
    assert big == train.VAE_OBJECT_WEIGHT and 2.5 * big < small < 4 * big
    assert train.object_weights(scene, empty, 128, 128, 8.0, 2.0)[0, 64, 96] == 2 * big  # capped
    assert w[5, 5] == 0  # the background is not an object
    assert small * (w == small).sum() > 0.5 * big * (w == big).sum()  # the small box's loss, near the big one's
    x, wt = train.vae_batch(random.Random(0), 2, edge_weight=10.0, small_weight=4.0)
    assert wt.max() <= 1 + 4.0 * train.VAE_OBJECT_WEIGHT + 10.0 and wt.min() == 1.0


def test_clean_patterns_cover_every_kind():
    rng = random.Random(0)
    masks = [train.clean_pattern(rng, (16, 4, 4)) for _ in range(400)]
    fractions = [float(m.float().mean()) for m in masks]
    assert min(fractions) == 0.0 and max(fractions) < 1.0  # never the whole clip
    assert any(m[0].all() and not m[1:].any() for m in masks)  # first frame (animate)
    assert any(m[-1].all() and not m[:-1].any() for m in masks)  # last frame
    boxes = [m for m in masks if m.all(0).any() and not m.all(0).all()]  # the same region in every frame
    assert any(m.all(0).float().mean() > 0.5 for m in boxes)  # inpaint: all but a box held
    assert any(m.all(0).float().mean() < 0.5 for m in boxes)  # outpaint: only a box held


def test_clean_pattern_mix_and_its_phases():
    grid = (8, 4, 4)
    rng = random.Random(0)
    assert all(m[0].all() and not m[1:].any() for m in (train.clean_pattern(rng, grid,
                                                                            {"first": 1.0}) for _ in range(20)))
    with pytest.raises(ValueError, match="unknown clean patterns.*everything"):
        train.clean_pattern(rng, grid, {"everything": 1.0})
    # without a mix, the recipe's own: the same draws as before mixes could be chosen
    a, b = random.Random(3), random.Random(3)
    assert all(torch.equal(train.clean_pattern(a, grid), train.clean_pattern(b, grid,
                                                                             train.PATTERNS)) for _ in range(50))
    phases = [(0, train.TEXT_FIRST_PATTERNS), (100, train.PATTERNS)]
    assert train.patterns_at(0, phases) is train.TEXT_FIRST_PATTERNS
    assert train.patterns_at(99, phases) is train.TEXT_FIRST_PATTERNS and train.patterns_at(100,
                                                                                            phases) is train.PATTERNS
    assert train.patterns_at(7, None) is train.PATTERNS
    assert train.phase_at(5, {"1:1": 1.0}) == {"1:1": 1.0} and train.phase_at(5, None) is None  # a plain mix
    assert train.phase_at(20000, train.RECIPES["s2-rich"]["dit_aspects"])["16:9"] == 0.2
    for mix in (train.PATTERNS, train.TEXT_FIRST_PATTERNS):
        assert sum(mix.values()) == pytest.approx(1.0) and set(mix) == set(train.PATTERNS)
    # the text-first phase: four in five clips get their motion only from the prompt
    free = ("none", "first", "last")
    assert sum(train.TEXT_FIRST_PATTERNS[k] for k in free) == pytest.approx(0.8)
    assert sum(train.PATTERNS[k] for k in free) == pytest.approx(0.6)


def test_stages_checkpoint_resume_export_and_seed(tmp_path):
    run = tmp_path / "run"
    vae, step = train.train_vae(run, steps=2, batch=2)
    assert step == 2 and (run / "vae.pt").exists()
    _, step = train.train_vae(run, steps=3, batch=2)  # resumes at 2
    assert step == 3 and [json.loads(line)["step"] for line in (run / "log.jsonl").open()
                          if '"vae"' in line] == [2, 3]
    (run / "latent_stats.json").write_text(json.dumps({"mean": [0.0] * 8, "std": [1.0] * 8}))
    vae = train.load_vae(run)
    train.build_data(run, vae, clips=4, shard=2)
    assert sorted(p.name for p in (run / "data").iterdir()) == ["shard_0000.pt", "shard_0001.pt"]
    data = train.LatentData(run / "data")
    assert sum(data.counts.values()) == 4
    # rich captions: the same clips, other captions, whether rendered again or taken from a data set
    for name, reuse in (("again", None), ("reused", run / "data")):
        train.build_data(tmp_path / name, vae, clips=4, shard=2, rich=True, captions=3, reuse=reuse)
        for shard in ("shard_0000.pt", "shard_0001.pt"):
            plain, rich = torch.load(run / "data" / shard), torch.load(tmp_path / name / "data" / shard)
            assert plain.keys() == rich.keys()
            for aspect in plain:
                assert torch.equal(plain[aspect]["latents"], rich[aspect]["latents"])
                assert plain[aspect]["tokens"].shape[1] == 2 and rich[aspect]["tokens"].shape[1] == 3
                assert not torch.equal(plain[aspect]["pooled"][:, :2], rich[aspect]["pooled"][:, :2])
    items = train.shard_items(1, 0, 2, rich=True, captions=3)
    assert [it[1] for it in items] == [it[1] for it in train.shard_items(1, 0, 2)]  # same scenes
    assert all(len(caps) == 3 for _, _, caps in items)

    config = dict(PRESETS["tiny"], in_channels=8)
    _, step = train.train_dit(run, config, steps=2, batch=2, compile=False)
    assert step == 2
    ema, step = train.train_dit(run, config, steps=3, batch=2, compile=False, wide_frames=8)  # resumes at 2
    assert step == 3
    assert train.train_vae_decoder(run, steps=1, batch=2) == 1
    assert train.train_vae_decoder(run, steps=2, batch=2, tune_from=1, edge_weight=10.0,
                                   latent_noise=0.3) == 2  # the second segment

    out = tmp_path / "model"
    train.export(run, out, train.RECIPES["s2-rich"])
    assert json.loads((out / "model_index.json").read_text())["training"]["recipe"]["dit_patterns"][0][1] == \
        train.TEXT_FIRST_PATTERNS  # the model folder says which recipe made it
    train.export(run, out)
    pipe = WorldPipeline.from_pretrained(out)
    assert json.loads((out / "model_index.json").read_text())["training"]["dit_steps"] == 3
    for a, b in zip(pipe.transformer.parameters(), ema.parameters()):  # the EMA weights ship, in float16
        assert torch.equal(a, b.half().float())

    later = tmp_path / "later"  # a later session: no run folder, only the committed model
    train.seed_run_from_model(later, out)
    assert torch.load(later / "dit.pt", weights_only=False)["step"] == 3
    n = train.RECIPE["vae_decoder_steps"]
    assert train.train_vae_decoder(later, steps=n) == n  # the shipped decoder is already fine-tuned
    assert not (later / "log.jsonl").exists()  # nothing was trained
    decoder = torch.load(later / "vae_decoder.pt", weights_only=False)["model"]
    for name, p in pipe.vae.state_dict().items():
        assert torch.equal(decoder[name], p), name


def test_a_fresh_optimizer_on_a_trained_model_warms_up_again():
    assert train.rewarm(500, None) == 1.0  # a run that kept its optimizer
    assert train.rewarm(500, 500) == pytest.approx(0.01)  # seeded at step 500: the first step is small
    assert train.rewarm(549, 500) == pytest.approx(0.5) and train.rewarm(599, 500) == 1.0
    assert train.rewarm(5000, 500) == 1.0


def test_training_device_is_checked(tmp_path, capsys):
    from engine.__main__ import main

    assert train.check_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="use 'cpu' or 'cuda'"):
        train.check_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            train.check_device("cuda")
        run = tmp_path / "run"
        assert main(["train", "--run", str(run), "--device", "cuda", "--minutes", "1"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "no CUDA GPU" in err
        assert not run.exists()  # refused before anything was written
    assert main(["train", "--run", str(tmp_path / "r2"), "--recipe", "xl", "--minutes", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown --recipe 'xl'; choose one of xs, s2-rich" in err
    assert not (tmp_path / "r2").exists()
    assert train.sample_t(torch.Generator().manual_seed(0), 5, 2.0).device.type == "cpu"


def test_recipe_search_scores_a_variant_while_it_trains(tmp_path):
    from engine.bench import recipe_search

    root = tmp_path / "search"
    assert recipe_search.main(["train", "--run", str(root), "--name", "v"]) == 2  # no data yet
    assert recipe_search.main(["data", "--run", str(root), "--clips", "3", "--workers", "2"]) == 0
    assert recipe_search.main(["train", "--run", str(root), "--name", "v", "--preset", "tiny", "--batch", "2",
                               "--steps", "2", "--eval-every", "2", "--eval-size", "3", "--eval-batch", "5",
                               "--no-compile", "--export", str(tmp_path / "model")]) == 0
    evals = [json.loads(line) for line in (root / "v" / "log.jsonl").open() if '"eval"' in line]
    assert [e["step"] for e in evals] == [2]
    for name in ("train", "bench"):
        assert evals[0][name]["cases"] == 5 and 0 <= evals[0][name]["direction_accuracy"] <= 1
    pipe = WorldPipeline.from_pretrained(tmp_path / "model")
    assert pipe.transformer.config.hidden_size == PRESETS["tiny"]["hidden_size"]
    assert recipe_search.main(["data", "--run", str(root), "--device", "cuda:x"]) == 2


def test_text_probe_reads_motion_and_checks_its_arguments(capsys):
    from engine.bench import recipe_search

    torch.manual_seed(0)
    report = recipe_search.text_probe(train_captions=300, test_captions=120, steps=150, seeds=1)
    assert set(report) == {"plain", "rich", "test_cases"} and report["test_cases"]["all"] == 120
    for grammar in ("plain", "rich"):  # even a small probe reads motion far above chance (1 in 9)
        assert report[grammar]["motion"] > 0.4, report
    assert recipe_search.main(["probe", "--steps", "0"]) == 2
    assert "--steps must be at least 1" in capsys.readouterr().err


def test_an_early_run_does_not_replace_a_model_trained_further(tmp_path):
    run, out = tmp_path / "run", tmp_path / "model"
    config = dict(PRESETS["tiny"], in_channels=8)
    train.save_checkpoint(run.mkdir() or run / "dit.pt", step=3, config=config)
    assert train.safe_out(run, out) == out  # nothing there yet
    out.mkdir()
    (out / "model_index.json").write_text(json.dumps({"training": {"dit_steps": 10}}))
    assert train.safe_out(run, out) == run / "export"
    assert "exported to" in (run / "log.jsonl").read_text()
    train.save_checkpoint(run / "dit.pt", step=10, config=config)
    assert train.safe_out(run, out) == out  # as far or further: the model folder is replaced
