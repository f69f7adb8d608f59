"""Races run with real processes: two ingests of one trace id (exactly one wins), and a check
racing `ingest --replace` (its results describe the file it replayed, so they read as stale)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tdxray.model.replay import is_fresh
from tdxray.store.layout import results_dir_for

SAMPLE = Path(__file__).resolve().parents[1] / "sample_traces" / "accept-misuse.jsonl"
PATIENCE = 120.0


def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tdxray", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def wait_until(what: str, ready: object) -> None:
    """Poll `ready()` (a state another process reaches); PATIENCE is a safety net, not a timing."""
    deadline = time.monotonic() + PATIENCE
    while not ready():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.005)


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
    assert sorted(p.name for p in store.iterdir()) == ["same.parquet"]


@pytest.fixture(scope="module")
def long_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Long enough to replay for a while: the race window the test stops the check in."""
    path = tmp_path_factory.mktemp("long") / "long.parquet"
    done = subprocess.run([sys.executable, "-m", "tdxray", "simulate", "--events", "1000000",
                           "--trace-id", "raced", "-q", "-o", str(path)], timeout=PATIENCE,
                          check=False)
    assert done.returncode == 0
    return path


def test_a_check_racing_ingest_replace_leaves_stale_results(tmp_path: Path,
                                                            long_trace: Path) -> None:
    store, scratch = tmp_path / "store", tmp_path / "tmp"
    scratch.mkdir()
    done = subprocess.run([sys.executable, "-m", "tdxray", "ingest", str(long_trace), "-o",
                           str(store), "-q"], timeout=PATIENCE, check=False)
    assert done.returncode == 0
    trace = store / "raced.parquet"
    check = start("check", str(trace), env={**os.environ, "TMPDIR": str(scratch)})
    # the replay's scratch directory exists once the trace is open: stop the check right there
    wait_until("the check replaying", lambda: any(scratch.glob("tdxray-replay-*")))
    os.kill(check.pid, signal.SIGSTOP)
    try:
        replaced = subprocess.run([sys.executable, "-m", "tdxray", "ingest", str(SAMPLE), "-o",
                                   str(store), "--trace-id", "raced", "--replace", "-q"],
                                  timeout=PATIENCE, check=False, capture_output=True, text=True)
    finally:
        os.kill(check.pid, signal.SIGCONT)
    assert replaced.returncode == 0, replaced.stderr
    assert check.wait(timeout=PATIENCE) in (0, 1), check.stderr.read()  # type: ignore[union-attr]
    assert (results_dir_for(trace) / "replay.json").exists()
    assert not is_fresh(trace, results_dir_for(trace))
