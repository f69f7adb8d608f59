"""The seq after which each buffer marker's loss happened, found as the merged events go by.

A source reader notes its markers (SourceContext.losses, by line, without seq) before the merge
sees the events after them, so the loss lies after the source's events of smaller line numbers:
the last of those that the merge numbered is the loss's `after_seq` (schema/losses.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from tdxray.schema.losses import Loss


@dataclass
class _Source:
    noted: list[Loss]       # the reader's list, growing while its events are read
    taken: int = 0          # how many of `noted` are pending or done
    last_seq: int | None = None
    pending: list[Loss] = field(default_factory=list)


def with_losses_numbered(batches: Iterator[pa.RecordBatch],
                         noted: Sequence[tuple[str, list[Loss]]],
                         out: list[Loss], alone: bool) -> Iterator[pa.RecordBatch]:
    """`batches` (merged, numbered) unchanged; `out` gets every source's losses with their
    after_seq, in source order then line order, once the batches are consumed. `alone`: the
    trace has one source (no need to pick its rows)."""
    sources = {name: _Source(losses) for name, losses in noted}
    done: dict[str, list[Loss]] = {name: [] for name in sources}
    for batch in batches:
        for name, s in sources.items():
            s.pending += s.noted[s.taken:]
            s.taken = len(s.noted)
            _advance(s, batch, name, done[name], alone)
        yield batch
    for name, s in sources.items():
        s.pending += s.noted[s.taken:]
        done[name] += [dataclasses.replace(loss, after_seq=s.last_seq) for loss in s.pending]
    out.extend(loss for name in sources for loss in done[name])


def _advance(s: _Source, batch: pa.RecordBatch, name: str, done: list[Loss], alone: bool) -> None:
    seq, line = batch.column("seq").to_numpy(), batch.column("line").to_numpy()
    if not alone:  # the rows of this source: by dictionary index, no string compared per row
        column = batch.column("source")
        words = column.dictionary.to_pylist()
        if name not in words:
            return
        mine = column.indices.to_numpy(zero_copy_only=False) == words.index(name)
        seq, line = seq[mine], line[mine]
    if not len(seq):
        return
    if not s.pending:
        s.last_seq = int(seq[-1])
        return
    still = []
    for loss in s.pending:
        before = int(np.searchsorted(line, loss.line))  # a source's rows come in line order
        last = int(seq[before - 1]) if before else s.last_seq
        if before < len(line):
            done.append(dataclasses.replace(loss, after_seq=last))
        else:
            still.append(dataclasses.replace(loss, after_seq=last))
    s.pending = still
    s.last_seq = int(seq[-1])
