"""A chunk of text as bytes: small windows gathered per line, and the distinct words of them.

A chunk is a uint8 array padded with NULs (PAD bytes), so a window that starts near the end of
the data never reads past the buffer.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

PAD = 256


class Grid:
    """The padded bytes of one chunk."""

    def __init__(self, data: bytearray, size: int) -> None:
        """data[:size] is the text and data[size:size + PAD] NULs."""
        if len(data) < size + PAD or any(data[size:size + PAD]):
            raise ValueError("a grid needs PAD NUL bytes after the text")
        self.size = size
        self.buf = np.frombuffer(data, np.uint8)
        self._windows = sliding_window_view(self.buf, PAD)

    def window(self, at: np.ndarray, width: int) -> np.ndarray:
        """An (n, width) copy of the bytes at[i] … at[i]+width (width <= PAD)."""
        return self._windows[np.clip(at, 0, self.size), :width]

    def byte(self, at: np.ndarray) -> np.ndarray:
        return self.buf[np.clip(at, 0, self.size)]


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
