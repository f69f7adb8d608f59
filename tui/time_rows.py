"""Which rows of a trace fall in a time range, from the Parquet statistics (no Textual).

Traces are written in time order, so a time filter matches one run of rows: [first, end). The
run's ends are found from each row group's ts_ns min/max and, for the one or two row groups a
bound falls inside, their ts_ns column. Nothing is assumed: if the row groups are not in time
order, or a bound's row group is not, the answer is None (the caller scans).
"""

from __future__ import annotations

import numpy as np

from tdxray.store.read import TraceFile


def rows_in_time(trace: TraceFile, lo: int | None, hi: int | None) -> tuple[int, int] | None:
    """[first, end): the rows with lo <= ts_ns <= hi (bounds in ns, None: open), when they are
    one run of rows; None when the file's time order does not say."""
    first = 0 if lo is None else _first_at_or_after(trace, lo)
    end = trace.num_rows if hi is None else _first_at_or_after(trace, hi + 1)
    if first is None or end is None:
        return None
    return first, max(first, end)


def _first_at_or_after(trace: TraceFile, t: int) -> int | None:
    """The row r such that ts_ns < t before r and ts_ns >= t from r on; None if no such row.

    Row groups must be: entirely before t, then at most one that t falls inside, then entirely
    at or after t; inside that one, the rows must be before t, then at or after it."""
    meta = trace.parquet.metadata
    col = trace.parquet.schema_arrow.get_field_index("ts_ns")
    row = 0
    inside: int | None = None  # the row group t falls inside
    crossed = False
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        stats = group.column(col).statistics
        if stats is None or not stats.has_min_max:
            return None
        before, after = stats.max < t, stats.min >= t
        if crossed:
            if not after:
                return None
        elif before:
            row += group.num_rows
        else:
            crossed = True
            inside = None if after else g
    if inside is None:
        return row
    ts = trace.parquet.read_row_group(inside, columns=["ts_ns"]).column(0).to_numpy()
    at_or_after = ts >= t
    k = int(np.argmax(at_or_after))
    return row + k if bool(at_or_after[k:].all()) else None
