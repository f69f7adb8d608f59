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
    after the last newline as one more line if `tail`. One vectorised pass finds the newlines,
    control bytes and high bytes together (as int8, all three are below 32)."""
    special = np.flatnonzero(buf[:size].view(np.int8) < 32)
    values = buf[special]
    newline = values == 10
    ends = special[newline]
    if tail and (not len(ends) or ends[-1] + 1 < size):
        ends = np.append(ends, size)
    starts = np.empty(len(ends), np.int64)
    if len(ends):
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
    flags = np.zeros(len(ends), np.uint8)
    odd = ~newline & (values != 9)
    if odd.any():
        at, kind = special[odd], values[odd]
        line = np.searchsorted(ends, at)  # the line holding each odd byte
        cr_at_end = (kind == 13) & (at + 1 == ends[np.minimum(line, len(ends) - 1)])
        np.bitwise_or.at(flags, line[(kind < 128) & ~cr_at_end], CONTROL)
        np.bitwise_or.at(flags, line[kind >= 128], HIGH)
    return starts, _without_cr(buf, starts, ends), flags


def _without_cr(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    cr = (ends > starts) & (buf[np.maximum(ends - 1, 0)] == 13)
    return ends - cr
