"""The filter histogram (store/filter_index.py): kind and vCPU filters counted per block from
(block, kind, vcpu, n) give the counts a scan of the whole trace gives."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest
from textual.widgets import Input

from tdxray.store.filter_index import (
    FilterIndexError,
    MissingIndex,
    build_histogram,
    ensure_histogram,
    histogram_path,
    open_histogram,
)
from tdxray.store.layout import results_dir_for
from tdxray.store.read import open_trace
from tdxray.tests.support import SMALL_BLOCK, write_trace
from tdxray.tests.test_tui import settle
from tdxray.tui.app import TdxrayApp
from tdxray.tui.event_table import EventTable
from tdxray.tui.filter_sql import Filter, query
from tdxray.tui.loaders import Loaders
from tdxray.tui.source import EventSource
from tdxray.tui.trace_screen import TraceScreen

SHARED = 1 << 47
SIZE = (120, 40)




def histogram_source(path: Path) -> EventSource:
    trace = open_trace(path)
    source = EventSource(trace)
    histogram, _ = ensure_histogram(trace, results_dir_for(path), SMALL_BLOCK)
    source.attach_histogram(histogram)
    return source


FILTERS = [
    Filter(vcpu="0"), Filter(vcpu="1"), Filter(vcpu="0-1"), Filter(vcpu="1, 5-9"),
    Filter(vcpu="5-9"), Filter(kind="tdvmcall"), Filter(kind="log mem_access"),
    Filter(kind="tdvmcall", vcpu="1"), Filter(kind="map_gpa,accept", vcpu="0"),
    Filter(kind="kexec", vcpu="1-3"), Filter(kind="cr4_write", vcpu="7"),
]


@pytest.mark.usefixtures("small_blocks")
def test_kind_and_vcpu_counts_are_the_counts_a_scan_finds(simulated: Path) -> None:
    source = histogram_source(simulated)
    ((vcpus,),) = duckdb.sql(f"SELECT count(DISTINCT vcpu) FROM '{simulated}'").fetchall()
    assert vcpus >= 2
    totals = []
    for f in FILTERS:
        q = query(f, SHARED)
        assert q is not None and q.histogram, f
        scanned = source.count(q.where)
        counted = source.count_in_histogram(q.where)
        assert counted.where == q.where and not counted.partial and not counted.indexed
        assert counted.starts.tolist() == scanned.starts.tolist(), f
        for start in (0, counted.total // 2, max(counted.total - 50, 0)):  # rows: the trace's
            assert source.window(counted, start, 50) == source.window(scanned, start, 50), f
        totals.append(counted.total)
    assert 0 in totals and max(totals) > source.rows // 4  # empty and dense filters both


def test_the_histogram_holds_every_event_once(simulated: Path) -> None:
    trace = open_trace(simulated)
    histogram = build_histogram(trace, results_dir_for(simulated), SMALL_BLOCK)
    ((total, blocks),) = duckdb.sql(
        f"SELECT sum(n), count(DISTINCT block) FROM '{histogram.path}'").fetchall()
    assert total == trace.num_rows
    assert blocks == (trace.num_rows + SMALL_BLOCK - 1) // SMALL_BLOCK
    assert histogram.entries < trace.num_rows // 20  # small: not the trace again


def test_a_stale_or_damaged_histogram_is_rebuilt(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "t.parquet", [{"kind": "log", "text": "x", "vcpu": i % 3}
                                                for i in range(100)])
    results = results_dir_for(path)
    trace = open_trace(path)
    with pytest.raises(MissingIndex):
        open_histogram(trace, results)
    first, rebuilt = ensure_histogram(trace, results)
    assert rebuilt is None and first.entries == 3
    assert ensure_histogram(trace, results) == (first, None)  # fresh: reused
    with pytest.raises(FilterIndexError, match="stale"):  # another block size
        open_histogram(trace, results, SMALL_BLOCK)
    write_trace(path, [{"kind": "log", "text": "x", "vcpu": 0}] * 10)
    os.utime(path, ns=(1, 1))  # another size and mtime, whatever the clock says
    trace = open_trace(path)
    second, rebuilt = ensure_histogram(trace, results)
    assert rebuilt is not None and "stale" in rebuilt and second.entries == 1
    histogram_path(results).write_bytes(b"garbage")
    third, rebuilt = ensure_histogram(trace, results)
    assert rebuilt is not None and "unreadable" in rebuilt and third == second
    assert not list(results.glob(".*.tmp"))  # nothing half-written left behind


def test_only_kind_and_vcpu_filters_are_counted_in_the_histogram() -> None:
    for f in (Filter(kind="log"), Filter(vcpu="1"), Filter(kind="tdvmcall,log", vcpu="0-3")):
        assert query(f, SHARED).histogram, f  # type: ignore[union-attr]
    for f in (Filter(vcpu="1", time="1-2"), Filter(vcpu="1", gpa="0x1000"),
              Filter(kind="log", failures=True), Filter(kind="log", text="x"),
              Filter(time="1-")):
        assert not query(f, SHARED).histogram, f  # type: ignore[union-attr]


class Counter(Loaders):
    """The count worker's logic, without a screen: messages are collected."""

    def __init__(self, source: EventSource) -> None:
        self.source = source
        self.posted: list[object] = []

    def post_message(self, message: object) -> bool:
        self.posted.append(message)
        return True


