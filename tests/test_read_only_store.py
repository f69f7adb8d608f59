"""A read-only store is readable: check, replay and sql work, their results go to a temporary
stand-in (said once on stderr, removed at exit), the store is left as it was. Read-only for
real: a read-only bind mount in a user namespace when the tests run as root (who ignores
permissions), the directory's permissions otherwise."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tdxray.tests.processes import PATIENCE, SAMPLE, run

NOTE = "tdxray: note: {store} is read-only: replay results go to "


def _read_only(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tdxray", *args]
    if os.geteuid() != 0:
        store.chmod(0o555)
        try:
            return subprocess.run(command, capture_output=True, text=True, timeout=PATIENCE,
                                  check=False)
        finally:
            store.chmod(0o755)
    unshare = shutil.which("unshare")
    probe = unshare and subprocess.run([unshare, "-rm", "true"], check=False).returncode == 0
    if not probe:  # a kernel setting, not a package .ci/run could install: skipped, also in CI
        pytest.skip("as root a read-only store needs unshare -rm (util-linux) and user "
                    "namespaces enabled (kernel.unprivileged_userns_clone)")
    mount = (f'mount --bind "{store}" "{store}" && mount -o remount,bind,ro "{store}" && '
             'exec "$@"')
    return subprocess.run([str(unshare), "-rm", "sh", "-c", mount, "sh", *command],
                          capture_output=True, text=True, timeout=PATIENCE, check=False)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    assert run("ingest", str(SAMPLE), "-o", str(store), "-q").returncode == 0
    return store


def _listing(store: Path) -> list[str]:
    return sorted(str(p.relative_to(store)) for p in store.rglob("*"))


def test_check_and_replay_of_a_read_only_store(store: Path, tmp_path: Path) -> None:
    before = _listing(store)
    writable = tmp_path / "writable"
    shutil.copytree(store, writable)
    expected = run("check", str(writable), "--format", "jsonl")
    done = _read_only(store, "check", str(store), "--format", "jsonl")
    assert done.returncode == expected.returncode, done.stderr
    assert done.stdout.replace(str(store), str(writable)) == expected.stdout
    assert '"rule": "G005"' in expected.stdout
    assert done.stderr.startswith(NOTE.format(store=store))
    assert len(done.stderr.splitlines()) == 1
    replayed = _read_only(store, "replay", str(store), "-q")
    assert (replayed.returncode, replayed.stdout) == (0, ""), replayed.stderr
    assert _listing(store) == before


def test_sql_over_a_read_only_store(store: Path) -> None:
    before = _listing(store)
    done = _read_only(store, "sql", "--store", str(store), "--format", "csv",
                      "SELECT rule FROM divergences WHERE severity <> 'info' ORDER BY rule")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["rule", "G005", "G006"]
    assert done.stderr.startswith(NOTE.format(store=store))
    assert _listing(store) == before


def test_info_and_export_of_a_read_only_store_say_no_note(store: Path, tmp_path: Path) -> None:
    """They write no replay results: nothing to say about where results go."""
    info = _read_only(store, "info", str(store))
    assert info.returncode == 0, info.stderr
    assert info.stderr == ""
    assert "trace:" in info.stdout
    out = tmp_path / "out.jsonl"
    export = _read_only(store, "export", str(store), "-o", str(out))
    assert (export.returncode, export.stderr) == (0, "")
    assert out.read_text().splitlines()[1:] == SAMPLE.read_text().splitlines()[1:]


def test_a_trace_named_from_its_own_directory_keeps_its_results_beside_it(
        tmp_path: Path) -> None:
    """`tdxray replay t.parquet` run where t.parquet is: the directory is writable, so the
    results stay beside the trace (a bare name's directory is the current one, not '')."""
    from tdxray.tests.support import write_trace

    write_trace(tmp_path / "t.parquet", [{"kind": "map_gpa", "gpa": 0x1000, "size": 0x1000,
                                          "status": 0}])
    done = subprocess.run([sys.executable, "-m", "tdxray", "replay", "t.parquet", "-q"],
                          capture_output=True, text=True, timeout=PATIENCE, check=False,
                          cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert (tmp_path / "t.replay" / "divergences.parquet").exists()
