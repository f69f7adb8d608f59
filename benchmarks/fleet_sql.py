"""Fleet SQL against raw DuckDB: divergences per kernel version × rule over a store's traces.

tdxray's side is what `tdxray sql STORE --run divergences-by-kernel` costs with fresh results:
a session opened on the store (views, the `traces` table from the manifest), the query, the
close. DuckDB's side reads the same Parquet files directly (every trace's divergences.parquet
and the manifest's parts) with the same grouping. Both answers are compared before timing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import duckdb

from tdxray.analyses.sql.library import get_query
from tdxray.analyses.sql.session import Session
from tdxray.benchmarks.pairs import Sample, in_process, pairs
from tdxray.simulator.run import simulate
from tdxray.simulator.scenarios import SCENARIOS
from tdxray.simulator.writer import write_trace

TARGET = 2.0  # fleet SQL within 2x of DuckDB on the same files
# scenarios whose replay finds divergences of several rules (a store of clean traces would
# group nothing)
SCENARIOS_WITH_FINDINGS = ("unfixed-kernel", "mailbox-misuse", "cr4-mce-cleared",
                           "accept-misuse")


def build_store(root: Path, traces: int, events: int) -> None:
    """`traces` trace files, the scenarios above in turn (one simulation each), each with a
    header of its own (its trace id, and its place in the fleet in the provenance), as a real
    fleet's are: a session parses each distinct header once, so copies of four files would
    leave it four headers to parse where a fleet has one per trace."""
    root.mkdir(parents=True, exist_ok=True)
    sims = [simulate(SCENARIOS[name].config(events=events, seed=1))
            for name in SCENARIOS_WITH_FINDINGS[:traces]]
    batches = [list(sim.batches()) for sim in sims]
    for i in range(traces):
        k = i % len(sims)
        header = sims[k].header
        own = replace(header, trace_id=f"td-{i:04d}",
                      provenance={**header.provenance, "fleet_member": i})
        write_trace(root / f"td-{i:04d}.parquet", own, batches[k])


_RAW = """
WITH d AS (
  SELECT *, regexp_extract(filename, '([^/]+)\\.replay/divergences\\.parquet$', 1) AS tid
  FROM read_parquet('{store}/*.replay/divergences.parquet', filename = true)),
m AS (
  SELECT trace_id, arg_max(kernel_version, recorded_at) AS kernel_version
  FROM read_parquet('{store}/_manifest/part-*.parquet') GROUP BY trace_id)
SELECT coalesce(m.kernel_version, '(unknown)') AS kernel_version, d.rule::VARCHAR AS rule,
       d.name::VARCHAR AS name, d.severity::VARCHAR AS severity,
       count(DISTINCT d.tid) AS traces, count(*) AS count
FROM d JOIN m ON m.trace_id = d.tid
GROUP BY ALL
ORDER BY kernel_version, rule
"""


def tdxray_rows(store: Path) -> list[tuple[object, ...]]:
    with Session(store) as session:
        rel = session.relation(get_query("divergences-by-kernel").sql)
        return [tuple(str(v) if isinstance(v, str) else v for v in r) for r in rel.fetchall()]


def duckdb_rows(store: Path) -> list[tuple[object, ...]]:
    con = duckdb.connect(":memory:")
    try:
        return con.sql(_RAW.format(store=store.resolve())).fetchall()
    finally:
        con.close()


def _seconds(sample: Sample) -> float:
    return sample.seconds


def sql_ratios(store: Path, count: int, log: Callable[[str], None]) -> list[float]:
    """tdxray's time over raw DuckDB's, pair by pair (tdxray, then DuckDB, moments apart).
    The first run of each (untimed) checks the answers agree and leaves every trace's results
    fresh."""
    ours, raw = tdxray_rows(store), duckdb_rows(store)
    if ours != raw:
        raise AssertionError(f"fleet SQL and raw DuckDB disagree: {ours[:3]} vs {raw[:3]}")
    got = pairs(in_process(lambda: tdxray_rows(store)), in_process(lambda: duckdb_rows(store)),
                count)
    log(f"fleet SQL (divergences-by-kernel, {len(ours)} rows): tdxray "
        f"{got.median(_seconds) * 1e3:.0f} ms, raw DuckDB "
        f"{got.median(_seconds, baseline=True) * 1e3:.0f} ms (medians of {count})")
    return got.ratios(_seconds)