@pytest.mark.usefixtures("small_blocks")
def test_the_count_worker_uses_the_histogram_only_when_it_can(
        simulated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = histogram_source(simulated)
    scans: list[str] = []
    real = source.count

    def spy(where: str, *args: Any, **kwargs: Any) -> Any:
        scans.append(where)
        return real(where, *args, **kwargs)

    monkeypatch.setattr(source, "count", spy)
    counter = Counter(source)
    ((rare,),) = duckdb.sql(f"SELECT kind FROM '{simulated}' GROUP BY kind "
                            "ORDER BY count(*) LIMIT 1").fetchall()
    for f, in_histogram in ((Filter(vcpu="1"), True), (Filter(vcpu="5-9"), True),
                            (Filter(kind=rare), False), (Filter(vcpu="1", text="a"), False),
                            (Filter(kind="tdvmcall", time="1-"), False)):
        q = query(f, SHARED)
        assert q is not None
        scans.clear()
        view = counter._counted_view(q, 0, 0, 0.0)
        assert (not scans) == in_histogram, f  # sparse matches: scanned, as without it
        assert view.starts.tolist() == real(q.where).starts.tolist(), f
    source.histogram = None  # not built yet: scan as before
    q = query(Filter(vcpu="1"), SHARED)
    assert q is not None
    scans.clear()
    assert counter._counted_view(q, 0, 0, 0.0).total == real(q.where).total
    assert scans


def test_the_app_counts_a_vcpu_filter_in_the_histogram(simulated: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = Path(shutil.copy(simulated, tmp_path / "sim.parquet"))
    used: list[str] = []
    real = EventSource.count_in_histogram

    def spy(self: EventSource, where: str) -> Any:
        used.append(where)
        return real(self, where)

    monkeypatch.setattr(EventSource, "count_in_histogram", spy)
    ((expected,),) = duckdb.sql(f"SELECT count(*) FROM '{path}' WHERE vcpu = 1").fetchall()

    async def explore() -> None:
        app = TdxrayApp(str(path))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, TraceScreen) and screen.index_ready
            assert screen.source.histogram is not None
            screen.query_one("#filter-vcpu", Input).value = "1"
            await settle(pilot)
            table = screen.query_one(EventTable)
            assert table.view.filtered and not table.view.partial
            assert table.view.total == expected
            assert table.row_at(0)["vcpu"] == 1

    asyncio.run(explore())
    assert used == ["(vcpu = 1)"]
    assert histogram_path(results_dir_for(path)).exists()
