"""page_history.parquet stores its numbers byte-stream split (model/outputs.py): every reader
the project uses gets the same rows, nulls included, in the same order."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq

from tdxray.model.outputs import PAGE_HISTORY_FILE
from tdxray.model.replay import replay_trace

NUMBERS = ["gpa_start", "gpa_end", "from_seq", "from_ts", "to_seq", "to_ts", "generation",
           "cause_seq"]


def test_history_numbers_are_split_and_read_alike(simulated: Path, tmp_path: Path) -> None:
    replay_trace(simulated, tmp_path / "results")
    path = tmp_path / "results" / PAGE_HISTORY_FILE
    meta = pq.ParquetFile(path).metadata
    names = meta.schema.to_arrow_schema().names
    for group in range(meta.num_row_groups):
        chunks = {names[i]: meta.row_group(group).column(i) for i in range(meta.num_columns)}
        assert {n for n, c in chunks.items() if "BYTE_STREAM_SPLIT" in c.encodings} \
            == set(NUMBERS)
    table = pq.read_table(path)
    rows = table.select(NUMBERS).to_pylist()
    assert any(r["from_seq"] is None for r in rows) and any(r["to_seq"] is None for r in rows)
    columns = ", ".join(NUMBERS)
    got = duckdb.sql(f"SELECT {columns} FROM read_parquet('{path}')").fetchall()
    assert got == [tuple(r.values()) for r in rows]
    assert pl.read_parquet(path, columns=NUMBERS).to_dicts() == rows
