"""model/accepted.py against a plain set of pages: additions one by one and in batches,
merged when read, and restored to a snapshot."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tdxray.model import accepted
from tdxray.model.accepted import Accepted

RANGES = st.lists(st.tuples(st.integers(0, 40), st.integers(0, 6), st.booleans()), max_size=30)


def _pages(parts: list[tuple[int, int, bool]]) -> set[int]:
    return {p for s, e, once in parts if once for p in range(s, e)}


@given(RANGES, st.integers(0, 30), st.integers(0, 50))
@settings(max_examples=150, deadline=None)
def test_parts_are_the_pages_added(ranges: list[tuple[int, int, bool]], start: int,
                                   length: int) -> None:
    acc, pages = Accepted(), set()
    for lo, n, batch in ranges:
        if batch:
            acc.add_many(np.array([lo]), np.array([lo + n]))
        else:
            acc.add(lo, lo + n)
        pages |= set(range(lo, lo + n))
    end = start + length
    parts = acc.parts(start, end)
    assert [p[:2] for p in parts] == sorted(p[:2] for p in parts)
    assert all(s < e for s, e, _ in parts)
    assert sum(e - s for s, e, _ in parts) == end - start
    assert all(a[2] != b[2] for a, b in pairwise(parts))  # maximal
    assert _pages(parts) == pages & set(range(start, end))


def test_restore_forgets_what_came_after_the_snapshot() -> None:
    acc = Accepted()
    acc.add(10, 20)
    saved = acc.snapshot()
    acc.add(20, 30)
    acc.add_many(np.array([40]), np.array([50]))
    assert acc.parts(0, 60) == [(0, 10, False), (10, 30, True), (30, 40, False),
                                (40, 50, True), (50, 60, False)]
    acc.restore(saved)
    assert acc.parts(0, 60) == [(0, 10, False), (10, 20, True), (20, 60, False)]


def test_many_additions_are_merged_as_they_come() -> None:
    acc = Accepted()
    for page in range(accepted.COMPACT_AT + 5):
        acc.add(page, page + 1)
    assert len(acc._added) == 5  # merged once COMPACT_AT were waiting
    assert acc.parts(0, accepted.COMPACT_AT + 10) == [
        (0, accepted.COMPACT_AT + 5, True), (accepted.COMPACT_AT + 5, accepted.COMPACT_AT + 10,
                                             False)]


def test_restore_after_a_merge_in_between(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast lane snapshots, applies a run (which may merge the waiting ranges) and restores
    on a cut: the ranges added before the snapshot survive, the later ones do not."""
    monkeypatch.setattr(accepted, "COMPACT_AT", 4)
    acc = Accepted()
    acc.add(0, 1)
    acc.add_many(np.array([4]), np.array([5]))
    saved = acc.snapshot()
    acc.add(10, 11)
    acc.add_many(np.array([20, 30]), np.array([21, 31]))  # the fourth waiting range: a merge
    assert acc._waiting == 0 and acc.parts(30, 31) == [(30, 31, True)]
    acc.restore(saved)
    assert acc.parts(0, 40) == [(0, 1, True), (1, 4, False), (4, 5, True), (5, 40, False)]
