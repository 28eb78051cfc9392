"""The render queue: every job is saved before it runs, one worker drives the one engine.

A job is a row in the store (`waiting` -> `running` -> `done` | `stopped` | `failed`;
`waiting` -> `cancelled`). `submit` persists it at the end of the line and wakes the
worker; the worker runs jobs in line order on a single thread, so all panels share one
engine instance and never run two generations at once, and a job can be queued at
any time, also while another renders (issue 31: "a queue you can keep feeding").
A job's place in line is its `created` stamp (the store lists jobs by it): `move`
swaps the stamps of two waiting jobs, so a reordered line survives a restart, and
`cancel` takes a waiting job out of line before it starts. Gradio handlers only
submit and watch (`snapshot`), so a closed browser tab never loses a job. Stop sets a
flag the sampler callback checks at every step (FramePack's studio): the callback
raises `Cancelled` carrying the current clean estimate, so the engine decodes and
keeps what it has.
At start-up `recover()` puts jobs a crash or restart interrupted back in line
once; a job interrupted twice is marked failed with a reason, never dropped.

Time: the running job's elapsed time, and its time left from the measured pace of its
sampling steps so far (seconds per step times the steps left, read off the engine's
progress fraction). A waiting job's time is its planned work (`planner`: the engine's
pre-flight estimate of each of its steps, in nominal units) times the seconds per unit
measured on that model; the line adds them up in order. Until a model has been measured
there is no estimate (None: the page says "estimating...").
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
MEASURED_STEPS = 3  # sampling steps timed before the pace counts as a measurement (the first is noisy)


def unexpected(e: Exception, root) -> str:
    """The page's one line for a job that failed by a bug: what failed, with no server path in it (the
    traceback is in the studio's log)."""
    text = f"{type(e).__name__}: {e}".replace(str(root), "<projects>").strip().splitlines() or [type(e).__name__]
    return f"failed unexpectedly ({text[0][:300]}); the details are in the studio's log"


