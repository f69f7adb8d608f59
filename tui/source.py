"""Reading windows of a trace for the screen: DuckDB over the Parquet file, never all of it.

Rows are addressed by their position in the file (`file_row_number`). A filtered view keeps
only a count of matching rows per block of BLOCK rows: the n-th match is found by summing
counts, then asking DuckDB for one bounded block range. Memory stays flat in trace length.
No Textual here: workers call these methods from threads, each on its own cursor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from tdxray.analyses.sql.guard import lockdown_statements
from tdxray.analyses.sql.macros import sql_str
from tdxray.store.read import TraceFile

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

    @property
    def filtered(self) -> bool:
        return self.where is not None


class EventSource:
    """A read-only, locked-down DuckDB connection over one trace file."""

    def __init__(self, trace: TraceFile, threads: int = 2) -> None:
        self.trace = trace
        self.rows = trace.num_rows
        self.con = duckdb.connect(":memory:", config={"threads": threads,
                                                      "memory_limit": "256MB"})
        self.con.execute("CREATE VIEW ev AS SELECT * FROM read_parquet("
                         f"{sql_str(str(trace.path))}, file_row_number=true)")
        for statement in lockdown_statements(Path(trace.path).resolve().parent):
            self.con.execute(statement)
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

    def cursor(self) -> duckdb.DuckDBPyConnection:
        return self.con.cursor()

    def full_view(self) -> View:
        return View(None, self.rows, np.array([0, self.rows], dtype=np.int64))

    def count(self, where: str, branches: list[str] | None = None,
              first_rows: int | None = None) -> View:
        """Matches per block, as cumulative starts: starts[b] = matches before block b.

        `branches`, if given, are disjoint conditions whose union is `where` (faster apart).
        With `first_rows`, only the file's first rows are counted: a partial view that can be
        shown at once while the whole count runs.
        """
        limit = self.rows if first_rows is None else min(first_rows, self.rows)
        blocks = (limit + BLOCK - 1) // BLOCK
        bound = "" if first_rows is None else f" AND file_row_number < {limit}"
        scans = " UNION ALL ".join(
            f"SELECT file_row_number // {BLOCK} AS b FROM ev WHERE ({c}){bound}"
            for c in (branches or [where]))
        cursor = self.cursor()
        self._counting.add(cursor)
        try:
            rows = cursor.sql(f"SELECT b, count(*) FROM ({scans}) GROUP BY b").fetchall()
        finally:
            self._counting.discard(cursor)
        counts = np.zeros(blocks, dtype=np.int64)
        for block, n in rows:
            counts[int(block)] = n
        starts = np.concatenate([[0], np.cumsum(counts)])
        return View(where, int(starts[-1]), starts, partial=first_rows is not None)

    def window(self, view: View, start: int, n: int) -> pa.Table:
        """Rows start..start+n of the view (fewer at the end), in file order."""
        n = max(0, min(n, view.total - start))
        if n == 0 or start < 0:
            return pa.table({"row": pa.array([], pa.int64())})
        cur = self.cursor()
        if not view.filtered:
            return cur.sql(f"SELECT {_SELECT} FROM ev WHERE file_row_number BETWEEN {start} "
                           f"AND {start + n - 1} ORDER BY row").to_arrow_table()
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
        if not view.filtered:
            return min(row, max(view.total - 1, 0))
        block = row // BLOCK
        if block >= len(view.starts) - 1:
            return max(view.total - 1, 0)
        ((before,),) = self.cursor().sql(
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
