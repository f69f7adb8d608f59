"""Stage 6: the SQL layer on a store holding the ladder's largest trace.

Each question is asked twice, warm and interleaved: through the views of a `tdxray sql` Session,
and as the same query written against the raw Parquet files (trace, divergences.parquet,
page_history.parquet) on a plain DuckDB connection with only the scalar macros defined. Both
sides fetch Arrow and must return the same rows; the ratio view/raw is what the views cost.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from tdxray.analyses.sql.library import get_query
from tdxray.analyses.sql.macros import scalar_macro_ddl, sql_str
from tdxray.analyses.sql.session import Session, arrow_table
from tdxray.benchmarks.figures import Figure, fmt_value, median_seconds, warm
from tdxray.benchmarks.ladder import Log
from tdxray.model.outputs import DIVERGENCES_FILE, PAGE_HISTORY_FILE
from tdxray.store.layout import Store
from tdxray.store.read import open_trace

REPEAT = 15  # timed runs per side, interleaved (the median is reported: ms-scale queries are noisy)
_VALID_AT = "(from_ts IS NULL OR from_ts <= {ts}) AND (to_ts IS NULL OR to_ts > {ts})"
# The ranges shared at ts, coalesced: the same query over the page_history view and over the
# raw file (one trace, so no PARTITION BY trace_id). The shared_ranges_at macro answers the same
# question with more columns (causes, hex), so it is not what the view/raw ratio compares.
_SHARED = """
WITH s AS (SELECT gpa_start, gpa_end FROM {source}
           WHERE state = 'shared' AND """ + _VALID_AT + """),
r AS (SELECT *, max(gpa_end) OVER (ORDER BY gpa_start, gpa_end
                                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
      FROM s),
g AS (SELECT *, sum((reach IS NULL OR gpa_start > reach)::INTEGER)
                  OVER (ORDER BY gpa_start, gpa_end ROWS UNBOUNDED PRECEDING) AS run FROM r)
SELECT count(*) AS ranges, sum(pages) AS pages
FROM (SELECT pages_of(max(gpa_end) - min(gpa_start)) AS pages FROM g GROUP BY run)"""
_SHARED_VIEW = _SHARED.replace("{source}", "page_history")
_SHARED_RAW = _SHARED.replace("{source}", "read_parquet({page_history})")
_SUMMARY_RAW = """
SELECT trace_id, severity, rule, name, count(*) AS count, sum(pages)::UBIGINT AS pages,
       min(seq) AS first_seq
FROM read_parquet({divergences})
GROUP BY trace_id, severity, severity_rank(severity), rule, name
ORDER BY trace_id, severity_rank(severity), rule"""


@dataclass(frozen=True)
class Question:
    key: str  # figure names: sql.<size>.<key>.view_seconds
    title: str
    view: str  # format fields: {ts}
    raw: str  # format fields: {ts}, {events}, {divergences}, {page_history} (SQL strings)


def questions() -> tuple[Question, ...]:
    return (
        Question("kinds", "count per kind",
                 "SELECT kind, count(*) AS n FROM events GROUP BY kind ORDER BY kind",
                 "SELECT kind, count(*) AS n FROM read_parquet({events}) "
                 "GROUP BY kind ORDER BY kind"),
        Question("shared_at", "shared pages at a timestamp",
                 _SHARED_VIEW, _SHARED_RAW),
        Question("divergence_summary", "divergence summary",
                 get_query("divergence-summary").sql, _SUMMARY_RAW),
    )


def store_with(trace: Path, store_dir: Path) -> Path:
    """`store_dir` holding `trace` under its trace_id: a hard link (a copy across devices)."""
    target = Store(store_dir).trace_path(open_trace(trace).header.trace_id)
    if target.exists() and os.path.samefile(target, trace):
        return target
    shutil.rmtree(store_dir, ignore_errors=True)
    store_dir.mkdir(parents=True)
    try:
        os.link(trace, target)
    except OSError:
        shutil.copy2(trace, target)
    return target


def _raw_connection() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET parquet_metadata_cache = true")  # as the Session does
    for ddl in scalar_macro_ddl():
        con.execute(ddl)
    return con


def _rows(table: pa.Table) -> list[tuple[object, ...]]:
    return list(zip(*(col.to_pylist() for col in table.columns), strict=True))


def _medians(view: Callable[[], pa.Table], raw: Callable[[], pa.Table], what: str
             ) -> tuple[float, float]:
    """Median seconds of each side over REPEAT interleaved runs, after a checked warm-up."""
    if _rows(view()) != _rows(raw()):
        raise RuntimeError(f"sql benchmark: view and raw answers differ for {what}")
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(REPEAT):
        for fn, out in ((view, times[0]), (raw, times[1])):
            started = time.perf_counter()
            fn()
            out.append(time.perf_counter() - started)
    return statistics.median(times[0]), statistics.median(times[1])


def _question_figures(size: int, session: Session, con: duckdb.DuckDBPyConnection,
                      files: dict[str, str], q: Question) -> list[Figure]:
    view_sql, raw_sql = q.view.format(**files), q.raw.format(**files)
    view, raw = _medians(lambda: session.arrow(view_sql),
                         lambda: arrow_table(con.sql(raw_sql)), q.title)
    prefix = f"sql.{size}.{q.key}"
    return [Figure(f"{prefix}.view_seconds", view, "s", f"{q.title}: views, median of {REPEAT}"),
            Figure(f"{prefix}.raw_seconds", raw, "s", "same query on the raw Parquet"),
            Figure(f"{prefix}.ratio", view / raw, "x", "view / raw")]


def _mid_ts(con: duckdb.DuckDBPyConnection, events: str) -> int:
    rows = con.sql(f"SELECT (min(ts_ns) + max(ts_ns)) // 2 FROM read_parquet({events})")
    mid = rows.fetchall()[0][0]
    return int(mid) if mid is not None else 0


def sql_figures(size: int, trace: Path, data_dir: Path, log: Log) -> list[Figure]:
    target = store_with(trace, data_dir / f"sql-store-n{size}")
    store = target.parent
    with Session(store, on_replay=lambda tid: log(f"replaying {tid} into the store")):
        pass
    opened = median_seconds(lambda: Session(store).close(), REPEAT)
    results = Store(store).results_dir(target.stem)
    paths = {"events": target, "divergences": results / DIVERGENCES_FILE,
             "page_history": results / PAGE_HISTORY_FILE}
    for path in paths.values():
        warm(path)
    files = {k: sql_str(str(p)) for k, p in paths.items()}
    figures = [Figure(f"sql.{size}.open_seconds", opened, "s",
                      f"Session over the store, results fresh, median of {REPEAT}")]
    with Session(store) as session, _raw_connection() as con:
        files["ts"] = str(_mid_ts(con, files["events"]))
        for q in questions():
            figures += _question_figures(size, session, con, files, q)
    return figures


def side_by_side(figures: Sequence[Figure]) -> list[str]:
    """One row per question and size: view s, raw s, view/raw."""
    by_name = {f.name: f.value for f in figures}
    sizes = sorted({int(f.name.split(".")[1]) for f in figures
                    if f.name.startswith("sql.") and f.name.endswith(".open_seconds")})
    rows = [["question", "events", "view s", "raw s", "view/raw"]]
    for size in sizes:
        for q in questions():
            got = [by_name.get(f"sql.{size}.{q.key}.{m}")
                   for m in ("view_seconds", "raw_seconds", "ratio")]
            rows.append([q.title, f"{size:,}", *(fmt_value(v) if v is not None else "-"
                                                 for v in got)])
    if len(rows) == 1:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(r, widths, strict=True)))
            for r in rows]
