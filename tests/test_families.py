"""Real checkpoint families (issue 7). Tiny LTX-Video and Wan 2.1 pipelines are built here from
config with random weights and saved with `save_pretrained`; the same folder is rendered by
diffusers' reference pipeline and by the engine (its API and `python -m engine generate` /
`animate`), same seed and settings, and the frames must agree within 2 levels in 8 bits (the
command line's frames carry the studio's invisible watermark; the reference gets the same mark
before the comparison)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from engine.errors import InputError
from engine.families import capabilities, check_verb, family_of, load_family
from engine.families.tiny import build_ltx, build_wan
from engine.request import GenerateRequest
from engine.sampling.conditioning import ClipCondition, ImageCondition, MaskCondition
from engine.service import Engine

W = H = 32
N = 9  # frames: 1 + 2 latent frames at the tiny VAEs' 4x time compression
STEPS, GUIDANCE, SEED = 4, 3.0, 7
PROMPT = "a red ball rolls to the right"
CANVASES = {"1:1": [W, H], "16:9": [64, 32], "9:16": [32, 64]}
RNG = np.random.default_rng(0)
STILL, LAST = (RNG.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(2))
CLIP = RNG.integers(0, 256, (17, H, W, 3), dtype=np.uint8)


def _quiet():
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.set_verbosity_error()


def _declare_canvases(folder):
    """The tiny folders render 32 x 32 for --aspect 1:1 (model_index.json "_tenku" canvases)."""
    index = json.loads((folder / "model_index.json").read_text())
    index["_tenku"] = {"canvases": CANVASES}
    (folder / "model_index.json").write_text(json.dumps(index, indent=2))


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    _quiet()
    root = tmp_path_factory.mktemp("families")
    out = {"ltxc": build_ltx(root / "ltx-cond", condition=True, timestep_conditioning=True),
           "ltx": build_ltx(root / "ltx-t2v", condition=False),
           "wan": build_wan(root / "wan"),
           "wan-euler": build_wan(root / "wan-euler", unipc=False)}
    for f in out.values():
        _declare_canvases(f)
    return out


@pytest.fixture(scope="module")
def families(folders):
    return {k: load_family(v) for k, v in folders.items()}


def reference(folder, conditions=None, frames=N, fps=24, steps=STEPS):
    """uint8 frames from the diffusers pipeline named in the folder."""
    import diffusers

    name = json.loads((folder / "model_index.json").read_text())["_class_name"]
    pipe = getattr(diffusers, name).from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    kw = {"frame_rate": fps} if name.startswith("LTX") else {}
    if conditions:
        kw["conditions"] = conditions
    out = pipe(prompt=PROMPT, negative_prompt="", height=H, width=W, num_frames=frames, num_inference_steps=steps,
               guidance_scale=GUIDANCE, generator=torch.Generator().manual_seed(SEED), output_type="np", **kw)
    return (out.frames[0] * 255).round().astype(np.uint8)


def request(conditions=(), frames=N, fps=24.0, **kw):
    return GenerateRequest(**{"prompt": PROMPT, "frames": frames, "fps": fps, "width": W, "height": H,
                              "steps": STEPS, "guidance": GUIDANCE, "seed": SEED, "conditions": list(conditions),
                              **kw})


def assert_parity(ours, ref):
    assert ours.shape == ref.shape
    diff = np.abs(ours.astype(int) - ref.astype(int)).max()
    assert diff <= 2, f"frames differ by up to {diff} levels"
    assert ref.std() > 5  # not a flat picture that any loop would match


def ltx_condition(image=None, video=None, frame_index=0, strength=1.0):
    from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

    return LTXVideoCondition(image=None if image is None else Image.fromarray(image),
                             video=None if video is None else [Image.fromarray(f) for f in video],
                             frame_index=frame_index, strength=strength)


# --------------------------------------------------------------------------
# Same seed, same initial noise
# --------------------------------------------------------------------------

def test_initial_noise_is_drawn_as_the_reference_draws_it(folders, families):
    import diffusers

    for key, cls in (("ltxc", "LTXConditionPipeline"), ("wan", "WanPipeline")):
        fam = families[key]
        pipe = getattr(diffusers, cls).from_pretrained(folders[key])
        fam._generator = torch.Generator().manual_seed(SEED)
        ours = fam.prepare(request(), N, W, H)["noise"]
        g = torch.Generator().manual_seed(SEED)
        if key == "wan":
            ref = pipe.prepare_latents(1, 16, H, W, N, torch.float32, "cpu", g)
        else:
            ref = pipe.prepare_latents([], [], [], batch_size=1, num_channels_latents=8, height=H, width=W,
                                       num_frames=N, generator=g, device="cpu", dtype=torch.float32)[0]
        assert torch.equal(ours, ref)


# --------------------------------------------------------------------------
# LTX-Video: every verb against LTXConditionPipeline, text to video against LTXPipeline
# --------------------------------------------------------------------------

def test_a_real_family_refuses_the_distilled_sampler_by_name(folders):
    with pytest.raises(InputError, match="has no distilled sampler; use the sampler 'full' or 'auto'"):
        Engine(folders["ltx"], sampler="distilled").generate(GenerateRequest("a red ball", frames=N, steps=1))


def test_ltx_text_to_video_matches_ltx_pipeline(folders, families):
    assert_parity(families["ltx"].generate(request()).frames, reference(folders["ltx"]))


LTX_CASES = {
    "text to video": ([], []),
    "image to video": ([ImageCondition(STILL, 0)], [dict(image=STILL)]),
    "keyframes at both ends": ([ImageCondition(STILL, 0), ImageCondition(LAST, -1)],
                               [dict(image=STILL), dict(image=LAST, frame_index=N - 1)]),
    "extend forward": ([ClipCondition(CLIP[:5], 0)], [dict(video=CLIP[:5])]),
}


@pytest.mark.parametrize("case", LTX_CASES)
def test_ltx_verbs_match_ltx_condition_pipeline(folders, families, case):
    ours, theirs = LTX_CASES[case]
    assert_parity(families["ltxc"].generate(request(ours)).frames,
                  reference(folders["ltxc"], [ltx_condition(**c) for c in theirs]))


def test_ltx_extend_backward_matches_on_a_longer_clip(folders, families):
    # 17 frames; the known clip is the last 9 (3 latent frames): two go in as extra tokens, one in place
    ours = families["ltxc"].generate(request([ClipCondition(CLIP[:9], 8)], frames=17)).frames
    assert_parity(ours, reference(folders["ltxc"], [ltx_condition(video=CLIP[:9], frame_index=8)], frames=17))


def test_ltx_conditioned_tokens_are_held_at_timestep_zero(families):
    fam = families["ltxc"]
    seen = []
    forward = fam.transformer.forward

    def spy(*a, **k):
        seen.append(k["timestep"].clone())
        return forward(*a, **k)
    fam.transformer.forward = spy
    try:
        fam.render_latents(request([ImageCondition(STILL, 0)]))
    finally:
        fam.transformer.forward = forward
    frame_tokens = (H // fam.spatial_ratio) * (W // fam.spatial_ratio)
    assert all((t[:, :frame_tokens] == 0).all() and (t[:, frame_tokens:] > 0).all() for t in seen)
    assert fam.per_token_timesteps and capabilities(fam.path)["verbs"]["animate"] == "native"


# conditions of strength < 1, as LTXConditionPipeline's per-condition `strength`: (ours, the
# reference's, frames, steps). LTX's schedule stays above 0.72 for the first 7 of 8 steps
# (linear-quadratic), so a strength of 0.2 (level 0.8) is released for the last 2 of 8 steps; the
# others stay held at their blend to the end
LTX_WEAK = {
    "image to video, strength 0.6": ([ImageCondition(STILL, 0, strength=0.6)], [dict(image=STILL, strength=0.6)],
                                     N, STEPS),
    "image to video, strength 0.2, released": ([ImageCondition(STILL, 0, strength=0.2)],
                                               [dict(image=STILL, strength=0.2)], N, 8),
    "extend forward, strength 0.7": ([ClipCondition(CLIP[:5], 0, strength=0.7)],
                                     [dict(video=CLIP[:5], strength=0.7)], N, STEPS),
    "keyframes, end at strength 0.2": ([ImageCondition(STILL, 0), ImageCondition(LAST, -1, strength=0.2)],
                                       [dict(image=STILL), dict(image=LAST, frame_index=N - 1, strength=0.2)], N, 8),
    "extend backward, strength 0.8": ([ClipCondition(CLIP[:9], 8, strength=0.8)],
                                      [dict(video=CLIP[:9], frame_index=8, strength=0.8)], 17, STEPS),
}


@pytest.mark.parametrize("case", LTX_WEAK)
def test_ltx_condition_strength_matches_ltx_condition_pipeline(folders, families, case):
    ours, theirs, frames, steps = LTX_WEAK[case]
    got = families["ltxc"].generate(request(ours, frames=frames, steps=steps)).frames
    assert_parity(got, reference(folders["ltxc"], [ltx_condition(**c) for c in theirs], frames=frames,
                                 steps=steps))
    if not case.startswith("keyframes"):  # in place: the strength visibly changes the clip
        full = [type(c)(c.image if isinstance(c, ImageCondition) else c.frames, c.frame_index) for c in ours]
        assert np.abs(families["ltxc"].generate(request(full, frames=frames, steps=steps)).frames.astype(int)
                      - got.astype(int)).max() > 20


def test_ltx_weak_condition_is_shown_at_its_level_then_released(families):
    """Strength 0.2 at frame 0: its tokens are told min(t, 800) and held at the blend
    lerp(noise, condition, 0.2) until the schedule falls to 0.8, then denoised."""
    fam = families["ltxc"]
    seen, inputs = [], []
    forward = fam.transformer.forward

    def spy(*a, **k):
        seen.append(k["timestep"][0].clone())
        inputs.append(k["hidden_states"][0].clone())
        return forward(*a, **k)
    fam.transformer.forward = spy
    try:
        r = fam.render_latents(request([ImageCondition(STILL, 0, strength=0.2)], steps=8))
    finally:
        fam.transformer.forward = forward
    k = (H // fam.spatial_ratio) * (W // fam.spatial_ratio)  # tokens of latent frame 0
    start = r["state"]["noise"][0, :k]  # the reference's initial latents: lerp(noise, still, 0.2)
    for t, x in zip(seen, inputs):
        rest = float(t[k:].max())
        assert torch.allclose(t[:k], torch.full((k,), min(rest, 800.0)), atol=1e-3)
        if rest > 800.0:  # not yet released: still the blend
            assert torch.allclose(x[:k], start, atol=1e-6)
    assert any(float(t[k:].max()) > 800 for t in seen) and any(float(t[k:].max()) < 800 for t in seen)
    assert not torch.allclose(r["latents"][0, :k], start, atol=1e-3)  # released, then denoised


# --------------------------------------------------------------------------
# Wan 2.1: text to video against WanPipeline; conditioned verbs by replacement
# --------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["wan", "wan-euler"])  # UniPC (the released folders) and flow-match Euler
def test_wan_text_to_video_matches_wan_pipeline(folders, families, key):
    assert_parity(families[key].generate(request(fps=16.0)).frames, reference(folders[key]))


WAN_CASES = {
    "image to video": ([ImageCondition(STILL, 0)], [0]),
    "keyframes at both ends": ([ImageCondition(STILL, 0), ImageCondition(LAST, -1)], [0, 2]),
    "extend forward": ([ClipCondition(CLIP[:5], 0)], [0, 1]),
}


@pytest.mark.parametrize("case", WAN_CASES)
def test_wan_conditions_by_replacement_end_exactly_on_the_known_latents(families, case):
    fam = families["wan"]
    conds, known = WAN_CASES[case]
    r = fam.render_latents(request(conds, fps=16.0))
    held = r["state"]["cond"]
    z = r["latents"]
    assert torch.equal(z[:, :, known], held.latents[:, :, known])
    assert held.clean[:, :, known].all() and not held.clean[:, :, [i for i in range(3) if i not in known]].any()
    if case == "image to video":  # frame 0 is the still through the VAE, as Wan decodes it on its own
        still = fam.decode(fam.encode_video(STILL[None], W, H), {})
        assert np.array_equal(fam.decode(z, r["state"])[0], still[0])
    free = fam.render_latents(request(fps=16.0))["latents"]
    assert not torch.allclose(z[:, :, 1:], free[:, :, 1:])  # the conditions steer the rest
    assert capabilities(fam.path)["verbs"]["animate"] == "replacement"


def test_inpaint_by_replacement_keeps_the_unmasked_latents(families):
    mask = np.zeros((H, W), bool)
    mask[8:24, 8:24] = True
    for key in ("wan", "ltxc"):
        fam = families[key]
        r = fam.render_latents(request([MaskCondition(CLIP[:N], mask)], fps=16.0 if key == "wan" else 24.0))
        c = r["state"]["cond"]
        assert c.clean.any() and not c.clean.all()
        assert torch.equal(r["latents"][c.clean], c.latents[c.clean])


def test_wan_condition_strength_releases_the_known_latents(families):
    """Strength < 1 on the replacement path: held only while the level is above 1 - s (UniPC and
    Euler), so the known latents no longer come out exactly as encoded; at strength 1 they do."""
    for key in ("wan", "wan-euler"):
        fam = families[key]
        full = fam.render_latents(request([ImageCondition(STILL, 0)], fps=16.0))
        # strength 0.2: released at level 0.8, for the last two of Wan's shifted 4 steps
        weak = fam.render_latents(request([ImageCondition(STILL, 0, strength=0.2)], fps=16.0))
        c = weak["state"]["cond"]
        assert c.level is not None and torch.allclose(c.level[:, :, 0], torch.tensor(0.8))
        assert torch.equal(full["latents"][:, :, 0], full["state"]["cond"].latents[:, :, 0])
        assert not torch.allclose(weak["latents"][:, :, 0], c.latents[:, :, 0], atol=1e-3)
        assert not torch.allclose(weak["latents"][:, :, 1:], full["latents"][:, :, 1:])
    mask = np.zeros((H, W), bool)
    mask[8:24, 8:24] = True
    fam = families["ltxc"]  # inpaint (replacement on LTX) takes a strength too
    r = fam.render_latents(request([MaskCondition(CLIP[:N], mask, strength=0.2)], steps=8))
    c = r["state"]["cond"]
    assert c.level is not None and not torch.equal(r["latents"][c.clean], c.latents[c.clean])


# --------------------------------------------------------------------------
# Loops: the clip, then a seam window across the wrap-around (engine.families.seam)
# --------------------------------------------------------------------------

@pytest.mark.parametrize("r,fps,P", [(8, 24, 120), (8, 24, 24), (8, 24, 17), (4, 16, 80), (4, 16, 16),
                                     (4, 24, 24), (4, 16, 9), (1, 8, 8)])
def test_seam_window_lines_up_with_latent_frames(r, fps, P):
    from engine.families.seam import latent_aligned, seam_window

    idx, hold = seam_window(P, fps, r)
    L = len(idx)
    assert (L - 1) % r == 0 and L <= P and len(set(idx.tolist())) == L  # 1 + r*k distinct frames
    head, tail = int(np.argmin(hold)), int(np.argmin(hold[::-1]))
    assert (head - 1) % r == 0 and tail % r == 0 and tail >= r and hold[:head].all() and hold[L - tail:].all()
    assert latent_aligned(hold, r) and not hold[head:L - tail].any()
    regen = idx[~hold].tolist()
    assert P - 1 in regen and 0 in regen  # the wrap-around is regenerated, inside the window
    # a still at frame 0: the seam regenerates the frames before it, and never frame 0
    fixed = np.zeros(P, bool)
    fixed[0] = True
    idx, hold = seam_window(P, fps, r, fixed)
    assert 0 not in idx[~hold] and P - 1 in idx[~hold] and idx[~hold][-1] == P - 1 and latent_aligned(hold, r)
    fixed[P - 1] = True
    with pytest.raises(InputError, match="seam"):
        seam_window(P, fps, r, fixed)


def test_seam_window_refuses_what_cannot_be_joined():
    from engine.families.seam import latent_aligned, loop_period

    with pytest.raises(InputError, match="at least 1 s"):
        loop_period(GenerateRequest(prompt=PROMPT, frames=12, fps=24, loop=True), 24, 8)
    with pytest.raises(InputError, match="too short to join"):  # 1 s at 8 fps: 8 frames < 1 + 2 * 8
        loop_period(GenerateRequest(prompt=PROMPT, seconds=1, fps=8, loop=True), 8, 8)
    assert loop_period(GenerateRequest(prompt=PROMPT, seconds=5, fps=24, loop=True), 24, 8) == 120
    assert not latent_aligned(np.array([1, 1, 0, 0, 0]), 4) and latent_aligned(np.array([1, 0, 0, 0, 0]), 4)


LOOPS = [("ltxc", 24.0), ("ltx", 24.0), ("wan", 16.0), ("wan-euler", 16.0)]


@pytest.mark.parametrize("key,fps", LOOPS)
def test_loops_render_one_period_joined_across_the_wrap(families, key, fps):
    fam = families[key]
    req = request(frames=int(fps), fps=fps, loop=True)  # 1 s
    r = fam.render_loop(req)
    P, idx, hold = r["period"], r["window"], r["hold"]
    assert P == int(fps) and r["frames"].shape == (P, H, W, 3)
    assert (r["frames_rendered"] - 1) % fam.temporal_ratio == 0 and r["frames_rendered"] >= P
    # the clip is what a plain render of the same frames and seed makes; the seam replaces only
    # the frames between the held ones, and the wrap-around (P-1 -> 0) is among them
    plain = fam.generate(request(frames=r["frames_rendered"], fps=fps)).frames
    regen = np.zeros(P, bool)
    regen[idx[~hold]] = True
    assert regen[0] and regen[P - 1] and 0 < regen.sum() < P
    assert np.array_equal(r["frames"][~regen], plain[:P][~regen])
    assert all(np.abs(r["frames"][i].astype(int) - plain[i].astype(int)).max() > 10 for i in np.flatnonzero(regen))
    # the seam's held latent frames come out of the sampler exactly as encoded; the others do not
    c, z = r["seam_state"]["cond"], r["seam_latents"]
    assert c.clean.any() and torch.equal(z[c.clean], c.latents[c.clean])
    assert not torch.allclose(z[~c.clean], c.latents[~c.clean])
    # the verb's result: one period at the requested rate, the same for the same seed
    res = fam.generate(req)
    assert res.frames.shape == (P, H, W, 3) and np.array_equal(res.frames, r["frames"])
    assert res.settings["loop_period"] == P and res.settings["seam_frames"] == idx.tolist()
    assert np.array_equal(fam.generate(req).frames, res.frames)
    assert not np.array_equal(fam.generate(request(frames=int(fps), fps=fps, loop=True, seed=SEED + 1)).frames,
                              res.frames)


def test_ltx_loop_seam_holds_tokens_at_timestep_zero(families):
    fam = families["ltxc"]
    seen = []
    forward = fam.transformer.forward

    def spy(*a, **k):
        seen.append(k["timestep"][0].clone())
        return forward(*a, **k)
    fam.transformer.forward = spy
    try:
        r = fam.render_loop(request(frames=24, loop=True))
    finally:
        fam.transformer.forward = forward
    held = r["seam_state"]["cond"].token_clean[0]
    seam = seen[-STEPS:]  # guidance batches [cond, uncond]: one call per step
    assert len(seen) == 2 * STEPS and held.any() and not held.all()
    assert all((t[held] == 0).all() and (t[~held] > 0).all() for t in seam)
    assert all(t.numel() == held.numel() for t in seam)


@pytest.mark.parametrize("key,fps", [("ltxc", 24.0), ("wan", 16.0)])
def test_a_loop_from_a_still_keeps_the_still(families, key, fps):
    """Animate + loop: frame 0 is the still's (not regenerated); the seam regenerates the frames
    before the wrap so that they flow into it."""
    fam = families[key]
    conds = [ImageCondition(STILL, 0)]
    r = fam.render_loop(request(conds, frames=int(fps), fps=fps, loop=True))
    regen = r["window"][~r["hold"]]
    assert 0 not in regen and regen[-1] == r["period"] - 1
    plain = fam.generate(request(conds, frames=r["frames_rendered"], fps=fps)).frames
    assert np.array_equal(r["frames"][0], plain[0])


def test_wan_loop_at_another_rate_delivers_one_period(families):
    fam = families["wan"]
    res = fam.generate(request(frames=24, fps=24.0, loop=True))  # renders 16 frames at 16 fps
    assert res.frames.shape == (24, H, W, 3) and len(res.base_frames) == 16
    assert np.array_equal(res.frames[0], res.base_frames[0]) and np.array_equal(res.frames[3], res.base_frames[2])
    assert len(res.provenance) and res.provenance[-1]["stop"] == 24


# --------------------------------------------------------------------------
# The command line: `python -m engine generate | animate --model DIR` (needs engine.service's hook)
# --------------------------------------------------------------------------

def _cli(args, capsys):
    from engine.__main__ import main

    code = main(args)
    return code, capsys.readouterr()


def _png_frames(folder):
    files = sorted(p for p in folder.iterdir() if p.suffix == ".png")
    return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in files])


def _as_written(frames, folder):
    """The reference's frames as the CLI writes model-made frames: with the studio's invisible
    watermark (engine.provenance), keyed by the record in the output's sidecar."""
    from engine.provenance import ProvenanceRecord, watermark_record_frames

    record = ProvenanceRecord.from_dict(json.loads((folder / "tenku.json").read_text())["provenance"])
    return watermark_record_frames(frames, record)


