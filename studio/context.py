"""What every panel shares: the store, the render queue, the engines, limits, and a registry.

Panels reach each other through `ctx.ui` (component name -> component), never by
importing each other (FaceFusion's UI registry).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import InputError
from engine.families import check_model_folder
from studio.project import Store
from studio.queue import RenderQueue


class Engines:
    """Model picker backend: the bundled model plus folders the user added; one Engine per model, made lazily."""

    def __init__(self, default_path, store: Store, dtype: str = "auto", device: str = "cpu", model_dirs=(),
                 compile: bool = False, threads: int | str | None = None):
        self.default = Path(default_path)
        self.store, self.dtype, self.device, self.compile = store, dtype, device, compile
        self.threads = threads  # every engine's CPU team (engine.sampling.threads)
        self._file = store.root / "models.json"
        self._engines: dict[str, object] = {}
        # Where the page may add models from: the projects folder's models/ and the folders the person who
        # started the studio named (--model-dir). A page (maybe a remote one) never names other server paths.
        self.roots = [store.root / "models", *(Path(d).expanduser().resolve() for d in model_dirs)]

    def folders(self) -> dict[str, str]:
        extra = json.loads(self._file.read_text()) if self._file.is_file() else {}
        return {f"{self.default.name} (bundled)": str(self.default), **extra}

    def add(self, folder: str) -> str:
        folder = (folder or "").strip()
        if not folder:
            raise InputError("give the path of a model folder (one holding model_index.json)")
        try:
            path = (self.store.root / folder).resolve()  # a relative path is the projects folder's
        except (OSError, ValueError):
            raise InputError("give the path of a model folder (one holding model_index.json)") from None
        if not any(path == r or r in path.parents for r in self.roots):
            raise InputError(f"models are added from {' or '.join(str(r) for r in self.roots)}; put the folder there, "
                             "or start the studio with --model-dir naming the folder that holds it")
        check_model_folder(path)
        models = {k: v for k, v in self.folders().items() if not k.endswith("(bundled)")}
        name = path.name if path.name not in models else f"{path.name} ({len(models)})"
        models[name] = str(path)
        tmp = self._file.with_suffix(".part")
        tmp.write_text(json.dumps(models, indent=1))
        tmp.replace(self._file)
        return name

    def __call__(self, name: str | None = None):
        from engine.service import Engine  # deferred: loads diffusers; this module imports without it

        folders = self.folders()
        if not name or name not in folders:
            name = next(iter(folders))
        if name not in self._engines:
            self._engines[name] = Engine(folders[name], device=self.device, dtype=self.dtype, compile=self.compile,
                                         threads=self.threads)
        return self._engines[name]


@dataclass
class Studio:
    store: Store
    engines: Engines
    queue: RenderQueue
    config_dir: Path
    max_upload_mb: float = 200.0
    max_upload_frames: int = 2400
    max_upload_gb: float = 3.0  # decoded RGB frames of one upload (1080p: about 480 frames)
    ui: dict = field(default_factory=dict)  # component name -> component
    refreshers: dict = field(default_factory=dict)  # panel -> (fn, inputs, outputs) redrawing it
    engine_buttons: list = field(default_factory=list)  # buttons that queue a job (active while jobs run)
    watch: object = None  # dep -> dep.then(stream the queue until idle); set by the queue panel
    watching: dict = field(default_factory=dict)  # page session -> its newest queue stream (the older ones end)
