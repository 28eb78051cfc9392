"""The render queue on a farm: the same line, store and job code, one job per renderer at a time.

`FarmQueue` is studio.queue.RenderQueue with more than one drain thread: as many as the farm has renderers,
each taking the next waiting job under the queue's lock, so two workers render two shots at once. Each
job's engine is a `FarmEngine` (studio.farm.pool), so the job's sampling runs on a worker and everything
else (reading the shot, filing, signing, the take row) runs here exactly as for an in-process job.
Jobs are rows in the store as before: a studio that restarts while the farm works puts the jobs it left
running back in line (`recover`) and renders them again; nothing is filed until a render has come home,
so a job is filed once.
"""
from __future__ import annotations

import threading
import time

from studio.farm.pool import FarmEngine, Pool
from studio.queue import RenderQueue


class FarmQueue(RenderQueue):
    def __init__(self, store, engines, runner, planner, pool: Pool):
        self.pool = pool
        self._job = threading.local()  # the job a drain thread runs (its FarmEngine logs it)
        self._workers: list[threading.Thread] = []
        super().__init__(store, self._engine, runner, planner)
        self.local_engines = engines

    def _engine(self, name: str | None = None) -> FarmEngine:
        return FarmEngine(self.local_engines(name), self.pool, dtype=self.local_engines.dtype,
                          job=getattr(self._job, "id", None))

    def kick(self) -> None:
        """Enough drain threads for every renderer to have a job (at least one: it waits for a worker)."""
        with self._lock:
            self._workers = [w for w in self._workers if w.is_alive()]
            want = max(1, min(self.pool.refresh(), len(self.store.jobs(status="waiting"))))
            for i in range(len(self._workers), want):
                worker = threading.Thread(target=self._drain, name=f"tenku-farm-{i}", daemon=True)
                self._workers.append(worker)
                worker.start()

    def _idle(self) -> None:
        self._workers = [w for w in self._workers if w is not threading.current_thread()]

    def _run(self, job: dict) -> None:
        self._job.id = job["id"]
        try:
            super()._run(job)
        finally:
            self._job.id = None

    def wait(self, timeout: float = 600.0) -> None:
        end = time.time() + timeout
        while time.time() < end:
            if not self.busy() and not any(w.is_alive() for w in self._workers):
                return
            time.sleep(0.05)
        raise TimeoutError("render queue still busy")
