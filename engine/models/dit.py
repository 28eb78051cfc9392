"""The spacetime diffusion transformer (Sora-style: a video is a sequence of spacetime patches).

Reads like DiT (Peebles & Xie, 2023) with the changes video and editing need:
  - patches over (frames, height, width) with 3D rotary positions, so any
    aspect ratio and any number of frames uses the same weights;
  - a noise level per token: the timestep embedding is computed per token and
    modulates every block through one shared adaLN projection plus a learned
    per-block table (adaLN-single, PixArt-alpha), zero-initialised gates
    (adaLN-Zero). A token with t = 0 is a clean condition: the same model
    animates stills, extends, fills and inpaints;
  - cross-attention to MiniLM token embeddings, and the pooled sentence
    embedding added to the timestep embedding.
Flow matching: x_t = (1 - t) x_0 + t * noise, and the model returns the velocity noise - x_0.
It predicts the velocity directly (`prediction="velocity"`) or predicts the clean x_0 and
returns (x_t - x_0) / t (`prediction="x0"`, as in JiT: Li & He, "Back to Basics: Let Denoising
Generative Models Denoise", 2025). A token of 2x4x4 patches of 8 latent channels is 256
numbers; a velocity carries full-rank noise, which a transformer as narrow as its tokens
cannot pass through, while clean latents of flat shapes are low-dimensional. Training on the
velocity loss is the same in both cases.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def modulate(x, shift, scale):
    return x * (1 + scale) + shift


def rope_tables(grid: tuple[int, int, int], axes: tuple[int, ...], theta: float, device):
    """cos and sin tables (N, head_dim / 2) for token positions on a (T, H, W) grid."""
    angles = []
    for n, d in zip(grid, axes):
        freqs = 1.0 / theta ** (torch.arange(0, d, 2, device=device, dtype=torch.float32) / d)
        angles.append(torch.arange(n, device=device, dtype=torch.float32)[:, None] * freqs)  # n, d/2
    T, H, W = grid
    a = torch.cat([
        angles[0][:, None, None].expand(T, H, W, -1),
        angles[1][None, :, None].expand(T, H, W, -1),
        angles[2][None, None, :].expand(T, H, W, -1),
    ], dim=-1).reshape(T * H * W, -1)  # N, head_dim/2
    return a.cos(), a.sin()


def apply_rope(x, cos, sin):
    """x: (B, heads, N, d); rotate consecutive pairs of channels."""
    x1, x2 = x[..., 0::2], x[..., 1::2]
    out = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)  # B, h, N, d/2, 2
    return out.flatten(-2).type_as(x)


def sincos_positions(grid: tuple[int, int, int], dim: int, device, max_period: float = 100.0):
    """Fixed absolute positions (N, dim) on a (T, H, W) grid: a quarter of the channels for time
    and three eighths for each spatial axis, sin and cos of the position at geometric frequencies."""
    sizes = (dim - 2 * (3 * dim // 8), 3 * dim // 8, 3 * dim // 8)
    parts = []
    for axis, (n, d) in enumerate(zip(grid, sizes)):
        freqs = 1.0 / max_period ** (torch.arange(d // 2, device=device, dtype=torch.float32) / (d // 2))
        a = torch.arange(n, device=device, dtype=torch.float32)[:, None] * freqs  # n, d/2
        e = torch.cat([a.sin(), a.cos()], dim=-1)
        e = F.pad(e, (0, d - e.shape[-1]))
        shape = [1, 1, 1, d]
        shape[axis] = n
        parts.append(e.view(shape).expand(*grid, d))
    return torch.cat(parts, dim=-1).reshape(-1, dim)


def timestep_embedding(t, dim: int, max_period: float = 10000.0):
    """Sinusoidal embedding of t in [0, 1] (scaled by 1000), any leading shape -> (..., dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[..., None] * 1000.0 * freqs
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


# --------------------------------------------------------------------------
# Embedders and attention
# --------------------------------------------------------------------------

class Mlp(nn.Module):
    def __init__(self, din: int, dhidden: int, dout: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(din, dhidden), nn.Linear(dhidden, dout)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


PLAIN_CPU_TRAINING_ATTENTION = True  # `bench --train` sets it False to time the fused kernel beside it


def attention(q, k, v, mask=None):
    """Scaled dot-product attention of (B, h, N, d) queries over (B, h, L, d) keys and values; `mask`
    (broadcast to B, h, N, L) is True where a key may be attended to. Training on the CPU, it is two
    batched matmuls and a float32 softmax: the fused kernel's backward took a quarter of a training
    step, and for this model's short sequences (128-640 tokens, 64-wide heads) the plain form trains
    1.2x (XS) to 1.5x (S2) faster. Sampling (no autograd) and on a GPU, the fused kernel, which is
    faster there (docs/BENCHMARKS.md, "Training speed")."""
    if q.device.type != "cpu" or not torch.is_grad_enabled() or not PLAIN_CPU_TRAINING_ATTENTION:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    scores = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.float().softmax(-1).to(v.dtype) @ v


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, context_dim: int | None = None):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(context_dim or dim, 2 * dim)
        self.out = nn.Linear(dim, dim)
        hd = dim // heads
        self.q_norm, self.k_norm = nn.RMSNorm(hd, eps=1e-6), nn.RMSNorm(hd, eps=1e-6)  # QK-norm: stable at lr 1e-3

    def forward(self, x, context=None, rope=None, mask=None):
        B, N, D = x.shape
        context = x if context is None else context
        q = self.q(x).view(B, N, self.heads, -1).transpose(1, 2)  # B, h, N, d
        k, v = self.kv(context).view(B, context.shape[1], 2, self.heads, -1).permute(2, 0, 3, 1, 4)  # 2, B, h, L, d
        q, k = self.q_norm(q), self.k_norm(k)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        y = attention(q, k, v, mask)  # B, h, N, d
        return self.out(y.transpose(1, 2).reshape(B, N, D))


# --------------------------------------------------------------------------
# Block
# --------------------------------------------------------------------------

class DiTBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float, text_dim: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.cross = Attention(dim, heads, context_dim=dim)
        self.norm3 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), dim)
        self.table = nn.Parameter(torch.zeros(6 * dim))  # per-block part of adaLN-single

    def forward(self, x, mod, context, text_mask, rope):
        shift_a, scale_a, gate_a, shift_m, scale_m, gate_m = (mod + self.table).chunk(6, dim=-1)
        x = x + gate_a * self.attn(modulate(self.norm1(x), shift_a, scale_a), rope=rope)
        x = x + self.cross(self.norm2(x), context=context, mask=text_mask)
        x = x + gate_m * self.mlp(modulate(self.norm3(x), shift_m, scale_m))
        return x


