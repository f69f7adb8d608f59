"""Benchmark `tdxray tui` by driving it with Pilot: open, filter, search, jump, memory.

    python -m tdxray.benchmarks.tui TRACE [TRACE ...]

Each trace is measured in a fresh subprocess (so that opening includes the imports and RSS is
the app's own): time to the first screen of events from process start and from mount,
structured filters (kind, vCPU, GPA point and range, failures only, time ranges) and free-text
search, each as [first screen of matches, final count] in seconds, jumps to a divergence (or to
a seq far away when the trace has none) and peak RSS. Prints one JSON object per trace.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

SIZE = (120, 40)


def _filters(first_ns: int, last_ns: int) -> list[tuple[str, str, str | bool]]:
    """(name, filter field, value): the issue's structured filters, then text search. The time
    filters start in the middle of the trace: one second of it, and all of its second half."""
    mid = (first_ns + last_ns) // 2 // 1_000_000_000
    return [
        ("kind", "#filter-kind", "map_gpa"),
        ("vcpu", "#filter-vcpu", "1"),
        ("gpa", "#filter-gpa", "0x1a2000"),
        ("gpa_range", "#filter-gpa", "0x1000-0x3000000"),
        ("failures", "#filter-failures", True),
        ("time", "#filter-time", f"{mid}-{mid + 1}"),
        ("time_from", "#filter-time", f"{mid}-"),
        ("text", "#filter-text", "kexec"),
    ]


async def _until(pilot: Any, cond: Callable[[], bool], timeout: float = 120.0,
                 every: float = 0.002) -> float:
    """Seconds until `cond` holds, polled `every` seconds (polling costs the app CPU: long
    waits poll less often)."""
    start = time.perf_counter()
    while not cond():
        if time.perf_counter() - start > timeout:
            raise TimeoutError("condition not reached")
        await pilot.pause(every)
    return time.perf_counter() - start


async def _measure(path: str, started: float) -> dict[str, Any]:
    from tdxray.model.divergence import Divergence
    from tdxray.tui.app import TdxrayApp
    from tdxray.tui.event_table import EventTable
    from tdxray.tui.trace_screen import TraceScreen

    out: dict[str, Any] = {"trace": path}
    app = TdxrayApp(path)
    async with app.run_test(size=SIZE) as pilot:
        mounted = [time.time()]  # run_test hands over the pilot once the app is mounted
        def first_rows() -> bool:
            tables = app.screen.query(EventTable) if isinstance(app.screen, TraceScreen) else []
            return any(t.row_at(0) is not None for t in tables)

        await _until(pilot, first_rows)
        now = time.time()
        out["first_screen_from_start_s"] = round(now - started, 3)
        out["first_screen_from_mount_s"] = round(now - mounted[0], 3)
        screen = app.screen
        table = screen.query_one(EventTable)
        out["events"] = table.view.total
        out["replay_ready_s"] = round(await _until(pilot, lambda: screen.results_dir is not None,
                                                   every=0.05) + time.time() - now, 3)
        out["index_ready_s"] = round(await _until(pilot, lambda: screen.index_ready, every=0.05)
                                     + time.time() - now, 3)
        ts = table.source.trace.parquet.schema_arrow.get_field_index("ts_ns")
        meta = table.source.trace.parquet.metadata
        first_ns = meta.row_group(0).column(ts).statistics.min
        last_ns = meta.row_group(meta.num_row_groups - 1).column(ts).statistics.max
        for name, field, value in _filters(first_ns, last_ns):
            out[f"filter_{name}_s"] = await _filter(pilot, table, screen.query_one(field), value)
        out["jumps_ms"] = await _jumps(pilot, screen, table, Divergence)
        await _until(pilot, lambda: not any(w.is_running for w in app.workers))
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


async def _filter(pilot: Any, table: Any, box: Any, value: str | bool) -> list[float]:
    """[first screen of matches, final count] after setting a filter field, in seconds."""
    before = table.generation
    start = time.perf_counter()
    box.value = value
    await _until(pilot, lambda: table.generation > before and
                 (table.view.total == 0 or table.row_at(table.cursor) is not None))
    first = round(time.perf_counter() - start, 3)
    await _until(pilot, lambda: not table.view.partial)
    final = round(time.perf_counter() - start, 3)
    box.value = "" if isinstance(value, str) else False
    await _until(pilot, lambda: not table.view.filtered and table.row_at(table.cursor) is not None)
    return [first, final]


async def _jumps(pilot: Any, screen: Any, table: Any, divergence: type) -> list[float]:
    panel_divergences = [d for d in screen.query_one("#div-panel").divergences if d.seq]
    if panel_divergences:
        targets = panel_divergences[:5]
    else:  # no divergence in this trace: jump to events spread over it, as a divergence would
        n = table.view.total
        rows = [table.source.window(table.view, i, 1).to_pylist()[0]["seq"]
                for i in (n // 2, n // 5, n - 10, 3 * n // 4, 7)]
        targets = [divergence("K001", "benchmark", seq=s) for s in rows]
    out = []
    for d in targets:
        start = time.perf_counter()
        screen._jump(d)
        await _until(pilot, lambda d=d: (table.current_row() or {}).get("seq") == d.seq)
        out.append(round((time.perf_counter() - start) * 1000, 1))
    return out


def child(path: str, started: float) -> None:
    print(json.dumps(asyncio.run(_measure(path, started))))


def main(argv: list[str]) -> None:
    if len(argv) >= 3 and argv[0] == "--child":
        child(argv[1], float(argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("traces", nargs="+", metavar="TRACE", help="a trace file or store")
    for path in parser.parse_args(argv).traces:
        started = time.time()
        out = subprocess.run([sys.executable, "-m", "tdxray.benchmarks.tui", "--child", path,
                              str(started)], capture_output=True, text=True, check=False)
        print(out.stdout.strip() or out.stderr[-2000:])


if __name__ == "__main__":
    main(sys.argv[1:])
