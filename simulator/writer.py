"""Write a simulated trace: Parquet through the store's TraceWriter, or FORMATS.md §1 JSON Lines.

The JSON Lines writer is small and self-contained: a header line, then one event per line with
only its kind's fields, GPAs, registers and statuses as hex strings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa

from tdxray.schema.td import TraceHeader
from tdxray.store.atomic import atomic_path
from tdxray.store.write import TraceWriter

# The fields of each kind, in the order the worked examples write them.
JSONL_FIELDS: dict[str, tuple[str, ...]] = {
    "tdcall": ("leaf", "rcx", "rdx", "r8", "r9", "status"),
    "tdvmcall": ("subfn", "r10", "r12", "r13", "r14", "r15", "status", "r11_out"),
    "map_gpa": ("gpa", "size", "status", "resume_gpa"),
    "accept": ("gpa", "level", "status"),
    "cr4_write": ("old", "new", "site"),
    "mailbox_write": ("field", "value"),
    "mailbox_read": ("field", "value"),
    "cpu": ("apic_id", "action"),
    "kexec": ("phase",),
    "convert": ("gpa", "size", "to_private"),
    "mem_access": ("gpa", "write"),
    "log": ("text",),
}
HEX_FIELDS = frozenset({
    "status", "gpa", "size", "resume_gpa", "rcx", "rdx", "r8", "r9", "r10", "r12", "r13", "r14",
    "r15", "r11_out", "old", "new",
})
HEX_MAILBOX_FIELDS = frozenset({"wakeup_vector"})  # addresses; command and apic_id stay decimal


def event_json(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: row[k] for k in ("seq", "ts_ns", "vcpu", "kind")}
    for name in JSONL_FIELDS[row["kind"]]:
        value = row.get(name)
        if value is None:
            continue
        if name in HEX_FIELDS or (name == "value" and row.get("field") in HEX_MAILBOX_FIELDS):
            value = hex(value)
        out[name] = value
    return out


def write_jsonl(path: Path, header: TraceHeader, batches: Iterable[pa.RecordBatch]) -> int:
    rows = 0
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8", newline="\n") as out:
        out.write(header.dumps() + "\n")
        for batch in batches:
            for row in batch.to_pylist():
                out.write(json.dumps(event_json(row), separators=(", ", ": ")) + "\n")
            rows += batch.num_rows
    return rows


def write_parquet(path: Path, header: TraceHeader, batches: Iterable[pa.RecordBatch]) -> int:
    with TraceWriter(path, header) as writer:
        for batch in batches:
            writer.write_batch(batch)
        return writer.rows


def write_trace(path: Path, header: TraceHeader, batches: Iterable[pa.RecordBatch]) -> int:
    """By extension: `.parquet` or `.jsonl`."""
    if path.suffix == ".parquet":
        return write_parquet(path, header, batches)
    if path.suffix == ".jsonl":
        return write_jsonl(path, header, batches)
    raise ValueError(f"{path}: output must end in .parquet or .jsonl")
