"""How many threads a render uses on a processor it shares with other programs (issue 30, item 5).

PyTorch's CPU kernels run on OpenMP teams as wide as the machine. When another program keeps a core busy,
every parallel region waits for the team's slowest thread, which shares its core with that program, and the
team's other threads spin while they wait: on two cores a render beside one busy single-threaded program ran
many times slower than alone, not twice. `ThreadPolicy` looks at how many cores the *other* programs keep
busy (the machine's busy time in /proc/stat less this process's own CPU time, over the interval since the
last look) and sizes the team to the cores left, re-checking between denoising steps, so a render beside a
busy program runs on the free core instead of fighting for the busy one.

A count pinned by the user (OMP_NUM_THREADS, or `threads=N`) is kept as it is. Results can differ in the last
bits between thread counts (the order of a sum changes), so a seed reproduces a take within float noise when
the load changes between two renders; pin the threads where bit-exact repeats matter (the tests do).
"""
from __future__ import annotations

import os
import time

import torch

RECHECK_S = 0.5  # the shortest interval between two looks at the load (a denoising step takes about this long)
BUSY_CORE = 0.5  # another program's share of a core from which that core counts as taken


def _busy_seconds() -> float | None:
    """Seconds of CPU time the whole machine has spent busy since boot (all cores), or None off Linux."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    t = os.times()
    return t.user + t.system


class LoadWatch:
    """Cores the other programs on this machine kept busy since the last look (`others()`)."""

    def __init__(self):
        self.cores = os.cpu_count() or 1
        self.last = (time.monotonic(), _busy_seconds(), _own_seconds())

    def others(self) -> float | None:
        """Average busy cores of everything but this process since the previous call (None off Linux or
        when no time has passed)."""
        now = (time.monotonic(), _busy_seconds(), _own_seconds())
        (t0, busy0, own0), self.last = self.last, now
        if busy0 is None or now[1] is None or now[0] - t0 <= 0:
            return None
        return max(0.0, ((now[1] - busy0) - (now[2] - own0)) / (now[0] - t0))


def threads_for(cores: int, others: float) -> int:
    """The team size for a render on `cores` when other programs keep `others` cores busy: the cores left,
    at least one."""
    taken = int(others // 1) + (1 if others % 1 >= BUSY_CORE else 0)
    return max(1, cores - taken)


class ThreadPolicy:
    """The render's thread count: `threads` pinned (an int), or "auto" (the cores other programs leave free,
    checked at most every RECHECK_S by `adjust()`), or None (torch's own setting, untouched)."""

    def __init__(self, threads: int | str | None = "auto"):
        if threads == "auto" and os.environ.get("OMP_NUM_THREADS"):
            threads = None  # the user pinned the team in the environment: keep it
        if threads not in (None, "auto") and (not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads must be a positive count, 'auto' or None, not {threads!r}")
        self.threads = threads
        self.watch = LoadWatch() if threads == "auto" else None
        self.checked = 0.0
        self.changes: list[tuple[float, int]] = []  # (monotonic time, threads) each time the team was resized
        if isinstance(threads, int):
            torch.set_num_threads(threads)

    def begin(self) -> None:
        """A render starts: the first look comes RECHECK_S into it and measures those seconds only (the
        studio may have sat idle for an hour since the last render)."""
        if self.watch is not None:
            self.watch = LoadWatch()
            self.checked = time.monotonic()

    def adjust(self) -> int:
        """Resize the team to the load now (auto), at most every RECHECK_S; the thread count in use."""
        if self.watch is not None and time.monotonic() - self.checked >= RECHECK_S:
            self.checked = time.monotonic()
            others = self.watch.others()
            if others is not None:
                n = threads_for(self.watch.cores, others)
                if n != torch.get_num_threads():
                    torch.set_num_threads(n)
                    self.changes.append((self.checked, n))
        return torch.get_num_threads()
