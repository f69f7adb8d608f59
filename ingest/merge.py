"""Merge the event batches of several sources of one TD into one ordered, numbered stream.

Order: timestamp (after each source's clock offset), then source order, then line. A source's
own order is never changed: a timestamp that goes backwards inside a source stays where it is
(replay reports it, T001) and orders the merge as the largest timestamp before it. Memory holds
one batch per source.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pyarrow as pa

from tdxray.schema.errors import InputError
from tdxray.schema.events import EVENT_SCHEMA


@dataclass
class _Source:
    index: int
    name: str
    batches: Iterator[pa.RecordBatch]
    offset_ns: int
    high: int = -(1 << 63)  # largest timestamp so far (the merge key is the running maximum)
    batch: pa.RecordBatch | None = None
    keys: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def fill(self) -> bool:
        """Make sure a batch is buffered; False once the source is exhausted."""
        while self.batch is None or self.batch.num_rows == 0:
            nxt = next(self.batches, None)
            if nxt is None:
                return False
            self.batch = self._shifted(nxt)
            ts = self.batch.column("ts_ns").to_numpy()
            self.keys = np.maximum.accumulate(np.maximum(ts, self.high))
            self.high = int(self.keys[-1]) if len(ts) else self.high
        return True

    def _shifted(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        if not self.offset_ns or not batch.num_rows:
            return batch
        ts = batch.column("ts_ns").to_numpy().astype(np.int64)
        shifted = ts + np.int64(self.offset_ns)
        if (shifted < 0).any() or (self.offset_ns > 0 and (shifted < ts).any()):
            line = batch.column("line")[int(np.argmax(shifted < 0))].as_py()
            raise InputError("--clock-offset makes a timestamp negative or overflow", self.name,
                             line)
        return batch.set_column(EVENT_SCHEMA.get_field_index("ts_ns"), EVENT_SCHEMA.field("ts_ns"),
                                pa.array(shifted, pa.int64()))

    def take(self, cut: int) -> tuple[pa.RecordBatch, np.ndarray]:
        assert self.batch is not None
        taken, keys = self.batch.slice(0, cut), self.keys[:cut]
        self.batch, self.keys = self.batch.slice(cut), self.keys[cut:]
        return taken, keys


def merged_batches(streams: Sequence[tuple[str, Iterator[pa.RecordBatch], int]],
                   first_seq: int = 1) -> Iterator[pa.RecordBatch]:
    """(source name, batches in line order, clock offset ns) -> numbered merged batches."""
    sources = [_Source(i, name, it, off) for i, (name, it, off) in enumerate(streams)]
    seq = first_seq
    while True:
        active = [s for s in sources if s.fill()]
        if not active:
            return
        cut_key, cut_src = min((int(s.keys[-1]), s.index) for s in active)
        parts, keys, order = [], [], []
        for s in active:
            side: Literal["left", "right"] = "right" if s.index <= cut_src else "left"
            taken, k = s.take(int(np.searchsorted(s.keys, cut_key, side=side)))
            if taken.num_rows:
                parts.append(taken)
                keys.append(k)
                order.append(np.full(taken.num_rows, s.index))
        batch = _ordered(parts, keys, order)
        yield _numbered(batch, seq)
        seq += batch.num_rows


def _ordered(parts: list[pa.RecordBatch], keys: list[np.ndarray],
             order: list[np.ndarray]) -> pa.RecordBatch:
    if len(parts) == 1:
        return parts[0]
    table = pa.Table.from_batches(parts, schema=EVENT_SCHEMA).combine_chunks()
    key, src = np.concatenate(keys), np.concatenate(order)
    position = np.arange(len(key))
    index = np.lexsort((position, src, key))
    return table.take(pa.array(index)).combine_chunks().to_batches()[0]


def _numbered(batch: pa.RecordBatch, first: int) -> pa.RecordBatch:
    seq = pa.array(np.arange(first, first + batch.num_rows, dtype=np.uint64))
    return batch.set_column(EVENT_SCHEMA.get_field_index("seq"), EVENT_SCHEMA.field("seq"), seq)

