"""Two timelines side by side: per phase, what only one of them did or found."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from tdxray.analyses.diff.phases import Phase, PhaseKey, phase_order
from tdxray.analyses.diff.ranges import Ranges, pages, subtract
from tdxray.analyses.diff.timeline import Timeline
from tdxray.model.divergence import Divergence
from tdxray.model.result import ReplayResult

MAX_STEP_LINES = 40  # lines of a mailbox or CPU sequence diff shown per phase


@dataclass(frozen=True)
class Side:
    """One trace of the pair: its results and its phases."""

    source: str
    result: ReplayResult
    timeline: Timeline
    path: Path | None = None  # its Parquet file, for the events of a phase (diff/events.py)

    def phase(self, key: PhaseKey) -> Phase | None:
        return next((p for p in self.timeline.phases if p.key == key), None)

    def seq_range(self, key: PhaseKey) -> tuple[int, int | None] | None:
        """The seqs of the phase: [start, the next phase's start), None: no such phase."""
        phases = self.timeline.phases
        for i, p in enumerate(phases):
            if p.key == key:
                return p.start_seq, phases[i + 1].start_seq if i + 1 < len(phases) else None
        return None

    def divergences(self, key: PhaseKey | None) -> dict[str, Divergence]:
        return {d.fingerprint: d for d in self.result.divergences
                if self.timeline.phase_of(d) == key}


@dataclass(frozen=True)
class RangeDiff:
    """One kind of range (a conversion direction, ACCEPTs, a page state): counts and the
    ranges only one side has."""

    count_a: int
    count_b: int
    pages_a: int
    pages_b: int
    only_a: Ranges
    only_b: Ranges

    @property
    def differs(self) -> bool:
        return bool(self.only_a or self.only_b or self.count_a != self.count_b)


@dataclass
class PhaseDiff:
    key: PhaseKey
    title: str
    present: str  # "both", "a", "b"
    ns_a: int | None
    ns_b: int | None
    only_a: list[Divergence] = field(default_factory=list)
    only_b: list[Divergence] = field(default_factory=list)
    ranges: dict[str, RangeDiff] = field(default_factory=dict)  # to_shared, to_private, accept
    page_map: dict[str, RangeDiff] = field(default_factory=dict)  # at the phase's start
    steps: dict[str, list[str]] = field(default_factory=dict)  # mailbox, cpu: diff lines

    @property
    def differs(self) -> bool:
        return (self.present != "both" or bool(self.only_a or self.only_b)
                or any(r.differs for r in [*self.ranges.values(), *self.page_map.values()])
                or any(self.steps.values()))


@dataclass(frozen=True)
class Diff:
    a: Side
    b: Side
    phases: list[PhaseDiff]
    trace_only_a: list[Divergence]  # findings of no event (coverage): the whole trace's
    trace_only_b: list[Divergence]

    @property
    def new_in_b(self) -> list[Divergence]:
        """Divergences above info that B has and A lacks: what makes `diff` exit 1."""
        found = [d for p in self.phases for d in p.only_b] + self.trace_only_b
        return [d for d in found if d.severity != "info"]

    @property
    def exit_status(self) -> int:
        return 1 if self.new_in_b else 0


def _range_diff(a: Ranges, b: Ranges, count_a: int, count_b: int) -> RangeDiff:
    return RangeDiff(count_a, count_b, pages(a), pages(b), subtract(a, b), subtract(b, a))


def _steps(a: list[str], b: list[str]) -> list[str]:
    lines = [line for line in difflib.unified_diff(a, b, "A", "B", n=1, lineterm="")
             if not line.startswith(("---", "+++", "@@"))]
    if len(lines) > MAX_STEP_LINES:
        lines = [*lines[:MAX_STEP_LINES], f"… {len(lines) - MAX_STEP_LINES} more lines"]
    return lines


def _only(a: dict[str, Divergence], b: dict[str, Divergence]) -> list[Divergence]:
    return sorted((d for fp, d in a.items() if fp not in b), key=Divergence.sort_key)


def _phase_diff(key: PhaseKey, a: Phase | None, b: Phase | None, sa: Side, sb: Side) -> PhaseDiff:
    title = (a or b).title if (a or b) else str(key)
    present = "both" if a and b else "a" if a else "b"
    out = PhaseDiff(key, title, present, a.ns if a else None, b.ns if b else None)
    da, db = sa.divergences(key), sb.divergences(key)
    out.only_a, out.only_b = _only(da, db), _only(db, da)
    empty = Phase(key[0], key[1], 0, 0)
    pa_, pb = a or empty, b or empty
    for name, ra, rb in (("to_shared", pa_.to_shared, pb.to_shared),
                         ("to_private", pa_.to_private, pb.to_private),
                         ("accept", pa_.accepted, pb.accepted)):
        out.ranges[name] = _range_diff(ra.ranges(), rb.ranges(), pa_.calls[name],
                                       pb.calls[name])
    if a and b:
        for state in a.page_map:
            ma, mb = a.page_map[state], b.page_map.get(state, [])
            out.page_map[state] = _range_diff(ma, mb, len(ma), len(mb))
    out.steps["mailbox"] = _steps(pa_.mailbox.steps, pb.mailbox.steps)
    out.steps["cpu"] = _steps(pa_.cpu.steps, pb.cpu.steps)
    return out


def compare(a: Side, b: Side) -> Diff:
    keys = sorted({p.key for p in a.timeline.phases} | {p.key for p in b.timeline.phases},
                  key=phase_order)
    phases = [_phase_diff(key, a.phase(key), b.phase(key), a, b) for key in keys]
    ta, tb = a.divergences(None), b.divergences(None)
    return Diff(a, b, phases, _only(ta, tb), _only(tb, ta))