@pytest.mark.parametrize("key,fps", [("ltxc", 24), ("wan", 16)])
def test_cli_generate_matches_the_reference(folders, tmp_path, capsys, key, fps):
    out = tmp_path / f"{key}/"
    code, io = _cli(["generate", "--model", str(folders[key]), "--prompt", PROMPT, "--frames", str(N),
                     "--fps", str(fps), "--width", str(W), "--height", str(H), "--steps", str(STEPS),
                     "--guidance", str(GUIDANCE), "--seed", str(SEED), "--dtype", "float32", "--out", f"{out}/"],
                    capsys)
    assert code == 0, io.err
    assert "estimate: peak memory" in io.err
    assert_parity(_png_frames(out), _as_written(reference(folders[key], fps=fps), out))


def test_cli_animate_matches_ltx_condition_pipeline(folders, tmp_path, capsys):
    still = tmp_path / "still.png"
    Image.fromarray(STILL).save(still)
    out = tmp_path / "animate/"
    code, io = _cli(["animate", "--model", str(folders["ltxc"]), "--image", str(still), "--prompt", PROMPT,
                     "--seconds", str(N / 24), "--fps", "24", "--steps", str(STEPS), "--guidance", str(GUIDANCE),
                     "--seed", str(SEED), "--dtype", "float32", "--out", f"{out}/"], capsys)
    assert code == 0, io.err
    assert_parity(_png_frames(out), _as_written(reference(folders["ltxc"], [ltx_condition(image=STILL)]), out))


