"""seq is u64 (FORMATS.md §1): values at and past 2**63 survive ingest, replay, page history and
the report, exactly (no int64 on the way)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
from click.testing import CliRunner

from tdxray.cli.main import cli
from tdxray.model.outputs import PAGE_HISTORY_FILE
from tdxray.model.replay import replay_trace

BASE = 1 << 63
LAST = (1 << 64) - 1
BUF = 0x10000000
SHARED = 1 << 47


def big_trace(path: Path) -> Path:
    header = {"tdxray": 1, "trace_id": "bigseq", "td": {
        "gpaw": 48, "apic_ids": [0], "ram": [["0x0", "0x80000000"]], "memory": "accepted"}}
    events = [{"kind": "kexec", "phase": "boot"},
              {"kind": "map_gpa", "gpa": hex(BUF | SHARED), "size": "0x2000", "status": 0},
              {"kind": "kexec", "phase": "begin"},
              {"kind": "mem_access", "gpa": hex(BUF), "write": True}]
    rows = [{"seq": BASE + i, "ts_ns": 1000 + i, "vcpu": 0, **e} for i, e in enumerate(events)]
    rows.append({"seq": LAST, "ts_ns": 2000, "vcpu": 0, "kind": "kexec", "phase": "jump"})
    path.write_text("\n".join(json.dumps(r) for r in [header, *rows]) + "\n")
    return path


def test_seqs_past_2_63_replay_and_report_exactly(tmp_path: Path) -> None:
    store = tmp_path / "store"
    runner = CliRunner()
    res = runner.invoke(cli, ["ingest", str(big_trace(tmp_path / "big.jsonl")), "-o",
                              str(store), "-q"])
    assert res.exit_code == 0, res.output
    report = tmp_path / "r.json"
    res = runner.invoke(cli, ["check", str(store), "--format", "json", "-o", str(report)])
    assert res.exit_code == 1, res.output
    [checked] = json.loads(report.read_text())["traces"]
    assert [(d["rule"], d["seq"], d["cause_seqs"]) for d in checked["divergences"]
            if d["severity"] != "info"] == [
        ("A001", BASE + 3, [BASE + 1]), ("K001", BASE + 3, [BASE + 1]),
        ("K004", BASE + 3, [BASE + 1])]


def test_the_page_history_keeps_seqs_past_2_63(tmp_path: Path) -> None:
    store = tmp_path / "store"
    res = CliRunner().invoke(cli, ["ingest", str(big_trace(tmp_path / "big.jsonl")), "-o",
                                   str(store), "-q"])
    assert res.exit_code == 0, res.output
    replay_trace(store / "bigseq.parquet", tmp_path / "results")
    rows = pq.read_table(tmp_path / "results" / PAGE_HISTORY_FILE).to_pylist()
    assert sorted((r["state"], r["from_seq"], r["to_seq"], r["cause_seq"]) for r in rows
                  if r["gpa_start"] == BUF) == [
        ("private", None, BASE + 1, None), ("shared", BASE + 1, None, BASE + 1)]
