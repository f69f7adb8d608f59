"""Open an input named on the command line: a file or `-` (stdin); gzip, zstd, xz transparently."""

from __future__ import annotations

import contextlib
import gzip
import io
import lzma
import os
import stat
import sys
from collections.abc import Iterator
from typing import cast

import zstandard

from tdxray.schema.errors import InputError

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
XZ_MAGIC = b"\xfd7zXZ\x00"
PARQUET_MAGIC = b"PAR1"
BUFFER = 1 << 20
STDIN = "-"
# What reading a damaged compressed stream raises (readers turn it into an InputError).
DECOMPRESSION_ERRORS: tuple[type[Exception], ...] = (EOFError, gzip.BadGzipFile,
                                                     zstandard.ZstdError, lzma.LZMAError)


def display_name(arg: str) -> str:
    """How messages and provenance name an input."""
    return "<stdin>" if arg == STDIN else arg


@contextlib.contextmanager
def open_input(arg: str) -> Iterator[io.BufferedReader]:
    """A buffered binary stream of the (decompressed) input; `peek` shows its first bytes."""
    with contextlib.ExitStack() as stack:
        raw = _open_raw(arg, stack)
        head = raw.peek(6)[:6]
        if head[:2] == GZIP_MAGIC:
            raw = io.BufferedReader(stack.enter_context(gzip.GzipFile(fileobj=raw)), BUFFER)
        elif head[:6] == XZ_MAGIC:
            raw = io.BufferedReader(stack.enter_context(lzma.LZMAFile(raw)), BUFFER)
        elif head[:4] == ZSTD_MAGIC:
            reader = stack.enter_context(zstandard.ZstdDecompressor().stream_reader(raw))
            raw = io.BufferedReader(reader, BUFFER)
        yield raw


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
