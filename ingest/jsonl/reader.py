"""Read tdxray JSON Lines v1 (FORMATS.md §1): the header, then events in RecordBatches.

Streams: memory is bounded by one batch, whatever the length of the file. Every line is checked;
anything unusable is an InputError naming the file, the line and the field. Events go through
the fast column path (jsonl_fast); when it finds a problem, the batch is re-read line by line
(jsonl_event.check_lines) to report the first bad line.
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson
import pyarrow as pa

from tdxray.ingest.fields import FieldError
from tdxray.ingest.inputs import DECOMPRESSION_ERRORS
from tdxray.ingest.jsonl.ahead import ParseAhead
from tdxray.ingest.jsonl.event import check_lines, exact
from tdxray.ingest.jsonl.fast import BulkInvalid, FastColumns
from tdxray.ingest.jsonl.table import CHUNK_BYTES, SMALL_BYTES, Parsed, block_batch, plain_table
from tdxray.schema.errors import InputError
from tdxray.schema.td import HeaderError, TraceHeader

BATCH_ROWS = 1 << 12  # small enough that one batch of parsed lines stays in cache
BLOCK_BYTES = 1 << 20  # one block for pyarrow's JSON reader (about 8,000 lines of a trace)
# blocks parsed at once on threads, ahead of the one converted: the parse is the larger half of
# the work (pyarrow ~0.9 s per 1e6 lines of an export against ~0.6 s of conversion)
PARSE_THREADS = 2
# blocks read before the compiled scan (jsonl.scanned) is loaded: numba costs ~0.5 s CPU and
# ~125 MB to import and load its kernels, which a small trace never pays
SCAN_AFTER_BLOCKS = 4
SPLIT_BYTES = 1 << 15  # a block that is not plain is halved down to this, then read by line

Warn = Callable[[str], None]


@dataclass(frozen=True)
class Malformed:
    """A line that is not JSON (reported once the lines before it are checked)."""

    error: str


class JsonlReader:
    """One JSONL trace. The header is read on construction; `batches()` yields the events."""

    def __init__(self, stream: IO[bytes], source: str, warn: Warn,
                 batch_rows: int = BATCH_ROWS, record_source: bool = True,
                 block_bytes: int = BLOCK_BYTES) -> None:
        self.source = source
        self._stream = stream
        self._block_bytes = block_bytes if hasattr(stream, "read") else 0
        self._warn = warn
        self._batch_rows = batch_rows
        self._record_source = record_source
        self._last_seq: int | None = None
        self._parsed: Callable[[bytes], Parsed] = plain_table
        self.line_count = 0
        self._content_iter = self._content(enumerate(stream, 1))
        self.header = self._read_header()

    def _content(self, lines: Iterator[tuple[int, bytes]]
                 ) -> Iterator[tuple[int, bytes, Any]]:
        """(line number, stripped line, parsed JSON or Malformed) of each line with content."""
        try:
            yield from self._parsed_lines(lines)
        except DECOMPRESSION_ERRORS as exc:
            raise InputError(f"cannot decompress: {exc}", self.source,
                             self.line_count + 1) from exc

    def _parsed_lines(self, lines: Iterator[tuple[int, bytes]]
                      ) -> Iterator[tuple[int, bytes, Any]]:
        for number, raw in lines:
            self.line_count = number
            stripped = raw.strip()
            if not stripped or stripped[:1] == b"#":
                continue
            try:
                obj = orjson.loads(stripped)
            except orjson.JSONDecodeError as exc:
                if not raw.endswith(b"\n"):
                    self._warn(f"{self.source}:{number}: incomplete last line skipped "
                               "(no newline, does not parse)")
                    return
                obj = Malformed(str(exc))
            yield number, stripped, obj

    def _read_header(self) -> TraceHeader:
        first = next(self._content_iter, None)
        if first is None:
            raise InputError("missing header: the input holds no JSON line", self.source)
        number, raw, obj = first
        if isinstance(obj, Malformed):
            raise InputError(f"malformed JSON: {obj.error}", self.source, number)
        try:
            return TraceHeader.from_json(exact(raw, obj))
        except (HeaderError, FieldError) as exc:  # FieldError: nested too deeply
            raise InputError(str(exc), self.source, number) from None

    def batches(self) -> Iterator[pa.RecordBatch]:
        """The events: plain blocks column at a time (jsonl.table), any other line by line."""
        if self._block_bytes:
            yield from self._blocks()
        yield from self._line_batches(self._content_iter)

    def _blocks(self) -> Iterator[pa.RecordBatch]:
        """Whole-line blocks of the stream; what is left at the end (no newline) stays.
        Each block's parse starts on a thread PARSE_THREADS blocks before it is converted."""
        source = self.source if self._record_source else None
        ahead = ParseAhead(PARSE_THREADS)
        self._parsed = ahead.table
        pending = b""
        started: deque[bytes] = deque()
        blocks = 0
        try:
            while True:
                if blocks == SCAN_AFTER_BLOCKS:
                    ahead.load_scan()
                blocks += 1
                try:
                    chunk = self._stream.read(self._block_bytes)
                except DECOMPRESSION_ERRORS as exc:
                    raise InputError(f"cannot decompress: {exc}", self.source,
                                     self.line_count + 1) from exc
                if not chunk:
                    break
                cut = chunk.rfind(b"\n") + 1
                if not cut:
                    pending += chunk
                    continue
                # one copy: the line left over from the last chunk and this chunk's whole lines
                block, pending = pending + memoryview(chunk)[:cut], chunk[cut:]
                ahead.start(block)
                started.append(block)
                if len(started) > PARSE_THREADS:
                    yield from self._block_batches(started.popleft(), source)
            while started:
                yield from self._block_batches(started.popleft(), source)
        finally:
            ahead.close()
        self._content_iter = self._content(enumerate(io.BytesIO(pending), self.line_count + 1))

    def _block_batches(self, block: bytes, source: str | None) -> Iterator[pa.RecordBatch]:
        """One block column at a time; if it is not plain, its pieces of CHUNK_BYTES (a big
        block) or its halves, down to SPLIT_BYTES, then line by line (a column holding both
        numbers and "0x…" strings, as a mailbox `value` does around a kexec, is not plain: the
        pieces and halves keep the rest fast)."""
        first = self.line_count + 1
        batch = block_batch(block, first, source, self._last_seq, self._parsed)
        if batch is not None:
            self.line_count += batch.num_rows
            self._last_seq = batch.column("seq")[-1].as_py()
            yield batch
            return
        pieces = list(_pieces(block, CHUNK_BYTES)) if len(block) > SMALL_BYTES else []
        if len(pieces) > 1:  # a mixed column in one place: the rest stays in blocks
            for piece in pieces:
                yield from self._block_batches(piece, source)
            return
        half = block.find(b"\n", len(block) // 2) + 1
        if len(block) <= SPLIT_BYTES or half in (0, len(block)):
            yield from self._line_batches(self._content(enumerate(io.BytesIO(block), first)))
            return
        yield from self._block_batches(block[:half], source)
        yield from self._block_batches(block[half:], source)

    def _line_batches(self, content: Iterator[tuple[int, bytes, Any]]
                      ) -> Iterator[pa.RecordBatch]:
        columns = FastColumns(self.source if self._record_source else None)
        for number, raw, obj in content:
            if not columns.add(number, raw, obj):
                check_lines([*columns.lines, (number, raw)], self.source, self._last_seq)
                raise _disagree()
            if len(columns) >= self._batch_rows:
                yield self._take(columns)
        if len(columns):
            yield self._take(columns)

    def _take(self, columns: FastColumns) -> pa.RecordBatch:
        try:
            batch = columns.take(self._last_seq)
        except BulkInvalid:
            check_lines(columns.lines, self.source, self._last_seq)
            raise _disagree() from None
        self._last_seq = batch.column("seq")[-1].as_py()
        columns.reset()
        return batch


def _pieces(block: bytes, size: int) -> Iterator[bytes]:
    """Whole lines of `block` about `size` bytes at a time."""
    start = 0
    while start < len(block):
        end = block.find(b"\n", start + size) + 1 or len(block)
        yield block[start:end]
        start = end


def _disagree() -> AssertionError:
    return AssertionError("the fast and the strict JSONL readers disagree on a line")
