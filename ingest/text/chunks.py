"""Read a text source in large chunks of whole lines, and split a chunk into lines in bulk.

Memory is bounded by the chunk size whatever the length of the input. The last bytes of an input
without a final newline come as a chunk of their own marked `tail` (a capture cut mid-line: the
readers skip it with a warning if it does not parse).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import numpy as np

from tdxray.ingest.inputs import DECOMPRESSION_ERRORS
from tdxray.ingest.text.bytegrid import PAD, Grid
from tdxray.schema.errors import InputError

CHUNK_BYTES = 8 << 20
CONTROL = 1  # line flags: a control byte other than a tab (or a CR before the newline)
HIGH = 2     # a byte >= 0x80: valid UTF-8 or not, the caller decides
MAX_LINE = 1 << 20


@dataclass(frozen=True)
class Chunk:
    data: bytearray   # data[:size]: whole lines, each ending in "\n" unless `tail`; then PAD NULs
    size: int
    first_line: int   # 1-based number of the first line
    tail: bool        # the input's last line, without a newline


def read_chunks(stream: IO[bytes], source: str, size: int = CHUNK_BYTES) -> Iterator[Chunk]:
    """Chunks of whole lines, read straight into their own buffers (no copy of the text)."""
    carry = b""
    line = 1
    while True:
        buf = bytearray(len(carry) + size + PAD)
        buf[:len(carry)] = carry
        end = len(carry) + _fill(stream, memoryview(buf)[len(carry):len(carry) + size], source,
                                 line)
        if end == len(carry):
            break
        cut = buf.rfind(b"\n", 0, end) + 1
        if cut == 0:
            if end > MAX_LINE:
                raise InputError(f"a line longer than {MAX_LINE} bytes: not a text trace",
                                 source, line)
            carry = bytes(buf[:end])
            continue
        carry = bytes(buf[cut:end])
        buf[cut:end] = bytes(end - cut)
        yield Chunk(buf, cut, line, False)
        line += int(np.count_nonzero(np.frombuffer(buf, np.uint8, cut) == 10))  # GIL released
    if carry:
        yield Chunk(bytearray(carry + bytes(PAD)), len(carry), line, True)


def _fill(stream: IO[bytes], into: memoryview, source: str, line: int) -> int:
    """Read into `into` until it is full or the input ends; the number of bytes read."""
    got = 0
    while got < len(into):
        try:
            n = stream.readinto(into[got:])  # type: ignore[attr-defined]
        except DECOMPRESSION_ERRORS as exc:
            raise InputError(f"cannot decompress: {exc}", source, line) from exc
        if not n:
            break
        got += n
    return got


@dataclass
class Lines:
    """The lines of one chunk: byte ranges [starts, ends) without the newline and a final \\r
    (or two: a serial capture through a pty, `script`, ends its lines in \\r\\r\\n)."""

    chunk: Chunk
    grid: Grid
    starts: np.ndarray
    ends: np.ndarray
    garbage: np.ndarray  # bool per line: control bytes or invalid UTF-8

    def __len__(self) -> int:
        return len(self.starts)

    def text(self, i: int) -> str:
        """Line i as text (only for lines that are not garbage)."""
        return self.chunk.data[self.starts[i]:self.ends[i]].decode("utf-8")

    def number(self, i: int) -> int:
        return self.chunk.first_line + i


def split_lines(chunk: Chunk) -> Lines:
    grid = Grid(chunk.data, chunk.size)
    starts, ends, flags = _split(grid.buf, grid.size, chunk.tail)
    garbage = (flags & CONTROL) != 0
    for i in np.flatnonzero(flags == HIGH).tolist():
        try:
            chunk.data[starts[i]:ends[i]].decode("utf-8")
        except UnicodeDecodeError:
            garbage[i] = True
    return Lines(chunk, grid, starts, ends, garbage)


def _split(buf: np.ndarray, size: int, tail: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
        end = ends[np.minimum(line, len(ends) - 1)]
        cr_at_end = (kind == 13) & ((at + 1 == end)
                                    | ((at + 2 == end) & (buf[np.minimum(at + 1, size - 1)] == 13)))
        np.bitwise_or.at(flags, line[(kind < 128) & ~cr_at_end], CONTROL)
        np.bitwise_or.at(flags, line[kind >= 128], HIGH)
    return starts, _without_cr(buf, starts, ends), flags


def _without_cr(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    cr = (ends > starts) & (buf[np.maximum(ends - 1, 0)] == 13)
    ends = ends - cr
    cr2 = cr & (ends > starts) & (buf[np.maximum(ends - 1, 0)] == 13)
    return ends - cr2
