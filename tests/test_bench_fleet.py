"""The fleet benchmark's report: each figure against its target, PASS or MISS, exactly."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow.parquet as pq

from tdxray.benchmarks.fleet import report


def test_the_report_gives_min_and_median_and_judges_the_median() -> None:
    text = report({"workers_2_vs_1": [1.7, 1.9, 2.0], "per_trace_overhead_ms": [29.98],
                   "replay_ms_per_trace": [42.4, 40.1], "s3_vs_local": None,
                   "fleet_sql_vs_duckdb": [2.5, 1.5, 1.2, 1.9, 1.4]})
    assert text.splitlines() == [
        "workers_2_vs_1              1.70/1.90     target >= 1.8: PASS",
        "per_trace_overhead_ms      29.98/29.98    target <= 20: MISS",
        "replay_ms_per_trace        40.10/41.25",
        "s3_vs_local              not measured (install moto[server] and boto3)",
        "fleet_sql_vs_duckdb         1.20/1.50     target <= 2: PASS",
    ]
    # the verdict is the median's, on either side of the target
    assert report({"workers_2_vs_1": [1.9, 1.7, 1.75]}).endswith("MISS")
    assert report({"s3_vs_local": [1.2, 1.6, 1.3]}) == (
        "s3_vs_local                 1.20/1.30     target <= 1.5: PASS")


def test_fleet_sql_and_raw_duckdb_give_the_same_rows(tmp_path: Path) -> None:
    from tdxray.benchmarks.fleet import fleet_sql
    from tdxray.benchmarks.fleet_sql import duckdb_rows, tdxray_rows

    store = tmp_path / "store"
    logged: list[str] = []
    ratios = fleet_sql(store, 5, 300, 2, logged.append)
    assert len(ratios) == 2 and all(r > 0 for r in ratios)
    rows = duckdb_rows(store)
    assert rows == tdxray_rows(store)
    # 5 traces: unfixed-kernel twice, then one each of the others; no banner in simulated logs
    assert [(r[0], r[1], r[4], r[5]) for r in rows] == [
        ("(unknown)", "C001", 3, 3), ("(unknown)", "G005", 1, 1), ("(unknown)", "G006", 1, 1),
        ("(unknown)", "K001", 2, 4), ("(unknown)", "K004", 2, 2), ("(unknown)", "M001", 1, 1),
        ("(unknown)", "M004", 1, 1), ("(unknown)", "T003", 3, 36)]
    assert logged[0] == f"SQL store: 5 traces of 300 events in {store}"
    assert re.fullmatch(r"fleet SQL \(divergences-by-kernel, 8 rows\): tdxray \d+ ms, raw "
                        r"DuckDB \d+ ms \(medians of 2\)", logged[1])
    # every trace has a header of its own (a fleet's manifest holds as many as it has traces)
    headers = {pq.read_schema(p).metadata[b"tdxray.header"] for p in store.glob("*.parquet")}
    assert len(headers) == 5


def test_traces_are_grouped_into_tasks_that_still_spread_over_the_workers() -> None:
    from tdxray.fleet.replay import chunk_size

    assert [chunk_size(n, 2) for n in (1, 7, 8, 20, 100, 1_000, 100_000)] == [
        1, 1, 1, 2, 12, 32, 32]
    assert chunk_size(20, 1) == 5


def test_the_tasks_shrink_towards_the_end_so_the_workers_finish_together() -> None:
    from tdxray.fleet.replay import MAX_CHUNK, chunk_sizes

    sizes = chunk_sizes(1_000, 2)
    assert sum(sizes) == 1_000 and sizes == sorted(sizes, reverse=True)
    assert sizes.count(MAX_CHUNK) == 24 and sizes[-15:] == [1] * 15 and len(sizes) == 61
    assert chunk_sizes(20, 1) == [5, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1]
    assert chunk_sizes(1, 2) == [1] and chunk_sizes(0, 2) == []


def test_a_cluster_runs_line_gives_its_cpu_per_trace_and_the_overhead_by_cpu() -> None:
    from tdxray.benchmarks.fleet import FleetRun, _cluster_cpu

    # 100 traces in 4 s at 0.8 cores: 32 ms of the workers' CPU per trace, 0.05 cores: 2 ms
    assert _cluster_cpu("2 workers", FleetRun(4.0, 0.8, 0.05, 0.3, 0.125), 100, 30.5) == (
        "2 workers: 4.00 s, 0.80 cores busy (32.0 ms of CPU per trace; the client process "
        "2.0 ms; +3.5 ms over in-process); the host's other processes 0.30 cores, steal 0.12")