class LayoutEmbed(nn.Module):
    """The layout's way in (engine.layout): each object's code (learned colour + shape + size + index
    embeddings) painted over the latent cells its amodal box covers and, separately, over those where
    it is visible, plus the pillar's coverage; patchified like the latents and added to the patch
    embeddings through `proj`. Background, pillar and camera are learned embeddings added to the
    global conditioning. `proj` and the scene embeddings start at zero, so a trained model given this
    input starts out exactly as it was (as ControlNet and GLIGEN add a condition)."""

    SLOTS = (7, 3, 2, 3)  # colours, shapes, sizes, object indices (engine.layout.layout's id tables)
    SCENE = (6, 2, 5)  # backgrounds, pillar, cameras; each table has one more row: "none" (no layout)

    def __init__(self, dim: int, patch: int, hidden: int):
        super().__init__()
        self.codes = nn.ModuleList([nn.Embedding(n, dim) for n in self.SLOTS])
        self.scene = nn.ModuleList([nn.Embedding(n + 1, hidden) for n in self.SCENE])
        self.proj = nn.Linear((2 * dim + 1) * patch, hidden)

    def reset(self):
        for e in self.codes:
            nn.init.normal_(e.weight, std=0.5)
        for e in self.scene:
            nn.init.zeros_(e.weight)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, layout):
        amodal, visible, pillar, attrs, scene = layout
        code = sum(e(attrs[..., k].clamp_min(0)) for k, e in enumerate(self.codes))  # B, O, d
        code = code * (attrs[..., :1] >= 0)
        maps = torch.cat([torch.einsum("bofhw,bod->bdfhw", amodal.to(code.dtype), code),
                          torch.einsum("bofhw,bod->bdfhw", visible.to(code.dtype), code),
                          pillar.to(code.dtype)], 1)  # B, 2d + 1, F, h, w
        none = torch.tensor(self.SCENE, device=scene.device)
        ids = torch.where(scene < 0, none, scene)
        return maps, sum(e(ids[:, k]) for k, e in enumerate(self.scene))


# --------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------

