"""Farm throughput, side by side in one run: `python -m studio.farm.bench [--shots N] [--steps S]`.

Renders the same shots (bundled model) in process, then on a local Ray cluster on 127.0.0.1 with one
worker node, then with two, each worker one CPU and one torch thread; every renderer has rendered once
before the clock starts (models loaded), so the figures are steady-state throughput. Prints JSON:
seconds per run, shots per minute, the two-to-one worker ratio, a farmed job's overhead over an
in-process one (one worker against in process, per shot: on a shared machine mostly load noise), the farm's
own cost per call (`farm_call_overhead_s`: the median of a call's time in the studio less its render's time
on the worker: dispatch, progress polling, the frames' trip home) and the load average before and after.
Results: docs/BENCHMARKS.md, "Render farm".
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from engine import defaults
from engine.defaults import BUNDLED_MODEL

PROMPTS = ("a red ball rolls to the right", "a blue box moves left", "a green ball bounces",
           "a yellow box slides to the left")


def _studio(root: Path, farm: str | None):
    from studio.app import make_studio  # deferred: loads gradio; this module imports without it

    env = {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return make_studio(str(BUNDLED_MODEL), root / "projects", root / "config", dtype="float32", farm=farm,
                       farm_env=env)


def _timed(s, shots: int, steps: int, warm: int) -> float:
    """Seconds to render `shots` shots after `warm` untimed ones (one per renderer: its model loaded)."""
    pid = s.store.create_project(f"bench {time.time()}")
    ids = [s.store.add_shot(pid, prompt=PROMPTS[i % len(PROMPTS)], seconds=1.0, aspect="1:1", steps=steps, seed=i)
           for i in range(shots)]
    for _ in range(5):  # until every renderer has loaded the model (a job goes to one holding it first)
        for i in range(warm):
            s.queue.submit(pid, "shot", {"shot_id": ids[i % shots]})
        s.queue.wait(1800)
        pool = getattr(s.queue, "pool", None)
        if pool is None or (len(pool.slots) >= warm and all(slot.models for slot in pool.slots.values())):
            break
    t0 = time.time()
    jobs = [s.queue.submit(pid, "shot", {"shot_id": sid}) for sid in ids]
    s.queue.wait(3600)
    seconds = time.time() - t0
    bad = [s.store.job(j)["error"] for j in jobs if s.store.job(j)["status"] != "done"]
    if bad:
        raise RuntimeError(f"bench shots failed: {bad}")
    return seconds


def run(shots: int, steps: int) -> dict:
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # before Ray: the cluster stays on 127.0.0.1
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray  # deferred: Ray is heavy; this module imports without it
    from ray.cluster_utils import Cluster

    torch.set_num_threads(1)  # in process as on a worker: one thread
    out = {"shots": shots, "steps": steps, "seconds_per_shot": 1.0, "aspect": "1:1",
           "processor": defaults.processor(), "cpus": os.cpu_count(), "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        s = _studio(Path(tmp) / "local", None)
        out["in_process_s"] = _timed(s, shots, steps, warm=1)
        s.store.close()
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False,
                                                                "node_ip_address": "127.0.0.1"})
        try:
            for workers in (1, 2):
                cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
                cluster.wait_for_nodes()
                s = _studio(Path(tmp) / f"farm{workers}", cluster.address)
                out[f"workers_{workers}_s"] = _timed(s, shots, steps, warm=workers)
                if workers == 1:  # the farm's own cost per call: its time here less its render's on the worker
                    calls = [here - there for _, here, there in s.queue.pool.timings[-shots:]]
                    out["farm_call_overhead_s"] = round(statistics.median(calls), 3)
                s.queue.pool.shutdown()
                s.store.close()
        finally:
            ray.shutdown()
            cluster.shutdown()
    for k in ("in_process", "workers_1", "workers_2"):
        out[f"{k}_shots_per_min"] = round(60 * shots / out[f"{k}_s"], 2)
    out["two_to_one_ratio"] = round(out["workers_1_s"] / out["workers_2_s"], 2)
    out["farm_overhead_per_shot_s"] = round((out["workers_1_s"] - out["in_process_s"]) / shots, 2)
    out["farm_overhead_pct"] = round(100 * (out["workers_1_s"] / out["in_process_s"] - 1), 1)
    out["load_after"] = os.getloadavg()
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shots", type=int, default=6, help="shots per run (default 6)")
    p.add_argument("--steps", type=int, default=8, help="sampling steps per shot (default 8)")
    args = p.parse_args(argv)
    print(json.dumps(run(args.shots, args.steps), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
