"""Model families: one adapter per kind of checkpoint, so the same engine drives the bundled
model and open checkpoints (LTX-Video, Wan 2.1) from diffusers-format folders.

`family_of(path)` reads `model_index.json` and checks the files the family needs, raising an
InputError that names what is missing; `load_family(path, device, dtype)` returns the adapter:
the bundled model as `WorldFamily` (a `WorldPipeline` with capabilities), LTX and Wan as
adapters that render a `GenerateRequest` themselves (`renders_itself = True`) with the
engine's sampler, drawing noise exactly as the reference diffusers pipeline draws it.
"""
from __future__ import annotations

import json
from pathlib import Path

from engine.errors import InputError

# model_index.json _class_name -> family
CLASSES = {"TenkuWorldPipeline": "world", "LTXPipeline": "ltx", "LTXConditionPipeline": "ltx",
           "WanPipeline": "wan"}
NEEDS = {
    "world": ("vae/config.json", "transformer/config.json", "scheduler/scheduler_config.json"),
    "ltx": ("transformer/config.json", "vae/config.json", "text_encoder/config.json",
            "tokenizer/tokenizer_config.json", "scheduler/scheduler_config.json"),
    "wan": ("transformer/config.json", "vae/config.json", "text_encoder/config.json",
            "tokenizer/tokenizer_config.json", "scheduler/scheduler_config.json"),
}
# every verb the engine knows; a family says which it does and how (docs/MODELS.md)
VERBS = ("generate", "animate", "extend", "fill", "bridge", "loop", "remix", "inpaint")


def family_of(path) -> str:
    """The family of a model folder; InputError naming the first thing missing otherwise."""
    if not str(path).strip():
        raise InputError("no model folder given; pass a folder holding model_index.json (or leave out --model)")
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"model {path} is a file; pass the folder holding model_index.json")
    if not path.is_dir():
        raise InputError(f"model folder {path} does not exist; pass a folder holding model_index.json")
    index = path / "model_index.json"
    if not index.is_file():
        raise InputError(f"{path} is not a model folder: no model_index.json")
    try:
        name = json.loads(index.read_text()).get("_class_name")
    except (json.JSONDecodeError, AttributeError):
        raise InputError(f"{index} is not a JSON object with a _class_name") from None
    if name not in CLASSES:
        raise InputError(f"{path} holds a {name!r}, which the studio cannot run; supported: "
                         f"{', '.join(CLASSES)}")
    family = CLASSES[name]
    for sub in NEEDS[family]:
        if not (path / sub).is_file():
            raise InputError(f"{path} is not a complete {name} folder: no {sub}")
    if family == "wan":
        index_d = json.loads(index.read_text())
        if index_d.get("transformer_2") not in (None, [None, None]) or index_d.get("boundary_ratio") \
                or index_d.get("expand_timesteps"):
            raise InputError(f"{path} is a Wan 2.2 folder (two experts or per-token timesteps); only Wan 2.1 "
                             "text-to-video folders are supported so far")
    return family


def check_model_folder(path) -> str:
    """What the CLI calls before loading: the family name, or an InputError."""
    return family_of(path)


def family_class(family: str):
    """The adapter class of a family (imports diffusers, loads no weights)."""
    if family == "world":
        # deferred: engine.families.world imports this package (cycle) and loads torch
        from engine.families.world import WorldFamily
        return WorldFamily
    if family == "ltx":
        # deferred: engine.families.ltx imports this package (cycle) and loads torch
        from engine.families.ltx import LTXFamily
        return LTXFamily
    # deferred: engine.families.wan imports this package (cycle) and loads torch
    from engine.families.wan import WanFamily
    return WanFamily


def capabilities(path) -> dict:
    """What a model folder can do, without loading it: verbs (native or by replacement) and flags."""
    cls = family_class(family_of(path))
    return {"family": cls.family, "verbs": dict(cls.verbs), "per_token_timesteps": cls.per_token_timesteps,
            "supports_image_condition": cls.supports_image_condition}


def check_verb(path, verb: str) -> None:
    """InputError before any work when the folder's family cannot do `verb` (one of VERBS)."""
    if verb not in VERBS:
        raise InputError(f"unknown verb {verb!r}; allowed: {', '.join(VERBS)}")
    caps = capabilities(path)
    if verb not in caps["verbs"]:
        raise InputError(f"{caps['family'].upper()} models cannot {verb} yet; this model can: "
                         f"{', '.join(caps['verbs'])}")


def load_family(path, device: str = "cpu", dtype=None, *, offload: bool = False, vae_tiling: bool = False):
    """Load the folder's family adapter. `dtype` is a torch dtype (float32 when None)."""
    import torch  # deferred: torch is heavy; this package imports without it

    dtype = dtype or torch.float32
    family = family_of(path)
    cls = family_class(family)
    if family == "world":
        return cls.from_pretrained(path, device, dtype)
    return cls(path, device, dtype, offload=offload, vae_tiling=vae_tiling)
