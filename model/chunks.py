"""The page map's pieces in chunks: sorted starts and their attribute rows, a chunk at a time.

A change rewrites only the chunks that hold the pieces it touches (plus a neighbour piece each
side, for merging). A single change first cuts a long chunk into chunks of about CHUNK pieces,
so it costs O(log n + CHUNK) however fragmented the map is; a batch of changes works on the
pieces between its first and its last and leaves them as one chunk (a batch over the whole map
costs what one flat array would). Chunks are never changed in place (a snapshot is a copy of
three lists), and whole-map queries read a flat copy that is built once per change.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from itertools import pairwise

import numpy as np

CHUNK = 512  # pieces per chunk that single changes edit: between CHUNK and 2*CHUNK

Snapshot = tuple[list[np.ndarray], list[np.ndarray], list[int]]


class Chunks:
    """Pieces from each start to the next (the last to `limit`), chunk by chunk."""

    def __init__(self, limit: int, first: np.ndarray) -> None:
        self.limit = limit
        self.starts: list[np.ndarray] = [np.zeros(1, dtype=np.int64)]
        self.attrs: list[np.ndarray] = [first.reshape(1, -1).astype(np.int64)]
        self.firsts: list[int] = [0]  # the first start of each chunk
        self._flat: tuple[np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return sum(len(s) for s in self.starts)

    def locate(self, x: int) -> tuple[int, int]:
        """(chunk, index in it) of the piece holding x (x >= 0)."""
        c = bisect_right(self.firsts, x) - 1
        return c, int(self.starts[c].searchsorted(x, side="right")) - 1

    def end_of(self, c: int, i: int) -> int:
        """Where piece i of chunk c ends: the next piece's start, or the limit."""
        chunk = self.starts[c]
        if i + 1 < len(chunk):
            return int(chunk[i + 1])
        return self.firsts[c + 1] if c + 1 < len(self.firsts) else self.limit

    def span(self, lo: int, hi: int) -> tuple[int, int]:
        """Chunks [ca, cb) holding the piece before lo's piece through the first piece that
        starts at or after hi (the pieces a change of [lo, hi) touches or merges with)."""
        c, i = self.locate(lo)
        ca = c - 1 if i == 0 and c > 0 else c
        c2 = bisect_right(self.firsts, hi) - 1
        j = int(self.starts[c2].searchsorted(hi, side="left"))
        cb = min(c2 + (1 if j < len(self.starts[c2]) else 2), len(self.firsts))
        n = len(self.firsts)
        while cb - ca < n and sum(len(s) for s in self.starts[ca:cb]) < CHUNK // 2:
            if cb < n:  # a small span takes a neighbour chunk: chunks never shrink to nothing
                cb += 1
            else:
                ca -= 1
        return ca, cb

    def get(self, ca: int, cb: int) -> tuple[np.ndarray, np.ndarray, int]:
        """The starts and attributes of chunks ca..cb-1 as arrays, and where they end."""
        end = self.firsts[cb] if cb < len(self.firsts) else self.limit
        if cb - ca == 1:
            return self.starts[ca], self.attrs[ca], end
        return (np.concatenate(self.starts[ca:cb]), np.concatenate(self.attrs[ca:cb]), end)

    def put(self, ca: int, cb: int, starts: np.ndarray, attrs: np.ndarray) -> None:
        """Replace chunks ca..cb-1 with `starts`/`attrs` (fresh arrays) as one chunk, however
        long: a batch over much of the map leaves it whole, and `split` cuts it up only when
        a single change comes to edit it."""
        self.starts[ca:cb] = [starts]
        self.attrs[ca:cb] = [attrs]
        self.firsts[ca:cb] = [int(starts[0])]
        self._flat = None

    def put_parts(self, ca: int, cb: int, parts: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """Replace chunks ca..cb-1 with one chunk per (starts, attrs) part, in order."""
        self.starts[ca:cb] = [starts for starts, _ in parts]
        self.attrs[ca:cb] = [attrs for _, attrs in parts]
        self.firsts[ca:cb] = [int(starts[0]) for starts, _ in parts]
        self._flat = None

    def split(self, c: int) -> bool:
        """Cut chunk c into chunks of CHUNK to 2*CHUNK pieces if it is longer (True if cut)."""
        starts, attrs = self.starts[c], self.attrs[c]
        n = len(starts)
        k = n // CHUNK
        if n <= 2 * CHUNK:
            return False
        cuts = list(pairwise(((np.arange(k + 1) * n) // k).tolist()))
        self.starts[c:c + 1] = [starts[a:b].copy() for a, b in cuts]
        self.attrs[c:c + 1] = [attrs[a:b].copy() for a, b in cuts]
        self.firsts[c:c + 1] = [int(starts[a]) for a, _ in cuts]
        return True

    def flat(self) -> tuple[np.ndarray, np.ndarray]:
        """Every piece's start and attributes (read-only: built once per change)."""
        if self._flat is None:
            starts = np.concatenate(self.starts) if len(self.starts) > 1 else self.starts[0]
            attrs = np.concatenate(self.attrs) if len(self.attrs) > 1 else self.attrs[0]
            starts.flags.writeable = attrs.flags.writeable = False
            self._flat = (starts, attrs)
        return self._flat

    def pieces_at(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each x: where the piece holding it ends, and its attributes (chunk by chunk:
        no flat copy of the map)."""
        order = np.argsort(x, kind="stable")
        ends = np.empty(len(x), dtype=np.int64)
        attrs = np.empty((len(x), self.attrs[0].shape[1]), dtype=np.int64)
        for c, a, b, i in self.walk(x[order]):
            starts = self.starts[c]
            nxt = np.append(starts[1:], self.end_of(c, len(starts) - 1))
            ends[order[a:b]] = nxt[i]
            attrs[order[a:b]] = self.attrs[c][i]
        return ends, attrs

    def walk(self, xs: np.ndarray) -> Iterator[tuple[int, int, int, np.ndarray]]:
        """For sorted `xs`, chunk by chunk: (chunk c, the run xs[a:b] that falls in it, the
        index in chunk c of the piece holding each of them)."""
        chunk = np.searchsorted(np.array(self.firsts), xs, side="right") - 1
        cuts = [0, *(np.flatnonzero(chunk[1:] != chunk[:-1]) + 1).tolist(), len(xs)]
        for a, b in pairwise(cuts):
            if a == b:
                continue
            c = int(chunk[a])
            yield c, a, b, self.starts[c].searchsorted(xs[a:b], side="right") - 1

    def snapshot(self) -> Snapshot:
        return list(self.starts), list(self.attrs), list(self.firsts)

    def restore(self, saved: Snapshot) -> None:
        self.starts, self.attrs, self.firsts = list(saved[0]), list(saved[1]), list(saved[2])
        self._flat = None
