"""The `losses` table: one row per buffer marker of a trace (events its recorder lost), from
the trace headers (schema/losses.py). Markers are no events: they are here, not in `events`."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from tdxray.analyses.sql.traces import TraceEntry
from tdxray.schema.losses import losses_of

LOSSES_SCHEMA = pa.schema([
    ("trace_id", pa.string()), ("source", pa.string()), ("line", pa.uint64()),
    ("cpu", pa.int32()), ("lost", pa.uint64()), ("after_seq", pa.uint64()),
    ("marker", pa.string()),
])


def losses_table(traces: Sequence[TraceEntry]) -> pa.Table:
    """`cpu` NULL: the whole buffer (a `trace` header's count); `lost` NULL: the kernel does not
    say how many; `after_seq` NULL: before the trace's first event."""
    rows = [{"trace_id": t.trace_id, "source": loss.source, "line": loss.line, "cpu": loss.cpu,
             "lost": loss.lost, "after_seq": loss.after_seq, "marker": loss.marker}
            for t in traces for loss in losses_of(t.header)]
    return pa.Table.from_pylist(rows, schema=LOSSES_SCHEMA)
