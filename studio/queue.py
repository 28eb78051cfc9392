"""The render queue: every job is saved before it runs, one worker drives the one engine.

A job is a row in the store (`waiting` -> `running` -> `done` | `stopped` | `failed`).
`submit` persists it and wakes the worker; the worker runs jobs oldest first on
a single thread, so all panels share one engine instance and never run two
generations at once. Gradio handlers only submit and watch (`snapshot`), so a
closed browser tab never loses a job. Stop sets a flag the sampler callback
checks at every step (FramePack's studio): the callback raises `Cancelled`
carrying the current clean estimate, so the engine decodes and keeps what it has.
At start-up `recover()` puts jobs a crash or restart interrupted back in line
once; a job interrupted twice is marked failed with a reason, never dropped.
"""
from __future__ import annotations

import threading
import time
import traceback

import numpy as np

from engine.errors import InputError
from engine.sampling.sampler import Cancelled

MAX_ATTEMPTS = 2
ACTIVE = ("waiting", "running")


def unexpected(e: Exception, root) -> str:
    """The page's one line for a job that failed by a bug: what failed, with no server path in it (the
    traceback is in the studio's log)."""
    text = f"{type(e).__name__}: {e}".replace(str(root), "<projects>").strip().splitlines() or [type(e).__name__]
    return f"failed unexpectedly ({text[0][:300]}); the details are in the studio's log"


