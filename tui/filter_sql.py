"""The filter bar's fields as one SQL WHERE clause (pure: parse, validate, quote; no Textual).

Every value the user types is parsed into numbers or quoted as a string literal: nothing typed
reaches the SQL text unquoted. A field that does not parse is a FilterError naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from tdxray.analyses.sql.macros import sql_str, u64
from tdxray.schema.constants import ACCEPT_LEVEL_MASK, ACCEPT_LEVEL_SIZES
from tdxray.schema.events import KNOWN_KINDS
from tdxray.store.filter_index import FAILURE, GPA_KINDS, TDCALL_ACCEPT, TDVMCALL_MAP_GPA


class FilterError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Filter:
    kind: str = ""
    vcpu: str = ""
    time: str = ""
    gpa: str = ""
    failures: bool = False
    text: str = ""

    @property
    def empty(self) -> bool:
        return not (self.kind.strip() or self.vcpu.strip() or self.time.strip()
                    or self.gpa.strip() or self.failures or self.text.strip())


def _int(text: str, field: str) -> int:
    try:
        value = int(text.strip().replace("_", ""), 0)
    except ValueError:
        raise FilterError(field, f"not a number: {text.strip()!r}") from None
    if not 0 <= value < 1 << 64:
        raise FilterError(field, f"out of range: {text.strip()}")
    return value


def _span(text: str, field: str) -> tuple[int | None, int | None]:
    """'a-b', 'a-', '-b' or 'a' (then b = a)."""
    lo, sep, hi = text.partition("-") if not text.startswith("-") else ("", "-", text[1:])
    first = _int(lo, field) if lo.strip() else None
    last = _int(hi, field) if hi.strip() else None
    return (first, last) if sep else (first, first)


def _kind_names(text: str) -> list[str]:
    names = [k.strip() for k in re.split(r"[,\s]+", text) if k.strip()]
    unknown = [k for k in names if k not in KNOWN_KINDS]
    if unknown:
        raise FilterError("kind", f"unknown kind {unknown[0]!r} (kinds: "
                          f"{', '.join(KNOWN_KINDS)})")
    return names


def _kinds(text: str) -> str:
    return f"kind IN ({', '.join(sql_str(k) for k in _kind_names(text))})"


def _vcpus(text: str) -> str:
    parts = []
    for item in re.split(r"[,\s]+", text.strip()):
        if not item:
            continue
        lo, hi = _span(item, "vcpu")
        if lo is None or hi is None:
            raise FilterError("vcpu", f"give a vCPU or a range: {item!r}")
        parts.append(f"vcpu = {lo}" if lo == hi else f"vcpu BETWEEN {lo} AND {hi}")
    return "(" + " OR ".join(parts) + ")"


def _seconds(text: str) -> int | None:
    text = text.strip().removesuffix("s").strip()
    if not text:
        return None
    try:
        return round(float(text) * 1e9)
    except ValueError:
        raise FilterError("time", f"not seconds: {text!r}") from None


def _time_bounds(text: str) -> tuple[int | None, int | None]:
    """[lo, hi] in ns, either open (None)."""
    lo_text, sep, hi_text = text.partition("-")
    lo, hi = _seconds(lo_text), _seconds(hi_text) if sep else None
    if lo is None and hi is None:
        raise FilterError("time", "give seconds: 1.5-2 or 1.5- or -2")
    return lo, hi


def _time(text: str) -> str:
    lo, hi = _time_bounds(text)
    parts = ([f"ts_ns >= {lo}"] if lo is not None else []) + \
            ([f"ts_ns <= {hi}"] if hi is not None else [])
    return " AND ".join(parts)


def _touching(start: str, size: str, lo: int, hi: int) -> str:
    """[start, start+size) overlaps [lo, hi), without overflowing unsigned arithmetic."""
    return (f"({start} < {u64(hi)} AND ({start} >= {u64(lo)} OR "
            f"{u64(lo)} - {start} < {size}))")


def _gpa(text: str, sbit: int) -> str:
    return "(" + " OR ".join(_gpa_branches(text, sbit)) + ")"


def _gpa_branches(text: str, sbit: int) -> list[str]:
    """One condition per family of events that carry a GPA: disjoint, each led by the filter
    index's condition for that family (`kind = …`, which DuckDB pushes into the scan; one OR
    over all of them would read every row), so that a GPA filter implies the index's scope."""
    lo, hi = _span(text, "gpa")
    if lo is None:
        raise FilterError("gpa", "give a GPA or a range: 0x1a2000 or 0x1000-0x3000")
    lo &= ~sbit
    hi = lo + 1 if hi is None or hi & ~sbit == lo else hi & ~sbit
    if hi <= lo:
        raise FilterError("gpa", "the range ends before it starts")
    mask = u64(~sbit & 0xFFFFFFFFFFFFFFFF)
    sizes = " ".join(f"WHEN {lv} THEN {sz}" for lv, sz in ACCEPT_LEVEL_SIZES.items())
    rcx_level = f"CASE rcx & {ACCEPT_LEVEL_MASK} {sizes} ELSE 4096 END"
    level = f"CASE level {sizes} ELSE 4096 END"
    rcx_gpa = f"(rcx & {u64(~ACCEPT_LEVEL_MASK & ~sbit & 0xFFFFFFFFFFFFFFFF)})"
    gpa = f"(gpa & {mask})"
    touches = {
        "map_gpa": _touching(gpa, "size", lo, hi),
        "convert": _touching(gpa, "size", lo, hi),
        "accept": _touching(gpa, level, lo, hi),
        "mem_access": f"{gpa} >= {u64(lo)} AND {gpa} < {u64(hi)}",
    }
    return [*(f"(kind = '{k}' AND {touches[k]})" for k in GPA_KINDS),
            f"({TDVMCALL_MAP_GPA} AND {_touching(f'(r12 & {mask})', 'r13', lo, hi)})",
            f"({TDCALL_ACCEPT} AND {_touching(rcx_gpa, rcx_level, lo, hi)})"]


