"""Tiny models built from config with fixed seeds: shapes, save/load, sampler, per-token conditions."""
import numpy as np
import pytest
import torch

from engine.families.pipeline import WorldPipeline
from engine.models.dit import PRESETS, SpacetimeDiT
from engine.models.vae import VideoVAE
from engine.sampling.conditioning import WindowKnowledge, build_latent_conditions
from engine.sampling.sampler import Cancelled, edit, sample


def tiny_dit(**kw):
    torch.manual_seed(0)
    m = SpacetimeDiT(in_channels=4, **PRESETS["tiny"], **kw)
    for p in m.parameters():
        torch.nn.init.normal_(p, std=0.02)
    return m.eval()


def test_vae_per_frame_shapes():
    torch.manual_seed(0)
    vae = VideoVAE(latent_channels=4, channels=(16, 16, 16)).eval()
    x = torch.rand(2, 3, 7, 32, 48) * 2 - 1
    z = vae.encode(x)
    assert z.shape == (2, 4, 7, 4, 6)
    assert vae.decode(z).shape == x.shape
    # per frame: a change to frame 3 changes latent frame 3 only
    x2 = x.clone()
    x2[:, :, 3] = 0
    z2 = vae.encode(x2)
    assert torch.equal(z2[:, :, :3], z[:, :, :3]) and not torch.equal(z2[:, :, 3], z[:, :, 3])


def test_vae_temporal_compression_keeps_first_frame_alone():
    torch.manual_seed(0)
    vae = VideoVAE(latent_channels=4, channels=(16, 16, 16), temporal_ratio=4, decoder_temporal_kernel=3).eval()
    x = torch.rand(2, 3, 9, 32, 48) * 2 - 1
    z = vae.encode(x)
    assert z.shape == (2, 4, 3, 4, 6)
    assert vae.decode(z).shape == x.shape
    # frame 0 is encoded on its own: changing later frames leaves latent frame 0 alone
    x2 = x.clone()
    x2[:, :, 1:] = 0
    assert torch.equal(vae.encode(x2)[:, :, 0], z[:, :, 0])
    with pytest.raises(ValueError):
        vae.encode(torch.zeros(1, 3, 8, 32, 32))


@pytest.mark.parametrize("temporal_ratio", [1, 4])
def test_vae_on_channels_last_activations_gives_the_same_latents_and_frames(temporal_ratio):
    # inference runs the 2D networks channels-last (faster oneDNN convolutions); it must not change a frame
    torch.manual_seed(0)
    vae = VideoVAE(latent_channels=4, channels=(16, 16, 16), temporal_ratio=temporal_ratio).eval()
    x = torch.rand(1, 3, 9, 32, 48) * 2 - 1
    with torch.no_grad():
        z, y = vae.encode(x), vae.decode(vae.encode(x))
        vae.channels_last = True
        z2, y2 = vae.encode(x), vae.decode(vae.encode(x))
    assert z2.shape == z.shape and y2.shape == y.shape
    assert torch.allclose(z2, z, atol=1e-5) and torch.allclose(y2, y, atol=1e-5)