class RenderQueue:
    def __init__(self, store, engines, runner, planner=None):
        """engines: callable model name -> Engine (shared instances); runner: studio.jobs.run_job;
        planner: studio.jobs.planned_work (store, engine, job) -> a job's work in nominal units, or None."""
        self.store, self.engines, self.runner, self.planner = store, engines, runner, planner
        self._lock = threading.Lock()  # the worker thread and the line: who runs next, moves, cancels
        self._worker: threading.Thread | None = None
        self._stop: set[str] = set()
        self.live: dict[str, dict] = {}  # job id -> progress, stage, preview, pace (cheap to poll)
        self._speed: dict[str, float] = {}  # model folder -> seconds per unit of planned work, as measured

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
        """Save a job at the end of the line; it runs after every job already waiting, whatever is running."""
        job_id = self.store.add_job(project_id, kind, params)
        self.kick()
        return job_id

    def kick(self) -> None:
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._drain, name="tenku-render", daemon=True)
                self._worker.start()

    def move(self, job_id: str, delta: int) -> None:
        """A waiting job one place earlier (delta -1) or later (+1) among its project's waiting jobs: the two
        swap their places in line (their `created` stamps), which the store keeps across a restart."""
        with self._lock:  # the worker takes the first waiting job under this lock: never one half moved
            job = self._waiting(job_id, "moved")
            line = self.store.jobs(project_id=job["project_id"], status="waiting")
            i = [j["id"] for j in line].index(job_id)
            if not 0 <= i + delta < len(line):
                raise InputError(f"this job is {'first' if delta < 0 else 'last'} in line already")
            other = line[i + delta]
            self.store.update_job(job_id, created=other["created"])
            self.store.update_job(other["id"], created=job["created"])

    def cancel(self, job_id: str) -> None:
        """Take a waiting job out of line: it never starts (a running job is stopped with `stop`)."""
        with self._lock:
            self._waiting(job_id, "cancelled")
            self.store.update_job(job_id, status="cancelled", finished=time.time(), stage="cancelled before it started")

    def cancel_waiting(self, project_id: str) -> int:
        """Take every waiting job of a project out of line (the running one goes on); how many."""
        with self._lock:
            line = self.store.jobs(project_id=project_id, status="waiting")
            for job in line:
                self.store.update_job(job["id"], status="cancelled", finished=time.time(),
                                      stage="cancelled before it started")
        return len(line)

    def _waiting(self, job_id: str, what: str) -> dict:
        if not job_id:
            raise InputError("pick a waiting job in the queue first")
        job = self.store.job(job_id)
        if job["status"] == "running":
            raise InputError(f"this job is rendering; only waiting jobs are {what} (Stop stops it and keeps "
                             "what it has made)")
        if job["status"] != "waiting":
            raise InputError(f"this job is {job['status']} already; only waiting jobs are {what}")
        return job

    def current(self, project_id: str) -> str | None:
        """The job Stop acts on: the project's running job, else its next in line (about to start)."""
        active = [j for j in self.store.jobs(project_id=project_id) if j["status"] in ACTIVE]
        running = [j for j in active if j["status"] == "running"]
        return (running or active or [{"id": None}])[0]["id"]

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
            with self._lock:  # a job submitted while the worker looks is either seen here or kicks a new worker
                waiting = self.store.jobs(status="waiting")
                if not waiting:
                    self._idle()
                    return
                job = waiting[0]
                self.store.update_job(job["id"], status="running", started=time.time(),
                                      attempts=job["attempts"] + 1, progress=0.0, error="")
            self._run(job)

    def _idle(self) -> None:
        """The drain thread ends, under the lock: a job submitted after this starts a new one (`kick`)."""
        self._worker = None

    def _run(self, job: dict) -> None:
        jid = job["id"]
        self.live[jid] = live = {"progress": 0.0, "stage": "starting", "preview": None}
        last = {"db": 0.0, "preview": 0.0}
        engine = None

        def progress(fraction, stage, info=None):
            if jid in self._stop:
                # Keep what the sampler has: its current clean estimate is decoded as the partial take.
                raise Cancelled(getattr(info, "denoised", None))
            now = time.time()
            live.update(progress=float(fraction), stage=str(stage))
            if info is not None:  # a sampling step: its time is the pace the estimates are made from
                pace = live.setdefault("pace", {"first": (now, float(fraction)), "steps": 0})
                pace["steps"] += 1
                pace["last"] = (now, float(fraction))
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
            live["engine"] = engine
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
            self._pace(job, live)  # what this job measured serves the estimates of the jobs after it
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
            from PIL import Image  # deferred: Pillow is heavy; this module imports without it

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

    # ---- time: elapsed, left, and the line's estimates ------------------------
    def estimates(self) -> dict[str, dict]:
        """Job id -> its time, in seconds (None while unknown): {"elapsed", "left", "per_step"} for the running
        job, {"takes", "starts_in"} for each waiting job, in line order (of every project: the line is one)."""
        now, out = time.time(), {}
        clock = 0.0  # seconds until the line reaches the next job; None once a job before it has no estimate
        for j in self.store.jobs(status="running") + self.store.jobs(status="waiting"):
            if j["status"] == "running":
                left, per_step = self._left(j, self.live.get(j["id"], {}), now)
                out[j["id"]] = {"elapsed": now - (j["started"] or now), "left": left, "per_step": per_step}
            else:
                left = self._planned(j)
                out[j["id"]] = {"takes": left, "starts_in": clock}
            clock = None if clock is None or left is None else clock + left
        return out

    def _left(self, job: dict, live: dict, now: float) -> tuple[float | None, float | None]:
        """(seconds left, seconds per sampling step) of the running job: the steps left at the pace of its
        steps so far; before it has a pace, its planned work at the model's measured speed."""
        whole = self._pace(job, live)
        if whole is None:
            planned = self._planned(job, live)
            return (None if planned is None else planned * (1 - live.get("progress", 0.0))), None
        pace = live["pace"]
        (t0, _), (t1, f1) = pace["first"], pace["last"]
        return max(0.0, (1 - f1) * whole - (now - t1)), (t1 - t0) / (pace["steps"] - 1)

    def _pace(self, job: dict, live: dict) -> float | None:
        """Seconds the whole job takes (progress 0 to 1) at the pace of its sampling steps so far, None before
        MEASURED_STEPS steps; the model's seconds per unit of planned work are learnt from it."""
        pace = live.get("pace")
        if not pace or pace["steps"] < MEASURED_STEPS or pace["last"][1] <= pace["first"][1]:
            return None
        (t0, f0), (t1, f1) = pace["first"], pace["last"]
        whole = (t1 - t0) / (f1 - f0)
        if "work" not in live:
            live["work"] = self._work(job, live.get("engine"))
        if live["work"]:
            self._speed[str(live["engine"].model_path)] = whole / live["work"]
        return whole

    def _planned(self, job: dict, live: dict | None = None) -> float | None:
        """Seconds a job should take: its planned work at the speed measured on its model; None for a model not
        measured yet (its engine may not even be loaded: planning never loads one) or work without a plan."""
        engine = (live or {}).get("engine") or self.engines(job["params"].get("model"))
        speed = self._speed.get(str(engine.model_path))
        if speed is None:
            return None
        work = live["work"] if live and "work" in live else self._work(job, engine)
        return None if work is None else work * speed

    def _work(self, job: dict, engine) -> float | None:
        if self.planner is None or engine is None:
            return None
        try:
            return self.planner(self.store, engine, job)
        except InputError:  # its shot or take is gone: the job will fail with that reason; no estimate
            return None
        except Exception:  # an estimate is a nicety: never let it fail a job or the page, but say why it is missing
            print(f"studio: no time estimate for job {job['id']}:\n{traceback.format_exc()}", flush=True)
            return None

    # ---- what the page shows ------------------------------------------------
    def snapshot(self, project_id: str | None) -> dict:
        """The project's last 30 jobs as table rows, its running job, its waiting jobs in line order, and every
        active job's time (`estimates`)."""
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
        return {"rows": rows, "running": running, "busy": any(j["status"] in ACTIVE for j in jobs),
                "waiting": [j for j in jobs if j["status"] == "waiting"], "times": self.estimates() if jobs else {}}
