"""The studio's side of the farm: a pool of renderer actors, one per worker, and the engine that uses them.

`Pool` keeps one `Renderer` actor per worker node of the cluster (one per GPU on a GPU node), each taking
its whole machine (or its GPU) so its torch threads are the machine's. A render goes to an idle actor
that already holds its model when there is one (loading a model is the slow part of a first job), else
to any idle actor; an actor that dies mid-render (its process killed, its node lost) is dropped, a new
one is started where its node still lives, and the render runs again on another worker, up to ATTEMPTS
times; then the job fails with the reason. A long take (`take`) comes home window by window, and runs again
from the window after the last one that came home, not from its start.

`FarmEngine` is what a job sees instead of the engine: every question about the model is answered by the
studio's own engine (the prompt's reading, the canvas, the rate: cheap, and the same answers as in
process), and `generate` and `take_windows` (a long take's windows, for engine.longtake.render_take), the
calls that sample, run on the farm. So studio.jobs files a farmed take with exactly the code that files a
local one, and every kind of job (shots, long takes, scenes, verbs) is farmed.
"""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

from engine.defaults import BUNDLED_MODEL
from engine.errors import InputError
from engine.sampling.sampler import Cancelled
from studio.farm.renderer import BUNDLED, Renderer

ATTEMPTS = 3  # renders of one job that may lose their worker before the job fails
POLL = 0.25  # seconds between progress polls of a running render
START_TIMEOUT = 120.0  # seconds a job waits for a worker before it fails saying the farm has none


class FarmError(InputError):
    """The farm could not render a job: no worker, or workers lost; the message says which and what to do."""


@dataclass
class Slot:
    key: str  # node id (":gpu index" on a GPU node): where the renderer lives
    actor: object
    hello: object  # ObjectRef of the actor's first hello(): ready once it resolves
    models: set = field(default_factory=set)
    busy: bool = False


@dataclass
class RemoteStep:
    """A sampling step as the studio's progress callback sees it: `denoised` holds frames already decoded on
    the worker (FarmEngine.preview passes them through)."""
    step: int
    steps: int
    denoised: object


class Decoded:
    def __init__(self, frames):
        self.frames = frames


