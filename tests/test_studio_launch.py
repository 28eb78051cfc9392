"""app.py: safe launch defaults, and a real start on loopback that keeps its files in the projects folder."""
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import app  # noqa: E402


@pytest.mark.parametrize("argv, refused", [
    ([], None),
    (["--host", "0.0.0.0"], "without --auth"),
    (["--share"], "with --share without --auth"),
    (["--host", "0.0.0.0", "--auth", "ana"], "USER:PASSWORD"),
    (["--host", "0.0.0.0", "--auth", "ana:"], "USER:PASSWORD"),
    (["--host", "0.0.0.0", "--auth", "ana:secret"], None),
    (["--max-upload-mb", "0"], "must be positive"),
])
def test_launch_checks(argv, refused, monkeypatch):
    monkeypatch.delenv("TENKU_AUTH", raising=False)
    auth, reason = app.check_launch(app.parse_args(argv))
    if refused is None:
        assert reason is None
    else:
        assert refused in reason and auth is None


def test_threads_are_auto_by_default_or_a_positive_count(capsys):
    assert app.parse_args([]).threads == "auto"
    assert app.parse_args(["--threads", "1"]).threads == 1
    for bad in ("0", "-2", "many", "1.5"):
        with pytest.raises(SystemExit):
            app.parse_args(["--threads", bad])
        assert "expected auto or a positive whole number" in capsys.readouterr().err


def test_main_refuses_without_starting(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("TENKU_AUTH", raising=False)
    assert app.main(["--host", "0.0.0.0", "--projects", str(tmp_path / "p")]) == 2
    assert "refusing to expose" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()  # nothing written when refused
    monkeypatch.setenv("TENKU_AUTH", "ana:secret")
    assert app.check_launch(app.parse_args(["--host", "0.0.0.0"]))[1] is None


def test_starts_on_loopback_with_everything_in_the_projects_folder(tiny_model, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    projects = tmp_path / "projects"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("GRADIO_TEMP_DIR", None)
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port), "--projects", str(projects),
                             "--model", str(tiny_model), "--config", str(tmp_path / "config"), "--dtype", "float32"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        t0 = time.time()
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode()
                assert time.time() - t0 < 90
                time.sleep(0.5)
        assert (projects / "studio.db").is_file()
        with socket.socket() as s:  # not reachable on other interfaces
            other = socket.gethostbyname(socket.gethostname())
            if not other.startswith("127."):
                assert s.connect_ex((other, port)) != 0
    finally:
        proc.terminate()
        proc.wait(20)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["projects"]  # config only appears on first export
