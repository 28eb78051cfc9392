"""The prompt reader: which words of a prompt name which slot of the world's scenes.

Sora turns a user's short prompt into the kind of detailed caption its model was trained on
(Brooks et al., 2024, "re-captioning", after DALL-E 3). A 9.6 M-parameter transformer trained on
CPU hours has read far fewer captions than that, and it follows its own training wording about
twice as well as wording it never saw (docs/BENCHMARKS.md). This model does the reading instead:
it tags every MiniLM token of a prompt with the world slot it belongs to ("colour:green",
"motion:left", "background:desert", ... or "O" for none), from MiniLM's contextual token states,
so phrasings it never saw still land on their slot where the encoder places them near known ones.
`engine.world.reading` turns the tags into a scene description and writes it in training wording.

Small on purpose: two transformer layers over frozen MiniLM states, trained in a minute or two
from the captioner's own slot spans (`engine.world.reading.train_reader`).
"""
from __future__ import annotations

import torch
import torch.nn as nn
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin


class PromptReader(ModelMixin, ConfigMixin):
    """`forward(tokens (B, L, text_width), mask (B, L) bool) -> logits (B, L, len(tags))`."""

    @register_to_config
    def __init__(self, tags: list = ("O",), text_width: int = 384, width: int = 128, layers: int = 2,
                 heads: int = 4, dropout: float = 0.3):
        super().__init__()
        self.proj = nn.Sequential(nn.LayerNorm(text_width), nn.Dropout(dropout), nn.Linear(text_width, width))
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False) if layers else None
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, len(tags))

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.proj(tokens)  # B, L, D
        if self.blocks is not None:
            x = self.blocks(x, src_key_padding_mask=~mask)  # B, L, D
        return self.head(self.norm(x))  # B, L, T
