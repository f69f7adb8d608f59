"""Questions to a replay's page history (page_history.parquet): one GPA's past, shared pages
over time. Headless; reads only the columns and row groups it needs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tdxray.model.outputs import PAGE_HISTORY_FILE
from tdxray.schema.constants import PAGE_SHIFT

_NONE = np.iinfo(np.int64).max


@dataclass(frozen=True)
class Interval:
    gpa_start: int
    gpa_end: int
    state: str
    from_seq: int | None
    to_seq: int | None
    generation: int
    cause_seq: int | None


def _read(results_dir: Path, columns: list[str], filters: list | None = None) -> pa.Table | None:
    path = Path(results_dir) / PAGE_HISTORY_FILE
    if not path.exists():
        return None
    try:
        return pq.read_table(path, columns=columns, filters=filters)
    except (OSError, pa.ArrowException):
        return None


def gpa_history(results_dir: Path, gpa: int, limit: int = 50) -> list[Interval]:
    """The intervals of the page holding `gpa`, oldest first (at most `limit`, the latest)."""
    table = _read(results_dir, ["gpa_start", "gpa_end", "state", "from_seq", "to_seq",
                                "generation", "cause_seq"],
                  [("gpa_start", "<=", gpa), ("gpa_end", ">", gpa)])
    if table is None:
        return []
    rows = [Interval(r["gpa_start"], r["gpa_end"], str(r["state"]), r["from_seq"], r["to_seq"],
                     r["generation"], r["cause_seq"]) for r in table.to_pylist()]
    rows.sort(key=lambda r: -1 if r.from_seq is None else r.from_seq)
    return rows[-limit:]


def shared_over_time(results_dir: Path, first_seq: int, last_seq: int,
                     points: int) -> list[int]:
    """Shared pages after each of `points` seqs spread evenly over [first_seq, last_seq]."""
    table = _read(results_dir, ["gpa_start", "gpa_end", "state", "from_seq", "to_seq"],
                  [("state", "=", "shared")])
    if table is None or points <= 0:
        return []
    pages = (pc.subtract(table["gpa_end"], table["gpa_start"]).to_numpy() >> PAGE_SHIFT) \
        .astype(np.int64)
    lo = pc.fill_null(table["from_seq"], 0).to_numpy().astype(np.int64)
    hi = pc.fill_null(table["to_seq"].cast(pa.int64()), _NONE).to_numpy()
    at = np.linspace(first_seq, last_seq, points).astype(np.int64)
    # pages shared at s: intervals with lo <= s < hi, as a difference of two sorted prefix sums
    order_lo, order_hi = np.argsort(lo), np.argsort(hi)
    cum_lo = np.concatenate([[0], np.cumsum(pages[order_lo])])
    cum_hi = np.concatenate([[0], np.cumsum(pages[order_hi])])
    started = cum_lo[np.searchsorted(lo[order_lo], at, "right")]
    ended = cum_hi[np.searchsorted(hi[order_hi], at, "right")]
    return (started - ended).tolist()