def _text(text: str) -> str:
    needle = sql_str(text.strip().lower())
    columns = ("text", "kind", "site", "field", "action", "phase", "extra")
    return "(" + " OR ".join(f"contains(lower({c}), {needle})" for c in columns) + ")"


def where_clause(f: Filter, sbit: int) -> str | None:
    """The WHERE clause of a filter (None: no filter); FilterError if a field does not parse."""
    parts = []
    if f.kind.strip():
        parts.append(_kinds(f.kind))
    if f.vcpu.strip():
        parts.append(_vcpus(f.vcpu))
    if f.time.strip():
        parts.append(_time(f.time))
    if f.gpa.strip():
        parts.append(_gpa(f.gpa.strip(), sbit))
    if f.failures:
        parts.append(FAILURE)
    if f.text.strip():
        parts.append(_text(f.text))
    return " AND ".join(parts) if parts else None


def count_branches(f: Filter, sbit: int) -> list[str] | None:
    """The filter as disjoint conditions to count separately and add up (None: count the
    WHERE clause as it is). Only a GPA filter needs it: its per-kind conditions are slow as
    one OR and fast apart."""
    if not f.gpa.strip():
        return None
    rest = where_clause(Filter(f.kind, f.vcpu, f.time, "", f.failures, f.text), sbit)
    return [b if rest is None else f"{rest} AND {b}" for b in _gpa_branches(f.gpa.strip(), sbit)]


@dataclass(frozen=True)
class Query:
    """How to count a filter: its WHERE clause and what is known about the rows it matches."""

    where: str
    branches: list[str] | None  # disjoint conditions to count apart (count_branches)
    indexed: bool  # the clause implies the filter index's scope: count in the index
    time: tuple[int | None, int | None] | None  # its time bounds [lo, hi] in ns, if any
    time_only: bool  # the clause is the time bounds and nothing else
    histogram: bool = False  # only kind and vCPU conditions: countable in the filter histogram


def query(f: Filter, sbit: int) -> Query | None:
    """The filter as a Query (None: no filter); FilterError if a field does not parse."""
    where = where_clause(f, sbit)
    if where is None:
        return None
    kinds = _kind_names(f.kind) if f.kind.strip() else []
    indexed = bool(f.gpa.strip()) or f.failures or bool(kinds and set(kinds) <= set(GPA_KINDS))
    time = _time_bounds(f.time) if f.time.strip() else None
    return Query(where, count_branches(f, sbit), indexed, time,
                 time is not None and replace(f, time="").empty,
                 replace(f, kind="", vcpu="").empty)
