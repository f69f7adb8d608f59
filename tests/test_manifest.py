"""The manifest of a store: one row per trace, appended as small Parquet parts, merged on read,
compacted by `tdxray store compact`, checked against the files by `tdxray store check`."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from tdxray.cli.main import cli
from tdxray.store.manifest import MANIFEST_DIR, ManifestDir

SAMPLES = Path(__file__).resolve().parent.parent / "sample_traces"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def kernel_trace(folder: Path, sample: str, trace_id: str, release: str) -> Path:
    """A sample trace whose first console line is the kernel's banner for `release`."""
    lines = (SAMPLES / f"{sample}.jsonl").read_text().splitlines()
    header = json.loads(lines[0])
    header["trace_id"] = trace_id
    first_log = next(i for i, line in enumerate(lines) if '"kind": "log"' in line)
    event = json.loads(lines[first_log])
    event["text"] = f"Linux version {release} (debian-kernel@lists.debian.org) #1 SMP"
    lines[0], lines[first_log] = json.dumps(header), json.dumps(event)
    path = folder / f"{trace_id}.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def _parts(store: Path) -> list[str]:
    return sorted(p.name for p in (store / MANIFEST_DIR).glob("part-*.parquet"))


def test_each_ingest_appends_one_part_and_the_rows_say_what_was_ingested(tmp_path: Path) -> None:
    store = tmp_path / "store"
    a = kernel_trace(tmp_path, "kdump", "td-a", "6.12.38+deb13-amd64")
    b = kernel_trace(tmp_path, "cr4-mce-cleared", "td-b", "6.1.0-37-amd64")
    assert run("ingest", str(a), str(b), "-o", str(store)).exit_code == 0
    first = _parts(store)
    assert len(first) == 1
    assert run("ingest", str(SAMPLES / "mailbox-misuse.jsonl"), "-o", str(store)).exit_code == 0
    assert _parts(store)[: 1] == first and len(_parts(store)) == 2  # appended, not rewritten
    rows = {r["trace_id"]: r for r in ManifestDir(str(store)).read().to_pylist()}
    assert sorted(rows) == ["sample-mailbox-misuse", "td-a", "td-b"]
    assert rows["td-a"]["kernel_version"] == "6.12.38+deb13-amd64"
    assert rows["td-b"]["kernel_version"] == "6.1.0-37-amd64"
    assert rows["sample-mailbox-misuse"]["kernel_version"] is None
    assert rows["td-a"]["sources"] == [str(a)]
    assert rows["td-a"]["events"] == 150
    assert rows["td-a"]["size"] == (store / "td-a.parquet").stat().st_size
    assert rows["td-a"]["td_config_hash"] == rows["td-b"]["td_config_hash"]  # the same TD
    assert len(rows["td-a"]["td_config_hash"]) == 16
    assert rows["td-a"]["replay_stamp"] is None


def test_a_fleet_check_records_replay_stamps_and_compact_merges_the_parts(tmp_path: Path
                                                                          ) -> None:
    store = tmp_path / "store"
    for name in ("kdump", "cr4-mce-cleared"):
        assert run("ingest", str(SAMPLES / f"{name}.jsonl"), "-o", str(store)).exit_code == 0
    assert run("check", str(store), "--workers", "1").exit_code == 1
    assert len(_parts(store)) == 3
    listed = run("store", "list", str(store), "--json")
    rows = json.loads(listed.stdout)
    stamp = json.loads((store / "sample-kdump.replay" / "replay.json").read_text())
    assert [r["trace_id"] for r in rows] == ["sample-cr4-mce-cleared", "sample-kdump"]
    assert json.loads(rows[1]["replay_stamp"]) == stamp
    assert rows[1]["sources"] == [str(SAMPLES / "kdump.jsonl")]  # earlier part, still there
    res = run("store", "compact", str(store))
    assert res.stderr == f"tdxray: {store}: 3 manifest parts compacted into 1 (2 traces)\n"
    assert len(_parts(store)) == 1
    assert json.loads(run("store", "list", str(store), "--json").stdout) == rows
    assert pq.read_table(store / MANIFEST_DIR / _parts(store)[0]).num_rows == 2