def test_dit_shapes_any_aspect_and_per_token_t():
    m = tiny_dit()
    for T, H, W in ((3, 4, 4), (2, 4, 8), (5, 8, 4), (2, 6, 8)):  # 6 rows: padded to whole patches
        x = torch.randn(2, 4, T, H, W)
        text, mask, pooled = torch.randn(2, 7, 384), torch.ones(2, 7, dtype=torch.bool), torch.randn(2, 384)
        out = m(x, torch.rand(2), text, mask, pooled)
        assert out.shape == x.shape
        N = T * -(-H // 4) * -(-W // 4)
        out2 = m(x, torch.rand(2, N), text, mask, pooled)
        assert out2.shape == x.shape and torch.isfinite(out2).all()


def test_dit_x0_prediction_returns_the_velocity_of_its_clean_estimate():
    """prediction="x0": the network's output is the clean latents and forward returns
    (x - x0) / t per token, t clipped at X0_T_MIN. With the adaLN-Zero initialisation the
    output layer is zero, so x0 = 0 and forward must return x / max(t, X0_T_MIN) token by token,
    here with two-frame tokens over an odd number of frames (the last token half padding)."""
    from engine.models.dit import X0_T_MIN

    torch.manual_seed(0)
    m = SpacetimeDiT(in_channels=4, **{**PRESETS["tiny"], "patch_size": (2, 4, 4), "prediction": "x0"}).eval()
    x = torch.randn(1, 4, 5, 8, 4)
    text, mask, pooled = torch.randn(1, 7, 384), torch.ones(1, 7, dtype=torch.bool), torch.randn(1, 384)
    N = 3 * 2 * 1
    t = torch.tensor([[0.0, 0.01, 0.3, 0.5, 0.9, 1.0]])
    assert m.grid(x.shape) == (3, 2, 1) and t.shape[1] == N
    v = m(x, t, text, mask, pooled)
    expect = x / m.expand_tokens(t.clamp_min(X0_T_MIN), x.shape)
    assert torch.allclose(v, expect)
    velocity = SpacetimeDiT(in_channels=4, **PRESETS["tiny"])
    assert torch.equal(velocity(x, torch.tensor([0.5]), text, mask, pooled), torch.zeros_like(x))
    with pytest.raises(ValueError, match="prediction"):
        SpacetimeDiT(**PRESETS["tiny"], prediction="eps")


def test_dit_save_load_round_trip_is_exact(tmp_path):
    m = tiny_dit()
    m.save_pretrained(tmp_path / "t")
    m2 = SpacetimeDiT.from_pretrained(tmp_path / "t").eval()
    x, t = torch.randn(1, 4, 2, 4, 4), torch.rand(1)
    args = (torch.randn(1, 5, 384), torch.ones(1, 5, dtype=torch.bool), torch.randn(1, 384))
    assert torch.equal(m(x, t, *args), m2(x, t, *args))


def test_sincos_positions_are_absolute_and_round_trip(tmp_path):
    from engine.models.dit import sincos_positions

    pos = sincos_positions((3, 4, 5), 64, "cpu")
    assert pos.shape == (60, 64) and len({tuple(r.tolist()) for r in pos}) == 60  # every position distinct
    m = tiny_dit(positions="sincos")
    m.save_pretrained(tmp_path / "t")
    m2 = SpacetimeDiT.from_pretrained(tmp_path / "t").eval()
    assert m2.config.positions == "sincos"
    # a frame of constant latents: with absolute positions its tokens differ by where they are
    x, t = torch.ones(1, 4, 2, 8, 8), torch.rand(1)
    args = (torch.randn(1, 5, 384), torch.ones(1, 5, dtype=torch.bool), torch.randn(1, 384))
    out = m(x, t, *args)
    assert torch.equal(out, m2(x, t, *args))
    assert not torch.allclose(out[..., :4, :4], out[..., 4:, 4:])
    with pytest.raises(ValueError, match="positions must be"):
        SpacetimeDiT(positions="learned")


def test_attention_pooling_reads_one_token_the_mean_hides(tmp_path):
    """text_pool="attention": the global conditioning reads the token states themselves, so two
    prompts whose token states have the same mean (what mean pooling sees) are told apart."""
    m = tiny_dit(text_pool="attention")
    m.save_pretrained(tmp_path / "t")
    m2 = SpacetimeDiT.from_pretrained(tmp_path / "t").eval()
    assert m2.config.text_pool == "attention"
    x, t = torch.randn(1, 4, 2, 8, 8), torch.full((1,), 0.7)
    text, mask = torch.randn(1, 5, 384), torch.ones(1, 5, dtype=torch.bool)
    pooled = text.mean(1)
    for a, b in zip(m.state_dict().values(), m2.state_dict().values()):  # the round trip is exact
        assert torch.equal(a, b)
    # the same weights give the same output (to float rounding: a matmul's summation order may
    # depend on where its tensors lie in memory)
    torch.testing.assert_close(m(x, t, text, mask, pooled), m2(x, t, text, mask, pooled), rtol=1e-5, atol=1e-6)
    # the pooling's own effect, cross-attention left out: the same mean, different tokens
    mean_only = tiny_dit()
    other = text.clone()
    other[:, 0] += 3.0
    other[:, 1] -= 3.0
    assert torch.allclose(other.mean(1), pooled, atol=1e-6)
    cond = lambda model, tx: model.pool_out(model.pool_attn(model.pool_query, model.text_embed(tx)).flatten(1))  # noqa: E731
    assert not torch.allclose(cond(m, text), cond(m, other), atol=1e-4)
    assert not hasattr(mean_only, "pool_attn")
    with pytest.raises(ValueError, match="text_pool must be"):
        SpacetimeDiT(text_pool="max")


def test_plain_cpu_training_attention_matches_the_fused_kernel():
    """The plain attention the CPU trains with gives the fused kernel's outputs and gradients, masked
    keys included; without autograd (sampling) the fused kernel itself runs."""
    import torch.nn.functional as F

    from engine.models import dit

    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 10, 16, generator=g, requires_grad=True) for _ in range(3))
    mask = torch.ones(2, 1, 1, 10, dtype=torch.bool)
    mask[1, ..., 6:] = False
    plain = dit.attention(q, k, v, mask)
    grads = torch.autograd.grad(plain.square().sum(), (q, k, v))
    fused = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    fused_grads = torch.autograd.grad(fused.square().sum(), (q, k, v))
    assert torch.allclose(plain, fused, atol=1e-5)
    assert all(torch.allclose(a, b, atol=1e-4) for a, b in zip(grads, fused_grads))
    assert grads[1][1, :, 6:].abs().max() == 0  # a masked key gets no gradient
    with torch.no_grad():
        assert torch.equal(dit.attention(q, k, v, mask), F.scaled_dot_product_attention(q, k, v, attn_mask=mask))


