"""Read ftrace text (tracefs `trace`/`trace_pipe`, `trace-cmd report`) into event batches.

Chunks of lines are scanned by compiled code on worker threads (scan, bulk): the
host events (kvm_exit, kvm_entry, kvm_page_fault, kvm_vm_set_mem_attributes) and events no
decoder looks at never go through Python one line at a time. Guest probe lines, and lines the
scan does not take, are decoded per line. Events come out in line order, without seq (the
merge numbers them), with their line number and source.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO

import numpy as np
import pyarrow as pa

from tdxray.ingest.columns import ColumnBuilder
from tdxray.ingest.ftrace.bulk import bulk_rows
from tdxray.ingest.ftrace.kvm import FORMATS as KVM_FORMATS
from tdxray.ingest.ftrace.kvm import Event, FieldsError, kvm_event
from tdxray.ingest.ftrace.prefix import parse_prefix
from tdxray.ingest.kprobe.decode import GuestDecoder
from tdxray.ingest.kprobe.recipe import PROBE_BY_EVENT
from tdxray.ingest.text.chunks import Chunk, read_chunks, split_lines
from tdxray.ingest.text.prefetch import prefetched
from tdxray.ingest.text.source import SourceContext, interleaved
from tdxray.schema.losses import Loss

WORKERS = 2
AHEAD = 6  # chunks in flight: the workers keep going while the writer compresses a row group
READ_AHEAD = 2  # chunks read (and decompressed) ahead on the reading thread


@dataclass(frozen=True)
class Rest:
    """A line left to the per-line decoders."""

    line: int
    name: str
    fields: str
    cpu: int
    ts: int
    cut: bool  # the input's unterminated last line


@dataclass(frozen=True)
class Parsed:
    fast: pa.RecordBatch  # the events decoded in bulk
    rest: list[Rest]
    bad: list[tuple[int, str, bool]]  # (line, why, the unterminated last line)
    lost: list[tuple[int, int, int | None, str]]  # (line, CPU or -1, count, marker): no events


class FtraceReader:
    def __init__(self, source: str, ctx: SourceContext) -> None:
        self.source = source
        self.ctx = ctx
        self.guest = GuestDecoder(ctx.td)
        self.vcpu_of = {apic: i for i, apic in enumerate(ctx.td.apic_ids)}

    def batches(self, stream: IO[bytes]) -> Iterator[pa.RecordBatch]:
        """Chunks are parsed in bulk on worker threads (numpy and Arrow release the GIL),
        a few ahead; the per-line decoding and all state stay on this thread, in order."""
        with ThreadPoolExecutor(WORKERS) as pool:
            ahead: deque[Future[Parsed]] = deque()
            for chunk in prefetched(read_chunks(stream, self.source), READ_AHEAD):
                ahead.append(pool.submit(self._parse, chunk))
                if len(ahead) > AHEAD:
                    yield from self._finish(ahead.popleft().result())
            while ahead:
                yield from self._finish(ahead.popleft().result())
        yield from unfinished_batches(self.guest, self.source)
        self.ctx.bad.finish()

    def _parse(self, chunk: Chunk) -> Parsed:
        """On a worker: the bulk batch, and what the per-line decoders still need (so the
        chunk's text and scan arrays are freed here, not held while waiting in line)."""
        lines = split_lines(chunk)
        prefix = parse_prefix(lines)
        fast, done = bulk_rows(lines, prefix, self.source, self.vcpu_of, self.ctx.guest)
        last = len(lines) - 1
        rest = []
        for j in np.flatnonzero(~done).tolist():
            row = int(prefix.rows[j])
            fields = chunk.data[int(prefix.fields[j]):int(lines.ends[row])].decode()
            rest.append(Rest(lines.number(row), prefix.names[int(prefix.name_id[j])], fields,
                             int(prefix.cpu[j]), int(prefix.ts_ns[j]), chunk.tail and row == last))
        bad = [(lines.number(i), why, chunk.tail and i == last) for i, why in prefix.bad]
        lost = [(lines.number(i), cpu, n, text) for i, cpu, n, text in prefix.lost]
        return Parsed(fast, rest, bad, lost)

    def _finish(self, parsed: Parsed) -> list[pa.RecordBatch]:
        """On this thread, in line order: the lines the vectorised pass found bad and the
        per-line decoders (they keep state), so that the first bad line named is the file's
        first, whichever pass found it."""
        for number, cpu, count, marker in parsed.lost:
            self.ctx.losses.append(Loss(self.source, number, cpu if cpu >= 0 else None, count,
                                        None, marker))
        bad = deque(sorted(parsed.bad))
        if not parsed.rest:
            for number, why, cut in bad:
                self.ctx.bad.bad(number, why, cut)
            return [parsed.fast] if parsed.fast.num_rows else []
        builder = ColumnBuilder(self.source)
        for r in parsed.rest:
            while bad and bad[0][0] < r.line:
                self.ctx.bad.bad(*bad.popleft())
            try:
                events = self._decode(r.name, r.fields, r.cpu, r.ts, r.line)
            except FieldsError as exc:
                self.ctx.bad.bad(r.line, str(exc), r.cut)
                continue
            for event in events:
                add_event(builder, event, r.ts, r.line)
        for number, why, cut in bad:
            self.ctx.bad.bad(number, why, cut)
        return interleaved(parsed.fast, builder.take())

    def _decode(self, name: str, fields: str, cpu: int, ts: int, line: int) -> list[Event]:
        if name in PROBE_BY_EVENT:
            return self.guest.decode(name, fields, cpu, ts, line)
        event = kvm_event(name, fields, self.vcpu_of)
        if self.ctx.guest and name not in KVM_FORMATS and cpu >= 0:  # the guest CPU's event
            return [Event(event.kind, cpu, event.values)]
        return [event]


def add_event(builder: ColumnBuilder, event: Event, ts: int, line: int) -> None:
    for name, value in event.values.items():
        if value is not None:
            builder.add(name, value)
    builder.end_row(0, ts, event.vcpu, event.kind, line)


def unfinished_batches(guest: GuestDecoder, source: str) -> Iterator[pa.RecordBatch]:
    """At the end of a guest source: the events of calls that never returned (kprobe.decode)."""
    unfinished = guest.unfinished()
    if unfinished:
        builder = ColumnBuilder(source)
        for event, ts, line in unfinished:
            add_event(builder, event, ts, line)
        yield builder.take()


def read_ftrace(stream: IO[bytes], source: str, ctx: SourceContext) -> Iterator[pa.RecordBatch]:
    return FtraceReader(source, ctx).batches(stream)
