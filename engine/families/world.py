"""The bundled world model as a family: `WorldPipeline` plus the capabilities every family
declares. The service renders it with its own sliding-window path (`renders_itself = False`)."""
from __future__ import annotations

from engine.errors import InputError
from engine.families import VERBS
from engine.families.pipeline import WorldPipeline


class WorldFamily(WorldPipeline):
    family = "world"
    supports_image_condition = True
    renders_itself = False
    verbs = {v: "native" for v in VERBS}  # trained with random clean patterns (ARCHITECTURE.md)

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        pipe = super().from_pretrained(*args, **kwargs)
        if not pipe.per_token_timesteps:  # a folder that says so gets the replacement path
            pipe.verbs = {v: "replacement" for v in VERBS}
        return pipe

    def check_verb(self, verb: str) -> None:
        if verb not in self.verbs:
            raise InputError(f"unknown verb {verb!r}; allowed: {', '.join(VERBS)}")