def test_bench_train_times_both_attention_forms_on_the_recipe_step():
    from engine.bench.speed import train_speed
    from engine.models import dit

    r = train_speed("tiny", batch=2, steps=1, rounds=1, compile=False)
    assert set(r["s_per_step"]) == {"plain", "fused"} and min(r["s_per_step"].values()) > 0
    assert r["plain_vs_fused_speedup"] > 0 and r["train_flops_per_s"] > 0 and r["params_m"] > 0
    assert dit.PLAIN_CPU_TRAINING_ATTENTION  # the switch is put back


def test_vae_save_load_keeps_latent_stats(tmp_path):
    vae = VideoVAE(latent_channels=4, channels=(16, 16, 16), latents_mean=[0.1] * 4, latents_std=[2.0] * 4)
    vae.save_pretrained(tmp_path / "v")
    v2 = VideoVAE.from_pretrained(tmp_path / "v")
    assert v2.config.latents_std == [2.0] * 4
    z = torch.randn(1, 4, 2, 3, 3)
    assert torch.allclose(v2.denormalize(v2.normalize(z)), z, atol=1e-6)


def _model_fn(m):
    def fn(x, t, text):
        tok, mask, pooled = text
        return m(x, t, tok, mask, pooled)
    return fn


def _text(B=1):
    g = torch.Generator().manual_seed(1)
    return (torch.randn(B, 5, 384, generator=g), torch.ones(B, 5, dtype=torch.bool), torch.randn(B, 384, generator=g))


def test_sampler_is_deterministic_and_guidance_changes_output():
    from diffusers import FlowMatchEulerDiscreteScheduler

    m = tiny_dit()
    noise = torch.randn(1, 4, 3, 4, 4, generator=torch.Generator().manual_seed(3))
    run = lambda g: sample(_model_fn(m), FlowMatchEulerDiscreteScheduler(shift=2.0), noise, _text(), _text(),
                           steps=4, guidance=g)
    a, b = run(3.0), run(3.0)
    assert torch.equal(a, b)
    uncond = (torch.zeros(1, 5, 384), torch.ones(1, 5, dtype=torch.bool), torch.zeros(1, 384))
    c = sample(_model_fn(m), FlowMatchEulerDiscreteScheduler(shift=2.0), noise, _text(), uncond, steps=4, guidance=3.0)
    assert not torch.equal(a, c)


