"""A fleet worker replays on its one thread (no decoding thread): the cluster's parallelism is
across traces. The results are the same, file for file, as a sequential check's."""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tdxray.model.replay import replay_trace
from tdxray.store.read import open_trace


def test_one_thread_gives_the_results_of_the_decoding_thread(simulated: Path,
                                                             tmp_path: Path) -> None:
    ahead = replay_trace(simulated, tmp_path / "ahead")
    one = replay_trace(simulated, tmp_path / "one", read_ahead=False)
    assert one.divergences == ahead.divergences and one.divergences
    assert (one.events, one.trace_id) == (ahead.events, ahead.trace_id)
    for name in ("divergences.parquet", "page_history.parquet", "replay.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "ahead" / name).read_bytes()


def test_one_thread_streams_the_batches_on_the_callers_thread(simulated: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    trace = open_trace(simulated)
    seen: set[str] = set()
    real = pq.ParquetFile.iter_batches

    def spy(self: pq.ParquetFile, *args: object, **kwargs: object) -> object:
        for batch in real(self, *args, **kwargs):  # type: ignore[arg-type]
            seen.add(threading.current_thread().name)
            yield batch

    # on the class: the decoding thread reads through a ParquetFile of its own
    monkeypatch.setattr(pq.ParquetFile, "iter_batches", spy)
    one = list(trace.iter_batches(["seq"], batch_size=1_000, prefetch=True, threads=False))
    assert seen == {threading.current_thread().name}
    ahead = list(trace.iter_batches(["seq"], batch_size=1_000, prefetch=True))
    assert seen == {threading.current_thread().name, "tdxray-read"}
    assert [b.num_rows for b in one] == [b.num_rows for b in ahead]
    assert sum(b.num_rows for b in one) == trace.num_rows == 30_000


def test_a_local_clusters_workers_keep_glibcs_sliding_mmap_threshold(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Dask sets MALLOC_TRIM_THRESHOLD_ for its workers, which pins glibc's mmap threshold: a
    replay's big arrays would be mapped afresh each time (page faults, kernel time). Also when
    an earlier Dask cluster in this process left it in os.environ (a Nanny writes it there)."""
    import os

    from tdxray.fleet.cluster import client_for

    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")  # what a default Nanny leaves
    with client_for(1, None) as client:
        env = client.run(lambda: (os.environ.get("MALLOC_TRIM_THRESHOLD_"),
                                  os.environ.get("OMP_NUM_THREADS")))
    assert list(env.values()) == [(None, "1")]  # Dask's other settings stay
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "65536"  # ours restored


def test_a_local_clusters_workers_do_not_profile_and_wake_up_less_often() -> None:
    """No dashboard, so no 10 ms stack sampling of the replay and fewer event loop ticks."""
    import dask

    from tdxray.fleet.cluster import client_for

    names = ("distributed.worker.profile.enabled", "distributed.admin.tick.interval",
             "distributed.worker.memory.monitor-interval")
    with client_for(1, None) as client:
        seen = client.run(lambda: tuple(dask.config.get(name) for name in names))
    assert list(seen.values()) == [(False, "1s", "500ms")]
    assert dask.config.get("distributed.worker.profile.enabled") is True  # ours only, not global


def test_a_pool_of_one_thread_is_not_used_for_whole_row_groups(simulated: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    """A fleet worker's pyarrow pool has one thread (OMP_NUM_THREADS=1): a row group read there
    would only make the task's thread wait for it, so the prescan's and the check's whole row
    group reads decode on the caller's thread. The results are the same, file for file."""
    import pyarrow as pa

    calls: list[object] = []
    real = pq.ParquetFile.read_row_group

    def spy(self: pq.ParquetFile, *args: object, **kwargs: object) -> pa.Table:
        calls.append(kwargs.get("use_threads"))
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", spy)
    kept = pa.cpu_count()
    pa.set_cpu_count(2)
    try:
        pooled = replay_trace(simulated, tmp_path / "pooled", read_ahead=False)
        assert calls and set(calls) == {True}
        calls.clear()
        pa.set_cpu_count(1)
        one = replay_trace(simulated, tmp_path / "one", read_ahead=False)
    finally:
        pa.set_cpu_count(kept)
    assert calls and set(calls) == {False}
    assert one.divergences == pooled.divergences and one.divergences
    for name in ("divergences.parquet", "page_history.parquet", "replay.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "pooled" / name).read_bytes()
