"""Collect events column by column and turn them into RecordBatches of EVENT_SCHEMA.

The common columns (seq, ts_ns, vcpu, kind, line) get a value for every row. Every other column
is sparse: a kind only fills its own fields, so each keeps (row, value) pairs and the batch is
assembled with one `take` per column instead of appending None to thirty lists per event.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from tdxray.schema.events import EVENT_SCHEMA

DENSE = ("seq", "ts_ns", "vcpu", "kind")
SPARSE = tuple(name for name in EVENT_SCHEMA.names if name not in (*DENSE, "source", "line"))


class ColumnBuilder:
    """Rows of one batch; `source` is the same for every row, `line` is given per row."""

    def __init__(self, source: str | None) -> None:
        self.source = source
        self._reset()

    def _reset(self) -> None:
        self.seq: list[int] = []
        self.ts_ns: list[int] = []
        self.vcpu: list[int] = []
        self.kind: list[str] = []
        self.line: list[int] = []
        self.rows: dict[str, list[int]] = {name: [] for name in SPARSE}
        self.values: dict[str, list[Any]] = {name: [] for name in SPARSE}

    def __len__(self) -> int:
        return len(self.seq)

    def add(self, name: str, value: Any) -> None:
        """Set column `name` of the row being added (call before `end_row`)."""
        self.rows[name].append(len(self.seq))
        self.values[name].append(value)

    def end_row(self, seq: int, ts_ns: int, vcpu: int, kind: str, line: int) -> None:
        self.seq.append(seq)
        self.ts_ns.append(ts_ns)
        self.vcpu.append(vcpu)
        self.kind.append(kind)
        self.line.append(line)

    def take(self) -> pa.RecordBatch:
        n = len(self.seq)
        arrays: dict[str, pa.Array] = {
            "seq": pa.array(self.seq, pa.uint64()),
            "ts_ns": pa.array(self.ts_ns, pa.int64()),
            "vcpu": pa.array(self.vcpu, pa.uint32()),
            "kind": dictionary(self.kind),
            "line": pa.array(self.line, pa.uint64()),
            "source": source_column(self.source, n),
        }
        for name in SPARSE:
            arrays[name] = _scatter(self.rows[name], self.values[name], n,
                                    EVENT_SCHEMA.field(name).type)
        self._reset()
        return assemble(arrays)


def dictionary(values: list[str]) -> pa.Array:
    return pa.array(values, pa.string()).dictionary_encode()


_NULLS: dict[pa.DataType, pa.Array] = {}


def nulls(n: int, arrow_type: pa.DataType) -> pa.Array:
    """n nulls of a type: a slice of one shared all-null array (no new buffers per batch)."""
    shared = _NULLS.get(arrow_type)
    if shared is None or len(shared) < n:
        shared = _NULLS[arrow_type] = pa.nulls(max(n, 1 << 16), arrow_type)
    return shared.slice(0, n)


def source_column(source: str | None, n: int) -> pa.Array:
    if source is None:
        return nulls(n, EVENT_SCHEMA.field("source").type)
    indices = pa.array(np.zeros(n, np.int32))
    return pa.DictionaryArray.from_arrays(indices, pa.array([source], pa.string()))


def _scatter(rows: list[int], values: list[Any], n: int, arrow_type: pa.DataType) -> pa.Array:
    """A length-n array with values[i] at rows[i] and nulls elsewhere."""
    if not rows:
        return nulls(n, arrow_type)
    if pa.types.is_dictionary(arrow_type):
        dense = dictionary(values)
    else:
        dense = pa.array(values, arrow_type)
    return place(rows, dense, n)


def place(rows: list[int], dense: pa.Array, n: int) -> pa.Array:
    """A length-n array with dense[i] at rows[i] (rows distinct, any order), nulls elsewhere."""
    index = np.asarray(rows, np.int64)
    if len(index) == n and np.array_equal(index, np.arange(n)):
        return dense
    positions = np.full(n, -1, np.int32)
    positions[index] = np.arange(len(index), dtype=np.int32)
    return dense.take(pa.array(positions, mask=positions < 0))


def assemble(arrays: dict[str, pa.Array]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([arrays[name] for name in EVENT_SCHEMA.names],
                                      schema=EVENT_SCHEMA)
