"""A run's layers applied to its islands equal the same layers applied to the whole map: the
same pieces, the same accepted set and the same history rows in the same order."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from tdxray.model.islands import islands, write_back
from tdxray.model.layers import layers
from tdxray.model.pagemap import ACCEPT, CHANGES, PageMap, PageState

PAGE = 0x1000
PAGES = 4096
LIMIT = 2 * PAGES * PAGE  # RAM is the first half; the rest is not RAM


def fragmented(seed: int, initial: PageState) -> PageMap:
    """A map cut into many pieces by single changes (the core's path)."""
    rng = np.random.default_rng(seed)
    pmap = PageMap(LIMIT, ((0, PAGES * PAGE),), initial)
    for seq in range(1, 4000):
        first, count = int(rng.integers(0, PAGES)), int(rng.integers(1, 4))
        pmap.transition(first * PAGE, (first + count) * PAGE, CHANGES[int(rng.integers(3))],
                        seq, seq * 10, 0)
    pmap.take_history()
    return pmap


def run(pmap: PageMap, lo: np.ndarray, hi: np.ndarray, change: np.ndarray,
        seq: np.ndarray) -> None:
    """The fast lane's way: layer by layer, each sorted by lo."""
    level, exact = layers(lo, hi)
    assert exact == len(lo)
    for lv in range(int(level.max()) + 1):
        at = np.flatnonzero(level == lv)
        at = at[np.argsort(lo[at], kind="stable")]
        pmap.apply(lo[at], hi[at], change[at], seq[at], seq[at] * 10, np.ones(len(at), np.int64))


@pytest.mark.parametrize("initial", [PageState.PRIVATE, PageState.UNACCEPTED])
# over the whole map (RAM, not RAM, past the limit), and over a region in its middle (the
# pieces around stay in place)
@pytest.mark.parametrize(("seed", "changes", "span", "region"),
                         [(1, 200, 1, (0, 2 * PAGES + 8)), (2, 60, 3, (0, 2 * PAGES + 8)),
                          (3, 400, 2, (0, 2 * PAGES + 8)), (4, 10, 2, (1000, 1400))])
def test_islands_equal_the_whole_map(seed: int, changes: int, span: int,
                                     region: tuple[int, int], initial: PageState) -> None:
    pmap = fragmented(seed, initial)
    rng = np.random.default_rng(seed + 100)
    first = rng.integers(*region, changes)  # some overlapping
    lo = first * PAGE
    hi = (first + rng.integers(1, span + 1, changes)) * PAGE
    change = rng.integers(0, 3, changes)
    seq = np.arange(5000, 5000 + changes, dtype=np.int64)
    whole = copy.deepcopy(pmap)
    run(whole, lo, hi, change, seq)
    found = islands(pmap, lo, hi)
    assert found is not None  # the run touches a small part of the map
    run(found.small, lo, hi, change, seq)
    write_back(pmap, found)
    assert np.array_equal(pmap.starts, whole.starts)
    assert np.array_equal(pmap.attrs, whole.attrs)
    assert np.array_equal(pmap.take_history(), whole.take_history())
    if initial == PageState.UNACCEPTED:
        assert pmap.accepted is not None and whole.accepted is not None
        assert (pmap.accepted.parts(0, LIMIT) == whole.accepted.parts(0, LIMIT))
        assert (change == ACCEPT).any()


def test_a_run_over_most_of_its_window_takes_the_map_itself() -> None:
    pmap = PageMap(LIMIT, ((0, PAGES * PAGE),), PageState.PRIVATE)
    lo = np.arange(0, 64, dtype=np.int64) * PAGE
    assert islands(pmap, lo, lo + PAGE) is None