def test_churn_is_seeded_and_zero_churn_is_euler():
    from diffusers import FlowMatchEulerDiscreteScheduler

    m = tiny_dit()
    noise = torch.randn(1, 4, 3, 4, 4, generator=torch.Generator().manual_seed(3))
    run = lambda churn, seed=0: sample(_model_fn(m), FlowMatchEulerDiscreteScheduler(shift=2.0), noise, _text(),
                                       _text(), steps=4, guidance=3.0, churn=churn,
                                       generator=torch.Generator().manual_seed(seed))
    euler = sample(_model_fn(m), FlowMatchEulerDiscreteScheduler(shift=2.0), noise, _text(), _text(),
                   steps=4, guidance=3.0)
    assert torch.allclose(run(0.0), euler, atol=1e-6)
    assert torch.equal(run(0.9), run(0.9)) and not torch.allclose(run(0.9), euler)
    assert not torch.allclose(run(0.9, seed=0), run(0.9, seed=1))


def _first_frame_known():
    """Latents of three frames (one 4x4 token each) with frame 0 known: (shape, known, conditions), and a
    tiny model that records the noise levels it is shown (fn, seen)."""
    m = tiny_dit()
    shape = (1, 4, 3, 4, 4)
    known = torch.randn(shape, generator=torch.Generator().manual_seed(5))
    win = WindowKnowledge.empty(3, 32, 32)
    win.known_frames[0] = True  # per-frame VAE: latent frame 0 = frame 0, one 4x4 token per frame
    cond = build_latent_conditions(known, win, 1, 8, (1, 4, 4))
    seen = []

    def fn(x, t, text):
        seen.append(t.clone())
        return _model_fn(m)(x, t, text)
    return shape, known, cond, fn, seen


@pytest.mark.parametrize("replacement", [False, True])
def test_clean_tokens_are_kept_exactly(replacement):
    from diffusers import FlowMatchEulerDiscreteScheduler

    shape, known, cond, fn, seen = _first_frame_known()
    assert cond.token_clean.sum() == 1 and cond.clean[:, :, 0].all() and not cond.clean[:, :, 1:].any()

    out = sample(fn, FlowMatchEulerDiscreteScheduler(shift=2.0), torch.randn(shape), _text(), _text(),
                 steps=3, guidance=1.0, cond=cond, replacement=replacement)
    assert torch.equal(out[:, :, 0], known[:, :, 0])
    assert not torch.equal(out[:, :, 1], known[:, :, 1])
    if replacement:
        assert all(t.dim() == 1 for t in seen)  # a model without per-token levels gets one t
    else:
        assert all(t.dim() == 2 and (t[:, :1] == 0).all() and (t[:, 1:] > 0).all() for t in seen)


def test_two_frame_tokens_hold_whole_tokens_natively_and_partial_ones_by_replacement():
    """With 2x4x4 patches, known frames 0-2 make token 0 (frames 0, 1) clean and token 1 (frames 2,
    3) partly known: frame 2 still comes back exactly (reset to its content at every step, and
    at level 0 at the end), frame 3 is generated, and the model sees level 0 on token 0 only."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    m = tiny_dit(patch_size=(2, 4, 4), prediction="x0")
    shape = (1, 4, 6, 4, 4)
    known = torch.randn(shape, generator=torch.Generator().manual_seed(5))
    win = WindowKnowledge.empty(6, 32, 32)
    win.known_frames[:3] = True
    cond = build_latent_conditions(known, win, 1, 8, (2, 4, 4))
    assert cond.token_clean.tolist() == [[True, False, False]]
    assert cond.held[:, :, :2].all() and not cond.held[:, :, 2:].any() and cond.clean[:, :, 2].all()
    seen = []

    def fn(x, t, text):
        seen.append(t.clone())
        return _model_fn(m)(x, t, text)

    out = sample(fn, FlowMatchEulerDiscreteScheduler(shift=2.0), torch.randn(shape), _text(), _text(),
                 steps=3, guidance=1.0, cond=cond)
    assert torch.equal(out[:, :, :3], known[:, :, :3])
    assert not torch.equal(out[:, :, 3], known[:, :, 3])
    assert all(t.dim() == 2 and (t[:, 0] == 0).all() and (t[:, 1:] > 0).all() for t in seen)


def test_edit_leaves_the_source_where_the_prompt_makes_no_difference():
    """engine.sampling.sampler.edit moves the source by the difference the prompt makes: a model blind to the
    prompt gives back the source (to rounding); a real one changes it, the same way for the same seed, and
    less from a lower strength."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    m = tiny_dit()
    source = torch.randn(1, 4, 3, 4, 4, generator=torch.Generator().manual_seed(3))
    uncond = (torch.zeros(1, 5, 384), torch.ones(1, 5, dtype=torch.bool), torch.zeros(1, 384))
    blind = lambda x, t, text: _model_fn(m)(x, t, tuple(torch.zeros_like(p) for p in text))  # noqa: E731

    def run(fn, strength=0.6, seed=0):
        return edit(fn, FlowMatchEulerDiscreteScheduler(shift=2.0), source, _text(), uncond, steps=6, guidance=5.0,
                    strength=strength, generator=torch.Generator().manual_seed(seed))

    assert torch.allclose(run(blind), source, atol=1e-5)  # to rounding: batch rows may differ in the last bit
    a = run(_model_fn(m))
    assert torch.equal(a, run(_model_fn(m))) and not torch.allclose(a, source)
    assert not torch.equal(a, run(_model_fn(m), seed=1))
    assert (run(_model_fn(m), strength=0.3) - source).norm() < (a - source).norm()


