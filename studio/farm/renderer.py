"""The farm's worker side: one long-lived renderer per worker machine (or per GPU).

A `Renderer` is a Ray actor (studio.farm.pool makes it one with `ray.remote`; this module does not import
Ray, so it reads and tests as plain Python). It loads each model once, on the first job that asks for it,
and keeps it: GPU tasks would start a fresh process per call and load the weights every time
(docs/ECOSYSTEM.md). It runs one render at a time; the actor is threaded (`max_concurrency`) only so that
`poll` and `cancel` are answered while a render runs.

What a render returns (an engine Result: frames, record, settings) travels home through Ray's object
store: a worker never needs to see the projects folder. Progress and a small preview (one decoded frame)
wait in `poll`'s answer, and so does each finished window of a long take (`take`: its checkpoint chunk,
which the studio writes into the take's checkpoint folder, so another worker can resume from it); `cancel`
sets a flag the sampler callback checks at every step, so Stop takes effect within one step and the engine
keeps what it has made (FramePack's studio, docs/STYLE.md).
"""
from __future__ import annotations

import contextlib
import os
import threading
import time

import numpy as np
import torch

from engine.defaults import BUNDLED_MODEL
from engine.sampling.sampler import Cancelled

BUNDLED = "bundled"  # the model key of the bundled model: each worker finds it in its own checkout
PREVIEW_EVERY = 0.8  # seconds between decoded previews (decoding costs a VAE pass)


class Renderer:
    """Renders requests on the engines it keeps (model key -> engine.service.Engine)."""

    def __init__(self, device: str = "cpu", threads: int | None = None):
        if threads:  # the worker's share of its machine (Ray also sets OMP_NUM_THREADS from num_cpus)
            torch.set_num_threads(int(threads))
        self.device = device
        self.engines: dict[tuple[str, str], object] = {}
        self.calls: dict[str, dict] = {}  # call id -> {"fraction", "stage", "step", "steps", "preview", "stop"}
        self._lock = threading.Lock()

    def hello(self) -> dict:
        """Where this renderer runs and what it holds: the pool's readiness check and its routing table."""
        import ray  # deferred: Ray is heavy; this module imports without it

        return {"node": ray.get_runtime_context().get_node_id(), "pid": os.getpid(), "device": self.device,
                "models": [m for m, _ in self.engines]}

    def render(self, call: str, model: str, dtype: str, method: str, req, kwargs: dict):
        """engine.<method>(req, progress, **kwargs) on this worker's engine for `model`; returns its Result."""
        engine = self._engine(model, dtype)
        with self._call(call) as state:
            return getattr(engine, method)(req, self._progress(engine, state), **kwargs)

    def take(self, call: str, model: str, dtype: str, req, point, anchor: bool = True) -> dict:
        """A long take's windows after `point` (engine.longtake.render_windows from a Resume: the last finished
        window's chunk). Each finished window's chunk waits in `poll`'s answer ("chunks", each travels once);
        returns {"stopped": the window a Stop ended in, or None; "chunks": those no poll took}."""
        from engine import longtake  # deferred: loads diffusers; this module imports without it

        engine = self._engine(model, dtype)
        with self._call(call) as state:
            plan, stopped = longtake.plan_take(engine, req, anchor), None
            for wi, chunk in longtake.render_windows(engine, plan, point, self._progress(engine, state)):
                if chunk is None:
                    stopped = wi
                    break
                with self._lock:
                    state["chunks"].append((wi, chunk))
            with self._lock:
                rest, state["chunks"] = state["chunks"], []
            return {"stopped": stopped, "chunks": rest}

    @contextlib.contextmanager
    def _call(self, call: str):
        state = {"fraction": 0.0, "stage": "starting on the farm", "step": 0, "steps": 0, "preview": None,
                 "stop": False, "shown": 0.0, "chunks": []}
        with self._lock:
            self.calls[call] = state
        try:
            yield state
        finally:
            with self._lock:
                self.calls.pop(call, None)

    def poll(self, call: str) -> dict | None:
        """The call's progress since the last poll (None once it has finished, or before it started)."""
        with self._lock:
            state = self.calls.get(call)
            if state is None:
                return None
            out = {k: state[k] for k in ("fraction", "stage", "step", "steps", "preview", "chunks")}
            state["preview"], state["chunks"] = None, []  # each preview and each window's chunk travels once
            return out

    def cancel(self, call: str) -> bool:
        """Stop the call at its next sampling step (the engine decodes and returns what it has)."""
        with self._lock:
            state = self.calls.get(call)
            if state is not None:
                state["stop"] = True
            return state is not None

    def _engine(self, model: str, dtype: str):
        from engine.service import Engine  # deferred: loads diffusers; this module imports without it

        key = (model, dtype)
        if key not in self.engines:  # once per model: the weights stay loaded for every later job
            self.engines[key] = Engine(BUNDLED_MODEL if model == BUNDLED else model, device=self.device, dtype=dtype)
        return self.engines[key]

    @staticmethod
    def _progress(engine, state: dict):
        def progress(fraction, stage, info=None):
            if state["stop"]:
                raise Cancelled(getattr(info, "denoised", None))
            state.update(fraction=float(fraction), stage=str(stage))
            if info is None:
                return
            now = time.time()
            if now - state["shown"] > PREVIEW_EVERY:  # the middle frame only: the page shows one
                state["shown"] = now
                frames = engine.preview(info.denoised)
                state["preview"] = np.ascontiguousarray(frames[len(frames) // 2: len(frames) // 2 + 1])
            state["steps"] = int(info.steps)
            state["step"] += 1  # last: a poll that sees the first step sees its preview too
        return progress
