"""The render farm: the studio's render queue on a Ray cluster (issue 33; docs/FARM.md).

`python app.py --farm ray://HOST:PORT` connects to a running cluster through Ray Client,
`--farm HOST:PORT` joins one this machine is a node of, and `--farm auto` starts a cluster on this
machine. Only the cluster named is ever used: the address is passed to Ray as given, never read from
RAY_ADDRESS or a cluster Ray finds running. A cluster the studio starts itself keeps every port on
127.0.0.1 (Ray's loopback-only mode), has no dashboard, and uses Ray's token authentication.

Ray is an optional dependency: nothing imports this package unless the studio was started with --farm.
Whole shots are farmed, one per worker, not one shot split across workers: whole shots scale with the
number of workers (issue 33).
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

from studio.farm.pool import FarmError, Pool

LOOPBACK = ("127.0.0.1", "localhost", "ray://127.0.0.1", "ray://localhost")
ADDRESS = re.compile(r"(ray://)?[A-Za-z0-9.\-\[\]:]+:\d{1,5}")


def connect(farm: str, threads: int | None = None, env: dict | None = None) -> Pool:
    """Connect this process to the farm `farm` names ("auto", "ray://HOST:PORT" or "HOST:PORT"); its pool.
    env: environment variables of the renderers' processes (a farm started here also gets this checkout on
    their PYTHONPATH)."""
    farm = (farm or "").strip()
    if farm != "auto" and not ADDRESS.fullmatch(farm):
        raise FarmError(f"--farm takes auto, ray://HOST:PORT (Ray Client) or HOST:PORT (a cluster this machine is "
                        f"a node of); got {farm!r}")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if farm == "auto" or farm.rsplit(":", 1)[0] in LOOPBACK:
        # Before Ray is imported: single-machine Ray binds its servers to 127.0.0.1 only (not every interface)
        # and reaches a cluster on 127.0.0.1 there (not at this machine's network address).
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    try:
        import ray  # deferred: optional (Ray), and imported only after the environment above is set
    except ImportError:
        raise FarmError("--farm needs Ray: `pip install ray` (docs/FARM.md)") from None
    if farm.startswith("ray://"):
        # deferred: Ray is heavy; this package imports without it
        from ray._private.utils import get_ray_client_dependency_error

        if get_ray_client_dependency_error() is not None:
            raise FarmError('--farm ray://HOST:PORT connects through Ray Client: `pip install "ray[client]"` '
                            "(docs/FARM.md)")
    env = dict(env or {})
    if farm == "auto":
        env.setdefault("PYTHONPATH", str(Path(__file__).resolve().parents[2]))
    if ray.is_initialized():  # a studio rebuilt in this process (tests): only on the cluster it was given
        if farm != "auto" and ray.get_runtime_context().gcs_address.rsplit(":", 1)[1] != farm.rsplit(":", 1)[1]:
            raise FarmError(f"this process is connected to the farm at {ray.get_runtime_context().gcs_address}, "
                            f"not {farm}; restart the studio to change farms")
        return Pool(threads=threads, env=env)
    attempts = CLIENT_ATTEMPTS if farm.startswith("ray://") else 1
    for attempt in range(1, attempts + 1):
        try:
            if farm == "auto":
                ray.init(address="local", _node_ip_address="127.0.0.1", include_dashboard=False, namespace="tenku",
                         log_to_driver=False)
            else:
                ray.init(address=farm, namespace="tenku", log_to_driver=False)
            break
        except (ConnectionError, RuntimeError, ValueError) as e:
            if attempt < attempts and CLIENT_SERVER_FAILED in str(e):
                # The head starts a server for each Ray Client connection, and that server can die starting (seen
                # once in CI: a gRPC poller's internal check failing in it); a new connection gets a new server.
                _forget(ray)
                time.sleep(CLIENT_RETRY_S)
                continue
            raise FarmError(f"cannot reach the farm at {farm}: {e}; start its head with `ray start --head` "
                            "(docs/FARM.md)") from None
    return Pool(threads=threads, env=env)


CLIENT_ATTEMPTS = 3  # connections tried when the head's per-client server fails to start
CLIENT_RETRY_S = 2.0
CLIENT_SERVER_FAILED = "Starting Ray client server failed"  # Ray's words for it (ray.util.client.server.proxier)


def _forget(ray) -> None:
    """Drop what a failed connection left behind, so the next ray.init starts clean."""
    try:
        ray.shutdown()
    except Exception:  # noqa: BLE001 (nothing was connected: there is nothing to drop)
        pass


def disconnect() -> None:
    """Leave the farm (a cluster started by `--farm auto` stops with it)."""
    import ray  # deferred: Ray is heavy; this package imports without it

    ray.shutdown()


def farm_queue(farm: str, store, engines, runner, planner, threads: int | None = None, env: dict | None = None):
    """A studio.queue.RenderQueue whose jobs render on the farm (studio.farm.queue.FarmQueue)."""
    from studio.farm.queue import FarmQueue  # deferred: studio.farm.queue imports this package (cycle)

    return FarmQueue(store, engines, runner, planner, connect(farm, threads, env))
