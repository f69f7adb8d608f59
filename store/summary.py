"""What a stored trace holds, for `tdxray info`: counts, time span, sizes (columnar, no loops)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from tdxray.store.read import TraceFile


def trace_summary(trace: TraceFile) -> dict[str, Any]:
    """A JSON-ready summary of one trace file."""
    header = trace.header
    td = header.td
    size = trace.path.stat().st_size
    rows = trace.num_rows
    tally = _Tally()
    for batch in trace.iter_batches(["kind", "vcpu", "ts_ns"]):
        tally.add(batch)
    return {
        "trace_id": header.trace_id,
        "path": str(trace.path),
        "schema_version": trace.schema_version,
        "td": {
            **td.to_json(),
            "vcpus": td.vcpus,
            "ram_bytes": td.ram_bytes,
            "shared_bit": hex(td.shared_bit),
        },
        "events": rows,
        "events_by_kind": _by_count(tally.kinds),
        "events_by_vcpu": {str(k): v for k, v in sorted(tally.vcpus.items())},
        "time": tally.time_span(),
        "row_groups": trace.num_row_groups,
        "file_bytes": size,
        "bytes_per_event": round(size / rows, 2) if rows else None,
        "provenance": header.provenance,
        "expected_rules": list(header.expected_rules)
        if header.expected_rules is not None else None,
        "header_extra": header.extra,
    }


class _Tally:
    """Events per kind and per vCPU, and the time span, accumulated batch by batch."""

    def __init__(self) -> None:
        self.kinds: dict[str, int] = {}
        self.vcpus: dict[int, int] = {}
        self.first: int | None = None
        self.last: int | None = None
        self.low: int | None = None
        self.high: int | None = None

    def add(self, batch: pa.RecordBatch) -> None:
        if not batch.num_rows:
            return
        _count_into(self.kinds, batch.column("kind").dictionary_decode())
        _count_into(self.vcpus, batch.column("vcpu"))
        ts = batch.column("ts_ns")
        if self.first is None:
            self.first = ts[0].as_py()
        self.last = ts[-1].as_py()
        bounds = pc.min_max(ts).as_py()
        self.low = bounds["min"] if self.low is None else min(self.low, bounds["min"])
        self.high = bounds["max"] if self.high is None else max(self.high, bounds["max"])

    def time_span(self) -> dict[str, int | None]:
        duration = self.high - self.low if self.high is not None and self.low is not None else None
        return {"first_ns": self.first, "last_ns": self.last, "min_ns": self.low,
                "max_ns": self.high, "duration_ns": duration}


def _count_into(totals: dict[Any, int], array: pa.Array) -> None:
    for item in pc.value_counts(array).to_pylist():
        totals[item["values"]] = totals.get(item["values"], 0) + item["counts"]


def _by_count(totals: dict[Any, int]) -> dict[Any, int]:
    """Most frequent first, ties by value."""
    return dict(sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])))