@pytest.mark.parametrize("key,fps", [("ltxc", 24), ("wan", 16)])
def test_cli_generate_loop(folders, tmp_path, capsys, key, fps):
    out = tmp_path / f"loop-{key}/"
    code, io = _cli(["generate", "--model", str(folders[key]), "--prompt", PROMPT, "--loop", "--seconds", "1",
                     "--fps", str(fps), "--width", str(W), "--height", str(H), "--steps", str(STEPS),
                     "--seed", str(SEED), "--dtype", "float32", "--out", f"{out}/"], capsys)
    assert code == 0, io.err
    assert len(_png_frames(out)) == fps  # one period
    assert json.loads((out / "tenku.json").read_text())["settings"]["loop_period"] == fps


def test_cli_names_what_is_missing(folders, tmp_path, capsys):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(folders["wan"], broken, ignore=shutil.ignore_patterns("transformer"))
    code, io = _cli(["generate", "--model", str(broken), "--prompt", PROMPT, "--out", str(tmp_path / "x.mp4")],
                    capsys)
    assert code == 2 and "no transformer/config.json" in io.err
    assert not (tmp_path / "x.mp4").exists()


# --------------------------------------------------------------------------
# Bad input: unsupported folders and verbs, before any work
# --------------------------------------------------------------------------

