"""A trace cut into phases by the model itself: a replay whose model notes where its phase
changes (the jumps the model plans and judges, never re-derived here) and what each phase did."""

from __future__ import annotations

from array import array
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tdxray.analyses.diff.phases import Phase, PhaseKey
from tdxray.model.base import KEXEC_IN_PROGRESS
from tdxray.model.columns import BatchView
from tdxray.model.core import Model
from tdxray.model.divergence import Divergence
from tdxray.model.pagemap import STATE_NAMES, PageState
from tdxray.model.prescan import prescan
from tdxray.model.replay import READ_COLUMNS, replay_batch
from tdxray.schema.constants import ACCEPT_LEVEL_SIZES, TDVMCALL_RETRY, TDVMCALL_SUCCESS
from tdxray.schema.td import TdConfig
from tdxray.store.read import open_trace

MAP_STATES = (PageState.SHARED, PageState.PENDING, PageState.UNACCEPTED)
SHUTDOWN_PHASES = ("shutdown", "begin", "crash", "finish")


MAX_MARKS = 5000  # mailbox and CPU events kept with their seq for per-vCPU timelines


@dataclass(frozen=True)
class Mark:
    """A mailbox or CPU event on a vCPU's timeline."""

    seq: int
    ts: int
    vcpu: int
    lane: str  # "cpu" or "mailbox"
    label: str


@dataclass(frozen=True)
class Timeline:
    trace_id: str
    events: int
    phases: list[Phase]
    # MapGPA operations (first call to the final answer, RETRYs included): ns and direction
    op_ns: array[int] = field(default_factory=lambda: array("q"))
    op_to_shared: array[int] = field(default_factory=lambda: array("b"))
    marks: list[Mark] = field(default_factory=list)

    def phase_of(self, d: Divergence) -> PhaseKey | None:
        """The phase of d's generation whose span holds the event that revealed `d` (None: no
        event). A jump the model takes at the next generation's boot starts at that boot."""
        if d.seq is None or not self.phases:
            return None
        i = max(0, bisect_right(self.starts, d.seq) - 1)
        while i > 0 and self.phases[i].generation > d.generation:
            i -= 1
        return self.phases[i].key

    @property
    def starts(self) -> list[int]:
        return [p.start_seq for p in self.phases]


