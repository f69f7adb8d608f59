"""The filter index (store/filter_index.py) and the filter counts built on it (tui/source.py):
the index, time runs and partial counts give the rows a scan of the whole trace gives."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from tdxray.schema.constants import Leaf, Subfn
from tdxray.store import filter_index
from tdxray.store.filter_index import (
    INDEXED,
    FilterIndexError,
    MissingIndex,
    build_index,
    ensure_index,
    index_path,
    open_index,
)
from tdxray.store.layout import results_dir_for
from tdxray.store.read import open_trace
from tdxray.tests.support import SHARED, SMALL_BLOCK, write_trace
from tdxray.tui.filter_sql import Filter, Query, query
from tdxray.tui.source import EventSource, View


@pytest.fixture
def handmade(tmp_path: Path) -> Path:
    """The GPA-carrying families the simulator does not write, and failures without a GPA."""
    events = [
        {"kind": "tdvmcall", "status": 0, "subfn": int(Subfn.MAP_GPA), "r12": 0x1A2000 | SHARED,
         "r13": 0x2000},
        {"kind": "tdcall", "leaf": int(Leaf.MEM_PAGE_ACCEPT), "status": 0, "rcx": 0x1A3000},
        {"kind": "tdcall", "leaf": int(Leaf.MEM_PAGE_ACCEPT), "status": 0, "rcx": 0x200000 | 1},
        {"kind": "tdvmcall", "status": 1, "r10": 12},  # a KVM hypercall, no subfn: no GPA
        {"kind": "tdvmcall", "status": 0, "subfn": 12},
        {"kind": "tdcall", "leaf": 3, "status": 0x8000000000000000},
        {"kind": "mem_access", "gpa": 0x1A2FFF, "write": True},
        {"kind": "map_gpa", "gpa": 0x1A0000, "size": 0x10000, "status": 1, "resume_gpa": 0x1A8000},
        {"kind": "log", "text": "no GPA here"},
        *[{"kind": "tdvmcall", "status": 0, "subfn": 12}] * 60,  # the index holds few events
    ] * 40
    return write_trace(tmp_path / "t.parquet", events)



def indexed_source(path: Path) -> EventSource:
    trace = open_trace(path)
    source = EventSource(trace)
    index, _ = ensure_index(trace, results_dir_for(path))
    source.attach_index(index)
    return source


def all_rows(source: EventSource, view: View) -> list[dict]:
    return source.window(view, 0, view.total).to_pylist()


def sample_gpas(path: Path) -> list[str]:
    """GPA filters that hit: the first page of every few MapGPA, ACCEPT and access, a page
    inside a big MapGPA, ranges across several, and an untouched page."""
    rows = duckdb.sql(f"SELECT kind, gpa, size FROM '{path}' WHERE gpa IS NOT NULL "
                      "ORDER BY seq").fetchall()
    picks = [f"{gpa & ~SHARED:#x}" for _, gpa, _ in rows[::37]]
    big = [(gpa & ~SHARED, size) for kind, gpa, size in rows if kind == "map_gpa" and size
           and size > 0x10000]
    picks += [f"{g + s // 2:#x}" for g, s in big[:3]]
    picks += ["0x0-0x100000", "0x1000-0x3000000", "0x100000000-", "0x7ffff000"]
    return picks


def filters_for(path: Path) -> list[Filter]:
    out = [Filter(gpa=g) for g in sample_gpas(path)]
    out += [Filter(failures=True), Filter(kind="map_gpa"), Filter(kind="accept,mem_access"),
            Filter(failures=True, vcpu="1"), Filter(gpa="0x0-0x80000000", time="-3"),
            Filter(gpa="0x0-0x80000000", text="a"), Filter(failures=True, kind="map_gpa")]
    return out


def test_the_index_holds_exactly_the_gpa_and_failure_events(simulated: Path) -> None:
    trace = open_trace(simulated)
    index = build_index(trace, results_dir_for(simulated))
    assert not index.dense
    expected = duckdb.sql(f"SELECT file_row_number AS row, * EXCLUDE (file_row_number) FROM "
                          f"read_parquet('{simulated}', file_row_number=true) WHERE {INDEXED} "
                          "ORDER BY row").fetchall()
    held = duckdb.sql(f"SELECT * FROM '{index.path}'").fetchall()
    assert held == expected
    assert index.events == len(expected) > 100
    kinds = {r[4] for r in expected}
    assert {"map_gpa", "accept", "mem_access"} <= kinds


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("which", ["simulated", "handmade"])
def test_indexed_filters_count_and_read_what_a_scan_does(which: str,
                                                         request: pytest.FixtureRequest) -> None:
    path = request.getfixturevalue(which)
    source = indexed_source(path)
    sbit = source.trace.header.td.shared_bit
    missed = []
    for f in filters_for(path):
        q = query(f, sbit)
        assert q is not None and q.indexed, f
        scanned = source.count(q.where, q.branches)
        indexed = source.count(q.where, indexed=True)
        assert indexed.indexed and not scanned.indexed
        assert indexed.starts.tolist() == scanned.starts.tolist(), f
        assert all_rows(source, indexed) == all_rows(source, scanned), f
        for n in range(0, scanned.total, max(1, scanned.total // 5)):  # a row's place in both
            row = all_rows(source, scanned)[n]["row"]
            assert source.index_of_row(indexed, row) == source.index_of_row(scanned, row) == n
        if not scanned.total:
            missed.append(f)
    assert len(missed) <= 4  # the samples mostly match something


def test_filters_that_stay_in_the_index_are_recognised() -> None:
    sbit = SHARED
    assert query(Filter(gpa="0x1000"), sbit).indexed  # type: ignore[union-attr]
    assert query(Filter(failures=True, text="x"), sbit).indexed  # type: ignore[union-attr]
    assert query(Filter(kind="map_gpa,accept"), sbit).indexed  # type: ignore[union-attr]
    for f in (Filter(kind="map_gpa,log"), Filter(vcpu="1"), Filter(time="1-2"),
              Filter(text="map_gpa")):
        assert not query(f, sbit).indexed, f  # type: ignore[union-attr]


def test_every_gpa_branch_is_led_by_an_index_condition() -> None:
    q = query(Filter(gpa="0x1000-0x2000"), SHARED)
    assert q is not None and q.branches is not None
    leads = [f"({c} AND " for c in filter_index.GPA_EVENTS]
    assert [b[: len(lead)] for b, lead in zip(q.branches, leads, strict=True)] == leads


def test_a_replaced_trace_makes_the_index_stale(handmade: Path) -> None:
    trace = open_trace(handmade)
    results = results_dir_for(handmade)
    with pytest.raises(MissingIndex):
        open_index(trace, results)
    first, rebuilt = ensure_index(trace, results)
    assert rebuilt is None and first.events > 0
    assert ensure_index(trace, results) == (first, None)  # fresh: reused
    write_trace(handmade, [{"kind": "map_gpa", "gpa": 0x5000, "size": 0x1000, "status": 0},
                           *[{"kind": "log", "text": "x"}] * 20])
    os.utime(handmade, ns=(1, 1))  # another size and mtime, whatever the clock says
    trace = open_trace(handmade)
    with pytest.raises(FilterIndexError, match="stale"):
        open_index(trace, results)
    second, rebuilt = ensure_index(trace, results)
    assert rebuilt is not None and "stale" in rebuilt
    assert second.events == 1


@pytest.mark.parametrize(("content", "why"), [
    (b"not parquet at all", "unreadable"),
    (None, "not a tdxray filter index"),
])
def test_a_damaged_index_is_rebuilt_and_says_why(handmade: Path, content: bytes | None,
                                                 why: str) -> None:
    trace = open_trace(handmade)
    path = index_path(results_dir_for(handmade))
    path.parent.mkdir(parents=True, exist_ok=True)
    if content is None:  # a Parquet file, but not an index
        pq.write_table(trace.read(["seq"]), path)
    else:
        path.write_bytes(content)
    with pytest.raises(FilterIndexError, match=why):
        open_index(trace, results_dir_for(handmade))
    index, rebuilt = ensure_index(trace, results_dir_for(handmade))
    assert rebuilt is not None and why in rebuilt
    assert index == open_index(trace, results_dir_for(handmade))
    assert not list(path.parent.glob(".*.tmp"))  # nothing half-written left behind


def test_a_trace_mostly_of_gpa_events_gets_a_dense_index(tmp_path: Path) -> None:
    events = [{"kind": "mem_access", "gpa": 0x1000 * i, "write": False} for i in range(50)]
    path = write_trace(tmp_path / "dense.parquet", [*events, {"kind": "log", "text": "x"}])
    trace = open_trace(path)
    index, _ = ensure_index(trace, results_dir_for(path))
    assert index.dense and index.events == 0
    source = EventSource(trace)
    source.attach_index(index)
    assert source.index is None  # filters keep scanning the trace


@pytest.mark.usefixtures("small_blocks")
def test_time_runs_are_the_rows_a_scan_finds(simulated: Path) -> None:
    source = EventSource(open_trace(simulated))
    ((first_ns, last_ns),) = duckdb.sql(
        f"SELECT min(ts_ns), max(ts_ns) FROM '{simulated}'").fetchall()
    span = last_ns - first_ns
    bounds = [(first_ns + span * a // 7, first_ns + span * b // 7) for a, b in
              [(0, 1), (2, 3), (3, 3), (5, 9), (0, 8)]]
    bounds += [(None, first_ns + span // 3), (first_ns + span // 2, None), (last_ns, last_ns),
               (last_ns + 1, None), (None, first_ns - 1)]
    for lo, hi in bounds:
        f = Filter(time=f"{'' if lo is None else lo / 1e9}-{'' if hi is None else hi / 1e9}")
        q = query(f, SHARED)
        assert q is not None and q.time_only and q.time is not None
        run = source.time_rows(*q.time)
        assert run is not None
        scanned = source.count(q.where)
        known = source.run_view(q.where, *run)
        assert known.starts.tolist() == scanned.starts.tolist(), f
        for start in (0, scanned.total // 2, scanned.total - 300):  # read by row number
            assert source.window(known, start, 300) == source.window(scanned, start, 300), f
        for row in (0, run[0], (run[0] + run[1]) // 2, run[1], source.rows - 1):
            assert source.index_of_row(known, row) == source.index_of_row(scanned, row), f
        kind = query(Filter(kind="tdvmcall", time=f.time), SHARED)
        assert kind is not None and not kind.time_only


def test_time_runs_need_rows_in_time_order(tmp_path: Path) -> None:
    events = [{"kind": "log", "text": "x", "ts_ns": ts} for ts in [5, 6, 7, 1, 2, 3]]
    path = write_trace(tmp_path / "unordered.parquet", events)
    source = EventSource(open_trace(path))
    assert source.time_rows(4, None) is None
    assert source.time_rows(None, 100) == (0, 6)  # every row: order does not matter


@pytest.mark.usefixtures("small_blocks")
def test_a_partial_count_is_a_prefix_of_the_whole_count(simulated: Path) -> None:
    source = EventSource(open_trace(simulated))
    q = query(Filter(kind="tdvmcall", time="1.5-"), SHARED)
    assert isinstance(q, Query) and q.time is not None
    run = source.time_rows(*q.time)
    assert run is not None and run[0] > 0
    whole = source.count(q.where)
    partial = source.count(q.where, first_rows=3 * SMALL_BLOCK, from_row=run[0])
    assert partial.partial and 0 < partial.total < whole.total
    # every block but the last one it reached is counted whole
    assert partial.starts[:-1].tolist() == whole.starts[: len(partial.starts) - 1].tolist()
    assert all_rows(source, partial) == all_rows(source, whole)[: partial.total]
