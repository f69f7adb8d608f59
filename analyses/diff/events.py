"""One phase of two traces at event level: the events the model acts on, aligned A against B
(difflib over what each event says, seq and time left out)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tdxray.analyses.diff.compare import Side
from tdxray.analyses.diff.phases import PhaseKey
from tdxray.model.replay import CORE_KINDS

MAX_EVENTS = 500  # events of a phase read per side; more are counted, not aligned
HEX = ("gpa", "size", "status", "old", "new", "value", "resume_gpa")
SAYS = ("gpa", "size", "status", "resume_gpa", "level", "phase", "old", "new", "site", "field",
        "value", "apic_id", "action", "to_private", "write")
COLUMNS = ["seq", "kind", "vcpu", *SAYS]


@dataclass(frozen=True)
class Step:
    seq: int
    says: str  # kind, vCPU and operands: what is compared


@dataclass(frozen=True)
class EventRow:
    a: Step | None
    b: Step | None

    @property
    def same(self) -> bool:
        return self.a is not None and self.b is not None and self.a.says == self.b.says


@dataclass(frozen=True)
class PhaseEvents:
    rows: list[EventRow]
    total_a: int  # the phase's model events per side (rows hold at most MAX_EVENTS of each)
    total_b: int


def _says(row: dict[str, object]) -> str:
    parts = [str(row["kind"]), f"vCPU {row['vcpu']}"]
    for name in SAYS:
        value = row.get(name)
        if value is None:
            continue
        shown = f"{value:#x}" if name in HEX and isinstance(value, int) else str(value)
        parts.append(f"{name}={shown}")
    return " ".join(parts)


def steps(path: Path, seqs: tuple[int, int | None], limit: int = MAX_EVENTS
          ) -> tuple[list[Step], int]:
    """The model's events (CORE_KINDS) with seq in [start, end), the first `limit`; and how
    many there are."""
    start, end = seqs
    filters = [("seq", ">=", start)] + ([("seq", "<", end)] if end is not None else [])
    table = pq.read_table(path, columns=COLUMNS, filters=filters)
    kinds = table.column("kind").cast(pa.string())
    table = table.filter(pc.is_in(kinds, pa.array(CORE_KINDS)))
    total = table.num_rows
    rows = table.slice(0, limit).to_pylist()
    return [Step(int(r["seq"]), _says(r)) for r in rows], total


def align(a: list[Step], b: list[Step]) -> list[EventRow]:
    """A's and B's steps side by side: equal runs paired, the rest one-sided or paired."""
    matcher = difflib.SequenceMatcher(None, [s.says for s in a], [s.says for s in b],
                                      autojunk=False)
    rows: list[EventRow] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal" or (op == "replace" and i2 - i1 == j2 - j1):
            rows += [EventRow(x, y) for x, y in zip(a[i1:i2], b[j1:j2], strict=True)]
        else:
            rows += [EventRow(x, None) for x in a[i1:i2]]
            rows += [EventRow(None, y) for y in b[j1:j2]]
    return rows


def phase_events(a: Side, b: Side, key: PhaseKey) -> PhaseEvents:
    """The phase `key` of A and B at event level (a side without the phase has no events)."""
    sides = []
    for side in (a, b):
        seqs = side.seq_range(key)
        sides.append(steps(side.path, seqs) if seqs and side.path else ([], 0))
    (steps_a, total_a), (steps_b, total_b) = sides
    return PhaseEvents(align(steps_a, steps_b), total_a, total_b)
