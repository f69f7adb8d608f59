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

import numpy as np

COMPACT_AT = 1 << 16  # additions kept before they are merged into the arrays

_EMPTY = np.zeros(0, dtype=np.int64)
Saved = tuple[np.ndarray, np.ndarray]


class Accepted:
    """Pages accepted at least once since the TD's boot."""

    def __init__(self) -> None:
        self._lo, self._hi = _EMPTY, _EMPTY
        self._added: list[tuple[int, int]] = []
        self._batches: list[Saved] = []

    def add(self, lo: int, hi: int) -> None:
        self._added.append((lo, hi))
        if len(self._added) >= COMPACT_AT:
            self._compact()

    def add_many(self, lo: np.ndarray, hi: np.ndarray) -> None:
        if len(lo):
            self._batches.append((lo.astype(np.int64), hi.astype(np.int64)))

    def snapshot(self) -> Saved:
        self._compact()
        return self._lo, self._hi

    def restore(self, saved: Saved) -> None:
        self._lo, self._hi = saved
        self._added, self._batches = [], []

    def parts(self, start: int, end: int) -> list[tuple[int, int, bool]]:
        """[start, end) cut into (s, e, accepted since boot), in GPA order."""
        if start >= end:
            return []
        self._compact()
        i = int(np.searchsorted(self._hi, start, side="right"))
        out: list[tuple[int, int, bool]] = []
        at = start
        for lo, hi in zip(self._lo[i:].tolist(), self._hi[i:].tolist(), strict=True):
            if lo >= end:
                break
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
        self._added, self._batches = [], []
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