class RenderQueue:
    def __init__(self, store, engines, runner):
        """engines: callable model name -> Engine (shared instances); runner: studio.jobs.run_job."""
        self.store, self.engines, self.runner = store, engines, runner
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._stop: set[str] = set()
        self.live: dict[str, dict] = {}  # job id -> progress, stage, preview (cheap to poll)

    # ---- lifecycle ----------------------------------------------------------
    def recover(self) -> list[str]:
        """Jobs left `running` by a crash: back to waiting (resumed) or failed after MAX_ATTEMPTS."""
        touched = []
        for job in self.store.jobs(status="running"):
            if job["attempts"] >= MAX_ATTEMPTS:
                self.store.update_job(job["id"], status="failed", finished=time.time(),
                                      error=f"interrupted {job['attempts']} times (the studio stopped while it ran)")
            else:
                self.store.update_job(job["id"], status="waiting", progress=0.0,
                                      stage="resumed after the studio restarted")
            touched.append(job["id"])
        return touched

    def submit(self, project_id: str, kind: str, params: dict) -> str:
        job_id = self.store.add_job(project_id, kind, params)
        self.kick()
        return job_id

    def kick(self) -> None:
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._drain, name="tenku-render", daemon=True)
                self._worker.start()

    def stop(self, job_id: str | None = None, project_id: str | None = None) -> list[str]:
        """Stop one job, or every active job of a project; waiting jobs never start."""
        jobs = [self.store.job(job_id)] if job_id else self.store.jobs(project_id=project_id)
        hit = []
        for job in jobs:
            if job["status"] == "waiting":
                self.store.update_job(job["id"], status="stopped", finished=time.time(), stage="stopped before it ran")
                hit.append(job["id"])
            elif job["status"] == "running":
                self._stop.add(job["id"])
                hit.append(job["id"])
        return hit

    def busy(self, project_id: str | None = None) -> bool:
        return any(j["status"] in ACTIVE for j in self.store.jobs(project_id=project_id))

    def uses_shot(self, project_id: str, shot_id: str) -> bool:
        """Whether a job waiting or running renders the shot, or edits one of its takes."""
        for j in self.store.jobs(project_id=project_id):
            p = j["params"]
            if j["status"] not in ACTIVE:
                continue
            if p.get("shot_id") == shot_id or shot_id in (p.get("shot_ids") or ()):
                return True
            if {p.get("take_id"), p.get("to_take_id")} & {t["id"] for t in self.store.takes(project_id, shot_id)}:
                return True
        return False

    def wait(self, timeout: float = 600.0) -> None:
        """Block until no job is waiting or running (tests, shutdown)."""
        end = time.time() + timeout
        while time.time() < end:
            if not self.busy() and (self._worker is None or not self._worker.is_alive()):
                return
            time.sleep(0.05)
        raise TimeoutError("render queue still busy")

    # ---- the worker ---------------------------------------------------------
    def _drain(self) -> None:
        while True:
            waiting = self.store.jobs(status="waiting")
            if not waiting:
                return
            self._run(waiting[0])

    def _run(self, job: dict) -> None:
        jid = job["id"]
        self.store.update_job(jid, status="running", started=time.time(), attempts=job["attempts"] + 1,
                              progress=0.0, error="")
        self.live[jid] = {"progress": 0.0, "stage": "starting", "preview": None}
        last = {"db": 0.0, "preview": 0.0}
        engine = None

        def progress(fraction, stage, info=None):
            if jid in self._stop:
                # Keep what the sampler has: its current clean estimate is decoded as the partial take.
                raise Cancelled(getattr(info, "denoised", None))
            now = time.time()
            self.live[jid].update(progress=float(fraction), stage=str(stage))
            if now - last["db"] > 0.5:
                self.store.update_job(jid, progress=float(fraction), stage=str(stage))
                last["db"] = now
            if info is not None and now - last["preview"] > 0.8:
                last["preview"] = now
                self._preview(job, engine, info)

        # A job tells the page more than its progress through `progress.note(...)`: e.g. a long take's
        # partial file, window by window ({"shot_id", "path", "window", "windows"} under "partial").
        progress.note = lambda **kw: self.live[jid].update(**kw)
        try:
            engine = self.engines(job["params"].get("model"))
            takes, cancelled = self.runner(self.store, engine, job, progress)
            status = "stopped" if cancelled else "done"
            stage = "stopped: partial result kept" if cancelled else "done"
            self.store.update_job(jid, status=status, progress=1.0 if not cancelled else self.live[jid]["progress"],
                                  stage=stage, result=takes, finished=time.time())
        except InputError as e:
            self.store.update_job(jid, status="failed", error=str(e), finished=time.time(), stage="failed")
        except Exception as e:  # a bug, not bad input: keep the job and say what happened
            traceback.print_exc()
            self.store.update_job(jid, status="failed", error=unexpected(e, self.store.root), finished=time.time(),
                                  stage="failed")
        finally:
            self._stop.discard(jid)
            self.live.pop(jid, None)

    def partials(self, project_id: str) -> dict:
        """Shot id -> the partial file of a long take rendering now ({"path", "window", "windows"})."""
        out = {}
        for jid, live in list(self.live.items()):
            part = live.get("partial")
            if part and part.get("project_id") == project_id and part.get("shot_id"):
                out[part["shot_id"]] = part
        return out

    def _preview(self, job: dict, engine, info) -> None:
        """Decode the current clean estimate and save its middle frame as the live preview."""
        try:
            from PIL import Image

            frames = engine.preview(info.denoised)
            path = self.store.media(job["project_id"], "previews") / f"{job['id']}.png"
            tmp = path.with_suffix(".part.png")
            Image.fromarray(np.ascontiguousarray(frames[len(frames) // 2])).save(tmp)
            tmp.replace(path)
            self.live[job["id"]]["preview"] = str(path)
            self.store.update_job(job["id"], preview=self.store.rel(path))
        except Exception:  # a preview is a nicety; never let it fail the job, but say why it is missing
            if not self.live.get(job["id"], {}).get("preview_failed"):
                self.live.setdefault(job["id"], {})["preview_failed"] = True
                print(f"studio: no live preview for job {job['id']}:\n{traceback.format_exc()}", flush=True)

    # ---- what the page shows ------------------------------------------------
    def snapshot(self, project_id: str | None) -> dict:
        jobs = self.store.jobs(project_id=project_id) if project_id else []
        rows, running = [], None
        for j in jobs[-30:]:
            live = self.live.get(j["id"], {})
            p = live.get("progress", j["progress"])
            rows.append([j["id"], j["kind"], j["params"].get("label", ""), j["status"], round(100 * p),
                         live.get("stage", j["stage"]) if not j["error"] else j["error"]])
            if j["status"] == "running":
                running = {**j, "progress": p, "stage": live.get("stage", j["stage"]),
                           "partial": live.get("partial"),
                           "preview": live.get("preview") or (str(self.store.path(j["preview"])) if j["preview"]
                                                              else None)}
        return {"rows": rows, "running": running, "busy": any(j["status"] in ACTIVE for j in jobs)}
