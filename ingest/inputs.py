"""Open an input named on the command line: a file or `-` (stdin); gzip, zstd, xz transparently."""

from __future__ import annotations

import contextlib
import gzip
import io
import lzma
import os
import stat
import sys
import zlib
from collections.abc import Iterator
from typing import Any, cast

import zstandard

from tdxray.schema.errors import InputError

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
XZ_MAGIC = b"\xfd7zXZ\x00"
PARQUET_MAGIC = b"PAR1"
BUFFER = 1 << 20
STDIN = "-"
# What reading a damaged compressed stream raises (readers turn it into an InputError).
DECOMPRESSION_ERRORS: tuple[type[Exception], ...] = (EOFError, gzip.BadGzipFile, zlib.error,
                                                     zstandard.ZstdError, lzma.LZMAError)


def display_name(arg: str) -> str:
    """How messages and provenance name an input."""
    return "<stdin>" if arg == STDIN else arg


@contextlib.contextmanager
def open_input(arg: str) -> Iterator[io.BufferedReader]:
    """A buffered binary stream of the (decompressed) input; `peek` shows its first bytes.

    Damaged compressed input (a bad header, corrupt data, a stream that ends early) is an
    InputError naming the input and the compression, wherever the reading stops.
    """
    with contextlib.ExitStack() as stack:
        raw = _open_raw(arg, stack)
        head = raw.peek(6)[:6]
        stream: io.BufferedIOBase | io.RawIOBase | None = None
        if head[:2] == GZIP_MAGIC:
            kind, stream = "gzip", stack.enter_context(gzip.GzipFile(fileobj=raw))
        elif head[:6] == XZ_MAGIC:
            kind, stream = "xz", stack.enter_context(lzma.LZMAFile(raw))
        elif head[:4] == ZSTD_MAGIC:
            kind, stream = "zstd", stack.enter_context(ZstdFrames(raw))
        if stream is not None:
            raw = io.BufferedReader(Damage(stream, display_name(arg), kind), BUFFER)
        yield raw


class Damage(io.RawIOBase):
    """A decompressed stream whose decompressor's errors become InputErrors naming the input."""

    def __init__(self, stream: io.BufferedIOBase | io.RawIOBase, name: str, kind: str) -> None:
        super().__init__()
        self._stream, self._name, self._kind = stream, name, kind

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self._stream.read(len(buffer))
        except EOFError:
            raise InputError(f"damaged {self._kind} input: it ends early (truncated?)",
                             self._name) from None
        except DECOMPRESSION_ERRORS as exc:
            raise InputError(f"damaged {self._kind} input: {exc}", self._name) from None
        buffer[:len(data)] = data
        return len(data)


class ZstdFrames(io.RawIOBase):
    """Zstandard frames one after another; input that ends inside a frame raises EOFError (the
    library's stream reader returns what it has and says nothing). Input is fed in small
    pieces: what one piece decodes to stays bounded even for a highly compressed frame."""

    PIECE = 1 << 12

    def __init__(self, raw: io.BufferedReader) -> None:
        super().__init__()
        self._raw = raw
        self._codec = zstandard.ZstdDecompressor()
        self._frame = self._codec.decompressobj()
        self._fed = False
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            piece = self._raw.read1(self.PIECE)
            if not piece:
                if self._fed and not self._frame.eof:
                    raise EOFError("a zstd frame ends early")
                return 0
            self._pending = memoryview(self._feed(piece))
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]  # a view: no copy of the rest
        return n

    def _feed(self, piece: bytes) -> bytes:
        out = []
        while piece:
            if self._frame.eof:
                self._frame = self._codec.decompressobj()
            self._fed = True
            out.append(self._frame.decompress(piece))
            piece = self._frame.unused_data if self._frame.eof else b""
        return b"".join(out)


def _open_raw(arg: str, stack: contextlib.ExitStack) -> io.BufferedReader:
    if arg == STDIN:
        stdin = sys.stdin.buffer
        if isinstance(stdin, io.BufferedReader):
            return stdin
        return io.BufferedReader(cast(io.RawIOBase, stdin), BUFFER)
    try:
        return cast(io.BufferedReader, stack.enter_context(open(arg, "rb", buffering=BUFFER)))
    except OSError as exc:
        raise InputError(f"cannot open: {exc.strerror}", arg) from None


def head_of(stream: io.BufferedReader) -> bytes:
    """The first bytes of a stream without consuming them (for format detection)."""
    return bytes(stream.peek(1 << 16))


def first_line_text(head: bytes) -> bytes | None:
    """The first line of `head` that is neither blank nor a `#` comment, or None."""
    for line in head.split(b"\n"):
        stripped = line.strip()
        if stripped and not stripped.startswith(b"#"):
            return stripped
    return None


def is_parquet_file(arg: str) -> bool:
    """Whether `arg` is a Parquet file. A pipe, FIFO, `<(…)` or device is never one (Parquet
    needs seeking) and is not opened here: a stream is read once, by open_input."""
    if arg == STDIN:
        return False
    try:
        if not stat.S_ISREG(os.stat(arg).st_mode):
            return False
        with open(arg, "rb") as fh:
            return fh.read(4) == PARQUET_MAGIC
    except OSError as exc:
        raise InputError(f"cannot open: {exc.strerror}", arg) from None