def test_unsupported_folders_name_what_is_wrong(folders, tmp_path):
    import shutil

    assert family_of(folders["ltxc"]) == "ltx" and family_of(folders["wan"]) == "wan"
    with pytest.raises(InputError, match="no model_index.json"):
        family_of(tmp_path)
    for missing in ("transformer", "text_encoder", "tokenizer"):
        broken = tmp_path / f"no-{missing}"
        shutil.copytree(folders["ltxc"], broken, ignore=shutil.ignore_patterns(missing))
        with pytest.raises(InputError, match=f"no {missing}/"):
            load_family(broken)
    other = tmp_path / "other"
    shutil.copytree(folders["wan"], other)
    index = json.loads((other / "model_index.json").read_text())
    (other / "model_index.json").write_text(json.dumps({**index, "_class_name": "CogVideoXPipeline"}))
    with pytest.raises(InputError, match="CogVideoXPipeline.*supported: .*LTXConditionPipeline"):
        family_of(other)
    (other / "model_index.json").write_text(json.dumps({**index, "transformer_2": ["diffusers", "X"]}))
    with pytest.raises(InputError, match="Wan 2.2"):
        family_of(other)


def test_verbs_a_family_cannot_do_fail_before_any_work(folders, families):
    for key in ("ltxc", "wan"):  # every verb is offered now (loops since issue 7's follow-up)
        for verb in ("loop", "animate", "inpaint"):
            check_verb(folders[key], verb)
    with pytest.raises(InputError, match="unknown verb"):
        check_verb(folders["ltxc"], "teleport")
    fam = families["ltxc"]
    calls = []
    forward, encode = fam.transformer.forward, fam.text_encoder.forward
    fam.transformer.forward = fam.text_encoder.forward = lambda *a, **k: calls.append(1)
    fam.verbs = {k: v for k, v in type(fam).verbs.items() if k != "loop"}  # a family without loops
    try:
        with pytest.raises(InputError, match="cannot loop"):
            fam.generate(request(loop=True, frames=24))
        del fam.verbs
        with pytest.raises(InputError, match="at least 1 s"):
            fam.generate(request(loop=True))  # 9 frames at 24 fps
        with pytest.raises(InputError, match="loop cannot be combined with inpaint"):
            fam.generate(request([MaskCondition(CLIP[:N], np.ones((H, W), bool))], loop=True, frames=24))
        with pytest.raises(InputError, match="seam would regenerate frames given by conditions"):
            fam.generate(request([ImageCondition(STILL, 0), ImageCondition(LAST, 23)], loop=True, frames=24))
        with pytest.raises(InputError, match="multiple of 32"):
            fam.generate(GenerateRequest(prompt=PROMPT, width=48, height=32))
        with pytest.raises(InputError, match="remix method 'magic' is unknown; allowed: flowedit, sdedit"):
            fam.generate(GenerateRequest(prompt=PROMPT, init_video=CLIP[:N], strength=0.5, remix_method="magic"))
    finally:
        fam.transformer.forward, fam.text_encoder.forward = forward, encode
        vars(fam).pop("verbs", None)
    assert calls == []


