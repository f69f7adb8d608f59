"""model/layers.layers against its definition, change by change: a change's layer is one more
than the highest layer of the earlier changes it overlaps (0 when none), for bounds in seq
order (a buffer walked up the map) and in no order (random pages), with shared bounds."""

from __future__ import annotations

import numpy as np
import pytest

from tdxray.model.layers import MAX_ROUNDS, layers

PAGE = 4096


def _by_definition(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    level = np.zeros(len(lo), dtype=np.int64)
    for k in range(len(lo)):
        earlier = np.flatnonzero((lo[:k] < hi[k]) & (lo[k] < hi[:k]))
        level[k] = level[earlier].max() + 1 if len(earlier) else 0
    return level


def _changes(seed: int, walk: bool, m: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    spread = 64 if seed % 2 else 2048  # long chains of overlaps, or short ones
    pages = np.sort(rng.integers(0, spread, m)) if walk else rng.integers(0, spread // 8, m)
    lo = pages * PAGE
    return lo, lo + rng.integers(1, 4, m) * PAGE  # 1-3 pages: many overlaps, shared bounds


@pytest.mark.parametrize("walk", [True, False], ids=["in-order", "random"])
@pytest.mark.parametrize("seed", range(4))
def test_each_change_sits_one_above_what_it_overlaps(seed: int, walk: bool) -> None:
    lo, hi = _changes(seed, walk)
    want = _by_definition(lo, hi)
    level, exact = layers(lo, hi)
    if want.max() < MAX_ROUNDS - 1:
        assert exact == len(lo)
    else:  # a chain too long for the rounds: the exact prefix ends before its first such
        assert exact == int(np.flatnonzero(want >= MAX_ROUNDS - 1)[0])
    assert exact > 0
    np.testing.assert_array_equal(level[:exact], want[:exact])


def test_disjoint_changes_share_layer_zero_and_one_range_stacks() -> None:
    lo = np.array([5, 0, 9, 2], dtype=np.int64) * PAGE
    level, exact = layers(lo, lo + PAGE)
    assert (level.tolist(), exact) == ([0, 0, 0, 0], 4)
    same = np.zeros(5, dtype=np.int64)
    level, exact = layers(same, same + PAGE)
    assert (level.tolist(), exact) == ([0, 1, 2, 3, 4], 5)
