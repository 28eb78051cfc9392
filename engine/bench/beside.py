"""A render alone and beside a busy program, for each thread setting (issue 30, item 5), measured side by side.

`python -m engine bench --beside` renders default clips (2 s, 1:1, 24 fps) in a fresh process per thread
setting, once on an otherwise quiet machine and once beside a second process that keeps one core busy (a
single-threaded spin loop, as a compile, a browser tab or a second render would), taking the settings in turn:

- `2 threads` (torch's default team, as wide as the machine: what the studio did before),
- `1 thread`,
- `auto` (engine.sampling.threads: the cores other programs leave free, re-checked between steps; the studio's
  setting now).

Each process loads the model and renders one two-step warm-up clip before its timed clips, so only rendering
is timed. The figure is the ratio of the wall time per clip beside the busy program to the time alone with
the same setting, and the time against the fastest setting alone (the bar: at most about twice).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

from engine import defaults

SETTINGS = {"2 threads": "2", "1 thread": "1", "auto": "auto"}
SPIN = "import time\nwhile True:\n    pass\n"  # one core kept busy, without sleeping


def child(model: str, threads: str, repeats: int, seconds: float) -> dict:
    """Run in the measured process: load, warm up, render `repeats` clips; the wall times and teams used."""
    import torch  # deferred: torch is heavy; this module imports without it

    from engine.request import GenerateRequest  # deferred: loads torch; this module imports without it
    from engine.service import Engine

    engine = Engine(model, dtype="auto", threads="auto" if threads == "auto" else int(threads))
    prompt = "a small red ball rolls to the right on a sandy desert"
    engine.generate(GenerateRequest(prompt=prompt, seconds=seconds, steps=2))
    walls, teams = [], []
    for i in range(repeats):
        engine.threads.changes.clear()
        start = torch.get_num_threads()
        t = time.perf_counter()
        engine.generate(GenerateRequest(prompt=prompt, seconds=seconds, seed=i))
        walls.append(round(time.perf_counter() - t, 3))
        # the teams the clip ran with: the one it started with, then each change
        teams.append([start] + [n for _, n in engine.threads.changes])
    return {"walls": walls, "teams": teams, "processor": defaults.processor(), "dtype": engine.dtype}


def measure(model: str, threads: str, beside: bool, repeats: int, seconds: float) -> dict:
    """One fresh process with the setting, alone or beside a spinning one."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    spin = subprocess.Popen([sys.executable, "-c", SPIN]) if beside else None
    try:
        out = subprocess.run([sys.executable, "-m", "engine.bench.beside", "--child", model, threads,
                              str(repeats), str(seconds)], env=env, capture_output=True, text=True, check=True)
    finally:
        if spin is not None:
            spin.kill()
            spin.wait()
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_beside(model: str, repeats: int = 2, seconds: float = 2.0, rounds: int = 2, log=lambda line: None) -> dict:
    """Every setting alone and beside the busy program, `rounds` times in turn; the median wall per clip."""
    walls: dict[str, dict[str, list[float]]] = {name: {"alone": [], "beside": []} for name in SETTINGS}
    teams: dict[str, dict[str, list]] = {name: {"alone": [], "beside": []} for name in SETTINGS}
    info = {}
    for r in range(rounds):
        for name, threads in SETTINGS.items():
            for where in ("alone", "beside"):
                res = measure(model, threads, where == "beside", repeats, seconds)
                walls[name][where] += res["walls"]
                teams[name][where] += res["teams"]
                info = {"processor": res["processor"], "dtype": res["dtype"]}
                log(f"round {r + 1}/{rounds} {name} {where}: {res['walls']} s a clip")
    med = {name: {where: round(statistics.median(v), 2) for where, v in w.items()} for name, w in walls.items()}
    best_alone = min(m["alone"] for m in med.values())
    return {"seconds_of_video": seconds, "clips_per_measure": repeats, "rounds": rounds, "cpus": os.cpu_count(),
            **info, "median_wall_s_per_clip": med,
            "beside_over_alone": {n: round(m["beside"] / m["alone"], 2) for n, m in med.items()},
            "beside_over_best_alone": {n: round(m["beside"] / best_alone, 2) for n, m in med.items()},
            "auto_teams": teams["auto"], "walls": walls}


if __name__ == "__main__" and sys.argv[1:2] == ["--child"]:
    model, threads, repeats, seconds = sys.argv[2:6]
    print(json.dumps(child(model, threads, int(repeats), float(seconds))))
