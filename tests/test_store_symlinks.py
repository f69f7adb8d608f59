"""Symbolic links in a store never send a write elsewhere: a results dir or a `_manifest/` that
is a link is refused in one line (exit 2) and what it points to is left as it was. Reading a
trace file through a link stays allowed (a store of links to traces is a fair use)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tdxray.tests.processes import SAMPLE, run

LINKED = "is a symbolic link: replay results are written only into the store itself (remove "


@pytest.fixture
def store(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    assert run("ingest", str(SAMPLE), "-o", str(store), "-q").returncode == 0
    return store


@pytest.mark.parametrize("command", [("check",), ("replay", "-q"), ("sql", "SELECT 1")])
def test_a_linked_results_dir_is_refused(store: Path, tmp_path: Path, command: tuple[str, ...]
                                         ) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    results = store / "sample-accept-misuse.replay"
    results.symlink_to(elsewhere)
    args = ["sql", "--store", str(store), *command[1:]] if command[0] == "sql" else \
        [*command, str(store)]
    done = run(*args)
    assert done.returncode == 2, done.stderr
    assert done.stderr == f"tdxray: error: {results}: {LINKED}the link)\n"
    assert list(elsewhere.iterdir()) == []


def test_a_linked_manifest_is_refused(store: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    (store / "_manifest").rename(elsewhere)
    (store / "_manifest").symlink_to(elsewhere)
    before = sorted(p.name for p in elsewhere.iterdir())
    done = run("ingest", str(SAMPLE), "-o", str(store), "--trace-id", "again", "-q")
    assert done.returncode == 2
    assert done.stderr == (f"tdxray: error: {store.resolve() / '_manifest'}: is a symbolic "
                           "link: the manifest is kept only in the store itself (remove the "
                           "link)\n")
    assert sorted(p.name for p in elsewhere.iterdir()) == before


def test_a_trace_linked_into_a_store_is_read(store: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    os.symlink(store / "sample-accept-misuse.parquet", other / "linked.parquet")
    done = run("check", str(other / "linked.parquet"), "--format", "jsonl")
    direct = run("check", str(store / "sample-accept-misuse.parquet"), "--format", "jsonl")
    assert (done.returncode, done.stderr) == (direct.returncode, "")
    assert '"rule": "G005"' in done.stdout
    assert done.stdout.replace(str(other / "linked.parquet"), "T") == \
        direct.stdout.replace(str(store / "sample-accept-misuse.parquet"), "T")