def test_the_bundled_model_is_a_family_too(tiny_model):
    fam = load_family(tiny_model)
    assert fam.family == "world" and not fam.renders_itself and fam.per_token_timesteps
    fam.check_verb("loop")
    assert capabilities(tiny_model)["verbs"]["animate"] == "native"


# --------------------------------------------------------------------------
# Devices and memory
# --------------------------------------------------------------------------

def test_vae_tiling_and_offload_options(folders, families):
    fam = load_family(folders["ltxc"], offload=True, vae_tiling=True)
    assert fam.vae.use_tiling and fam.offload
    base = families["ltxc"].generate(request()).frames
    assert np.array_equal(fam.generate(request()).frames, base)  # tiles larger than 32 x 32: one tile


def test_offload_moves_each_model_once_per_stage(families):
    fam = families["ltxc"]
    moves = []

    class Stub:
        def to(self, device):
            moves.append(str(device))
            return self
    stub, device = Stub(), fam.device
    fam.offload, fam.device = True, torch.device("cuda")  # on_device only looks at the type; nothing runs there
    try:
        with fam.on_device(stub):
            with fam.on_device(stub):  # a per-step call inside the stage's visit moves nothing
                pass
    finally:
        fam.offload, fam.device = False, device
    assert moves == ["cuda", "cpu"]


