"""Vectorised byte work on a chunk of text: small windows gathered per line, runs, numbers.

A chunk is a uint8 array padded with NULs (PAD bytes), so a window that starts near the end of
the data never reads past the buffer. Every helper takes arrays of byte positions (one per line)
and returns one value per line; nothing loops over lines in Python.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

PAD = 256
DIGIT = np.zeros(256, bool)
DIGIT[ord("0"):ord("9") + 1] = True
HEX = DIGIT.copy()
HEX[ord("a"):ord("f") + 1] = True
HEX[ord("A"):ord("F") + 1] = True
WORD = DIGIT.copy()  # [A-Za-z0-9_]: event names, exit reasons
WORD[ord("a"):ord("z") + 1] = True
WORD[ord("A"):ord("Z") + 1] = True
WORD[ord("_")] = True
SPACE = np.zeros(256, bool)
SPACE[ord(" ")] = True
HEX_VALUE = np.zeros(256, np.uint64)
for _c in range(256):
    if HEX[_c]:
        HEX_VALUE[_c] = int(chr(_c), 16)


class Grid:
    """The padded bytes of one chunk."""

    def __init__(self, data: bytes) -> None:
        self.size = len(data)
        self.buf = np.frombuffer(data + b"\0" * PAD, np.uint8)
        self._windows = sliding_window_view(self.buf, PAD)

    def window(self, at: np.ndarray, width: int) -> np.ndarray:
        """An (n, width) copy of the bytes at[i] … at[i]+width (width <= PAD)."""
        return self._windows[np.clip(at, 0, self.size), :width]

    def byte(self, at: np.ndarray) -> np.ndarray:
        return self.buf[np.clip(at, 0, self.size)]


class Rows:
    """One window of bytes per line, (n, width), starting at byte `base[i]`; every helper takes
    per-row byte positions and reads only the window (NUL outside it)."""

    def __init__(self, grid: Grid, base: np.ndarray, width: int) -> None:
        self.base = base
        self.width = width
        self.m = np.zeros((len(base), width + 1), np.uint8)  # last column: always NUL
        self.m[:, :width] = grid.window(base, width)
        self._r = np.arange(len(base))[:, None]

    def cols(self, at: np.ndarray, width: int) -> np.ndarray:
        """(n, width) bytes from position at[i] on."""
        col = (at - self.base)[:, None] + np.arange(width)
        col = np.where((col >= 0) & (col < self.width), col, self.width)
        return self.m[self._r, col]

    def byte(self, at: np.ndarray) -> np.ndarray:
        return self.cols(at, 1)[:, 0]

    def run_back(self, end: np.ndarray, limit: int, cls: np.ndarray) -> np.ndarray:
        """Length of the run of bytes of class `cls` ending just before `end` (at most limit)."""
        return run_length(cls[self.cols(end - limit, limit)[:, ::-1]])

    def run_fwd(self, start: np.ndarray, limit: int, cls: np.ndarray) -> np.ndarray:
        """Length of the run of bytes of class `cls` starting at `start` (at most limit)."""
        return run_length(cls[self.cols(start, limit)])

    def number(self, start: np.ndarray, length: np.ndarray, limit: int,
               base: int = 10) -> np.ndarray:
        """The value of `length` digits at `start` (uint64; at most 19 decimal or 16 hex digits)."""
        win = self.cols(start, limit)
        digits = HEX_VALUE[win]
        exponent = length[:, None] - 1 - np.arange(limit)
        table = np.uint64(base) ** np.arange(limit, dtype=np.uint64)
        terms = np.where(exponent >= 0, digits * table[np.clip(exponent, 0, None)], np.uint64(0))
        return terms.sum(axis=1, dtype=np.uint64)

    def matches(self, at: np.ndarray, pattern: bytes) -> np.ndarray:
        """Whether the bytes at `at` spell `pattern`, where `#` stands for a hex digit."""
        win = self.cols(at, len(pattern))
        want = np.frombuffer(pattern, np.uint8)
        return ((win == want) | ((want == ord("#")) & HEX[win])).all(axis=1)

    def words(self, start: np.ndarray, length: np.ndarray, width: int) -> np.ndarray:
        """Byte strings of up to `width` bytes as rows, zero after `length` (for np.unique)."""
        return np.where(np.arange(width) < length[:, None], self.cols(start, width), np.uint8(0))


def run_length(ok: np.ndarray) -> np.ndarray:
    """Per row, how many leading entries are True."""
    first_false = np.argmin(ok, axis=1)
    return np.where(ok[np.arange(len(ok)), first_false], ok.shape[1], first_false)


def unique_words(win: np.ndarray, length: np.ndarray) -> tuple[list[bytes], np.ndarray]:
    """The distinct byte strings win[i, :length[i]] (each at most 48 bytes) and each row's
    index into them. Rows are hashed to 64 bits, then every row is compared with its group's
    first row, so two strings never share an index."""
    n, width = win.shape
    if not n:
        return [], np.zeros(0, np.int64)
    words = np.zeros((n, 48), np.uint8)
    words[:, :width] = np.where(np.arange(width) < length[:, None], win, np.uint8(0))
    lanes = words.view(np.uint64)
    key = lanes[:, 0].copy()
    for k in range(1, lanes.shape[1]):
        key = key * np.uint64(0x9E3779B97F4A7C15) ^ lanes[:, k]
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    if not (lanes == lanes[first[inverse]]).all():
        raw = np.ascontiguousarray(words).view(np.dtype((np.void, 48))).ravel()
        values, inverse = np.unique(raw, return_inverse=True)
        return [bytes(v).rstrip(b"\0") for v in values], inverse.ravel()
    return [bytes(words[i]).rstrip(b"\0") for i in first.tolist()], inverse
