"""Write a trace as tdxray JSON Lines v1 (FORMATS.md §1): the header line, then one event a line.

Key order of an event: seq, ts_ns, vcpu, kind, the kind's fields in EXPORT_ORDER (inputs in
register order, then outputs; optional fields only when not null), then the `extra` fields.

Integers: GPAs, sizes, register values, statuses and CR4 values are "0x…" strings (they exceed
2^53); seq, ts_ns, vcpu and the small enumerations (leaf, subfn, level, apic_id, and a mailbox
`value` whose field is `command` or `apic_id`) are JSON integers. A mailbox `wakeup_vector` value
is hex. This is the spelling of the worked examples, which therefore export byte for byte.

The `source` and `line` columns (where a text source's event came from) are not written: they
are provenance of the file read, not part of the event.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import IO, Any

import numpy as np
import pyarrow as pa

from tdxray.schema.errors import InputError
from tdxray.schema.events import KIND_FIELDS
from tdxray.schema.td import TraceHeader

# One order for every kind's fields: inputs in register order, then outputs. Each kind's keys
# come out in this order (EXPORT_ORDER), which is the order of the worked examples.
FIELD_ORDER: tuple[str, ...] = (
    "leaf", "subfn", "gpa", "size", "level", "rcx", "rdx", "r8", "r9", "r10", "r12", "r13",
    "r14", "r15", "status", "r11_out", "resume_gpa", "old", "new", "site", "field", "value",
    "apic_id", "action", "phase", "to_private", "write", "text",
)
EXPORT_ORDER: dict[str, tuple[str, ...]] = {
    kind: tuple(name for name in FIELD_ORDER if name in required + optional)
    for kind, (required, optional) in KIND_FIELDS.items()
}
HEX_OUT = frozenset({
    "gpa", "size", "resume_gpa", "status", "rcx", "rdx", "r8", "r9", "r10", "r12", "r13", "r14",
    "r15", "r11_out", "old", "new",
})
TEXT_OUT = frozenset({"site", "field", "action", "phase", "text"})
BOOL_OUT = frozenset({"to_private", "write"})
INT_MAILBOX_FIELDS = frozenset({"command", "apic_id"})


def recorded_header(header: TraceHeader) -> TraceHeader:
    """The header as the trace came in (FORMATS §1: an export of an ingested trace gives the same
    header): the store's own records of its ingests (provenance "ingest": which files, when,
    which tdxray) stay in the store's metadata. The rest of the provenance is the trace's, and
    is kept: the recorder's keys, and a text source's files, what they observe and their
    losses (a replay's coverage depends on them)."""
    if "ingest" not in header.provenance:
        return header
    provenance = {k: v for k, v in header.provenance.items() if k != "ingest"}
    return replace(header, provenance=provenance)


def write_jsonl(header: TraceHeader, batches: Iterable[pa.RecordBatch], out: IO[str]) -> int:
    """Write the header and every event to `out`; return the number of events written."""
    out.write(header.dumps() + "\n")
    count = 0
    for batch in batches:
        out.writelines(event_lines(batch))
        count += batch.num_rows
    return count


def event_lines(batch: pa.RecordBatch) -> list[str]:
    """One JSON line (with its newline) per event of the batch, built column by column."""
    kinds = _values(batch.column("kind"))
    kind_texts = _values(batch.column("kind"), _text)
    parts = [[f'{{"seq": {seq}, "ts_ns": {ts}, "vcpu": {vcpu}, "kind": {kind}'
              for seq, ts, vcpu, kind in zip(_values(batch.column("seq")),
                                             _values(batch.column("ts_ns")),
                                             _values(batch.column("vcpu")), kind_texts,
                                             strict=True)]]
    for name in FIELD_ORDER:
        if batch.column(name).null_count < batch.num_rows:
            parts.append(_fragments(batch, name))
    if batch.column("extra").null_count < batch.num_rows:
        parts.append(_sparse(batch.column("extra"), lambda text, i: _extra_fragment(text,
                                                                                      kinds[i])))
    return ["".join(pieces) + "}\n" for pieces in zip(*parts, strict=True)]


def _values(array: pa.Array, spell: Callable[[Any], str] | None = None) -> list[Any]:
    """Python values of an array without nulls (fast paths for numbers and dictionaries)."""
    if pa.types.is_dictionary(array.type):
        words = array.dictionary.to_pylist()
        spelled = [spell(w) for w in words] if spell else words
        return [spelled[i] for i in array.indices.to_numpy().tolist()]
    if pa.types.is_integer(array.type):
        return array.to_numpy().tolist()
    return array.to_pylist()


def _sparse(array: pa.Array, spell: Callable[[Any, int], str]) -> list[str]:
    """spell(value, row) where the array has a value, "" elsewhere."""
    if array.null_count == 0:
        return [spell(v, i) for i, v in enumerate(_values(array))]
    out = [""] * len(array)
    rows = np.flatnonzero(array.is_valid().to_numpy(zero_copy_only=False)).tolist()
    for row, value in zip(rows, _values(array.drop_null()), strict=True):
        out[row] = spell(value, row)
    return out


def _fragments(batch: pa.RecordBatch, name: str) -> list[str]:
    """`, "name": value` for each row that has the column, "" for the others."""
    key = f', "{name}": '
    array = batch.column(name)
    if name in HEX_OUT:
        return _sparse(array, lambda v, _: f'{key}"{v:#x}"')
    if name in TEXT_OUT:
        return _sparse(array, lambda v, _: key + _text(v))
    if name in BOOL_OUT:
        return _sparse(array, lambda v, _: key + ("true" if v else "false"))
    if name == "value":
        fields = _sparse(batch.column("field"), lambda v, _: v)
        return _sparse(array, lambda v, i: f"{key}{v}" if fields[i] in INT_MAILBOX_FIELDS
                       else f'{key}"{v:#x}"')
    return _sparse(array, lambda v, _: f"{key}{v}")


def _text(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _extra_fragment(text: str, kind: str) -> str:
    extra = json.loads(text)
    required, optional = KIND_FIELDS.get(kind, ((), ()))
    clash = sorted(set(extra) & {"seq", "ts_ns", "vcpu", "kind", *required, *optional})
    if clash:
        raise InputError(f"an event of kind {kind!r} has extra field {clash[0]!r}, which "
                         "clashes with one of its own fields")
    if not extra:
        return ""
    return ", " + json.dumps(extra, ensure_ascii=False)[1:-1]
