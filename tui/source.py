"""Reading windows of a trace for the screen: DuckDB over the Parquet file, never all of it.

Rows are addressed by their position in the file (`file_row_number`). A filtered view keeps
only a count of matching rows per block of BLOCK rows: the n-th match is found by summing
counts, then asking DuckDB for one bounded block range. Memory stays flat in trace length.
A filter whose clause implies the filter index's scope (store/filter_index.py) is counted and
read in the index instead: the same queries, on a second connection whose `ev` view is the
index (its rows keep their trace row numbers). A filter made only of kind and vCPU conditions
is counted in the filter histogram instead (events per block, kind and vcpu: the same WHERE
clause, summed per block); its rows are still read from the trace. No Textual here: workers
call these methods from threads, each on its own cursor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from tdxray.analyses.sql.guard import lockdown_statements
from tdxray.analyses.sql.macros import sql_str
from tdxray.store.filter_index import FilterIndex, Histogram
from tdxray.store.read import TraceFile
from tdxray.tui.time_rows import rows_in_time

BLOCK = 1 << 16
SHOWN_COLUMNS = ("seq", "ts_ns", "vcpu", "kind", "leaf", "subfn", "status", "gpa", "size",
                 "resume_gpa", "level", "rcx", "r10", "r11_out", "r12", "r13", "old", "new",
                 "site", "field", "value", "apic_id", "action", "phase", "to_private", "write",
                 "text", "extra")
_SELECT = ", ".join(["file_row_number AS row", *SHOWN_COLUMNS])


@dataclass
class View:
    """Which rows the table shows: all of them, or those matching `where`."""

    where: str | None = None
    total: int = 0
    starts: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    partial: bool = False  # only the first rows were counted: the whole count follows
    indexed: bool = False  # the matches are read from the filter index, not the trace
    run: tuple[int, int] | None = None  # the matches are exactly rows run[0]..run[1]-1

    @property
    def filtered(self) -> bool:
        return self.where is not None


class EventSource:
    """A read-only, locked-down DuckDB connection over one trace file."""

    def __init__(self, trace: TraceFile, threads: int = 2) -> None:
        self.trace = trace
        self.rows = trace.num_rows
        self.con = _connect(threads, "256MB", "SELECT * FROM read_parquet("
                            f"{sql_str(str(trace.path))}, file_row_number=true)",
                            Path(trace.path).resolve().parent)
        self.index: FilterIndex | None = None
        self._index_con: duckdb.DuckDBPyConnection | None = None
        self.histogram: Histogram | None = None
        self._histogram_con: duckdb.DuckDBPyConnection | None = None
        meta = trace.parquet.metadata
        self._group_rows = np.cumsum([0] + [meta.row_group(i).num_rows
                                            for i in range(meta.num_row_groups)])
        seq_col = trace.parquet.schema_arrow.get_field_index("seq")
        self._group_max = [meta.row_group(i).column(seq_col).statistics.max
                           for i in range(meta.num_row_groups)]
        self._seq_cache: dict[int, np.ndarray] = {}
        self._counting: set[duckdb.DuckDBPyConnection] = set()

    def interrupt_counts(self) -> None:
        """Stop the counts still running (a newer filter replaces them): DuckDB's own interrupt,
        the running query raises in its worker."""
        for cursor in list(self._counting):
            cursor.interrupt()

    def cursor(self, indexed: bool = False) -> duckdb.DuckDBPyConnection:
        """A cursor on the trace, or on the filter index (for an indexed view)."""
        if indexed:
            if self._index_con is None:
                raise RuntimeError("an indexed view, but no filter index is attached")
            return self._index_con.cursor()
        return self.con.cursor()

    def attach_index(self, index: FilterIndex) -> None:
        """Count and read indexed filters in `index` from now on (a dense index holds nothing:
        filters keep scanning the trace)."""
        if index.dense:
            return
        self._index_con = _connect(1, "64MB", "SELECT row AS file_row_number, * EXCLUDE (row) "
                                   f"FROM read_parquet({sql_str(str(index.path))})",
                                   index.path.resolve().parent)
        self.index = index

    def attach_histogram(self, histogram: Histogram) -> None:
        """Count kind and vCPU filters in `histogram` from now on; ValueError if its blocks are
        not BLOCK rows."""
        if histogram.block != BLOCK:
            raise ValueError(f"a histogram of {histogram.block}-row blocks, not {BLOCK}")
        self._histogram_con = _connect(1, "64MB", "SELECT * FROM read_parquet("
                                       f"{sql_str(str(histogram.path))})",
                                       histogram.path.resolve().parent)
        self.histogram = histogram

    def full_view(self) -> View:
        return View(None, self.rows, np.array([0, self.rows], dtype=np.int64))

    def count(self, where: str, branches: list[str] | None = None,
              first_rows: int | None = None, from_row: int = 0, indexed: bool = False) -> View:
        """Matches per block, as cumulative starts: starts[b] = matches before block b.

        `branches`, if given, are disjoint conditions whose union is `where` (faster apart).
        With `first_rows`, only that many rows from `from_row` on are counted (the caller knows
        that none before it match): a partial view that can be shown at once while the whole
        count runs. `indexed` counts in the filter index (the caller knows that `where` implies
        its scope).
        """
        limit = self.rows if first_rows is None else min(from_row + first_rows, self.rows)
        blocks = (limit + BLOCK - 1) // BLOCK
        bound = "" if first_rows is None else \
            f" AND file_row_number >= {from_row} AND file_row_number < {limit}"
        scans = " UNION ALL ".join(
            f"SELECT file_row_number // {BLOCK} AS b FROM ev WHERE ({c}){bound}"
            for c in ([where] if indexed or not branches else branches))
        rows = self._per_block(self.cursor(indexed),
                               f"SELECT b, count(*) FROM ({scans}) GROUP BY b")
        starts = _starts(rows, blocks)
        return View(where, int(starts[-1]), starts, first_rows is not None, indexed)

    def count_in_histogram(self, where: str) -> View:
        """The whole count of a filter made only of kind and vCPU conditions, from the filter
        histogram (the caller knows that `where` names no other column); rows are read from
        the trace."""
        if self._histogram_con is None:
            raise RuntimeError("a histogram count, but no filter histogram is attached")
        rows = self._per_block(self._histogram_con.cursor(),
                               f"SELECT block, sum(n) FROM ev WHERE {where} GROUP BY block")
        starts = _starts(rows, (self.rows + BLOCK - 1) // BLOCK)
        return View(where, int(starts[-1]), starts)

    def _per_block(self, cursor: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[int, int]]:
        """(block, matches) rows of a count, interruptible by interrupt_counts."""
        self._counting.add(cursor)
        try:
            return cursor.sql(sql).fetchall()
        finally:
            self._counting.discard(cursor)

    def time_rows(self, lo: int | None, hi: int | None) -> tuple[int, int] | None:
        """[first, end): the rows with lo <= ts_ns <= hi, if the file's time order says so."""
        return rows_in_time(self.trace, lo, hi)

    def run_view(self, where: str, first: int, end: int) -> View:
        """The view of a filter known to match exactly rows first..end-1: no count needed."""
        blocks = (self.rows + BLOCK - 1) // BLOCK
        edges = np.arange(blocks + 1, dtype=np.int64) * BLOCK
        starts = np.clip(edges, first, end) - first
        return View(where, end - first, starts, run=(first, end))

    def window(self, view: View, start: int, n: int) -> pa.Table:
        """Rows start..start+n of the view (fewer at the end), in file order."""
        n = max(0, min(n, view.total - start))
        if n == 0 or start < 0:
            return pa.table({"row": pa.array([], pa.int64())})
        cur = self.cursor(view.indexed)
        if not view.filtered or view.run is not None:
            first = start + (view.run[0] if view.run is not None else 0)
            return cur.sql(f"SELECT {_SELECT} FROM ev WHERE file_row_number BETWEEN {first} "
                           f"AND {first + n - 1} ORDER BY row").to_arrow_table()
        first = int(np.searchsorted(view.starts, start, "right")) - 1
        last = int(np.searchsorted(view.starts, start + n - 1, "right")) - 1
        skip = start - int(view.starts[first])
        return cur.sql(f"SELECT {_SELECT} FROM ev WHERE file_row_number >= {first * BLOCK} AND "
                       f"file_row_number < {(last + 1) * BLOCK} AND ({view.where}) "
                       f"ORDER BY row LIMIT {n} OFFSET {skip}").to_arrow_table()

    def row_of_seq(self, seq: int) -> int:
        """The file row of the first event with seq >= `seq` (rows if none)."""
        group = int(np.searchsorted(np.array(self._group_max, dtype=np.uint64), seq, "left"))
        if group >= len(self._group_max):
            return self.rows
        seqs = self._seq_cache.get(group)
        if seqs is None:
            seqs = self.trace.parquet.read_row_group(group, columns=["seq"]).column(0) \
                .to_numpy()
            self._seq_cache = {group: seqs}
        return int(self._group_rows[group]) + int(np.searchsorted(seqs, seq, "left"))

    def index_of_row(self, view: View, row: int) -> int:
        """The view index of file row `row`, or of the first matching row after it."""
        if not view.filtered or view.run is not None:
            first = view.run[0] if view.run is not None else 0
            return min(max(row - first, 0), max(view.total - 1, 0))
        block = row // BLOCK
        if block >= len(view.starts) - 1:
            return max(view.total - 1, 0)
        ((before,),) = self.cursor(view.indexed).sql(
            f"SELECT count(*) FROM ev WHERE file_row_number >= {block * BLOCK} AND "
            f"file_row_number < {row} AND ({view.where})").fetchall()
        return min(int(view.starts[block]) + int(before), max(view.total - 1, 0))

    def events(self, seqs: list[int]) -> pa.Table:
        """The events with these seqs (a handful: causes of a divergence)."""
        if not seqs:
            return pa.table({"row": pa.array([], pa.int64())})
        listed = ", ".join(str(int(s)) for s in seqs)
        return self.cursor().sql(f"SELECT {_SELECT} FROM ev WHERE seq IN ({listed}) "
                                 "ORDER BY seq").to_arrow_table()

    def close(self) -> None:
        self.con.close()
        for con in (self._index_con, self._histogram_con):
            if con is not None:
                con.close()


def _starts(rows: list[tuple[int, int]], blocks: int) -> np.ndarray:
    """Cumulative starts from (block, matches) rows: starts[b] = matches before block b."""
    counts = np.zeros(blocks, dtype=np.int64)
    for block, n in rows:
        counts[int(block)] = n
    return np.concatenate([[0], np.cumsum(counts)])


def _connect(threads: int, memory: str, view: str, allowed: Path) -> duckdb.DuckDBPyConnection:
    """A connection whose `ev` view is `view`, then locked to reading under `allowed`."""
    con = duckdb.connect(":memory:", config={"threads": threads, "memory_limit": memory})
    con.execute("SET enable_progress_bar = false")  # never draw over the UI
    # parse the Parquet footer once, not per query (a 10^8-event trace: ~40 ms saved a query)
    con.execute("SET GLOBAL parquet_metadata_cache = true")
    con.execute(f"CREATE VIEW ev AS {view}")
    for statement in lockdown_statements(allowed):
        con.execute(statement)
    return con
