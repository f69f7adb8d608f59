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
    cuts = distinct(np.concatenate([lo, hi]))
    a = np.searchsorted(cuts, lo)
    b = np.searchsorted(cuts, hi)
    spans = b - a
    if int(spans.sum()) > MAX_SPREAD * m + 4096:
        return np.zeros(m, dtype=np.int64), 0
    change = np.repeat(np.arange(m), spans)
    first = np.repeat(np.cumsum(spans) - spans, spans)
    segment = np.repeat(a, spans) + (np.arange(len(change)) - first)
    # by segment, then seq order: the pairs are made in seq order, so a stable sort by
    # segment keeps it (half a lexsort's cost)
    order = np.argsort(segment, kind="stable")
    segment, change = segment[order], change[order]
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
