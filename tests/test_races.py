"""Races run with real processes: two ingests of one trace id (exactly one wins), and a check
racing `ingest --replace` (its results describe the file it replayed, so they read as stale)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tdxray.model.replay import is_fresh
from tdxray.store.layout import results_dir_for
from tdxray.store.manifest import ManifestDir
from tdxray.tests.processes import PATIENCE, SAMPLE, run, start, wait_until


def test_two_ingests_of_one_trace_id_exactly_one_wins(tmp_path: Path) -> None:
    """Both are held mid-trace (their FIFOs half written) until both have passed any check of
    the name and started writing; then both finish."""
    store = tmp_path / "store"
    lines = SAMPLE.read_bytes().splitlines(keepends=True)
    fifos = [tmp_path / "a.fifo", tmp_path / "b.fifo"]
    procs, writers = [], []
    for fifo in fifos:
        os.mkfifo(fifo)
        procs.append(start("ingest", str(fifo), "-o", str(store), "--trace-id", "same", "-q"))
        writers.append(os.open(fifo, os.O_WRONLY))  # returns once the ingest opened it
    for fd in writers:
        os.write(fd, b"".join(lines[:2]))
    wait_until("both ingests writing", lambda: len(list(store.glob(".same.parquet.*.tmp"))) == 2)
    for fd in writers:
        os.write(fd, b"".join(lines[2:]))
        os.close(fd)
    outcomes = sorted((p.wait(timeout=PATIENCE), p.stderr.read()) for p in procs)  # type: ignore[union-attr]
    assert outcomes == [(0, ""), (2, f"tdxray: error: {store / 'same.parquet'}: the store already "
                                   "holds trace 'same' (written meanwhile?); give --replace to "
                                   "overwrite it\n")]
    assert sorted(p.name for p in store.iterdir()) == ["_manifest", "same.parquet"]
    assert [r["trace_id"] for r in ManifestDir(str(store)).read_parts().to_pylist()] == ["same"]


def test_a_check_racing_ingest_replace_leaves_stale_results(tmp_path: Path,
                                                            long_trace: Path) -> None:
    store, scratch = tmp_path / "store", tmp_path / "tmp"
    scratch.mkdir()
    assert run("ingest", str(long_trace), "-o", str(store), "-q").returncode == 0
    trace = store / "raced.parquet"
    check = start("check", str(trace), env={**os.environ, "TMPDIR": str(scratch)})
    # the replay's scratch directory exists once the trace is open: stop the check right there
    wait_until("the check replaying", lambda: any(scratch.glob("tdxray-replay-*")))
    os.kill(check.pid, signal.SIGSTOP)
    try:
        replaced = run("ingest", str(SAMPLE), "-o", str(store), "--trace-id", "raced",
                       "--replace", "-q")
    finally:
        os.kill(check.pid, signal.SIGCONT)
    assert replaced.returncode == 0, replaced.stderr
    assert check.wait(timeout=PATIENCE) in (0, 1), check.stderr.read()  # type: ignore[union-attr]
    assert (results_dir_for(trace) / "replay.json").exists()
    assert not is_fresh(trace, results_dir_for(trace))
