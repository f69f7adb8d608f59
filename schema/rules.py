"""What a valid event holds beyond its column types (FORMATS.md §1): the fields each kind
requires (schema.events.KIND_FIELDS), the closed vocabularies and the checks across fields.

One table for every reader of events: the JSONL reader applies it line by line
(ingest/fields.py) and column by column (ingest/jsonl), and every Parquet trace is checked
against it where it is opened (store/valid.py), so a trace one command accepts is a trace
every command accepts, exported or not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from tdxray.schema.constants import CPU_ACTIONS, KEXEC_PHASES, MAILBOX_FIELDS, TDVMCALL_RETRY

# String columns whose values are a closed vocabulary.
ENUMS: dict[str, tuple[str, ...]] = {
    "field": MAILBOX_FIELDS,
    "action": CPU_ACTIONS,
    "phase": KEXEC_PHASES,
}

Values = Mapping[str, Any]  # one event's converted fields (absent = missing or null)
Columns = Mapping[str, pa.Array]  # a batch's columns, all of one length


@dataclass(frozen=True)
class AcrossRule:
    """A check across the fields of one event of `kind`, in two spellings of one rule: on one
    event's values (the line reader) and on whole columns (the column paths, store/valid.py)."""

    kind: str
    field: str  # the field the error names
    message: str
    columns: tuple[str, ...]  # what `broken_rows` reads
    broken_by: Callable[[Values], bool]
    broken_rows: Callable[[Columns], pa.Array]  # true where broken, for a row of `kind`


def _retry_without_resume(columns: Columns) -> pa.Array:
    retry = pc.equal(columns["status"], pa.scalar(TDVMCALL_RETRY, pa.uint64()))
    return pc.and_kleene(retry, pc.is_null(columns["resume_gpa"]))


def _no_subfn(columns: Columns) -> pa.Array:
    r10 = columns["r10"]
    no_hypercall = pc.or_kleene(pc.is_null(r10), pc.equal(r10, pa.scalar(0, pa.uint64())))
    return pc.and_kleene(pc.is_null(columns["subfn"]), no_hypercall)


ACROSS_RULES: tuple[AcrossRule, ...] = (
    AcrossRule("map_gpa", "resume_gpa", "status is RETRY (1) but resume_gpa is missing",
               ("status", "resume_gpa"),
               lambda v: v.get("status") == TDVMCALL_RETRY and "resume_gpa" not in v,
               _retry_without_resume),
    AcrossRule("tdvmcall", "subfn", "missing field (required unless r10 names a KVM hypercall)",
               ("subfn", "r10"),
               lambda v: "subfn" not in v and not v.get("r10"),
               _no_subfn),
)


def missing_message(kind: str) -> str:
    """The error for a required field that an event of `kind` lacks."""
    return f"missing field (kind {kind} needs it)"


def enum_message(name: str, value: object) -> str:
    return f"expected one of {', '.join(ENUMS[name])}, got {value!r}"