def test_preflight_estimate(folders):
    from engine.families.estimate import estimate

    small = estimate(folders["ltxc"], width=W, height=H, frames=N, steps=STEPS, guidance=GUIDANCE, tflops=0.05)
    long = estimate(folders["ltxc"], width=W, height=H, frames=4 * N, steps=STEPS, guidance=GUIDANCE, tflops=0.05)
    off = estimate(folders["ltxc"], width=W, height=H, frames=N, steps=STEPS, guidance=GUIDANCE, tflops=0.05,
                   offload=True)
    assert 0 < small.peak_gib < long.peak_gib and small.seconds < long.seconds
    assert off.weights_gib < small.weights_gib
    assert "estimate: peak memory" in small.describe()


def test_preflight_counts_a_loops_seam_window(folders, monkeypatch):
    import engine.families.estimate as est
    from engine.families.cli import preflight

    monkeypatch.setattr(est, "measure_tflops", lambda *a, **k: 0.05)
    plain = preflight(folders["ltxc"], request(frames=24))
    loop = preflight(folders["ltxc"], request(frames=24, loop=True))  # the clip (25 frames) and a 21-frame seam
    assert loop.peak_gib == plain.peak_gib and loop.seconds > 1.5 * plain.seconds


def test_studio_takes_and_loops_render_at_the_models_own_rate(folders, tmp_path):
    """The studio asks a real checkpoint for its own rate (LTX 24 fps, Wan 16), not the bundled
    model's 8 fps base rate: at 8 fps LTX clips are short of frames and a studio loop could not be
    joined; Wan made 16 fps and had half its frames thrown away."""
    from engine.service import Engine
    from studio.jobs import run_job
    from studio.project import Store

    st = Store(tmp_path / "projects")
    pid = st.create_project("Real checkpoints")
    progress = lambda *a, **k: None  # noqa: E731
    for key, fps in (("ltxc", 24.0), ("wan", 16.0)):
        sid = st.add_shot(pid, prompt=PROMPT, seconds=1.0, aspect="1:1", steps=2)
        engine = Engine(folders[key])
        assert engine.take_fps == fps
        (tid,), cancelled = run_job(st, engine, {"project_id": pid, "kind": "shot",
                                                 "params": {"shot_id": sid, "seed": 0}}, progress)
        take = st.take(tid)
        assert not cancelled and take["fps"] == fps and take["frames"] == int(fps)  # one second
        (lid,), cancelled = run_job(st, engine, {"project_id": pid, "kind": "loop", "params": {"take_id": tid}},
                                    progress)
        loop = st.take(lid)
        assert not cancelled and loop["kind"] == "loop" and loop["fps"] == fps and loop["frames"] == int(fps)
    st.close()


