"""page_history.parquet stores its numbers byte-stream split (model/outputs.py): every reader
the project uses gets the same rows, nulls included, in the same order."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tdxray.model.outputs import PAGE_HISTORY_FILE, arrow_of
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


@pytest.mark.parametrize("kind", [pa.uint64(), pa.int64(), pa.int32(), pa.uint32()])
@pytest.mark.parametrize("nulls", ["none", "some", "all"])
def test_arrow_of_is_pa_array(kind: pa.DataType, nulls: str) -> None:
    rng = np.random.default_rng(7)
    rows = rng.integers(0, 1 << 30, size=(1000, 3)).astype(kind.to_pandas_dtype())
    values = rows[:, 1]  # a strided column of a row-major part, as the writer takes them
    missing = {"none": None, "some": rng.random(1000) < 0.3,
               "all": np.ones(1000, dtype=bool)}[nulls]
    got = arrow_of(values, kind, missing)
    assert got.equals(pa.array(values, mask=missing, type=kind))
    assert got.null_count == (0 if missing is None else int(missing.sum()))
    got.validate(full=True)
