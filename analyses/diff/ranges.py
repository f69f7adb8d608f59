"""Sets of GPA ranges [start, end): coalesced, subtracted, counted in pages."""

from __future__ import annotations

from collections.abc import Iterable

from tdxray.schema.constants import PAGE_SHIFT

Ranges = list[tuple[int, int]]


def coalesce(ranges: Iterable[tuple[int, int]]) -> Ranges:
    """Sorted, with touching or overlapping ranges joined; empty ones dropped."""
    out: Ranges = []
    for start, end in sorted(r for r in ranges if r[1] > r[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def subtract(a: Ranges, b: Ranges) -> Ranges:
    """The parts of coalesced `a` not covered by coalesced `b`."""
    out: Ranges = []
    j = 0
    for start, end in a:
        cur = start
        while j < len(b) and b[j][1] <= cur:
            j += 1
        k = j
        while k < len(b) and b[k][0] < end:
            if b[k][0] > cur:
                out.append((cur, b[k][0]))
            cur = max(cur, b[k][1])
            k += 1
        if cur < end:
            out.append((cur, end))
    return out


def pages(ranges: Ranges) -> int:
    return sum(end - start for start, end in ranges) >> PAGE_SHIFT


class RangeSet:
    """Ranges added one by one, coalesced now and then so that memory stays small."""

    COALESCE_AT = 4096

    def __init__(self) -> None:
        self._ranges: Ranges = []
        self._pending = 0

    def add(self, start: int, end: int) -> None:
        self._ranges.append((start, end))
        self._pending += 1
        if self._pending >= self.COALESCE_AT:
            self._ranges = coalesce(self._ranges)
            self._pending = 0

    def ranges(self) -> Ranges:
        self._ranges = coalesce(self._ranges)
        self._pending = 0
        return list(self._ranges)