def test_a_sequential_check_records_the_stamps_that_changed_and_only_those(tmp_path: Path
                                                                             ) -> None:
    store = tmp_path / "store"
    for name in ("kdump", "cr4-mce-cleared"):
        assert run("ingest", str(SAMPLES / f"{name}.jsonl"), "-o", str(store)).exit_code == 0
    assert run("check", str(store)).exit_code == 1
    assert len(_parts(store)) == 3
    rows = {r["trace_id"]: r for r in ManifestDir(str(store)).read().to_pylist()}
    for tid in ("sample-kdump", "sample-cr4-mce-cleared"):
        assert rows[tid]["replay_stamp"] == (store / f"{tid}.replay" / "replay.json").read_text()
    assert run("check", str(store)).exit_code == 1  # fresh results reused: nothing to record
    assert run("check", str(store), "--workers", "1").exit_code == 1
    assert len(_parts(store)) == 3
    assert run("check", str(store / "sample-kdump.parquet")).exit_code == 0  # a file, no store
    assert len(_parts(store)) == 3
    (store / "sample-kdump.parquet").touch()  # results now stale: replayed, a new stamp
    assert run("check", str(store)).exit_code == 1
    assert len(_parts(store)) == 4
    last = pq.read_table(store / MANIFEST_DIR / _parts(store)[-1]).to_pylist()
    assert [r["trace_id"] for r in last] == ["sample-kdump"]
    assert last[0]["replay_stamp"] == (store / "sample-kdump.replay" / "replay.json").read_text()


