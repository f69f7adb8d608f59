"""A worker killed with kill -9 mid-run: every trace still gets exactly one result, and the
results beside each trace are the ones a sequential replay gives."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tdxray.cli.main import cli
from tdxray.model.outputs import read_result
from tdxray.model.replay import is_fresh, replay_trace
from tdxray.store.layout import results_dir_for
from tdxray.tests.support import need_modules

SAMPLES = Path(__file__).resolve().parent.parent / "sample_traces"
COPIES = 12


@pytest.fixture
def client() -> Iterator[object]:
    need_modules("distributed", install="dask[distributed]")
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as c:
        yield c


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(client: object,
                                                               tmp_path: Path) -> None:
    from distributed import Client

    from tdxray.fleet.replay import TraceOutcome, replay_all

    assert isinstance(client, Client)
    store = tmp_path / "store"
    res = CliRunner().invoke(cli, ["ingest", str(SAMPLES / "smp-v1-kexec.jsonl"), "-o", str(store)])
    assert res.exit_code == 0, res.output
    (first,) = store.glob("*.parquet")
    traces = [first] + [shutil.copy(first, store / f"copy-{i:02d}.parquet")
                        for i in range(COPIES - 1)]
    killed: list[int] = []

    def kill_one(outcome: TraceOutcome, done: int, total: int) -> None:
        if killed:
            return
        busy = [addr for addr, keys in client.processing().items() if keys]
        assert busy, "no worker holds a task after the first result: nothing to kill"
        pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    outcomes = replay_all(client, [(p, results_dir_for(p)) for p in traces], kill_one)
    assert killed
    assert [o.path for o in outcomes] == traces
    expected = replay_trace(first).divergences
    for outcome in outcomes:
        assert outcome.error is None
        assert outcome.result is not None
        assert outcome.result.divergences == expected
        rdir = results_dir_for(outcome.path)
        assert is_fresh(outcome.path, rdir)
        assert read_result(rdir / "divergences.parquet").divergences == expected
    assert sorted(p.name for p in store.glob("*.replay")) == \
        sorted(results_dir_for(p).name for p in traces)
