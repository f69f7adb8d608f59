"""One page change applied with plain Python over the few pieces it touches in one chunk.

The sequential core changes one range per event; a vectorised `PageMap.apply` would pay a few
dozen numpy calls for it. Here the pieces from the one before the range to the one after it
are read as lists, split, changed and merged exactly as `apply` does, and the chunk is
rebuilt in one concatenation. A range that reaches a chunk's first or last piece is left to
`apply` (its neighbours sit in another chunk).
"""

from __future__ import annotations

import numpy as np

from tdxray.model.chunks import Chunks
from tdxray.schema.constants import PAGE_SHIFT

Attrs = list[int]  # state, cause, since, since_ts, generation


def one_change(chunks: Chunks, lo: int, hi: int, table: tuple[int, ...], seq: int, ts: int,
               gen: int, history: list[np.ndarray] | None) -> int | None:
    """Move [lo, hi) (lo < hi <= limit) to table[old state]; pages moved, or None if the
    range reaches a chunk's edge. History rows go to `history` unless it is None."""
    c, i = chunks.locate(lo)
    if chunks.split(c):  # a batch left it long: cut it up first
        c, i = chunks.locate(lo)
    chunk = chunks.starts[c]
    j = int(chunk.searchsorted(hi, side="left"))  # pieces i..j-1 overlap [lo, hi)
    if i == 0 or j >= len(chunk):
        return None
    starts: list[int] = chunk[i - 1:j + 1].tolist()
    attrs: list[Attrs] = chunks.attrs[c][i - 1:j + 1].tolist()
    out_starts, out_attrs = [starts[0]], [attrs[0]]

    def push(start: int, at: Attrs) -> None:
        if at != out_attrs[-1]:  # equal neighbours merge
            out_starts.append(start)
            out_attrs.append(at)

    moved = 0
    rows: list[list[int]] = []
    for k in range(1, len(starts) - 1):
        s, e, at = starts[k], starts[k + 1], attrs[k]
        new = table[at[0]]
        if new == at[0]:
            push(s, at)
            continue
        cs, ce = max(s, lo), min(e, hi)
        if s < cs:
            push(s, at)
        rows.append([cs, ce, at[0], at[2], at[3], seq, ts, at[4], at[1]])
        push(cs, [new, seq, seq, ts, gen])
        if ce < e:
            push(ce, at)
        moved += (ce - cs) >> PAGE_SHIFT
    push(starts[-1], attrs[-1])
    if history is not None and rows:
        history.append(np.array(rows, dtype=np.int64))
    new_starts = np.concatenate([chunk[:i - 1], np.array(out_starts, dtype=np.int64),
                                 chunk[j + 1:]])
    block = chunks.attrs[c]
    new_attrs = np.concatenate([block[:i - 1], np.array(out_attrs, dtype=np.int64),
                                block[j + 1:]])
    chunks.put(c, c + 1, new_starts, new_attrs)
    return moved
