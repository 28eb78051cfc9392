"""Renders that share the machine (issue 30, item 5): the thread team follows the cores other programs leave free."""
import os
import subprocess
import sys
import time

import pytest
import torch

from engine.sampling import threads
from engine.sampling.threads import LoadWatch, ThreadPolicy, threads_for


@pytest.fixture()
def keep_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture()
def spinner():
    """A second program that keeps one core busy for the test's length."""
    p = subprocess.Popen([sys.executable, "-c", "while True:\n    pass\n"])
    time.sleep(0.3)
    yield p
    p.kill()
    p.wait()


def test_threads_for_leaves_the_busy_cores():
    assert threads_for(2, 0.0) == 2
    assert threads_for(2, 0.3) == 2  # a browser tab's share of a core does not take it
    assert threads_for(2, 0.7) == 1
    assert threads_for(2, 1.0) == 1
    assert threads_for(2, 3.5) == 1  # never fewer than one
    assert threads_for(8, 2.6) == 5


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/stat")
def test_load_watch_sees_a_busy_program_and_not_itself(spinner):
    watch = LoadWatch()
    t = time.monotonic()
    while time.monotonic() - t < 1.0:  # this process busy too: its own time is not counted as another's
        pass
    others = watch.others()
    assert others is not None and 0.6 <= others <= watch.cores


def test_a_pinned_team_is_kept(monkeypatch, keep_threads):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert ThreadPolicy("auto").threads is None  # the user's environment wins
    monkeypatch.delenv("OMP_NUM_THREADS")
    policy = ThreadPolicy(1)
    assert torch.get_num_threads() == 1 and policy.adjust() == 1
    with pytest.raises(ValueError, match="positive count"):
        ThreadPolicy(0)
    with pytest.raises(ValueError, match="'auto'"):
        ThreadPolicy("many")


@pytest.mark.skipif(not sys.platform.startswith("linux") or (os.cpu_count() or 1) < 2,
                    reason="needs /proc/stat and two cores")
def test_an_auto_render_beside_a_busy_program_takes_the_free_core(tiny_model, monkeypatch, keep_threads, spinner):
    from engine.request import GenerateRequest
    from engine.service import Engine

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "RECHECK_S", 0.05)  # the tiny model's steps are short
    torch.set_num_threads(2)
    engine = Engine(tiny_model, dtype="float32", threads="auto")
    result = engine.generate(GenerateRequest(prompt="a red ball", seconds=2.0, steps=12, fps=8.0))
    assert len(result.frames) == 16
    assert engine.threads.changes and engine.threads.changes[0][1] == 1
