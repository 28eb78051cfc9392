"""Video compression network: frames to latents and back.

Compresses 8x in space and `temporal_ratio` in time. The first frame is always
encoded on its own (as in the causal VAEs of LTX-Video and Wan), so a clip of
1 + t*k frames maps to 1 + k latent frames and a still is exactly one latent
frame. Each group of t frames is stacked on channels and encoded by a 2D
network; the decoder can mix neighbouring latent frames with a 3D convolution.

The bundled model uses t = 1 (a per-frame VAE): a first attempt with t = 4
blurred moving objects away after the training budget we have (docs/TRAINING.md),
while a per-frame VAE of flat shapes reconstructs sharply within minutes. The
transformer compresses time instead, through its patches.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

# --------------------------------------------------------------------------
# Blocks
# --------------------------------------------------------------------------

class ResBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(8, ch), nn.Conv2d(ch, ch, 3, padding=1)
        self.norm2, self.conv2 = nn.GroupNorm(8, ch), nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        return x + self.conv2(F.silu(self.norm2(h)))


class Up(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


# --------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------

class VideoVAE(ModelMixin, ConfigMixin):
    """(B, 3, F, H, W) in [-1, 1] with F = 1 + t*k  <->  (B, C, 1 + k, H/8, W/8)."""

    # Inference sets it (engine.families.pipeline): the 2D networks then run on channels-last activations,
    # which oneDNN's convolutions take without reordering (the decoder 1.4x faster on two AVX2 cores, the
    # same frames to float rounding: docs/BENCHMARKS.md); training keeps the default layout.
    channels_last = False

    @register_to_config
    def __init__(self, latent_channels: int = 8, channels: tuple = (32, 64, 128),
                 temporal_ratio: int = 1, decoder_temporal_kernel: int = 1,
                 latents_mean: list | None = None, latents_std: list | None = None):
        super().__init__()
        c1, c2, c3 = channels
        t = temporal_ratio
        self.encoder = nn.Sequential(
            nn.Conv2d(3 * t, c1, 3, stride=2, padding=1), ResBlock(c1),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1), ResBlock(c2),
            nn.Conv2d(c2, c3, 3, stride=2, padding=1), ResBlock(c3), ResBlock(c3),
            nn.GroupNorm(8, c3), nn.SiLU(), nn.Conv2d(c3, 2 * latent_channels, 3, padding=1),
        )
        k = decoder_temporal_kernel
        self.decoder_in = nn.Conv3d(latent_channels, c3, (k, 3, 3), padding=(k // 2, 1, 1))
        self.decoder = nn.Sequential(
            ResBlock(c3), ResBlock(c3), Up(c3, c2), ResBlock(c2), Up(c2, c1), ResBlock(c1), Up(c1, c1),
            nn.GroupNorm(8, c1), nn.SiLU(), nn.Conv2d(c1, 3 * t, 3, padding=1),
        )

    # -- stats for the diffusion model: it sees (z - mean) / std ----------------
    def _stats(self, z):
        C = self.config.latent_channels
        mean = torch.tensor(self.config.latents_mean or [0.0] * C, dtype=z.dtype, device=z.device)
        std = torch.tensor(self.config.latents_std or [1.0] * C, dtype=z.dtype, device=z.device)
        return mean.view(1, C, 1, 1, 1), std.view(1, C, 1, 1, 1)

    def normalize(self, z):
        mean, std = self._stats(z)
        return (z - mean) / std

    def denormalize(self, z):
        mean, std = self._stats(z)
        return z * std + mean

    # -- encode / decode -------------------------------------------------------
    def _groups(self, x):
        """(B, 3, F, H, W) -> (B * T, 3 * t, H, W) with the first frame repeated t times."""
        t = self.config.temporal_ratio
        B, C, Fr, H, W = x.shape
        if (Fr - 1) % t:
            raise ValueError(f"frame count must be 1 + {t}k, got {Fr}")
        x = torch.cat([x[:, :, :1].expand(-1, -1, t, -1, -1), x[:, :, 1:]], dim=2)  # B, 3, t*T, H, W
        T = x.shape[2] // t
        x = x.view(B, C, T, t, H, W).permute(0, 2, 3, 1, 4, 5)  # B, T, t, 3, H, W
        return x.reshape(B * T, t * C, H, W), T

    def _layout(self, x):
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def encode_dist(self, x):
        B = x.shape[0]
        g, T = self._groups(x)
        h = self.encoder(self._layout(g)).contiguous()  # B*T, 2C, h, w
        h = h.view(B, T, *h.shape[1:]).transpose(1, 2)  # B, 2C, T, h, w
        mean, logvar = h.chunk(2, dim=1)
        return mean, logvar.clamp(-20, 10)

    def encode(self, x, sample: bool = False, generator: torch.Generator | None = None):
        """Frames in [-1, 1] -> raw latents (not normalised)."""
        mean, logvar = self.encode_dist(x)
        if not sample:
            return mean
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
        return mean + torch.exp(0.5 * logvar) * noise

    def decode(self, z):
        """Raw latents (B, C, T, h, w) -> frames (B, 3, 1 + t(T-1), H, W) in [-1, 1] (unclamped)."""
        t = self.config.temporal_ratio
        B, _, T, h, w = z.shape
        y = self.decoder_in(z)  # B, c3, T, h, w
        y = y.transpose(1, 2).reshape(B * T, -1, h, w)
        y = self.decoder(self._layout(y)).contiguous()  # B*T, 3t, H, W
        H, W = y.shape[-2:]
        y = y.view(B, T, t, 3, H, W).permute(0, 3, 1, 2, 4, 5).reshape(B, 3, T * t, H, W)
        return y[:, :, t - 1:]  # the first group's t copies of frame 0 -> keep one

    def forward(self, x):
        return self.decode(self.encode(x))
