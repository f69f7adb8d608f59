"""Where revealing events came from: the source file and line that ingest recorded for a seq."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tdxray.schema.errors import InputError


def source_lines(trace_file: Path, seqs: Collection[int]) -> dict[int, tuple[str, int]]:
    """seq -> (source file, 1-based line) for those of seqs whose event carries both."""
    wanted = sorted(set(seqs))
    if not wanted:
        return {}
    try:
        names = pq.read_schema(trace_file).names
        if not {"seq", "source", "line"} <= set(names):
            return {}
        table = pq.read_table(trace_file, columns=["seq", "source", "line"],
                              # seqs are u64: a list filter would go through int64
                              filters=pc.field("seq").isin(pa.array(wanted, pa.uint64())))
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"cannot read event sources: {exc}", str(trace_file)) from exc
    out: dict[int, tuple[str, int]] = {}
    for row in table.to_pylist():
        if row["source"] is not None and row["line"] is not None:
            out[int(row["seq"])] = (str(row["source"]), int(row["line"]))
    return out
