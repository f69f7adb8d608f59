"""Input formats by name, detection from content, and one entry point that reads traces.

A stream format (JSONL today; ftrace, QEMU and console logs later) registers a sniffer that looks
at the first bytes and a reader that turns one stream into one TraceInput. Parquet is read from
its path (it needs to seek) and is recognised by its magic bytes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO

import pyarrow as pa

from tdxray.ingest.bad_lines import Warn
from tdxray.ingest.inputs import (
    display_name,
    first_line_text,
    head_of,
    is_parquet_file,
    open_input,
)
from tdxray.ingest.text.sources import SOURCE_FORMATS, detect_source_format
from tdxray.ingest.text.trace import OpenSource, TextOptions, text_batches, text_header
from tdxray.schema.errors import InputError
from tdxray.schema.losses import Loss
from tdxray.schema.td import TraceHeader
from tdxray.store.read import open_trace

AUTO = "auto"
PARQUET = "parquet"


@dataclass
class TraceInput:
    """One trace arriving: its header and its events (consume them before the next trace)."""

    header: TraceHeader
    batches: Iterator[pa.RecordBatch]
    sources: tuple[str, ...]
    format: str
    # buffer markers' losses, known once `batches` is consumed: the writer adds them to the
    # header (schema/losses.py); a JSONL or Parquet input's are in its header already
    losses: list[Loss] = field(default_factory=list)


@dataclass(frozen=True)
class StreamFormat:
    name: str
    sniff: Callable[[bytes], bool]
    read: Callable[[IO[bytes], str, Warn], TraceInput]


def _sniff_jsonl(head: bytes) -> bool:
    line = first_line_text(head)
    return line is not None and line.startswith(b"{")


def _read_jsonl(stream: IO[bytes], source: str, warn: Warn) -> TraceInput:
    from tdxray.ingest.jsonl.reader import JsonlReader  # its fast path pulls in pyarrow.compute

    reader = JsonlReader(stream, source, warn)
    return TraceInput(reader.header, reader.batches(), (source,), "jsonl")


STREAM_FORMATS: dict[str, StreamFormat] = {
    "jsonl": StreamFormat("jsonl", _sniff_jsonl, _read_jsonl),
}
FORMAT_NAMES: tuple[str, ...] = (AUTO, *STREAM_FORMATS, PARQUET, *SOURCE_FORMATS)


def read_traces(args: Sequence[str], fmt: str, warn: Warn, options: TextOptions | None = None,
                formats: dict[str, str] | None = None) -> Generator[TraceInput, None, None]:
    """The traces in the named inputs: one per JSONL or Parquet input, in order, then one
    trace merged from all the text sources (ftrace, QEMU log, console) of one TD.

    `formats` forces the format of single inputs (by argument); `fmt` that of the others.
    """
    options = options or TextOptions()
    with contextlib.ExitStack() as stack:
        texts: list[OpenSource] = []
        for arg in args:
            name = (formats or {}).get(arg, fmt)
            if name == PARQUET or (name == AUTO and is_parquet_file(arg)):
                yield _read_parquet(arg)
                continue
            stream = stack.enter_context(open_input(arg))
            source = display_name(arg)
            if name == AUTO:
                name = detect_stream_format(head_of(stream), source)
            if name in STREAM_FORMATS:
                yield STREAM_FORMATS[name].read(stream, source, warn)
            else:
                texts.append(OpenSource(arg, source, name, stream))
        if texts:
            header = text_header(texts, options, warn)
            losses: list[Loss] = []
            yield TraceInput(header, text_batches(texts, header, options, warn, losses),
                             tuple(t.name for t in texts), "+".join(t.format for t in texts),
                             losses)


def detect_stream_format(head: bytes, source: str) -> str:
    for name, stream_format in STREAM_FORMATS.items():
        if stream_format.sniff(head):
            return name
    if not head.strip():
        raise InputError("missing header: the input is empty", source)
    text_format = detect_source_format(head, source)
    if text_format is not None:
        return text_format
    raise InputError("cannot tell the format from the content (a JSONL trace starts with "
                     f"a {{\"tdxray\": 1, …}} line); give --format ({', '.join(FORMAT_NAMES)})",
                     source, 1)


def _read_parquet(arg: str) -> TraceInput:
    if arg == "-":
        raise InputError("a Parquet trace cannot be read from stdin: name the file", "<stdin>")
    trace = open_trace(arg)
    return TraceInput(trace.header, trace.iter_batches(), (arg,), PARQUET)
