"""Layers of a run of page changes: changes in one layer are disjoint, and a change that
overlaps an earlier one sits in a later layer. Applying the layers in order is applying the
changes in seq order (disjoint changes commute)."""

from __future__ import annotations

import numpy as np

from tdxray.model.columns import distinct

MAX_ROUNDS = 16  # a longer chain of overlapping changes is cut: the next run takes the rest
MAX_SPREAD = 32  # elementary segments per change, on average: beyond it the core goes on


def layers(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, int]:
    """Each change's layer, and how many changes (a prefix, in seq order) got an exact one."""
    m = len(lo)
    a, b = _ranks(lo, hi)
    spans = b - a
    if int(spans.sum()) > MAX_SPREAD * m + 4096:
        return np.zeros(m, dtype=np.int64), 0
    change = np.repeat(np.arange(m), spans)
    first = np.repeat(np.cumsum(spans) - spans, spans)
    segment = np.repeat(a, spans) + (np.arange(len(change)) - first)
    # by segment, then seq order: one sort of (segment, change) packed in one int64 (the
    # pairs are distinct; less than a stable argsort by segment and two gathers)
    shift = max(m.bit_length(), 1)
    pair = np.sort((segment << shift) | change)
    segment, change = pair >> shift, pair & ((1 << shift) - 1)
    has_pred = np.append(False, segment[1:] == segment[:-1])
    pred = np.append(0, change[:-1])
    level = np.zeros(m, dtype=np.int64)
    for _ in range(MAX_ROUNDS):
        step = np.where(has_pred, level[pred] + 1, 0)
        new = np.zeros(m, dtype=np.int64)
        np.maximum.at(new, change, step)
        if np.array_equal(new, level):
            return level, m
        level = new
    # after k rounds a level below k is exact; the prefix before the first other one is
    inexact = np.flatnonzero(level >= MAX_ROUNDS - 1)
    return level, int(inexact[0]) if len(inexact) else m


def _ranks(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each lo's and each hi's place among the distinct bounds (the elementary segments'
    ends). Sorted bounds are searched (each search starts where the last ended); unsorted
    ones (random pages) are ranked by one sort of all the bounds: numpy's searchsorted of
    unsorted keys costs ~10x a sort."""
    bounds = np.concatenate([lo, hi])
    if (lo[1:] >= lo[:-1]).all() and (hi[1:] >= hi[:-1]).all():
        cuts = distinct(bounds)
        return np.searchsorted(cuts, lo), np.searchsorted(cuts, hi)
    order = np.argsort(bounds)
    ordered = bounds[order]
    new = np.empty(len(ordered), dtype=bool)
    new[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    rank = np.empty(len(ordered), dtype=np.int64)
    rank[order] = np.cumsum(new) - 1  # equal bounds share a rank, whichever order they took
    return rank[:len(lo)], rank[len(lo):]
