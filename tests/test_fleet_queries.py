"""Fleet SQL: the library's fleet questions answered exactly on a small store (the traces that
leaked the most pages, the rules that never ran), and `traces` built from the manifest."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import tdxray.analyses.sql.traces as traces_module
from tdxray.analyses.sql.library import get_query
from tdxray.analyses.sql.session import Session
from tdxray.cli.main import cli
from tdxray.store.manifest import MANIFEST_DIR, consistent
from tests.test_manifest import SAMPLES, kernel_trace

MAILBOX_RULES = [f"M00{i}" for i in range(1, 9)]


def _ingest(store: Path, *paths: Path) -> None:
    res = CliRunner().invoke(cli, ["ingest", *map(str, paths), "-o", str(store)])
    assert res.exit_code == 0, res.output


def _run(store: Path, name: str) -> list[dict[str, object]]:
    with Session(store) as session:
        return session.arrow(get_query(name).sql).to_pylist()


def test_most_leaked_pages_and_rules_never_run_follow_the_store(tmp_path: Path) -> None:
    store = tmp_path / "store"
    unfixed = kernel_trace(tmp_path, "unfixed-kernel", "td-unfixed", "6.1.0-37-amd64")
    # neither trace writes the mailbox: M001..M008 are skipped in both, and so never ran
    _ingest(store, unfixed, SAMPLES / "single-vcpu-kexec.jsonl")
    assert _run(store, "most-leaked-pages") == [
        {"trace_id": "td-unfixed", "kernel_version": "6.1.0-37-amd64", "leaked_pages": 2055,
         "leaked_ranges": 2, "ranges": ["0x4000000-0x4007000", "0x1f600000-0x1fe00000"]}]
    never = _run(store, "rules-never-run")
    assert [r["rule"] for r in never] == MAILBOX_RULES
    assert {r["traces"] for r in never} == {2}
    assert [r["reasons"] for r in never] == [["no mailbox_write events"]] * 7 + [
        ["no cpu or mailbox events"]]
    # a third trace runs every rule and leaks one page: no rule is left unrun
    _ingest(store, SAMPLES / "unshare-failure.jsonl")
    assert [(r["trace_id"], r["leaked_pages"], r["leaked_ranges"])
            for r in _run(store, "most-leaked-pages")] == [
        ("td-unfixed", 2055, 2), ("sample-unshare-failure", 1, 1)]
    assert _run(store, "rules-never-run") == []


def test_traces_come_from_the_manifest_when_it_matches_the_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "store"
    _ingest(store, kernel_trace(tmp_path, "kdump", "td-a", "6.12.38+deb13-amd64"),
            SAMPLES / "mailbox-misuse.jsonl")
    with Session(store) as session:  # replays both traces (their results are missing)
        assert session.from_manifest
        from_manifest = session.arrow("SELECT * FROM traces")
    opened: list[str] = []
    real_open = traces_module.open_trace
    monkeypatch.setattr(traces_module, "open_trace",
                        lambda path: opened.append(Path(path).name) or real_open(path))
    with Session(store) as session:
        assert session.from_manifest and opened == []
        assert session.arrow("SELECT * FROM traces").equals(from_manifest)
    # a trace file the manifest does not list: every file is opened, the table is the same
    shutil.copy(store / "td-a.parquet", store / "td-b.parquet")
    with Session(store) as session:
        assert not session.from_manifest
        assert opened == ["sample-mailbox-misuse.parquet", "td-a.parquet", "td-b.parquet"]
        rows = session.arrow("SELECT * FROM traces")
    assert rows.filter(pc.not_equal(rows.column("trace_id"), "td-b")).equals(from_manifest)
    # a manifest without headers (written before they were kept) is not trusted either
    (store / "td-b.parquet").unlink()
    shutil.rmtree(store / "td-b.replay", ignore_errors=True)
    assert consistent(str(store)) is not None
    for part in (store / MANIFEST_DIR).glob("part-*.parquet"):
        pq.write_table(pq.read_table(part).drop_columns(["header"]), part)
    assert consistent(str(store)) is None
    # `tdxray store compact` reads the headers back from the files
    res = CliRunner().invoke(cli, ["store", "compact", str(store)])
    assert res.exit_code == 0, res.output
    assert consistent(str(store)) is not None
    with Session(store) as session:
        assert session.from_manifest
        assert session.arrow("SELECT * FROM traces").equals(from_manifest)
