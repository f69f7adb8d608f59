"""The rules of schema/rules.py on the columns of a Parquet row group: the first event that
lacks a field its kind requires, holds a value outside a vocabulary or breaks a check across
fields, named as the JSONL reader names it (field and message).

Only the columns of the kinds a row group holds are read, and a column whose statistics say
it has no null needs no look for missing values: a row group of background TDVMCALLs reads
three narrow columns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tdxray.schema.events import KIND_FIELDS
from tdxray.schema.rules import ACROSS_RULES, ENUMS, enum_message, missing_message

Broken = tuple[int, str, str]  # row in the row group, field, message
Read = Callable[[str], pa.Array | None]  # one column of the row group, if it was read
Found = tuple[int, int, str, str]  # row, order of the rule at that row, field, message

ORDER = {kind: {name: i for i, name in enumerate((*required, *optional))}
         for kind, (required, optional) in KIND_FIELDS.items()}


def kind_codes(kind: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """The kind column as (dictionary index per row, the names)."""
    column = kind.unify_dictionaries().combine_chunks() if kind.num_chunks > 1 else \
        kind.chunk(0) if kind.num_chunks else pa.array([], kind.type)
    return column.indices.to_numpy(zero_copy_only=False), column.dictionary.to_pylist()


KIND_INDEX = {kind: i for i, kind in enumerate(KIND_FIELDS)}


def rows_by_kind(codes: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """The rows of each known kind the row group holds (an unknown kind's fields are kept in
    `extra`). One pass per known kind, however many names the dictionary holds (a hostile one
    may name a kind many times)."""
    lookup = np.array([KIND_INDEX.get(name, -1) for name in names] or [-1], np.int64)
    kinds = lookup[codes] if len(codes) else np.zeros(0, np.int64)
    counts = np.bincount(kinds + 1, minlength=len(KIND_INDEX) + 1)[1:]
    return {kind: np.flatnonzero(kinds == i) for kind, i in KIND_INDEX.items() if counts[i]}


def columns_needed(present: Iterable[str], nulls: Callable[[str], int | None]) -> list[str]:
    """What the rules of these kinds read; `nulls(name)`: a column's null count when its
    statistics know it (a column without null cannot miss a value)."""
    present = list(present)
    needed = {name for kind in present for name in KIND_FIELDS[kind][0] if nulls(name) != 0}
    needed |= {name for kind in present for name in ORDER[kind] if name in ENUMS}
    needed |= {name for rule in ACROSS_RULES if rule.kind in present for name in rule.columns}
    return sorted(needed)


def first_broken_event(rows: dict[str, np.ndarray], read: Read) -> Broken | None:
    """The first row that breaks a rule (at one row, in the JSONL reader's order: the kind's
    fields in order, then the checks across fields), or None. `rows`: rows_by_kind;
    `read(name)` gives a column that columns_needed named (None: it has no null)."""
    found = [*_missing(rows, read), *_outside(rows, read), *_across(rows, read)]
    if not found:
        return None
    row, _, field, message = min(found)
    return row, field, message


def _first(rows: np.ndarray, mask: np.ndarray) -> int | None:
    """The first of `rows` (ascending) where `mask` holds: by whichever of the two is shorter
    (a kind's few rows, or a mostly false mask's few hits)."""
    if len(rows) * 8 < len(mask):
        at = np.flatnonzero(mask[rows])
        return int(rows[at[0]]) if len(at) else None
    hits = np.flatnonzero(mask)
    where = np.searchsorted(rows, hits)
    inside = where < len(rows)
    both = hits[inside][rows[where[inside]] == hits[inside]]
    return int(both[0]) if len(both) else None


def _missing(rows: dict[str, np.ndarray], read: Read) -> list[Found]:
    needed: dict[str, list[str]] = {}
    for kind in rows:
        for name in KIND_FIELDS[kind][0]:
            needed.setdefault(name, []).append(kind)
    found = []
    for name, kinds in needed.items():
        column = read(name)
        if column is None or not column.null_count:
            continue
        invalid = ~column.is_valid().to_numpy(zero_copy_only=False)
        for kind in kinds:
            row = _first(rows[kind], invalid)
            if row is not None:
                found.append((row, ORDER[kind][name], name, missing_message(kind)))
    return found


def _outside(rows: dict[str, np.ndarray], read: Read) -> list[Found]:
    found = []
    for name, allowed in ENUMS.items():
        kinds = [k for k in rows if name in ORDER[k]]
        column = read(name) if kinds else None
        vocabulary = pa.array(allowed, pa.string())  # typed: inferring imports dateutil
        if column is None or pc.all(pc.is_in(column.dictionary, vocabulary)).as_py() \
                is not False:
            continue  # every value the column can hold is allowed
        values = column.cast(pa.string())
        outside = pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, vocabulary)))
        bad = outside.fill_null(False).to_numpy(zero_copy_only=False)  # a null is "missing"
        for kind in kinds:
            row = _first(rows[kind], bad)
            if row is not None:
                found.append((row, ORDER[kind][name], name,
                              enum_message(name, column[row].as_py())))
    return found


def _across(rows: dict[str, np.ndarray], read: Read) -> list[Found]:
    found = []
    for order, rule in enumerate(ACROSS_RULES):
        if rule.kind not in rows:
            continue
        columns = {name: read(name) for name in rule.columns}
        broken = rule.broken_rows(columns)  # type: ignore[arg-type]  # all read: needed
        row = _first(rows[rule.kind], broken.fill_null(False).to_numpy(zero_copy_only=False))
        if row is not None:
            found.append((row, len(ORDER[rule.kind]) + order, rule.field, rule.message))
    return found
