"""Pages converted per stretch of a trace, from the replay's page history: the TUI's
conversion-rate plot. Headless; reads three columns of page_history.parquet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tdxray.model.outputs import PAGE_HISTORY_FILE
from tdxray.schema.constants import PAGE_SHIFT

# an interval of this state begins with a conversion in that direction
DIRECTIONS = {"shared": "to shared", "pending": "to private"}


def conversion_rate(results_dir: Path, first_seq: int, last_seq: int,
                    buckets: int) -> dict[str, list[int]]:
    """Pages converted to shared and to private in each of `buckets` equal seq spans of
    [first_seq, last_seq]; empty lists when there is no page history."""
    path = Path(results_dir) / PAGE_HISTORY_FILE
    if not path.exists() or buckets <= 0:
        return {name: [] for name in DIRECTIONS.values()}
    table = pq.read_table(path, columns=["gpa_start", "gpa_end", "state", "from_seq"])
    state = table["state"].cast(pa.string())
    edges = np.linspace(first_seq, last_seq + 1, buckets + 1)
    out: dict[str, list[int]] = {}
    for name, direction in DIRECTIONS.items():
        rows = table.filter(pc.and_(pc.equal(state, name), pc.is_valid(table["from_seq"])))
        pages = (pc.subtract(rows["gpa_end"], rows["gpa_start"]).to_numpy() >> PAGE_SHIFT)
        counts, _ = np.histogram(rows["from_seq"].to_numpy(), edges, weights=pages)
        out[direction] = counts.astype(np.int64).tolist()
    return out
