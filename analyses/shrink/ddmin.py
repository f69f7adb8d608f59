"""ddmin (Zeller & Hildebrandt 2002) over a list of units, each unit a list of event indices."""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain

Test = Callable[[list[int]], bool]


class Budget(Exception):
    """The step or time budget ran out; the best result so far stands."""


def flatten(units: list[list[int]]) -> list[int]:
    """The indices of disjoint units, in order."""
    return sorted(chain.from_iterable(units))


def ddmin(units: list[list[int]], fixed: list[int], test: Test) -> list[list[int]]:
    """The units kept: a 1-minimal subset (per complement) for which test(fixed + units) holds."""
    n = 2
    while len(units) >= 2:
        chunks = _split(units, n)
        reduced = False
        for chunk in chunks:  # try a chunk alone first
            if test(flatten([fixed, *chunk])):
                units, n, reduced = chunk, 2, True
                break
        if not reduced:
            for k in range(len(chunks)):
                rest = [u for j, c in enumerate(chunks) if j != k for u in c]
                if test(flatten([fixed, *rest])):
                    units, n, reduced = rest, max(n - 1, 2), True
                    break
        if not reduced:
            if n >= len(units):
                break
            n = min(2 * n, len(units))
    return units


def _split(units: list[list[int]], n: int) -> list[list[list[int]]]:
    size, extra = divmod(len(units), n)
    out, start = [], 0
    for k in range(n):
        end = start + size + (1 if k < extra else 0)
        out.append(units[start:end])
        start = end
    return [c for c in out if c]
