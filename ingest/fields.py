"""How each event field of FORMATS.md §1 is read from JSON: type, range and allowed values.

A converter takes the JSON value and returns the column value or raises FieldError. The kind
table (KIND_SPECS) is derived from schema.events.KIND_FIELDS and the Arrow column types, so a
new column or kind needs no change here unless it is an enumeration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from tdxray.schema.events import EVENT_SCHEMA, INT_BOUNDS, KIND_FIELDS
from tdxray.schema.rules import ACROSS_RULES, ENUMS, AcrossRule, enum_message

Converter = Callable[[Any], Any]
FieldSpec = tuple[str, Converter]

class FieldError(ValueError):
    """A field value that cannot go into its column (the reader adds file and line)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def hex_or_int(value: Any) -> int:
    """A JSON integer, or a "0x…" string of hex digits (no sign, space or underscore)."""
    if type(value) is int:
        return value
    if type(value) is str and value[:2] in ("0x", "0X"):
        digits = value[2:]
        if digits and digits.isascii() and digits.isalnum():
            try:
                return int(digits, 16)
            except ValueError:
                pass
        raise FieldError(f"malformed hex integer {value!r}")
    if type(value) is float:
        raise FieldError(f"{value!r} is not an integer (or is too large to be exact)")
    raise FieldError(f"expected an integer or a \"0x…\" string, got {value!r}")


def int_converter(lo: int, hi: int) -> Converter:
    def convert(value: Any) -> int:
        number = hex_or_int(value)
        if lo <= number <= hi:
            return number
        raise FieldError(f"{value!r} is out of range [{lo}, {hi:#x}]")

    return convert


def to_bool(value: Any) -> bool:
    if type(value) is bool:
        return value
    raise FieldError(f"expected true or false, got {value!r}")


def to_str(value: Any) -> str:
    if type(value) is not str:
        raise FieldError(f"expected a string, got {value!r}")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise FieldError("string is not valid UTF-8 (lone surrogate)") from None
    return value


def enum_converter(name: str) -> Converter:
    allowed_set = frozenset(ENUMS[name])

    def convert(value: Any) -> str:
        if type(value) is str and value in allowed_set:
            return value
        raise FieldError(enum_message(name, value))

    return convert


def converter_for(name: str) -> Converter:
    if name in ENUMS:
        return enum_converter(name)
    field_type = EVENT_SCHEMA.field(name).type
    if name in INT_BOUNDS:
        return int_converter(*INT_BOUNDS[name])
    if pa.types.is_boolean(field_type):
        return to_bool
    return to_str


def _specs(names: tuple[str, ...]) -> tuple[FieldSpec, ...]:
    return tuple((name, converter_for(name)) for name in names)


KindSpec = tuple[tuple[FieldSpec, ...], tuple[FieldSpec, ...]]

# kind -> (required field specs, optional field specs)
KIND_SPECS: dict[str, KindSpec] = {
    kind: (_specs(required), _specs(optional)) for kind, (required, optional) in KIND_FIELDS.items()
}

SEQ = int_converter(*INT_BOUNDS["seq"])
TS_NS = int_converter(0, INT_BOUNDS["ts_ns"][1])
VCPU = int_converter(*INT_BOUNDS["vcpu"])
KIND = to_str


def _across_check(rules: tuple[AcrossRule, ...]) -> Callable[[dict[str, Any]], None]:
    def check(values: dict[str, Any]) -> None:
        for rule in rules:
            if rule.broken_by(values):
                raise FieldError(rule.message, rule.field)

    return check


# Checks across the fields of one event (schema/rules.py), run after each field is converted.
KIND_CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    kind: _across_check(tuple(r for r in ACROSS_RULES if r.kind == kind))
    for kind in dict.fromkeys(r.kind for r in ACROSS_RULES)
}
