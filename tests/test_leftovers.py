"""What killed runs leave is told from what live runs write: `tdxray store check` reports (and
`--clean` removes) a temporary once its owner (the pid in its name) is gone, never a running
owner's; one without an owner to check counts from an age. Real processes, killed for real;
each run has its own temporary directory (TMPDIR), nothing else is looked at."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tdxray.tests.processes import PATIENCE, SAMPLE, run, start, wait_until


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    path = tmp_path / "tmp"
    path.mkdir()
    return path


@pytest.fixture
def env(scratch: Path) -> dict[str, str]:
    return {**os.environ, "TMPDIR": str(scratch)}


@pytest.fixture
def store(tmp_path: Path, env: dict[str, str]) -> Path:
    store = tmp_path / "store"
    assert run("ingest", str(SAMPLE), "-o", str(store), "-q", env=env).returncode == 0
    return store


def _check(store: Path, env: dict[str, str], *args: str) -> tuple[int, list[str]]:
    done = run("store", "check", str(store), *args, env=env)
    return done.returncode, done.stdout.splitlines()


def test_a_killed_replays_scratch_is_found_and_cleaned_a_live_ones_never(
        store: Path, scratch: Path, env: dict[str, str], long_trace: Path, tmp_path: Path
) -> None:
    theirs = [scratch / "tdxray-land.lock", scratch / "tdxray-notes", scratch / "other-abcdefgh"]
    theirs[0].write_text("")
    for path in theirs[1:]:
        path.mkdir()
    os.utime(theirs[0], (0, 0))
    os.link(long_trace, tmp_path / "raced.parquet")
    live = start("check", str(tmp_path / "raced.parquet"), env=env)
    try:
        wait_until("the live replay's scratch", lambda: any(scratch.glob("tdxray-replay-*")))
        live.send_signal(signal.SIGSTOP)  # alive, mid-replay, for as long as the test needs
        [running] = scratch.glob(f"tdxray-replay-{live.pid}-*")
        killed = start("check", str(tmp_path / "raced.parquet"), env=env)
        wait_until("the second replay's scratch",
                   lambda: any(scratch.glob(f"tdxray-replay-{killed.pid}-*")))
        killed.kill()
        killed.wait(timeout=PATIENCE)
        [dead] = scratch.glob(f"tdxray-replay-{killed.pid}-*")
        code, lines = _check(store, env, "--older-than", "0")
        assert (code, lines) == (1, [f"{store}: leftover temporary: {dead} (its process "
                                     f"{killed.pid} is gone)"])
        code, lines = _check(store, env, "--clean", "--older-than", "0")
        assert (code, lines) == (0, [f"{store}: removed leftover temporary: {dead} (its "
                                     f"process {killed.pid} is gone)"])
        assert not dead.exists() and running.is_dir()
    finally:
        live.send_signal(signal.SIGTERM)
        live.send_signal(signal.SIGCONT)
        live.wait(timeout=PATIENCE)
    assert sorted(scratch.iterdir()) == sorted(theirs)  # what is not tdxray's is never touched


def test_a_live_writers_half_trace_is_not_a_leftover(tmp_path: Path, env: dict[str, str]
                                                     ) -> None:
    store, fifo = tmp_path / "store", tmp_path / "trace.fifo"
    os.mkfifo(fifo)
    proc = start("ingest", str(fifo), "-o", str(store), "-q", env=env)
    writer = os.open(fifo, os.O_WRONLY)
    try:
        os.write(writer, b"".join(SAMPLE.read_bytes().splitlines(keepends=True)[:20]))
        wait_until("the half trace", lambda: any(store.glob(".*.tmp")))
        assert _check(store, env, "--clean", "--older-than", "0") == (0, [])
        assert len(list(store.glob(".*.tmp"))) == 1
        os.write(writer, b"".join(SAMPLE.read_bytes().splitlines(keepends=True)[20:]))
    finally:
        os.close(writer)
    assert proc.wait(timeout=PATIENCE) == 0
    assert [p.name for p in store.glob("*.parquet")] == ["sample-accept-misuse.parquet"]


def test_a_temporary_without_owner_counts_from_its_age(store: Path, env: dict[str, str]
                                                       ) -> None:
    old = store / ".t.parquet.k2j3h4x1.tmp"  # a name from before temporaries carried a pid
    old.write_bytes(b"half")
    os.utime(old, (old.stat().st_mtime - 630,) * 2)  # 10 min 30 s ago
    assert _check(store, env) == (0, [])  # younger than the default 15 min
    assert _check(store, env, "--older-than", "300") == (
        1, [f"{store}: leftover temporary: {old} (10 min old, no owner known)"])
    os.utime(old, (old.stat().st_mtime - 7300,) * 2)
    assert _check(store, env) == (1, [f"{store}: leftover temporary: {old} (2 h old, no owner "
                                      "known)"])


def test_a_pid_reused_since_is_not_the_owner(store: Path, env: dict[str, str]) -> None:
    """This test's own process runs, but started after the temporary was last written."""
    stale = store / f".t.parquet.{os.getpid()}.k2j3h4x1.tmp"
    stale.write_bytes(b"half")
    assert _check(store, env, "--older-than", "0") == (0, [])  # its owner may be writing it
    os.utime(stale, (0, 0))
    assert _check(store, env) == (1, [f"{store}: leftover temporary: {stale} (its process "
                                      f"{os.getpid()} is gone)"])


_WORST_MOMENT = """
import os, signal, sys, tempfile
from tdxray.cli.failures import handle_sigterm
from tdxray.store.scratch import scratch_dir

handle_sigterm()
real = tempfile.mkdtemp

def mkdtemp(*args, **kwargs):
    path = real(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGTERM)  # made, not yet registered
    return path

tempfile.mkdtemp = mkdtemp
if sys.argv[1] == "stdlib":
    with tempfile.TemporaryDirectory(prefix="tdxray-replay-"):
        pass
else:
    with scratch_dir("tdxray-replay-"):
        pass
"""


@pytest.mark.parametrize(("maker", "left"), [("stdlib", 1), ("scratch_dir", 0)])
def test_sigterm_between_making_and_registering_a_directory(scratch: Path, env: dict[str, str],
                                                            maker: str, left: int) -> None:
    """The race test_sigterm's replay scratch once lost: tempfile.TemporaryDirectory has a
    window between mkdtemp and its finalizer; scratch_dir holds SIGTERM through it. The signal
    is sent at that very moment, every time."""
    done = subprocess.run([sys.executable, "-c", _WORST_MOMENT, maker], env=env,
                          capture_output=True, text=True, timeout=PATIENCE, check=False)
    assert done.stderr.rstrip().endswith("tdxray.schema.errors.Terminated")  # sent, both times
    assert len(list(scratch.glob("tdxray-replay-*"))) == left
