"""One JSONL event line, checked strictly field by field (FORMATS.md §1).

This is the reference reading of an event: the fast path (jsonl_fast) converts whole columns at
once and, when anything fails, the reader re-reads the batch's lines here to name the first bad
line and field.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from tdxray.ingest.columns import ColumnBuilder
from tdxray.ingest.fields import (
    KIND,
    KIND_CHECKS,
    KIND_SPECS,
    SEQ,
    TS_NS,
    VCPU,
    FieldError,
    KindSpec,
)
from tdxray.schema.errors import InputError
from tdxray.schema.rules import missing_message

COMMON_KEYS = ("seq", "ts_ns", "vcpu", "kind")
COMMON_SET = frozenset(COMMON_KEYS)
MAX_NESTING = 100  # levels of arrays and objects in the fields kept in `extra`


def check_lines(lines: Iterable[tuple[int, bytes]], source: str,
                last_seq: int | None) -> int | None:
    """Read each (line number, raw line) strictly; raise InputError at the first bad one.

    Returns the last seq read. `last_seq` is the seq before these lines (None at the start).
    """
    scratch = ColumnBuilder(None)
    for number, raw in lines:
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"malformed JSON: {exc}", source, number) from None
        try:
            seq = add_event_exact(scratch, raw, obj, number)
        except FieldError as exc:
            raise event_error(raw, number, exc, source) from None
        if last_seq is not None and seq <= last_seq:
            raise InputError(f"seq {seq} does not increase (previous {last_seq})", source, number)
        last_seq = seq
        if len(scratch) >= 4096:
            scratch = ColumnBuilder(None)
    return last_seq


def event_error(raw: bytes, number: int, first: FieldError, source: str) -> InputError:
    """Re-read the line exactly (orjson turns integers beyond 64 bits into floats)."""
    try:
        add_event(ColumnBuilder(None), exact(raw, None), number, exact=True)
    except FieldError as exc:
        first = exc
    where = f"field {first.field!r}: " if first.field else ""
    return InputError(where + first.message, source, number)


def add_event_exact(builder: ColumnBuilder, raw: bytes, obj: Any, line: int) -> int:
    try:
        return add_event(builder, obj, line)
    except InexactNumber:
        return add_event(builder, loads_exact(raw), line, exact=True)


def exact(raw: bytes, obj: Any) -> Any:
    """The line parsed by the exact (slower) decoder when orjson may have rounded a number."""
    if obj is not None and not has_float(obj):
        return obj
    return loads_exact(raw)


def has_float(value: Any) -> bool:
    """Whether a float is anywhere in `value` (walked without recursion, to MAX_NESTING)."""
    return _walk(value)[0]


def _walk(value: Any) -> tuple[bool, int]:
    """(a float is in `value`, its nesting depth); FieldError past MAX_NESTING levels."""
    found, deepest = False, 0
    todo = [(value, 0)]
    while todo:
        item, depth = todo.pop()
        kind = type(item)
        if kind is float:
            found = True
        elif kind is dict or kind is list:
            if depth > MAX_NESTING:  # the fields themselves are level 0
                raise FieldError(f"nested deeper than {MAX_NESTING} levels")
            deepest = max(deepest, depth + 1)
            todo.extend((v, depth + 1) for v in (item.values() if kind is dict else item))
    return found, deepest


def loads_exact(raw: bytes) -> Any:
    """The line by the exact decoder (Python's json: its recursion ends past ~1,000 levels)."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise FieldError(f"nested deeper than {MAX_NESTING} levels") from None


class InexactNumber(Exception):
    """orjson parsed a number as a float: the line must be re-read exactly."""


def add_event(builder: ColumnBuilder, obj: Any, line: int, exact: bool = False) -> int:
    """Convert one event object into the builder's columns; return its seq.

    Raises FieldError for an unusable event, InexactNumber when fields without a column hold a
    float (re-parse the line with `json.loads` and call again); the builder is unchanged then.
    """
    if type(obj) is not dict:
        raise FieldError(f"expected a JSON object, got {type(obj).__name__}")
    seq = _common(obj, "seq", SEQ)
    ts_ns = _common(obj, "ts_ns", TS_NS)
    vcpu = _common(obj, "vcpu", VCPU)
    kind = _common(obj, "kind", KIND)
    specs = KIND_SPECS.get(kind)
    if specs is None:
        values: dict[str, Any] = {}
        known: frozenset[str] = COMMON_SET
    else:
        values = _kind_values(obj, kind, specs)
        known = KNOWN_KEYS[kind]
    if len(obj) > len(COMMON_KEYS) + len(values):
        rest = {k: v for k, v in obj.items() if k not in known}
        if rest:
            values["extra"] = _extra_text(rest, exact)
    for name, value in values.items():
        builder.add(name, value)
    builder.end_row(seq, ts_ns, vcpu, kind, line)
    return seq


def _common(obj: dict[str, Any], name: str, convert: Callable[[Any], Any]) -> Any:
    value = obj.get(name)
    if value is None:
        raise FieldError("missing field", name)
    try:
        return convert(value)
    except FieldError as exc:
        raise FieldError(exc.message, name) from None


def _kind_values(obj: dict[str, Any], kind: str, specs: KindSpec) -> dict[str, Any]:
    required, optional = specs
    values: dict[str, Any] = {}
    name = ""
    try:
        for name, convert in required:
            value = obj.get(name)
            if value is None:
                raise FieldError(missing_message(kind))
            values[name] = convert(value)
        for name, convert in optional:
            value = obj.get(name)
            if value is not None:
                values[name] = convert(value)
    except FieldError as exc:
        raise FieldError(exc.message, exc.field or name) from None
    check = KIND_CHECKS.get(kind)
    if check is not None:
        check(values)
    return values


def _extra_text(rest: dict[str, Any], exact: bool) -> str:
    """Fields tdxray has no column for, as compact JSON text (kept in the `extra` column)."""
    if has_float(rest) and not exact:  # walked either way: json.dumps recurses
        raise InexactNumber
    return json.dumps(rest, separators=(",", ":"))


KNOWN_KEYS: dict[str, frozenset[str]] = {
    kind: frozenset(COMMON_KEYS) | {name for name, _ in required} | {name for name, _ in optional}
    for kind, (required, optional) in KIND_SPECS.items()
}
