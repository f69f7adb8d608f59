"""The fast path of the JSONL reader: gather raw JSON values per column, convert whole columns.

Per line it only sorts values into columns; types, ranges, hex strings, enumerations and the
checks across fields run once per batch in Arrow and C-level loops. Any failure raises
BulkInvalid, and the reader re-reads the batch with the strict per-line reader (jsonl_event),
which names the first bad line. The two must accept exactly the same input (tests check it).
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tdxray.ingest.columns import SPARSE, assemble, dictionary, nulls, place, source_column
from tdxray.ingest.jsonl.event import COMMON_KEYS, KNOWN_KEYS, has_float, loads_exact
from tdxray.schema.events import EVENT_SCHEMA, KIND_FIELDS
from tdxray.schema.rules import ACROSS_RULES, ENUMS

HEX_RUN = re.compile(r"0[xX][0-9a-fA-F]+(?:\n0[xX][0-9a-fA-F]+)*")
ARROW_TYPES = {name: EVENT_SCHEMA.field(name).type for name in EVENT_SCHEMA.names}
ENUM_SETS = {name: frozenset(values) for name, values in ENUMS.items()}
CONVERSION_ERRORS = (ValueError, TypeError, ArithmeticError, pa.ArrowException)


class BulkInvalid(Exception):
    """Something in the batch is not valid: re-read it line by line to say what and where."""


class FastColumns:
    """The parsed lines of one batch; `take` turns them into a checked RecordBatch."""

    def __init__(self, source: str | None) -> None:
        self.source = source
        self.reset()

    def reset(self) -> None:
        self.lines: list[tuple[int, bytes]] = []
        self.objs: list[dict[str, Any]] = []

    def __len__(self) -> int:
        return len(self.lines)

    def add(self, number: int, raw: bytes, obj: Any) -> bool:
        """Keep one parsed line; False if it is surely invalid (not an object, no kind)."""
        if type(obj) is not dict or type(obj.get("kind")) is not str:
            return False
        self.objs.append(obj)
        self.lines.append((number, raw))
        return True

    def take(self, last_seq: int | None) -> pa.RecordBatch:
        """The batch, every value checked; BulkInvalid if anything is wrong."""
        try:
            return self._convert(last_seq)
        except CONVERSION_ERRORS as exc:
            raise BulkInvalid(str(exc)) from exc

    def _convert(self, last_seq: int | None) -> pa.RecordBatch:
        objs = self.objs
        n = len(objs)
        arrays = {name: dense_column(name, [o.get(name) for o in objs]) for name in COMMON_KEYS}
        if any(arrays[name].null_count for name in COMMON_KEYS):
            raise BulkInvalid("a common field is missing")
        if pc.min(arrays["ts_ns"]).as_py() < 0:
            raise BulkInvalid("negative ts_ns")
        check_seq(arrays["seq"], last_seq)
        columns: dict[str, tuple[list[int], list[Any]]] = {name: ([], []) for name in SPARSE}
        for kind, rows in _rows_by_kind(objs).items():
            self._gather_kind(kind, rows, columns)
        for name in SPARSE:
            rows, values = columns[name]
            if rows:
                arrays[name] = place(rows, dense_column(name, values), n)
            else:
                arrays[name] = nulls(n, ARROW_TYPES[name])
        check_across_fields(arrays)
        arrays["kind"] = arrays["kind"].dictionary_encode()
        arrays["line"] = pa.array([number for number, _ in self.lines], pa.uint64())
        arrays["source"] = source_column(self.source, n)
        return assemble(arrays)

    def _gather_kind(self, kind: str, rows: list[int],
                     columns: dict[str, tuple[list[int], list[Any]]]) -> None:
        """Append the fields of this kind's rows to `columns` (rows ascending per column)."""
        objs = [self.objs[i] for i in rows]
        present = np.zeros(len(rows), np.int64)
        required, optional = KIND_FIELDS.get(kind, ((), ()))
        for name in (*required, *optional):
            values = [o.get(name) for o in objs]
            missing = values.count(None)
            if missing and name in required:
                raise BulkInvalid(f"missing field {name}")
            if missing == len(values):
                continue
            column_rows, column_values = columns[name]
            if not missing:
                present += 1
                column_rows.extend(rows)
                column_values.extend(values)
                continue
            mask = np.fromiter((v is not None for v in values), bool, len(values))
            present += mask
            column_rows.extend(r for r, m in zip(rows, mask, strict=True) if m)
            column_values.extend(v for v in values if v is not None)
        sizes = np.fromiter((len(o) for o in objs), np.int64, len(objs))
        for i in np.flatnonzero(sizes > present + len(COMMON_KEYS)):
            row = rows[i]
            self._add_extra(row, kind, columns["extra"])

    def _add_extra(self, row: int, kind: str, extra: tuple[list[int], list[Any]]) -> None:
        known = KNOWN_KEYS.get(kind, COMMON_KEYS)
        obj = self.objs[row]
        rest = {k: v for k, v in obj.items() if k not in known}
        if has_float(rest):
            exact = loads_exact(self.lines[row][1])
            rest = {k: v for k, v in exact.items() if k not in known}
        if rest:
            extra[0].append(row)
            extra[1].append(json.dumps(rest, separators=(",", ":")))


def _rows_by_kind(objs: list[dict[str, Any]]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i, obj in enumerate(objs):
        kind = obj["kind"]
        group = groups.get(kind)
        if group is None:
            groups[kind] = [i]
        else:
            group.append(i)
    return groups


def dense_column(name: str, values: list[Any]) -> pa.Array:
    arrow_type = ARROW_TYPES[name]
    if pa.types.is_integer(arrow_type):
        return pa.array(_ints(values), arrow_type)
    if name in ENUM_SETS and not set(values) <= ENUM_SETS[name]:
        raise BulkInvalid(f"value outside the {name} vocabulary")
    if name == "kind":
        return pa.array(values, pa.string())
    if pa.types.is_dictionary(arrow_type):
        return dictionary(values)
    return pa.array(values, arrow_type)


def _ints(values: list[Any]) -> list[Any]:
    """JSON integers as they are, "0x…" strings converted; anything else is left to fail."""
    odd = [v for v in values if type(v) is not int]
    if not odd:
        return values
    if not all(type(v) is str for v in odd) or not HEX_RUN.fullmatch("\n".join(odd)):
        raise BulkInvalid("an integer field holds something else")
    return [v if type(v) is int else int(v, 16) for v in values]


def check_seq(seq: pa.Array, last_seq: int | None) -> None:
    values = seq.to_numpy()
    if last_seq is not None and int(values[0]) <= last_seq:
        raise BulkInvalid("seq does not increase")
    if len(values) > 1 and np.any(values[1:] <= values[:-1]):
        raise BulkInvalid("seq does not increase")


def check_across_fields(arrays: dict[str, pa.Array]) -> None:
    """The checks across fields of schema/rules.py, on whole columns."""
    kind = arrays["kind"]
    for rule in ACROSS_RULES:
        broken = pc.and_kleene(pc.equal(kind, rule.kind), rule.broken_rows(arrays))
        if pc.any(broken).as_py():
            raise BulkInvalid("a check across fields fails")
