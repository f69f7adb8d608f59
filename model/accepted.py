"""The pages a lazy-accept TD has accepted since its boot (TDX-KEXEC.md §4).

On a lazy TD the unaccepted-memory table that generation g+1 inherits is "the pages never
accepted since boot": RAM less this set. The table is handed over at each kexec and only
shrinks (a page accepted stays accepted), so "since boot" is since the TD's boot, across
generations. A page converted back to private and not accepted again is K002 at the jump only
if it was accepted once; a page never accepted is still listed in the table.

Sorted, disjoint [lo, hi) intervals as numpy arrays, never one object per page. Additions are
kept in a list and merged when the set is read (ACCEPT is the hot path; the jump is rare).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

COMPACT_AT = 1 << 16  # ranges kept waiting before they are merged into the arrays

_EMPTY = np.zeros(0, dtype=np.int64)
Ranges = tuple[np.ndarray, np.ndarray]


class Saved(NamedTuple):
    """What `Accepted.restore` needs: the merged arrays and the waiting lists as they were (a
    merge replaces the lists, never empties them, so a saved list keeps its ranges)."""

    lo: np.ndarray
    hi: np.ndarray
    added: list[tuple[int, int]]
    n_added: int
    batches: list[Ranges]
    n_batches: int
    waiting: int


class Accepted:
    """Pages accepted at least once since the TD's boot."""

    def __init__(self) -> None:
        self._lo, self._hi = _EMPTY, _EMPTY
        self._added: list[tuple[int, int]] = []
        self._batches: list[Ranges] = []
        self._waiting = 0  # ranges in _added and _batches

    def add(self, lo: int, hi: int) -> None:
        self._added.append((lo, hi))
        self._waited(1)

    def add_many(self, lo: np.ndarray, hi: np.ndarray) -> None:
        if len(lo):
            self._batches.append((lo.astype(np.int64), hi.astype(np.int64)))
            self._waited(len(lo))

    def _waited(self, n: int) -> None:
        self._waiting += n
        if self._waiting >= COMPACT_AT:  # memory stays bounded on a long trace
            self._compact()

    def snapshot(self) -> Saved:
        """A constant-time snapshot (the fast lane takes one per run)."""
        return Saved(self._lo, self._hi, self._added, len(self._added), self._batches,
                     len(self._batches), self._waiting)

    def restore(self, saved: Saved) -> None:
        self._lo, self._hi = saved.lo, saved.hi
        self._added = saved.added[:saved.n_added]
        self._batches = saved.batches[:saved.n_batches]
        self._waiting = saved.waiting

    def parts(self, start: int, end: int) -> list[tuple[int, int, bool]]:
        """[start, end) cut into (s, e, accepted since boot), in GPA order."""
        if start >= end:
            return []
        self._compact()
        i = int(np.searchsorted(self._hi, start, side="right"))
        j = int(np.searchsorted(self._lo, end, side="left"))
        out: list[tuple[int, int, bool]] = []
        at = start
        for lo, hi in zip(self._lo[i:j].tolist(), self._hi[i:j].tolist(), strict=True):
            if lo > at:
                out.append((at, lo, False))
            out.append((max(lo, at), min(hi, end), True))
            at = min(hi, end)
        if at < end:
            out.append((at, end, False))
        return out

    def _compact(self) -> None:
        if not self._added and not self._batches:
            return
        los = [self._lo, *(b[0] for b in self._batches)]
        his = [self._hi, *(b[1] for b in self._batches)]
        if self._added:
            pairs = np.array(self._added, dtype=np.int64)
            los.append(pairs[:, 0])
            his.append(pairs[:, 1])
        lo, hi = np.concatenate(los), np.concatenate(his)
        keep = lo < hi
        lo, hi = lo[keep], hi[keep]
        self._added, self._batches, self._waiting = [], [], 0
        if not len(lo):
            self._lo, self._hi = _EMPTY, _EMPTY
            return
        order = np.argsort(lo, kind="stable")
        lo, hi = lo[order], hi[order]
        reach = np.maximum.accumulate(hi)
        new = np.append(True, lo[1:] > reach[:-1])
        first = np.flatnonzero(new)
        last = np.append(first[1:], len(lo)) - 1
        self._lo, self._hi = lo[first], reach[last]
