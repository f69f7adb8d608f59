"""A Dask client: a LocalCluster of N worker processes, or an existing scheduler's address."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from tdxray.schema.errors import InputError

if TYPE_CHECKING:
    from distributed import Client

CONNECT_TIMEOUT_S = 10


def _distributed() -> object:
    try:
        import distributed
    except ImportError:
        raise InputError("the fleet path needs Dask distributed: pip install 'dask[distributed]'",
                         "--workers/--scheduler") from None
    return distributed


@contextlib.contextmanager
def client_for(workers: int | None, scheduler: str | None) -> Iterator[Client]:
    """A client on a fresh LocalCluster (`workers` processes, one thread each, loopback only),
    or on the scheduler at `scheduler` (tcp://HOST:PORT). Closed when the block ends."""
    _distributed()
    import dask
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(f"cannot reach the Dask scheduler: {exc}", scheduler) from None
        with client:
            yield client
        return
    if workers is None or workers < 1:
        raise InputError("--workers needs a positive number of workers", str(workers))
    # The scheduler serves HTTP (health, metrics) even without a dashboard: on loopback, on a
    # free port (its default, 8787, is taken by any other cluster on the machine).
    with dask.config.set({SPAWN_ENV: worker_env(), **QUIET}), _unset_while_open(UNSET), \
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                         host="127.0.0.1", dashboard_address=None,
                         scheduler_kwargs={"dashboard": False,
                                           "dashboard_address": "127.0.0.1:0"}) as cluster, \
            Client(cluster) as client:
        yield client


SPAWN_ENV = "distributed.nanny.pre-spawn-environ"
# Dask's default for its workers. Setting it at all turns off glibc's sliding mmap threshold:
# every replay's arrays over 128 KiB are then mapped and unmapped afresh, ~2,500 page faults
# and ~4 ms of kernel time per trace of 1e5 events (benchmarks/fleet.py; docs/fleet.md).
UNSET = ("MALLOC_TRIM_THRESHOLD_",)


# What a LocalCluster of ours does without: nobody looks at a dashboard or its profiles, so
# the workers do not sample their task's stack every 10 ms, and the event loops wake up less
# often (the client process, which also runs the scheduler and the nannies, spent ~2.7 ms of
# CPU per trace of 1e5 events on one worker, ~1.3 ms with these; benchmarks/fleet.py).
QUIET = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",  # the event loops' health check (20 ms)
    "distributed.admin.system-monitor.interval": "2s",  # the dashboard's figures (500 ms)
    "distributed.worker.memory.monitor-interval": "500ms",  # memory limit watch (100 ms)
}


@contextlib.contextmanager
def _unset_while_open(names: tuple[str, ...]) -> Iterator[None]:
    """Our process's environment without `names` while the cluster lives, restored after.

    A worker process inherits the nanny's os.environ, and a Nanny writes Dask's pre-spawn
    settings into it for good (distributed.nanny.WorkerProcess.start: os.environ.update): after
    any Dask cluster of default settings in this process (the caller's own, an earlier test's),
    our workers would inherit MALLOC_TRIM_THRESHOLD_ again, also when a killed one restarts.
    """
    kept = {name: os.environ.pop(name) for name in names if name in os.environ}
    try:
        yield
    finally:
        for name in names:
            os.environ.pop(name, None)
        os.environ.update(kept)


def worker_env() -> dict[str, object]:
    """The environment our LocalCluster's workers start with: Dask's, without UNSET."""
    import dask

    return {key: value for key, value in dask.config.get(SPAWN_ENV, {}).items()
            if key not in UNSET}