class Pool:
    def __init__(self, threads: int | None = None, env: dict | None = None, start_timeout: float = START_TIMEOUT):
        """threads: torch threads per renderer (None: the CPUs Ray gives it); env: environment variables of the
        renderers' processes (runtime_env)."""
        import ray  # deferred: Ray is heavy; this module imports without it

        self.ray, self.threads, self.env, self.start_timeout = ray, threads, env or {}, start_timeout
        self.slots: dict[str, Slot] = {}
        self.log: list[tuple] = []  # (event, job id, slot key, note): "done", "lost", "window" (tests, the log)
        self.timings: list[tuple] = []  # (job id, seconds the call took here, seconds its render took there)
        self._cv = threading.Condition()

    # ---- the actors -----------------------------------------------------------
    def refresh(self) -> int:
        """Start a renderer on every live worker that has none; returns how many renderers there are."""
        with self._cv:
            places = self._places()
            for key in [k for k in self.slots if k not in places]:  # its node is gone: so is its renderer
                self._lose(self.slots[key], None, "its node left the cluster")
            for key, resources in places.items():
                if key not in self.slots:
                    self.slots[key] = self._start(key, resources)
            return len(self.slots)

    def _places(self) -> dict[str, dict]:
        """Slot key -> the actor's resources: one per GPU of a GPU node, else one per node with CPUs."""
        out = {}
        for node in self.ray.nodes():
            cpus, gpus = node["Resources"].get("CPU", 0), int(node["Resources"].get("GPU", 0))
            if not node["Alive"] or (cpus < 1 and gpus < 1):
                continue
            if gpus:
                for g in range(gpus):
                    out[f"{node['NodeID']}:{g}"] = {"num_gpus": 1, "num_cpus": max(1, int(cpus) // gpus)}
            else:
                out[node["NodeID"]] = {"num_cpus": int(cpus)}
        return out

    def _start(self, key: str, resources: dict) -> Slot:
        # deferred: Ray is heavy; this module imports without it
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        node = key.split(":")[0]
        cls = self.ray.remote(Renderer)
        actor = cls.options(max_concurrency=4, max_restarts=0, **resources,
                            scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
                            runtime_env={"env_vars": self.env} if self.env else None,
                            ).remote("cuda" if resources.get("num_gpus") else "cpu", self.threads)
        return Slot(key, actor, actor.hello.remote())

    def _lose(self, slot: Slot, job: str | None, why: str) -> None:
        with self._cv:
            if self.slots.get(slot.key) is slot:
                del self.slots[slot.key]
            self.log.append(("lost", job, slot.key, why))
            self._cv.notify_all()
        try:
            self.ray.kill(slot.actor, no_restart=True)
        except Exception:  # already gone with its node: nothing left to stop
            pass

    def _ready(self, slot: Slot) -> bool:
        done, _ = self.ray.wait([slot.hello], timeout=0)
        if not done:
            return False
        try:
            self.ray.get(slot.hello)
            return True
        except self.ray.exceptions.RayError as e:  # it never started (its node went): start another later
            self._lose(slot, None, f"could not start: {type(e).__name__}")
            return False

    def acquire(self, model: str, avoid: set) -> Slot:
        """An idle, started renderer: one holding `model` first, then one on a worker this job has not lost a
        render on; waits for one (FarmError when none starts within start_timeout)."""
        end = time.time() + self.start_timeout
        with self._cv:
            while True:
                self.refresh()
                idle = [s for s in list(self.slots.values()) if not s.busy and self._ready(s)]
                if idle:
                    idle.sort(key=lambda s: (model not in s.models, s.key in avoid))
                    idle[0].busy = True
                    return idle[0]
                if not any(s.busy for s in self.slots.values()) and time.time() > end:
                    raise FarmError("the farm has no worker with a free CPU or GPU; start one with `ray start "
                                    "--address HEAD:PORT` (docs/FARM.md)")
                self._cv.wait(0.5)

    def release(self, slot: Slot, model: str) -> None:
        with self._cv:
            slot.busy = False
            slot.models.add(model)
            self._cv.notify_all()

    def shutdown(self) -> None:
        for slot in list(self.slots.values()):
            self._lose(slot, None, "the studio closed its farm")

    # ---- one render -----------------------------------------------------------
    def run(self, model: str, dtype: str, method: str, req, progress, kwargs: dict, job: str | None = None):
        """engine.<method>(req, progress, **kwargs) on a renderer; again on another worker when it dies."""
        return _result(self._attempts(model, "render", lambda: (model, dtype, method, req, kwargs), progress, job))

    def take(self, model: str, dtype: str, req, point, anchor: bool, progress, job: str | None = None):
        """A long take's windows after `point` (an engine.longtake.Resume) on a renderer, as engine.longtake's
        `render_windows` yields them: `(wi, chunk)` as each window comes home, `(wi, None)` for a Stop in window
        wi. A worker lost: the next one is handed the last chunk that came home and goes on from there."""
        from engine.longtake import Resume  # deferred: loads diffusers; this module imports without it

        here = [point or Resume()]
        gen = self._attempts(model, "take", lambda: (model, dtype, req, here[0], anchor), progress, job)
        try:
            while True:
                try:
                    wi, chunk = next(gen)
                except StopIteration as end:
                    if end.value["stopped"] is not None:
                        yield end.value["stopped"], None
                    return
                here[0] = Resume(wi + 1, here[0].delivered + len(chunk["delivered"]), chunk)
                yield wi, chunk
        finally:
            gen.close()

    def _attempts(self, model: str, method: str, args, progress, job: str | None):
        """slot.actor.<method>(call, *args()) on a renderer until one finishes it, at most ATTEMPTS renderers; yields
        the long-take chunks that come home (`_watch`), returns the call's result."""
        lost: set[str] = set()
        for attempt in range(1, ATTEMPTS + 1):
            slot, t0 = self.acquire(model, lost), time.time()
            try:
                result = yield from self._watch(slot, method, args(), progress, job)
            except self.ray.exceptions.RayTaskError as e:  # the engine's own error (bad input, a bug): as in process
                self.release(slot, model)
                raise e.cause from None
            except self.ray.exceptions.RayError as e:  # the worker died under the render
                why = f"{type(e).__name__} on worker {slot.key[:12]}"
                self._lose(slot, job, why)
                lost.add(slot.key)
                if attempt == ATTEMPTS:
                    raise FarmError(f"the farm lost the worker rendering this job {ATTEMPTS} times (last: {why}); "
                                    "check the workers' logs (`ray logs`), then queue it again") from None
                _say(progress, f"worker lost ({why}); rendering again on another worker, attempt {attempt + 1} "
                               f"of {ATTEMPTS}")
                continue
            except GeneratorExit:  # the caller gave up on a long take (its disk failed): the render was stopped
                self.release(slot, model)
                raise
            self.release(slot, model)
            stopped = result["stopped"] is not None if isinstance(result, dict) else getattr(result, "cancelled", False)
            self.log.append(("done", job, slot.key, "cancelled" if stopped else ""))
            self.timings.append((job, time.time() - t0, getattr(result, "seconds", None)))
            return result

    def _watch(self, slot: Slot, method: str, args: tuple, progress, job: str | None = None):
        """Start the call, relay its progress and previews, pass Stop on; yields each long-take window's
        `(wi, chunk)` as it comes home (logged as ("window", job, slot, wi)), returns the call's result."""
        call = uuid.uuid4().hex
        ref = getattr(slot.actor, method).remote(call, *args)
        seen, stopping, shown, finished = 0, False, None, False
        try:
            while True:
                done, _ = self.ray.wait([ref], timeout=POLL)
                if done:
                    result = self.ray.get(ref)
                    finished = True
                    for wi, chunk in result["chunks"] if isinstance(result, dict) else ():
                        self.log.append(("window", job, slot.key, wi))
                        yield wi, chunk
                    return result
                state = self.ray.get(slot.actor.poll.remote(call))
                for wi, chunk in (state or {}).get("chunks", ()):
                    self.log.append(("window", job, slot.key, wi))
                    yield wi, chunk
                if state is None or progress is None or stopping:
                    continue
                try:
                    if state["step"] > seen and (state["preview"] is not None or shown is not None):
                        seen = state["step"]
                        if state["preview"] is not None:  # else the last one (the worker decodes one a PREVIEW_EVERY)
                            shown = Decoded(state["preview"])
                        progress(state["fraction"], state["stage"], RemoteStep(seen, state["steps"], shown))
                    else:
                        progress(state["fraction"], state["stage"])
                except Cancelled:  # Stop: the worker stops at its next step and returns what it has made
                    stopping = True
                    slot.actor.cancel.remote(call)
        finally:
            if not finished:  # the caller stopped listening (or the worker died): stop the call, wait for its end
                try:
                    slot.actor.cancel.remote(call)
                    self.ray.wait([ref], timeout=60)
                except Exception:  # the actor is gone: nothing to stop
                    pass


def _result(gen):
    """The return value of a generator whose yields are ignored (a plain render yields none)."""
    while True:
        try:
            next(gen)
        except StopIteration as end:
            return end.value


def _say(progress, stage: str) -> None:
    note = getattr(progress, "note", None)
    if note is not None:
        note(stage=stage)


class FarmEngine:
    """The studio's engine with its sampling on the farm (see the module's docstring)."""

    local = False  # nothing renders in this process; long takes stream home window by window (take_windows)

    def __init__(self, engine, pool: Pool, dtype: str = "auto", job: str | None = None):
        """dtype: as the studio was asked for it ("auto": each worker picks for its own processor)."""
        self._engine, self._pool, self._dtype, self._job = engine, pool, dtype, job

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def model_key(self) -> str:
        """The model as a worker finds it: the bundled one in its own checkout, any other at the same path."""
        path = self._engine.model_path.resolve()
        return BUNDLED if path == BUNDLED_MODEL.resolve() else str(path)

    def generate(self, req, progress=None, **kwargs):
        return self._pool.run(self.model_key(), self._dtype, "generate", req, progress, kwargs,
                              job=self._job)

    def take_windows(self, plan, point, progress=None):
        """engine.longtake.render_take's window source on the farm: the windows after `point` render on a worker
        and come home as checkpoint chunks; a worker lost, the next resumes from the last one (Pool.take)."""
        return self._pool.take(self.model_key(), self._dtype, plan.req, point, plan.anchor, progress, job=self._job)

    def preview(self, denoised):
        """Frames a worker decoded already, else the studio's engine decodes (a stopped take's estimate)."""
        return denoised.frames if isinstance(denoised, Decoded) else self._engine.preview(denoised)