class PhaseModel(Model):
    """The model, noting after each event whether its phase changed (no rules changed)."""

    def __init__(self, td: TdConfig) -> None:
        super().__init__(td, record_history=False)
        self.phases: list[Phase] = []
        self._io: set[int] = set()
        self._shutdown: set[int] = set()
        self._jumped: set[int] = set()  # generations whose jump-time checks have run
        self._op_start: dict[int, tuple[int, int, bool]] = {}  # vcpu -> first ts, end, to_shared
        self.op_ns: array[int] = array("q")
        self.op_to_shared: array[int] = array("b")
        self.marks: list[Mark] = []

    def begin(self, seq: int, ts: int) -> None:
        self.phases.append(Phase(0, "boot", seq, ts, page_map=self._map()))

    def _label(self) -> PhaseKey:
        k = self.k
        if k.jumped or k.generation in self._jumped:
            return (k.generation, "jump")
        if k.generation in self._shutdown or k.phase in KEXEC_IN_PROGRESS:
            return (k.generation, "shutdown")
        return (k.generation, "io" if k.generation in self._io else "boot")

    def _map(self) -> dict[str, list[tuple[int, int]]]:
        return {STATE_NAMES[s]: [(a, b) for a, b, _ in self.pages.runs(s)] for s in MAP_STATES}

    def _observe(self, seq: int, ts: int) -> None:
        key = self._label()
        current = self.phases[-1]
        if key != current.key:
            current.end_ts = ts
            self.phases.append(Phase(key[0], key[1], seq, ts, page_map=self._map()))

    # --- the handlers: the model's, then a look at its phase -----------------------------------

    def map_gpa(self, seq: int, ts: int, vcpu: int, gpa: int, size: int, status: int,
                resume: int | None) -> None:
        alive = not self.dead
        if alive:
            self._io.add(self.k.generation)
        super().map_gpa(seq, ts, vcpu, gpa, size, status, resume)
        self._observe(seq, ts)
        if alive:
            self._note_mapgpa(gpa, size, status, resume)
            self._time_op(ts, vcpu, gpa, size, status)

    def _time_op(self, ts: int, vcpu: int, gpa: int, size: int, status: int) -> None:
        to_shared = bool(gpa & self.sbit)
        end = (gpa & ~self.sbit) + size
        started = self._op_start.get(vcpu)
        first = started[0] if started and started[1:] == (end, to_shared) else ts
        if status == TDVMCALL_RETRY:
            self._op_start[vcpu] = (first, end, to_shared)
            return
        self._op_start.pop(vcpu, None)
        self.op_ns.append(ts - first)
        self.op_to_shared.append(to_shared)

    def _mark(self, seq: int, ts: int, vcpu: int, lane: str, label: str) -> None:
        if len(self.marks) < MAX_MARKS:
            self.marks.append(Mark(seq, ts, vcpu, lane, label))

    def _note_mapgpa(self, gpa: int, size: int, status: int, resume: int | None) -> None:
        phase = self.phases[-1]
        direction = "to_private" if not gpa & self.sbit else "to_shared"
        phase.calls[direction] += 1
        start = gpa & ~self.sbit
        end = start + size
        if status == TDVMCALL_RETRY and resume is not None:
            end = min(end, resume & ~self.sbit)
        elif status != TDVMCALL_SUCCESS:
            return
        (phase.to_private if direction == "to_private" else phase.to_shared).add(start, end)

    def accept(self, seq: int, ts: int, vcpu: int, gpa: int, level: int, status: int) -> None:
        alive = not self.dead
        super().accept(seq, ts, vcpu, gpa, level, status)
        self._observe(seq, ts)
        if alive:
            phase = self.phases[-1]
            phase.calls["accept"] += 1
            size = ACCEPT_LEVEL_SIZES.get(level)
            if status >> 32 == 0 and size is not None and not gpa % size:
                phase.accepted.add(gpa & ~self.sbit, (gpa & ~self.sbit) + size)

    def convert(self, seq: int, ts: int, vcpu: int, gpa: int, size: int,
                to_private: bool) -> None:
        super().convert(seq, ts, vcpu, gpa, size, to_private)
        self._observe(seq, ts)

    def mem_access(self, seq: int, ts: int, vcpu: int, gpa: int, write: bool) -> None:
        super().mem_access(seq, ts, vcpu, gpa, write)
        self._observe(seq, ts)

    def cr4_write(self, seq: int, ts: int, vcpu: int, old: int, new: int,
                  site: str | None) -> None:
        alive = not self.dead
        super().cr4_write(seq, ts, vcpu, old, new, site)
        self._observe(seq, ts)
        if alive:
            where = f" in {site}" if site else ""
            self.phases[-1].cpu.add(f"vCPU {vcpu} CR4 {old:#x} -> {new:#x}{where}")
            self._mark(seq, ts, vcpu, "cpu", f"CR4 {old:#x} -> {new:#x}{where}")

    def mailbox_write(self, seq: int, ts: int, vcpu: int, field: str, value: int) -> None:
        self._mailbox(seq, ts, vcpu, "writes", field, value)
        super().mailbox_write(seq, ts, vcpu, field, value)
        self._observe(seq, ts)

    def mailbox_read(self, seq: int, ts: int, vcpu: int, field: str, value: int) -> None:
        self._mailbox(seq, ts, vcpu, "reads", field, value)
        super().mailbox_read(seq, ts, vcpu, field, value)
        self._observe(seq, ts)

    def _mailbox(self, seq: int, ts: int, vcpu: int, verb: str, field: str, value: int) -> None:
        if not self.dead:
            self.phases[-1].mailbox.add(f"vCPU {vcpu} {verb} {field} = {value:#x}")
            self._mark(seq, ts, vcpu, "mailbox", f"{verb} {field} = {value:#x}")

    def cpu(self, seq: int, ts: int, vcpu: int, apic_id: int, action: str) -> None:
        if not self.dead:
            self.phases[-1].cpu.add(f"APIC id {apic_id} {action}")
            self._mark(seq, ts, vcpu, "cpu", f"APIC id {apic_id} {action}")
        super().cpu(seq, ts, vcpu, apic_id, action)
        self._observe(seq, ts)

    def kexec(self, seq: int, ts: int, vcpu: int, phase: str) -> None:
        if not self.dead and phase in SHUTDOWN_PHASES:
            self._shutdown.add(self.k.generation)
        super().kexec(seq, ts, vcpu, phase)
        self._observe(seq, ts)

    def log(self, seq: int, ts: int, vcpu: int, text: str) -> None:
        super().log(seq, ts, vcpu, text)
        self._observe(seq, ts)

    def test_overdue(self, seq: int, ts: int, vcpu: int) -> None:
        super().test_overdue(seq, ts, vcpu)
        self._observe(seq, ts)

    def _jump_checks(self, seq: int, ts: int, vcpu: int, jumper_vcpu: int | None = None) -> None:
        """A jump the model takes inside another handler (a boot without one, a fatal event
        during kexec) opens the jump phase at that event."""
        super()._jump_checks(seq, ts, vcpu, jumper_vcpu)
        self._jumped.add(self.k.generation)
        self._observe(seq, ts)


def timeline(path: Path) -> Timeline:
    """Replay the Parquet trace at `path` once more, noting its phases."""
    trace = open_trace(path)
    scan = prescan(trace)
    model = PhaseModel(trace.header.td)
    markers = scan.console_markers()
    model.plan_phases(scan.phase_items, markers)
    marker_seqs = np.array(sorted(markers), dtype=np.uint64)
    last_ts = 0
    for batch in trace.iter_batches(READ_COLUMNS):
        view = BatchView(batch)
        if not len(view.seq):
            continue
        if not model.phases:
            model.begin(int(view.seq[0]), int(view.ts[0]))
        replay_batch(model, view, markers, marker_seqs)
        last_ts = max(last_ts, int(view.ts.max()))
    model.end()
    if model.phases:
        model.phases[-1].end_ts = last_ts
    return Timeline(trace.trace_id, trace.num_rows, model.phases, model.op_ns,
                    model.op_to_shared, model.marks)
