"""A set of disjoint [start, end) address ranges, kept sorted and coalesced."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


class RangeSet:
    """Few ranges (tens), so plain lists: simple beats clever here."""

    def __init__(self, ranges: Iterable[tuple[int, int]] = ()) -> None:
        self._ranges: list[tuple[int, int]] = []
        for start, end in ranges:
            self.add(start, end)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(list(self._ranges))

    def __bool__(self) -> bool:
        return bool(self._ranges)

    def total(self) -> int:
        return sum(end - start for start, end in self._ranges)

    def add(self, start: int, end: int) -> None:
        if start >= end:
            return
        kept = []
        for s, e in self._ranges:
            if e < start or s > end:
                kept.append((s, e))
            else:
                start, end = min(s, start), max(e, end)
        kept.append((start, end))
        self._ranges = sorted(kept)

    def remove(self, start: int, end: int) -> None:
        if start >= end:
            return
        kept = []
        for s, e in self._ranges:
            if e <= start or s >= end:
                kept.append((s, e))
                continue
            if s < start:
                kept.append((s, start))
            if e > end:
                kept.append((end, e))
        self._ranges = kept

    def intersection(self, start: int, end: int) -> list[tuple[int, int]]:
        return [(max(s, start), min(e, end)) for s, e in self._ranges if s < end and e > start]

    def overlaps(self, start: int, end: int) -> bool:
        return bool(self.intersection(start, end))

    def covers(self, start: int, end: int) -> bool:
        return any(s <= start and end <= e for s, e in self._ranges)