@pytest.mark.parametrize("replacement", [False, True])
def test_edit_keeps_held_latents_exactly(replacement):
    from diffusers import FlowMatchEulerDiscreteScheduler

    shape, known, cond, fn, seen = _first_frame_known()

    out = edit(fn, FlowMatchEulerDiscreteScheduler(shift=2.0), torch.randn(shape), _text(), _text(), steps=4,
               guidance=3.0, strength=0.7, generator=torch.Generator().manual_seed(0), cond=cond,
               replacement=replacement)
    assert torch.equal(out[:, :, 0], known[:, :, 0])
    if replacement:  # a model without per-token levels gets one t
        assert all(t.shape == (3,) and (t > 0).all() for t in seen)
    else:
        assert all(t.shape == (3, 3) and (t[:2, 0] == 0).all() and (t[2] > 0).all() for t in seen)


def test_callback_can_cancel_within_one_step():
    from diffusers import FlowMatchEulerDiscreteScheduler

    m = tiny_dit()
    calls = []

    def stop(info):
        calls.append(info.step)
        if info.step == 2:
            raise Cancelled(info.latents)

    with pytest.raises(Cancelled) as e:
        sample(_model_fn(m), FlowMatchEulerDiscreteScheduler(), torch.randn(1, 4, 2, 4, 4), _text(), _text(),
               steps=10, guidance=1.0, callback=stop)
    assert calls == [1, 2] and e.value.latents is not None


def test_pipeline_stores_the_transformer_in_float16_and_loads_it_in_float32(tmp_path):
    torch.manual_seed(0)
    vae = VideoVAE(latent_channels=4, channels=(16, 16, 16)).eval()
    dit = tiny_dit()
    WorldPipeline(vae, dit, {"shift": 2.0}).save_pretrained(tmp_path / "m", transformer_dtype=torch.float16)
    assert dit.dtype == torch.float32  # the live model is left as it was
    from safetensors import safe_open

    with safe_open(str(next((tmp_path / "m" / "transformer").glob("*.safetensors"))), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
    pipe = WorldPipeline.from_pretrained(tmp_path / "m")
    assert pipe.transformer.dtype == torch.float32
    for a, b in zip(pipe.transformer.parameters(), dit.parameters()):
        assert torch.equal(a, b.half().float())


def test_pipeline_round_trip(tiny_model):
    pipe = WorldPipeline.from_pretrained(tiny_model)
    frames = np.random.default_rng(0).integers(0, 255, (9, 32, 32, 3), dtype=np.uint8)
    z = pipe.encode_video(frames)
    assert z.shape == (1, 4, 9, 4, 4)
    assert pipe.decode_latents(z).shape == frames.shape
    assert pipe.vae.channels_last  # inference's faster layout; VideoVAE's default (training) stays off
    assert not VideoVAE.channels_last
