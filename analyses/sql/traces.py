"""The `traces` table: one row per trace of the store, from the store's manifest when it matches
the trace files (store/manifest.consistent), else from the headers in the files' metadata."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from tdxray.schema.td import TRACE_ID_RE, TdConfig, TraceHeader
from tdxray.store.layout import TRACE_SUFFIX, Store
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
    headers: dict[str, TraceHeader] = {}  # and traces copied or re-ingested, their headers
    root = str(store.root)
    out = []
    for tid, events, text, td_hash in zip(*(trusted.column(n).to_pylist() for n in (
            "trace_id", "events", "header", "td_config_hash")), strict=True):
        if not TRACE_ID_RE.match(tid):
            store.trace_path(tid)  # its error: a file of the store with a name no trace has
        header = headers.get(text)
        if header is None:
            obj = json.loads(text)
            key = td_hash or json.dumps(obj.get("td"), sort_keys=True)
            header = headers[text] = TraceHeader.from_json(obj, parsed.get(key))
            parsed.setdefault(key, header.td)
        out.append(TraceEntry(tid, Path(f"{root}/{tid}{TRACE_SUFFIX}"), header, events))
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


MANIFEST_COLUMNS = ("kernel_version", "td_config_hash", "ingested_at", "replay_stamp")
_PER_TRACE = ("trace_id", "events", "file")
_HEADER_SCHEMA = pa.schema([f for f in TRACES_SCHEMA if f.name not in _PER_TRACE])
_TD_SCHEMA = pa.schema([f for f in _HEADER_SCHEMA if f.name not in ("expected_rules",
                                                                   "provenance")])


def traces_table(traces: Sequence[TraceEntry], manifest: pa.Table | None = None) -> pa.Table:
    """The rows of the `traces` table (trace_id is the store's name for the trace), with the
    store's merged manifest's kernel version, TD config hash, ingest time and replay stamp
    (NULL for a trace the manifest does not list). Built column by column: the TD
    configuration's columns once per distinct configuration, a header's own (expected rules,
    provenance) once per distinct header, then taken for every trace."""
    index: dict[int, int] = {}  # by TraceHeader identity: shared ones once
    headers: list[TraceHeader] = []
    take = []
    for t in traces:
        i = index.get(id(t.header))
        if i is None:
            i = index[id(t.header)] = len(headers)
            headers.append(t.header)
        take.append(i)
    per_header = _header_columns(headers).take(pa.array(take, pa.int64()))
    ids = [t.trace_id for t in traces]
    per_trace = {"trace_id": pa.array(ids, pa.string()),
                 "events": pa.array([t.events for t in traces], pa.uint64()),
                 "file": pa.array([t.path.name for t in traces], pa.string())}
    table = pa.table([per_trace[f.name] if f.name in per_trace else per_header.column(f.name)
                      for f in TRACES_SCHEMA], schema=TRACES_SCHEMA)
    manifest = MANIFEST_SCHEMA.empty_table() if manifest is None else manifest
    if manifest.column("trace_id").to_pylist() == ids:  # the manifest gave the traces
        return pa.table([*table.columns, *(manifest.column(n) for n in MANIFEST_COLUMNS)],
                        schema=_WITH_MANIFEST)
    by_id = {r["trace_id"]: r for r in manifest.select(["trace_id", *MANIFEST_COLUMNS])
             .to_pylist()}
    for name in MANIFEST_COLUMNS:
        values = [by_id.get(tid, {}).get(name) for tid in ids]
        table = table.append_column(MANIFEST_SCHEMA.field(name),
                                    pa.array(values, MANIFEST_SCHEMA.field(name).type))
    return table


def _header_columns(headers: Sequence[TraceHeader]) -> pa.Table:
    """One row per header: its TD configuration's columns (each configuration's row built once:
    a fleet's traces share a few), its expected rules and its provenance (sorted-key JSON)."""
    by_td: dict[int, int] = {}
    td_rows: list[dict[str, object]] = []
    td_take = []
    for header in headers:
        j = by_td.get(id(header.td))
        if j is None:
            j = by_td[id(header.td)] = len(td_rows)
            td_rows.append(_td_row(header.td))
        td_take.append(j)
    tds = pa.Table.from_pylist(td_rows, schema=_TD_SCHEMA).take(pa.array(td_take, pa.int64()))
    expected = [list(h.expected_rules) if h.expected_rules is not None else None
                for h in headers]
    provenance = [json.dumps(h.provenance, sort_keys=True) for h in headers]
    return pa.table([*tds.columns,
                     pa.array(expected, _HEADER_SCHEMA.field("expected_rules").type),
                     pa.array(provenance, pa.string())], schema=_HEADER_SCHEMA)


_WITH_MANIFEST = pa.schema([*TRACES_SCHEMA, *(MANIFEST_SCHEMA.field(n) for n in MANIFEST_COLUMNS)])