def test_store_check_names_what_disagrees_and_compact_adds_unlisted_traces(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # no other run's leftovers
    store = tmp_path / "store"
    for name in ("kdump", "cr4-mce-cleared"):
        assert run("ingest", str(SAMPLES / f"{name}.jsonl"), "-o", str(store)).exit_code == 0
    ok = run("store", "check", str(store))
    assert (ok.exit_code, ok.stdout) == (0, "")
    assert ok.stderr == f"tdxray: {store}: 2 traces, manifest under _manifest/: consistent\n"
    (store / "sample-kdump.parquet").rename(store / "moved.parquet")
    (store / ".moved.parquet.x1y2.tmp").write_bytes(b"half")
    two_hours_ago = time.time() - 7300  # no owner named: a leftover from 15 min on
    os.utime(store / ".moved.parquet.x1y2.tmp", (two_hours_ago, two_hours_ago))
    bad = run("store", "check", str(store))
    assert bad.exit_code == 1
    assert bad.stdout.splitlines() == [
        f"{store}: moved: trace file not in the manifest (tdxray store compact adds it)",
        f"{store}: sample-kdump: in the manifest, no trace file",
        f"{store}: leftover temporary: {store}/.moved.parquet.x1y2.tmp (2 h old, no owner "
        "known)",
    ]
    assert run("store", "compact", str(store)).exit_code == 0
    rows = {r["trace_id"]: r for r in ManifestDir(str(store)).read().to_pylist()}
    assert rows["moved"]["sources"] == [str(SAMPLES / "kdump.jsonl")]  # from its header
    assert rows["moved"]["events"] == 150


def test_store_list_prints_one_line_per_trace(tmp_path: Path) -> None:
    store = tmp_path / "store"
    path = kernel_trace(tmp_path, "kdump", "td-a", "6.12.38+deb13-amd64")
    assert run("ingest", str(path), "-o", str(store)).exit_code == 0
    res = run("store", "list", str(store))
    head, row = res.stdout.splitlines()
    assert head.split() == ["trace_id", "events", "size", "kernel_version", "td_config_hash",
                            "ingested_at", "replayed"]
    assert row.split()[:4] == ["td-a", "150", f"{(store / 'td-a.parquet').stat().st_size:,}",
                               "6.12.38+deb13-amd64"]
    assert row.split()[-1] == "no"
    assert res.stderr == "1 traces\n"


def test_fleet_sql_divergences_per_kernel_version_and_rule(tmp_path: Path) -> None:
    from tdxray.analyses.sql.library import get_query
    from tdxray.analyses.sql.session import Session

    store = tmp_path / "store"
    a = kernel_trace(tmp_path, "cr4-mce-cleared", "td-a", "6.12.38+deb13-amd64")
    b = kernel_trace(tmp_path, "mailbox-misuse", "td-b", "6.1.0-37-amd64")
    assert run("ingest", str(a), str(b), str(SAMPLES / "kdump.jsonl"), "-o",
               str(store)).exit_code == 0
    with Session(store) as session:
        rows = session.arrow(get_query("divergences-by-kernel").sql).to_pylist()
        traces = session.arrow("SELECT trace_id, kernel_version FROM traces "
                               "ORDER BY trace_id").to_pylist()
    assert [(r["kernel_version"], r["rule"], r["traces"], r["count"]) for r in rows
            if r["severity"] != "info"] == [
        ("6.1.0-37-amd64", "M001", 1, 1), ("6.1.0-37-amd64", "M004", 1, 1),
        ("6.12.38+deb13-amd64", "C001", 1, 1)]
    assert traces == [{"trace_id": "sample-kdump", "kernel_version": None},
                      {"trace_id": "td-a", "kernel_version": "6.12.38+deb13-amd64"},
                      {"trace_id": "td-b", "kernel_version": "6.1.0-37-amd64"}]


def test_merge_takes_each_column_s_latest_non_null_value() -> None:
    from datetime import UTC, datetime

    from tdxray.store.manifest import MANIFEST_SCHEMA, merge

    def at(second: int) -> datetime:
        return datetime(2026, 1, 1, 0, 0, second, tzinfo=UTC)

    parts = [  # not in time order; b's sources come from its older row only
        {"trace_id": "b", "replay_stamp": "b2", "recorded_at": at(5)},
        {"trace_id": "a", "sources": ["a.jsonl"], "size": 1, "events": 10, "recorded_at": at(1)},
        {"trace_id": "b", "sources": ["b.jsonl"], "size": 2, "replay_stamp": "b1",
         "recorded_at": at(2)},
        {"trace_id": "a", "sources": ["a2.jsonl"], "size": 3, "recorded_at": at(3)},
        {"trace_id": "a", "replay_stamp": "a1", "recorded_at": at(4)},
    ]
    merged = merge(pa.Table.from_pylist(parts, schema=MANIFEST_SCHEMA)).to_pylist()
    empty = dict.fromkeys(MANIFEST_SCHEMA.names)
    assert merged == [
        {**empty, "trace_id": "a", "sources": ["a2.jsonl"], "size": 3, "events": 10,
         "replay_stamp": "a1", "recorded_at": at(4)},
        {**empty, "trace_id": "b", "sources": ["b.jsonl"], "size": 2, "replay_stamp": "b2",
         "recorded_at": at(5)}]


def test_kernel_version_is_the_first_banners_release_in_any_row_group(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Row groups of 4 events: the banner is in the third; before it a line that names the
    marker with nothing after it, and other lines and events."""
    from tdxray.store import write
    from tdxray.store.manifest import kernel_version
    from tdxray.store.read import open_trace
    from tdxray.tests.support import write_trace

    monkeypatch.setattr(write, "ROW_GROUP_ROWS", 4)
    events = [{"kind": "log", "text": "hello"}, {"kind": "kexec", "phase": "boot"},
              {"kind": "log", "text": "Linux version "}, {"kind": "log", "text": "Linux"},
              *[{"kind": "log", "text": f"line {i}"} for i in range(4)],
              {"kind": "log", "text": "x Linux version 6.12.38+deb13-amd64 (debian-kernel@)"},
              {"kind": "log", "text": "Linux version 6.1.0-37-amd64 (debian-kernel@)"}]
    trace = open_trace(write_trace(tmp_path / "t.parquet", events))
    assert trace.num_row_groups == 3
    assert kernel_version(trace) == "6.12.38+deb13-amd64"
    assert kernel_version(open_trace(write_trace(tmp_path / "u.parquet", events[:8]))) is None
