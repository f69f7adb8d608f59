"""Valid input at the edges of its documented ranges never crashes, and invalid text never
gets further than one bad-input error.

- Generated valid traces (seq and ts_ns over their whole ranges, GPAs at the GPAW 48/52
  edges, up to 256 vCPUs, empty and single-event traces) go through the writer, the one
  validity check, replay, check, export to JSON Lines and ingest back (the same table), and
  sql (the same event count).
- Every text reader gets arbitrary bytes: it reads them or raises InputError, nothing else.

seq at and past 2**63 (where int64 keys would overflow) has its own test too.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tdxray.analyses.sql.session import Session
from tdxray.cli.main import cli
from tdxray.ingest.registry import read_traces
from tdxray.ingest.text.trace import TextOptions
from tdxray.model.replay import replay_trace
from tdxray.schema.build import events_to_batch
from tdxray.schema.constants import TDVMCALL_RETRY
from tdxray.schema.errors import InputError
from tdxray.schema.events import TS_NS_MAX
from tdxray.schema.td import TdConfig, TraceHeader
from tdxray.store.read import open_trace
from tdxray.store.write import TraceWriter

U64 = (1 << 64) - 1
SETTINGS = settings(max_examples=60, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _gpas(gpaw: int) -> st.SearchStrategy[int]:
    """Page-aligned GPAs at the edges: 0, the top of the private range, the shared bit, the
    top of the address width, and anything between."""
    shared = 1 << (gpaw - 1)
    top = (1 << gpaw) - 4096
    edges = st.sampled_from([0, shared - 4096, shared, top, shared | 0x1000])
    return st.one_of(edges, st.integers(0, top // 4096).map(lambda p: p * 4096))


@st.composite
def traces(draw: st.DrawFn) -> tuple[TdConfig, list[dict[str, Any]]]:
    gpaw = draw(st.sampled_from([48, 52]))
    vcpus = draw(st.sampled_from([1, 2, 256]))
    td = TdConfig(gpaw=gpaw, apic_ids=tuple(range(vcpus)))
    n = draw(st.integers(0, 12))
    seqs = sorted(draw(st.sets(st.integers(0, U64), min_size=n, max_size=n)))
    stamps = sorted(draw(st.lists(st.integers(0, TS_NS_MAX), min_size=n, max_size=n)))
    events = []
    for seq, ts in zip(seqs, stamps, strict=True):
        event: dict[str, Any] = {"seq": seq, "ts_ns": ts, "vcpu": draw(st.integers(0, vcpus - 1))}
        kind = draw(st.sampled_from(["log", "map_gpa", "accept", "mem_access", "tdcall"]))
        gpa = draw(_gpas(gpaw))
        if kind == "log":
            event.update(kind="log", text=draw(st.text(max_size=20)))
        elif kind == "map_gpa":
            status = draw(st.sampled_from([0, TDVMCALL_RETRY, U64]))
            event.update(kind="map_gpa", gpa=gpa, size=draw(st.sampled_from([4096, 1 << 21])),
                         status=status)
            if status == TDVMCALL_RETRY:  # FORMATS.md: a RETRY says where to resume
                event["resume_gpa"] = gpa + 4096
        elif kind == "accept":
            event.update(kind="accept", gpa=gpa & ~(1 << (gpaw - 1)), level=draw(
                st.sampled_from([0, 1, 2])), status=draw(st.sampled_from([0, U64])))
        elif kind == "mem_access":
            event.update(kind="mem_access", gpa=gpa, write=draw(st.booleans()))
        else:
            event.update(kind="tdcall", leaf=draw(st.integers(0, U64)),
                         status=draw(st.integers(0, U64)))
        events.append(event)
    return td, events


def _write(path: Path, td: TdConfig, events: list[dict[str, Any]]) -> Path:
    with TraceWriter(path, TraceHeader("prop", td)) as writer:
        if events:
            writer.write_batch(events_to_batch(events))
    return path


@SETTINGS
@given(traces())
def test_valid_traces_at_the_edges_go_through_every_command(
        trace: tuple[TdConfig, list[dict[str, Any]]]) -> None:
    td, events = trace
    with tempfile.TemporaryDirectory(prefix="tdxray-prop-") as tmp:
        store = Path(tmp) / "store"
        path = _write(store / "prop.parquet", td, events)
        assert open_trace(path).num_rows == len(events)
        result = replay_trace(path, store / "prop.replay")
        assert result.events == len(events)
        runner = CliRunner()
        checked = runner.invoke(cli, ["check", str(path), "--format", "json"])
        assert checked.exit_code in (0, 1), checked.output
        jsonl = Path(tmp) / "prop.jsonl"
        exported = runner.invoke(cli, ["export", str(path), "-o", str(jsonl), "-q"])
        assert exported.exit_code == 0, exported.output
        again = runner.invoke(cli, ["ingest", str(jsonl), "-o", str(Path(tmp) / "again"), "-q"])
        assert again.exit_code == 0, again.output
        columns = ["seq", "ts_ns", "vcpu", "kind", "gpa", "size", "status", "resume_gpa",
                   "leaf", "level", "write", "text"]
        assert pq.read_table(Path(tmp) / "again" / "prop.parquet", columns=columns).to_pylist() \
            == pq.read_table(path, columns=columns).to_pylist()
        with Session(store) as session:
            assert session.arrow("SELECT count(*) AS n FROM events")["n"][0].as_py() == len(events)


def test_a_seq_past_two_to_the_63_replays(tmp_path: Path) -> None:
    events = [{"seq": 1 << 63, "ts_ns": 1, "vcpu": 0, "kind": "map_gpa", "gpa": 1 << 47,
               "size": 4096, "status": 0}]
    path = _write(tmp_path / "t.parquet", TdConfig(), events)
    assert replay_trace(path, tmp_path / "t.replay").events == 1


TEXT_FORMATS = ["jsonl", "ftrace-host", "ftrace-guest", "qemu", "console"]
PREFIXES = [b"", b'{"tdxray": 1, "trace_id": "f", "td": {"gpaw": 48, "apic_ids": [0]}}\n',
            b"          <idle>-0     [000] d....     1.000001: ",
            b"1234@1.000001:kvm_convert_memory start 0x", b"[    1.000000] "]


@settings(max_examples=100, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TEXT_FORMATS), st.sampled_from(PREFIXES), st.binary(max_size=300))
def test_every_text_reader_reads_or_refuses_garbage(fmt: str, prefix: bytes, tail: bytes) -> None:
    with tempfile.TemporaryDirectory(prefix="tdxray-fuzz-") as tmp:
        path = Path(tmp) / "input"
        path.write_bytes(prefix + tail)
        try:
            for trace in read_traces([str(path)], fmt, lambda _: None, TextOptions()):
                for _batch in trace.batches:
                    pass
        except InputError:
            pass
