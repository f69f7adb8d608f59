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

from tdxray.ingest.bytegrid import Grid
from tdxray.ingest.inputs import DECOMPRESSION_ERRORS
from tdxray.schema.errors import InputError

CHUNK_BYTES = 8 << 20
MAX_LINE = 1 << 20


@dataclass(frozen=True)
class Chunk:
    data: bytes       # whole lines; each ends in "\n" unless `tail`
    first_line: int   # 1-based number of the first line
    tail: bool        # the input's last line, without a newline


def read_chunks(stream: IO[bytes], source: str, size: int = CHUNK_BYTES) -> Iterator[Chunk]:
    carry = b""
    line = 1
    while True:
        try:
            block = stream.read(size)
        except DECOMPRESSION_ERRORS as exc:
            raise InputError(f"cannot decompress: {exc}", source, line) from exc
        if not block:
            break
        block = carry + block
        cut = block.rfind(b"\n") + 1
        if cut == 0:
            if len(block) > MAX_LINE:
                raise InputError(f"a line longer than {MAX_LINE} bytes: not a text trace",
                                 source, line)
            carry = block
            continue
        yield Chunk(block[:cut], line, False)
        line += block.count(b"\n", 0, cut)
        carry = block[cut:]
    if carry:
        yield Chunk(carry, line, True)


@dataclass
class Lines:
    """The lines of one chunk: byte ranges [starts, ends) without the newline (or a final \\r)."""

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
    grid = Grid(chunk.data)
    buf = grid.buf[:grid.size]
    special = np.flatnonzero(buf.view(np.int8) < 32)  # control bytes and non-ASCII
    values = buf[special]
    newlines = special[values == 10]
    ends = newlines if not chunk.tail else np.append(newlines, grid.size)
    starts = np.empty(len(ends), np.int64)
    if len(ends):
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
    ends = ends.astype(np.int64)
    cr = (ends > starts) & (grid.byte(ends - 1) == 13)
    ends = ends - cr
    garbage = np.zeros(len(ends), bool)
    odd = special[(values != 10) & (values != 9) & (values < 128)]
    odd = odd[~np.isin(odd, ends[cr])]
    garbage[np.searchsorted(starts, odd, side="right") - 1] = True
    high = special[values >= 128]
    if len(high):
        for i in np.unique(np.searchsorted(starts, high, side="right") - 1).tolist():
            try:
                chunk.data[starts[i]:ends[i]].decode("utf-8")
            except UnicodeDecodeError:
                garbage[i] = True
    return Lines(chunk, grid, starts, ends, garbage)