class SpacetimeDiT(ModelMixin, ConfigMixin):
    _supports_gradient_checkpointing = False

    @register_to_config
    def __init__(self, in_channels: int = 8, patch_size: tuple = (1, 4, 4), hidden_size: int = 256,
                 depth: int = 10, num_heads: int = 4, mlp_ratio: float = 4.0, text_dim: int = 384,
                 rope_axes: tuple = (16, 24, 24), rope_theta: float = 100.0, prediction: str = "velocity",
                 positions: str = "rope", text_pool: str = "mean", pool_queries: int = 4, layout_dim: int = 0,
                 guidance_embeds: bool = False):
        super().__init__()
        if text_pool not in ("mean", "attention"):
            raise ValueError(f"text_pool must be 'mean' or 'attention', got {text_pool!r}")
        if prediction not in ("velocity", "x0"):
            raise ValueError(f"prediction must be 'velocity' or 'x0', got {prediction!r}")
        if positions not in ("rope", "sincos"):
            raise ValueError(f"positions must be 'rope' or 'sincos', got {positions!r}")
        pt, ph, pw = patch_size
        D = hidden_size
        assert sum(rope_axes) == D // num_heads, "rope_axes must add up to the head dimension"
        self.x_embed = nn.Linear(in_channels * pt * ph * pw, D)
        self.t_embed = Mlp(256, D, D)
        self.pooled_embed = Mlp(text_dim, D, D)
        self.text_embed = Mlp(text_dim, D, D)
        if text_pool == "attention":
            # Learned queries read the prompt's token states into the global conditioning. MiniLM's mean-pooled
            # sentence vector barely moves between "moves left" and "moves right" (cosine 0.98, against about
            # 0.8 between two colours), so without this the modulation is all but blind to direction.
            self.pool_query = nn.Parameter(torch.randn(1, pool_queries, D) * 0.02)
            self.pool_attn = Attention(D, num_heads)
            self.pool_out = nn.Linear(pool_queries * D, D)
        self.adaLN = nn.Sequential(nn.SiLU(), nn.Linear(D, 6 * D))
        self.blocks = nn.ModuleList([DiTBlock(D, num_heads, mlp_ratio, text_dim) for _ in range(depth)])
        self.final_norm = nn.LayerNorm(D, elementwise_affine=False, eps=1e-6)
        self.final_adaLN = nn.Sequential(nn.SiLU(), nn.Linear(D, 2 * D))
        self.final = nn.Linear(D, in_channels * pt * ph * pw)
        if layout_dim:
            self.layout = LayoutEmbed(layout_dim, pt * ph * pw, D)
        if guidance_embeds:
            # A guidance-distilled transformer (engine.training.distill) takes the guidance scale w and gives the
            # guided velocity v_u + w (v_c - v_u) in one call; scaled by (w - 1), so w = 1 is the model as it was
            self.guidance_embed = Mlp(256, D, D)
        self._init_weights()
        if layout_dim:
            self.layout.reset()

    def _init_weights(self):
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        zero = [self.adaLN[-1], self.final_adaLN[-1], self.final]  # adaLN-Zero
        if self.config.guidance_embeds:  # and a distilled model starts as the model it is distilled from
            zero.append(self.guidance_embed.fc2)
        for layer in zero:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def grid(self, latent_shape) -> tuple[int, int, int]:
        """Token grid (T, H, W) for latents of shape (..., T, H, W); sizes that are not a
        multiple of the patch are padded up (16:9 at 144 px gives 18 latent rows)."""
        pt, ph, pw = self.config.patch_size
        T, H, W = latent_shape[-3:]
        return -(-T // pt), -(-H // ph), -(-W // pw)

    def patchify(self, x, pad_value: float = 0.0):
        """(B, C, T, H, W) -> (B, N, C * pt * ph * pw), padding to whole patches."""
        B, C = x.shape[:2]
        pt, ph, pw = self.config.patch_size
        T, H, W = self.grid(x.shape)
        x = F.pad(x, (0, W * pw - x.shape[4], 0, H * ph - x.shape[3], 0, T * pt - x.shape[2]), value=pad_value)
        x = x.view(B, C, T, pt, H, ph, W, pw)
        x = x.permute(0, 2, 4, 6, 1, 3, 5, 7)  # B, T', H', W', C, pt, ph, pw
        return x.reshape(B, T * H * W, C * pt * ph * pw)  # B, N, C*p

    def unpatchify(self, x, shape):
        """(B, N, C * p) -> (B, C, T, H, W) of `shape`, dropping the padding."""
        B, C, T0, H0, W0 = shape
        pt, ph, pw = self.config.patch_size
        T, H, W = self.grid(shape)
        x = x.view(B, T, H, W, C, pt, ph, pw)
        x = x.permute(0, 4, 1, 5, 2, 6, 3, 7)  # B, C, T', pt, H', ph, W', pw
        return x.reshape(B, C, T * pt, H * ph, W * pw)[:, :, :T0, :H0, :W0]

    def expand_tokens(self, values, shape):
        """Per-token values (B, N) -> per latent element (B, C, T, H, W)."""
        p = math.prod(self.config.patch_size) * shape[1]
        return self.unpatchify(values[..., None].expand(-1, -1, p).contiguous(), shape)

    def forward(self, x, t, text, text_mask, pooled, layout=None, guidance=None):
        """x: (B, C, T, H, W) noisy latents; t: (B,) or (B, N) noise level per token in [0, 1];
        text: (B, L, 384) token embeddings, text_mask: (B, L) bool, pooled: (B, 384); `layout`: the
        coverage tensors of engine.layout.raster.cover at the latent grid (models with `layout_dim`);
        `guidance`: (B,) guidance scales (models with `guidance_embeds`; None is 1, no guidance).
        Returns the velocity (noise - x_0), shape (B, C, T, H, W)."""
        shape = x.shape
        h = self.x_embed(self.patchify(x))  # B, N, D
        B, N, _ = h.shape
        scene = None
        if layout is not None and self.config.layout_dim:
            maps, scene = self.layout(layout)  # B, C_l, T, H, W and B, D
            h = h + self.layout.proj(self.patchify(maps.to(h.dtype)))
        if t.dim() == 1:
            t = t[:, None].expand(B, N)
        context = self.text_embed(text)  # B, L, D
        mask = text_mask[:, None, None, :]  # B, 1, 1, L
        g = self.pooled_embed(pooled)  # B, D
        if self.config.text_pool == "attention":
            read = self.pool_attn(self.pool_query.expand(B, -1, -1).to(context.dtype), context, mask=mask)
            g = g + self.pool_out(read.flatten(1))
        if scene is not None:
            g = g + scene.to(g.dtype)
        if guidance is not None and self.config.guidance_embeds:
            w = guidance.to(g.dtype) - 1  # B
            g = g + w[:, None] * self.guidance_embed(timestep_embedding(w / GUIDANCE_SPAN, 256)).to(g.dtype)
        c = self.t_embed(timestep_embedding(t, 256)) + g[:, None]  # B, N, D
        mod = self.adaLN(c)  # B, N, 6D
        rope = None
        if self.config.positions == "sincos":  # absolute positions added to the tokens
            h = h + sincos_positions(self.grid(shape), h.shape[-1], x.device).to(h.dtype)
        else:
            rope = rope_tables(self.grid(shape), self.config.rope_axes, self.config.rope_theta, x.device)
        for block in self.blocks:
            h = block(h, mod, context, mask, rope)
        shift, scale = self.final_adaLN(c).chunk(2, dim=-1)
        h = self.final(modulate(self.final_norm(h), shift, scale))  # B, N, C*p
        out = self.unpatchify(h, shape)
        if self.config.prediction == "x0":  # velocity from the predicted clean latents
            out = (x - out) / self.expand_tokens(t.float().clamp_min(X0_T_MIN), shape)
        return out


GUIDED = "transformer_guided"  # a guidance-distilled transformer's folder in a model folder, beside `transformer`
GUIDANCE_SPAN = 10.0  # guidance scales w - 1 in [0, 10] take the sinusoid's range that noise levels in [0, 1] take
X0_T_MIN = 0.05  # JiT's clip of t in (x_t - x_0) / t: bounds the loss weight 1 / t^2 near t = 0


PRESETS = {
    "tiny": dict(hidden_size=64, depth=2, num_heads=2, rope_axes=(8, 12, 12)),
    "XS": dict(hidden_size=192, depth=8, num_heads=3, rope_axes=(16, 24, 24)),
    "S": dict(hidden_size=256, depth=10, num_heads=4, rope_axes=(16, 24, 24)),
    # two frames per token (128 tokens for 2 s at 1:1), x0 prediction, as wide as its tokens
    "S2": dict(hidden_size=256, depth=8, num_heads=4, rope_axes=(16, 24, 24), patch_size=(2, 4, 4),
               prediction="x0"),
}
