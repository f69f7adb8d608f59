"""One event seen twice: through `trace_pipe` (before the jump) and on the console (`tp_printk`).

With `tp_printk` every enabled trace event is also printed on the console, so a guest's
trace buffer and its serial capture hold the same events until the jump. The merged stream
keeps each once: a console event is dropped when a trace-buffer event of the same kind and
values (all but the vCPU, which the console line does not name) lies within `WINDOW_NS`, each
trace-buffer event standing for at most one console event. The trace-buffer copy is kept: it
names the CPU. Rows are held back only as long as a console row may still find its twin.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tdxray.schema.events import EVENT_SCHEMA

WINDOW_NS = 100_000_000   # the printk clock vs trace_clock "global": ~1 ms apart when measured
KEYLESS = frozenset({"seq", "ts_ns", "vcpu", "source", "line", "apic_id", "text", "extra"})
KEY_FIELDS = tuple(f.name for f in EVENT_SCHEMA if f.name not in KEYLESS)
UNTYPED = ("log",)

Key = tuple[object, ...]


class _Held:
    def __init__(self, batch: pa.RecordBatch) -> None:
        self.batch = batch
        self.keep = np.ones(batch.num_rows, bool)
        self.waiting = 0   # console rows still looking for a twin


def deduplicated(batches: Iterator[pa.RecordBatch], console: frozenset[str],
                 first_seq: int = 1) -> Iterator[pa.RecordBatch]:
    """The merged batches without the console's copies of trace-buffer events, renumbered."""
    held: deque[_Held] = deque()
    traced: deque[tuple[int, Key, list[bool]]] = deque()    # (ts, key, [paired])
    waiting: deque[tuple[int, Key, _Held, int]] = deque()   # console rows without a twin yet
    seq = first_seq
    now = 0
    for batch in batches:
        entry = _Held(batch)
        held.append(entry)
        typed = pc.invert(pc.is_in(batch.column("kind"), pa.array(UNTYPED))).to_numpy(
            zero_copy_only=False)
        rows = np.flatnonzero(typed)
        if len(rows):
            from_console = np.isin(batch.column("source").to_numpy(zero_copy_only=False)[rows],
                                   list(console))
            table = batch.select(KEY_FIELDS).take(pa.array(rows))
            keys = list(zip(*(table.column(n).to_pylist() for n in KEY_FIELDS), strict=True))
            stamps = batch.column("ts_ns").to_numpy()[rows]
            for row, ts, key, on_console in zip(rows, stamps, keys, from_console, strict=True):
                now = int(ts)
                if on_console:
                    twin = next((t for t in traced if t[1] == key and not t[2][0]
                                 and now - t[0] <= WINDOW_NS), None)
                    if twin is not None:
                        twin[2][0] = True
                        entry.keep[row] = False
                    else:
                        entry.waiting += 1
                        waiting.append((now, key, entry, int(row)))
                else:
                    twin_at = next((i for i, w in enumerate(waiting)
                                    if w[1] == key and now - w[0] <= WINDOW_NS), None)
                    if twin_at is not None:
                        _, _, owner, owner_row = waiting[twin_at]
                        del waiting[twin_at]
                        owner.keep[owner_row] = False
                        owner.waiting -= 1
                    else:
                        traced.append((now, key, [False]))
        elif batch.num_rows:
            now = max(now, int(batch.column("ts_ns").to_numpy().max()))
        while traced and now - traced[0][0] > WINDOW_NS:
            traced.popleft()
        while waiting and now - waiting[0][0] > WINDOW_NS:
            waiting.popleft()[2].waiting -= 1
        while held and held[0].waiting == 0:
            out, seq = _numbered(held.popleft(), seq)
            if out.num_rows:
                yield out
    for entry in held:
        out, seq = _numbered(entry, seq)
        if out.num_rows:
            yield out


def _numbered(entry: _Held, first: int) -> tuple[pa.RecordBatch, int]:
    batch = entry.batch if entry.keep.all() else entry.batch.filter(pa.array(entry.keep))
    numbers = pa.array(np.arange(first, first + batch.num_rows, dtype=np.uint64))
    index = EVENT_SCHEMA.get_field_index("seq")
    return batch.set_column(index, EVENT_SCHEMA.field("seq"), numbers), first + batch.num_rows
