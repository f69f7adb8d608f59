"""Split a chunk of text into lines, flagging the lines that need a closer look.

A line is [start, end): without its newline, and without a carriage return just before it. A
line holding another control byte (not a tab) is flagged CONTROL; one holding a byte >= 0x80 is
flagged HIGH (it may or may not be valid UTF-8: the caller decides).
"""

from __future__ import annotations

import numpy as np

from tdxray.ingest.jit import kernel

CONTROL = 1
HIGH = 2


@kernel
def count_newlines(buf: np.ndarray, size: int) -> int:
    n = 0
    for p in range(size):
        n += buf[p] == 10
    return n


def split(buf: np.ndarray, size: int, tail: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(starts, ends, flags) of the lines of buf[:size]: newline-terminated lines, plus the bytes
    after the last newline as one more line if `tail`."""
    ends = np.flatnonzero(buf[:size] == 10)
    if tail and (not len(ends) or ends[-1] + 1 < size):
        ends = np.append(ends, size)
    starts = np.empty(len(ends), np.int64)
    if len(ends):
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
    flags = _flags(buf, starts, ends)
    return starts, _without_cr(buf, starts, ends), flags


@kernel
def _flags(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    flags = np.zeros(len(starts), np.uint8)
    for i in range(len(starts)):
        low = np.uint8(255)
        high = np.uint8(0)
        for p in range(starts[i], ends[i]):  # min and max: vectorised by the compiler
            low = min(low, buf[p])
            high = max(high, buf[p])
        control = False
        if low < 32:  # a tab, or a carriage return just before the newline, is no control
            for p in range(starts[i], ends[i]):
                b = buf[p]
                control |= (b < 32) & (b != 9) & ~((b == 13) & (p == ends[i] - 1))
        flags[i] = CONTROL * control + HIGH * (high >= 128)
    return flags


def _without_cr(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    cr = (ends > starts) & (buf[np.maximum(ends - 1, 0)] == 13)
    return ends - cr
