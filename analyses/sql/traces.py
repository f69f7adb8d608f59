"""The `traces` table: one row per trace of the store, from the store's manifest when it matches
the trace files (store/manifest.consistent), else from the headers in the files' metadata."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from tdxray.schema.td import TdConfig, TraceHeader
from tdxray.store.layout import Store
from tdxray.store.manifest import MANIFEST_SCHEMA, consistent
from tdxray.store.read import TraceFile, open_trace

TRACES_SCHEMA = pa.schema([
    pa.field("trace_id", pa.string()),
    pa.field("gpaw", pa.int32()),
    pa.field("shared_bit", pa.uint64()),
    pa.field("vcpus", pa.int32()),
    pa.field("apic_ids", pa.list_(pa.uint32())),
    pa.field("ram", pa.list_(pa.struct([("start", pa.uint64()), ("end", pa.uint64())]))),
    pa.field("ram_bytes", pa.uint64()),
    pa.field("memory", pa.string()),
    pa.field("mailbox_version", pa.int32()),
    pa.field("mailbox_gpa", pa.uint64()),
    pa.field("reset_vector", pa.uint64()),
    pa.field("attributes", pa.uint64()),
    pa.field("xfam", pa.uint64()),
    pa.field("events", pa.uint64()),
    pa.field("expected_rules", pa.list_(pa.string())),
    pa.field("provenance", pa.string()),
    pa.field("file", pa.string()),
])


@dataclass(frozen=True)
class TraceEntry:
    """What a session needs of one trace of the store: its file, header and event count."""

    trace_id: str  # the store's name for the trace (its file name)
    path: Path
    header: TraceHeader
    events: int


def store_traces(store: Store, sizes: dict[str, int], manifest: pa.Table
                 ) -> tuple[list[TraceEntry], bool]:
    """Every trace of the store (`sizes`: its trace files, from one listing), and whether the
    merged `manifest` gave them (no trace file opened); otherwise each file is opened and
    checked (store/read.open_trace)."""
    trusted = consistent(str(store.root), manifest, sizes)
    if trusted is None:
        return [_entry(tid, open_trace(store.trace_path(tid))) for tid in sizes], False
    parsed: dict[str, TdConfig] = {}  # a fleet's traces share a few TD configurations
    out = []
    for r in trusted.select(["trace_id", "events", "header", "td_config_hash"]).to_pylist():
        obj = json.loads(r["header"])
        key = r["td_config_hash"] or json.dumps(obj.get("td"), sort_keys=True)
        header = TraceHeader.from_json(obj, parsed.get(key))
        parsed.setdefault(key, header.td)
        out.append(TraceEntry(r["trace_id"], store.trace_path(r["trace_id"]), header,
                              r["events"]))
    return out, True


def _entry(trace_id: str, trace: TraceFile) -> TraceEntry:
    return TraceEntry(trace_id, trace.path, trace.header, trace.num_rows)


def _td_row(td: TdConfig) -> dict[str, object]:
    box = td.mailbox
    return {
        "gpaw": td.gpaw, "shared_bit": td.shared_bit, "vcpus": td.vcpus,
        "apic_ids": list(td.apic_ids), "ram": [{"start": s, "end": e} for s, e in td.ram],
        "ram_bytes": td.ram_bytes, "memory": td.memory,
        "mailbox_version": box.version if box else None, "mailbox_gpa": box.gpa if box else None,
        "reset_vector": box.reset_vector if box else None, "attributes": td.attributes,
        "xfam": td.xfam,
    }


def _row(trace: TraceEntry, td: dict[str, object]) -> dict[str, object]:
    expected = trace.header.expected_rules
    return {
        "trace_id": trace.trace_id, **td, "events": trace.events,
        "expected_rules": list(expected) if expected is not None else None,
        "provenance": json.dumps(trace.header.provenance, sort_keys=True),
        "file": trace.path.name,
    }


MANIFEST_COLUMNS = ("kernel_version", "td_config_hash", "ingested_at", "replay_stamp")


def traces_table(traces: Sequence[TraceEntry], manifest: pa.Table | None = None) -> pa.Table:
    """The rows of the `traces` table (trace_id is the store's name for the trace), with the
    store's merged manifest's kernel version, TD config hash, ingest time and replay stamp
    (NULL for a trace the manifest does not list)."""
    td_rows: dict[int, dict[str, object]] = {}  # by TdConfig identity: shared ones once
    rows = [_row(t, td_rows.setdefault(id(t.header.td), _td_row(t.header.td))) for t in traces]
    table = pa.Table.from_pylist(rows, schema=TRACES_SCHEMA)
    manifest = MANIFEST_SCHEMA.empty_table() if manifest is None else manifest
    by_id = {r["trace_id"]: r for r in manifest.select(["trace_id", *MANIFEST_COLUMNS])
             .to_pylist()}
    ids = table.column("trace_id").to_pylist()
    for name in MANIFEST_COLUMNS:
        values = [by_id.get(tid, {}).get(name) for tid in ids]
        table = table.append_column(MANIFEST_SCHEMA.field(name),
                                    pa.array(values, MANIFEST_SCHEMA.field(name).type))
    return table
