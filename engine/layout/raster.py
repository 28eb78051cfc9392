"""A layout as the transformer's input: per latent cell, how much of each object's amodal box and of
its visible part covers it, and how much of the pillar (engine.models.dit `layout` argument).

`pack` turns `Layout.arrays` (numpy, per frame) into fixed-size arrays (MAX_OBJECTS slots, absent
objects marked -1) that training shards store and batches stack; `cover` turns a batch of packed
arrays into the coverage tensors at the latent grid. The DiT multiplies coverage by each object's
learned code (colour + shape + size + index) itself, so codes are learned end to end.
"""
from __future__ import annotations

import numpy as np
import torch

from engine.layout.layout import MAX_OBJECTS, Layout

NULL_SCENE = (-1, -1, -1)  # no layout: the DiT's "none" embeddings


def pack(arrays: dict, frames: int) -> dict:
    """`Layout.arrays` -> fixed shapes: boxes (MAX_OBJECTS, F, 4), visible (MAX_OBJECTS, F), attrs
    (MAX_OBJECTS, 4) with -1 rows for absent objects, pillar (F, 2), scene (3,)."""
    O = len(arrays["attrs"])
    boxes = np.zeros((MAX_OBJECTS, frames, 4), np.float32)
    visible = np.zeros((MAX_OBJECTS, frames), np.float32)
    attrs = np.full((MAX_OBJECTS, 4), -1, np.int64)
    boxes[:O], visible[:O], attrs[:O] = arrays["boxes"], arrays["visible"], arrays["attrs"]
    return {"boxes": boxes, "visible": visible, "attrs": attrs, "pillar": arrays["pillar"].astype(np.float32),
            "scene": np.asarray(arrays["scene"], np.int64)}


def layout_arrays(layout: Layout, width: int, height: int, times) -> dict:
    return pack(layout.arrays(width, height, times), len(times))


def null_arrays(frames: int) -> dict:
    """No layout: every object absent, no pillar, the scene's "none" ids (the unconditional branch)."""
    return {"boxes": np.zeros((MAX_OBJECTS, frames, 4), np.float32),
            "visible": np.zeros((MAX_OBJECTS, frames), np.float32),
            "attrs": np.full((MAX_OBJECTS, 4), -1, np.int64),
            "pillar": np.full((frames, 2), np.nan, np.float32), "scene": np.array(NULL_SCENE, np.int64)}


def stack(items: list[dict]) -> dict:
    return {k: torch.from_numpy(np.stack([it[k] for it in items])) for k in items[0]}


def _overlap(lo: torch.Tensor, hi: torch.Tensor, cells: int) -> torch.Tensor:
    """(..., cells): the share of each of `cells` equal cells of [0, 1] covered by [lo, hi]."""
    edges = torch.arange(cells + 1, dtype=torch.float32) / cells
    a, b = edges[:-1], edges[1:]
    return (torch.minimum(hi[..., None], b) - torch.maximum(lo[..., None], a)).clamp_min(0) * cells


def cover(batch: dict, h: int, w: int) -> tuple[torch.Tensor, ...]:
    """Packed arrays (batched, torch) -> (amodal (B, O, F, h, w), visible (B, O, F, h, w), pillar
    (B, 1, F, h, w), attrs (B, O, 4) long, scene (B, 3) long): coverage of each latent cell."""
    boxes = batch["boxes"].float()
    x0, y0, x1, y1 = boxes.unbind(-1)  # B, O, F
    cx = _overlap(x0.clamp(0, 1), x1.clamp(0, 1), w)  # B, O, F, w
    cy = _overlap(y0.clamp(0, 1), y1.clamp(0, 1), h)  # B, O, F, h
    amodal = cy[..., :, None] * cx[..., None, :]  # B, O, F, h, w
    pillar = batch["pillar"].float()  # B, F, 2
    p0, p1 = pillar[..., 0].nan_to_num(2.0), pillar[..., 1].nan_to_num(2.0)
    pcol = _overlap(p0.clamp(0, 2), p1.clamp(0, 2), w)  # B, F, w (an interval past 1 covers nothing)
    behind = _overlap(torch.maximum(x0.clamp(0, 1), p0[:, None]), torch.minimum(x1.clamp(0, 1), p1[:, None]), w)
    visible = cy[..., :, None] * (cx - behind).clamp_min(0)[..., None, :]
    absent = (batch["attrs"][..., 0] < 0)[..., None, None, None]
    amodal, visible = amodal.masked_fill(absent, 0), visible.masked_fill(absent, 0)
    pmap = pcol[:, None, :, None, :].expand(-1, 1, -1, h, -1)
    return amodal, visible, pmap.contiguous(), batch["attrs"].long(), batch["scene"].long()