def test_every_family_declares_the_interface(families, tiny_model):
    from engine.families.interface import Family

    for name, family in {**families, "world": load_family(tiny_model)}.items():
        assert isinstance(family, Family), name


@pytest.mark.parametrize("kind", ["ltx", "wan"])
def test_a_real_checkpoint_take_through_the_studio_queue_shows_a_live_preview(folders, kind, tmp_path):
    """The studio's live preview decodes a step's estimate through the family (Engine.preview): LTX and Wan
    used to show none (a world-only method under a bare except)."""
    from PIL import Image

    from studio.app import make_studio

    s = make_studio(model=str(folders[kind]), projects=tmp_path / "projects", config_dir=tmp_path / "config",
                    dtype="float32")
    try:
        pid = s.store.create_project("Preview")
        sid = s.store.add_shot(pid, prompt="a red ball", seconds=0.5, aspect="1:1", steps=2, guidance=1.0)
        job = s.queue.submit(pid, "shot", {"shot_id": sid, "seed": 0, "label": "take 1"})
        s.queue.wait(300)
        done = s.store.job(job)
        assert done["status"] == "done", done
        preview = done.get("preview")
        assert preview, "no live preview was saved"
        img = np.asarray(Image.open(s.store.path(preview)))
        assert img.ndim == 3 and img.shape[2] == 3 and img.size > 0
    finally:
        s.queue.wait(60)
        s.store.close()
