"""SIGTERM unwinds a command like Ctrl-C: exit 143, and every temporary it made is gone (the
DuckDB spill directory of sql, the replay scratch of check, the half trace of ingest). Each run
is stopped at a state it is seen to reach, never after a guessed time."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from tdxray.tests.processes import PATIENCE, SAMPLE, run, start, wait_until


def _terminate(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=PATIENCE)
    assert proc.stderr is not None
    return code, proc.stderr.read()


def _scratch(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    return scratch, {**os.environ, "TMPDIR": str(scratch)}


def test_sql_removes_its_spill_directory(tmp_path: Path) -> None:
    scratch, env = _scratch(tmp_path)
    store = tmp_path / "store"
    store.mkdir()
    proc = start("sql", "--store", str(store), "SELECT count(*) FROM range(100000000000)",
                 env=env)
    wait_until("the session's spill directory", lambda: any(scratch.glob("tdxray-sql-*")))
    assert _terminate(proc) == (143, "")
    assert list(scratch.iterdir()) == []


def test_check_removes_its_replay_scratch(tmp_path: Path, long_trace: Path) -> None:
    """A store of eight traces, checked one after another: the window to stop the check in is
    several replays long (one replay of the long trace takes ~0.3 s, which a loaded machine's
    scheduling could miss: the check then ended before the signal came)."""
    scratch, env = _scratch(tmp_path)
    store = tmp_path / "store"
    store.mkdir()
    for i in range(8):
        os.link(long_trace, store / f"raced{i}.parquet")
    proc = start("check", str(store), env=env)
    wait_until("the replay's scratch directory", lambda: any(scratch.glob("tdxray-replay-*")))
    assert _terminate(proc) == (143, "")
    assert list(scratch.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store", "tmp"]
    # the traces replayed before the signal keep whole results; nothing else was left behind
    finished = sorted(p.name for p in store.glob("*.replay"))
    assert len(finished) < 8
    for name in finished:
        assert sorted(os.listdir(store / name)) == ["divergences.parquet", "page_history.parquet",
                                                    "replay.json"], name
    others = {p.name for p in store.iterdir()} - set(finished)
    assert others - {"_manifest"} == {f"raced{i}.parquet" for i in range(8)}
    if (store / "_manifest").exists():
        assert all(p.name.startswith("part-") and p.suffix == ".parquet"
                   for p in (store / "_manifest").iterdir())


@contextlib.contextmanager
def _half_ingest(tmp_path: Path, env: dict[str, str] | None = None
                 ) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """An ingest into tmp_path/store held mid-trace on a FIFO: its half trace exists."""
    store, fifo = tmp_path / "store", tmp_path / "trace.fifo"
    os.mkfifo(fifo)
    proc = start("ingest", str(fifo), "-o", str(store), "-q", env=env)
    writer = os.open(fifo, os.O_WRONLY)
    try:
        os.write(writer, b"".join(SAMPLE.read_bytes().splitlines(keepends=True)[:20]))
        wait_until("the half trace", lambda: any(store.glob(".*.tmp")))
        yield proc, store
    finally:
        os.close(writer)


def test_ingest_removes_its_half_trace(tmp_path: Path) -> None:
    with _half_ingest(tmp_path) as (proc, store):
        assert _terminate(proc) == (143, "")
    assert list(store.iterdir()) == []


def test_a_python_child_without_the_cli_is_untouched() -> None:
    """The handler is the command's (cli.main), not an import side effect of the package."""
    code = ("import signal, tdxray.cli.main\n"
            "print(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=PATIENCE, check=True)
    assert done.stdout.strip() == "True"


def test_store_check_finds_and_cleans_what_kill_9_left(tmp_path: Path) -> None:
    """kill -9 cannot be unwound: its half trace stays; `tdxray store check` names it (its
    owner is gone) and `--clean` removes it."""
    scratch, env = _scratch(tmp_path)
    with _half_ingest(tmp_path, env) as (proc, store):
        proc.kill()
        proc.wait(timeout=PATIENCE)
    [half] = store.glob(".*.tmp")
    assert f".parquet.{proc.pid}." in half.name
    found = run("store", "check", str(store), env=env)
    assert found.returncode == 1
    assert found.stdout == f"{store}: leftover temporary: {half} (its process {proc.pid} is gone)\n"
    cleaned = run("store", "check", str(store), "--clean", env=env)
    assert cleaned.returncode == 0, cleaned.stderr
    assert cleaned.stdout == (f"{store}: removed leftover temporary: {half} (its process "
                              f"{proc.pid} is gone)\n")
    assert list(store.iterdir()) == []
    assert list(scratch.iterdir()) == []
