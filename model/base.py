"""The model's state and the helpers every rule module uses (TDX-KEXEC.md §4)."""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

from tdxray.model.divergence import Divergence
from tdxray.model.pagemap import NO_SEQ, PageMap, PageState
from tdxray.model.state import Cpu, CpuState, Kernel, Mailbox
from tdxray.schema.constants import (
    PAGE_SHIFT,
    Cr4,
    cr4_bit,
)
from tdxray.schema.td import TdConfig

NR_SHARED_RE = re.compile(r"nr_shared = (-?\d+), nr_found = (-?\d+)")
ACCOUNTING_OFF = "shared page accounting is off"
NR_SHARED = "nr_shared = "
MCE = cr4_bit(Cr4.MCE)
PAGE_MASK = (1 << PAGE_SHIFT) - 1
KEXEC_IN_PROGRESS = ("stopping", "finishing", "crashed")


def span_pages(start: int, end: int) -> int:
    return (end - start) >> PAGE_SHIFT


def page_count(start: int, end: int) -> str:
    n = span_pages(start, end)
    return f"{n} page{'s' if n != 1 else ''}"


def hex_range(start: int, end: int) -> str:
    return f"[{start:#x}, {end:#x})"


def _coalesce(ram: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    """RAM ranges sorted, with ranges that touch or overlap joined."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(ram):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return tuple(out)


class ModelBase:
    """State and helpers; the rule modules add the event handlers."""

    def __init__(self, td: TdConfig, enabled: Iterable[str] | None = None,
                 record_history: bool = True) -> None:
        self.td = td
        self.sbit = td.shared_bit
        self.gpa_limit = 1 << td.gpaw
        initial = PageState.PRIVATE if td.memory == "accepted" else PageState.UNACCEPTED
        self.pages = PageMap(self.sbit, td.ram, initial, record_history)
        # RAM with adjacent ranges joined: a range across their boundary lies inside RAM
        self.ram = _coalesce(td.ram)
        # RAM bounds for a quick "inside RAM" test (exact when RAM is one range)
        self.ram_lo, self.ram_hi = self.ram[0][0], self.ram[-1][1]
        self._one_ram_range = len(self.ram) == 1
        self.cpus = {apic: Cpu(apic, CpuState.ONLINE if i == 0 else CpuState.FIRMWARE)
                     for i, apic in enumerate(td.apic_ids)}
        self.mailbox = Mailbox()
        self.k = Kernel()
        self.enabled = set(enabled) if enabled is not None else None
        self.found: list[Divergence] = []
        # whether an ACCEPT's status is the TDX module's: not in a trace read from text sources,
        # where a guest probe's failed tdx_accept_memory() stands as TDX_OPERAND_INVALID
        # (ingest/kprobe/decode.py: the function drops the status); replay sets it.
        # K003's messages name a status only when it is the module's or the host's
        self.accept_statuses_recorded = True
        # whether the trace can show conversions (MapGPA or convert events, or sources that
        # see them): K007's count is the model's only then; replay sets it
        self.counts_shared = True
        self.boot_seqs: list[int] = []   # every boot: the guest clock may restart there (T001)
        # From the pre-scan (plan_phases): explicit jump events and every boot, by seq. A
        # relocate_kernel CR4 write stands for the jump only in a generation without one.
        self.explicit_jumps: list[int] = []
        self.boot_points: list[int] = []
        self.gen_starts: list[int] = []  # boots that start a new generation
        # From the pre-scan (plan_deaths): the TD's death events as the host traced them, and
        # whether the trace can show CR4 writes at all (death.py)
        self.deaths: dict[int, str] = {}
        self.death_seqs = np.array([], dtype=np.uint64)
        self.sees_cr4 = True

    # --- helpers -------------------------------------------------------------------------------

    @property
    def dead(self) -> bool:
        return self.k.dead_seq is not None

    def emit(self, rule: str, message: str, seq: int | None, ts: int | None, vcpu: int | None,
             *, gpa: tuple[int, int] | None = None, apic_id: int | None = None,
             causes: Iterable[int | None] = (), pages: int | None = None,
             location: str | None = None, generation: int | None = None) -> None:
        if self.enabled is not None and rule not in self.enabled:
            return
        cause_seqs = sorted({c for c in causes if c is not None and c != NO_SEQ and c != seq})
        if gpa is not None and pages is None:
            pages = span_pages(*gpa)
        self.found.append(Divergence(
            rule=rule, message=message, seq=seq, ts_ns=ts, vcpu=vcpu,
            gpa_start=gpa[0] if gpa else None, gpa_end=gpa[1] if gpa else None, pages=pages,
            apic_id=apic_id, cause_seqs=cause_seqs,
            generation=self.k.generation if generation is None else generation,
            location=location))

    def _causes_in(self, start: int, end: int, states: tuple[int, ...]) -> list[int]:
        return sorted({c for _, _, st, c in self.pages.pieces(start, end)
                       if st in states and c != NO_SEQ})

    def _apic_of(self, vcpu: int) -> int | None:
        return self.td.apic_ids[vcpu] if vcpu < len(self.td.apic_ids) else None

    def _outside_ram(self, start: int, end: int) -> bool:
        for s, e in self.ram:  # noqa: SIM110 (a plain loop: this runs per MapGPA)
            if s <= start and end <= e:
                return False
        return True

    def _fatal(self, seq: int, ts: int, vcpu: int) -> None:
        """The TD dies here. Dying during a kexec still gets the jump-time checks (§4)."""
        if self.k.phase in KEXEC_IN_PROGRESS and not self.k.jumped:
            # the CPU running the kexec is the one that would have jumped, whichever vCPU
            # the fatal event is on
            self._jump_checks(seq, ts, vcpu, self.k.control_vcpu)
        else:
            self._settle_accounting(seq, ts, vcpu)  # no nr_shared line follows a death
        self.k.dead_seq = seq

    def _finish_own(self, vcpu: int, to_private: bool) -> bool:
        """A conversion of kexec_finish itself: to private, after `finish`, on its one CPU."""
        k = self.k
        return to_private and k.phase == "finishing" and vcpu == k.finish_vcpu

    def _convert(self, start: int, end: int, change: tuple[int, ...], seq: int, ts: int,
                 gen: int) -> None:
        """Convert the pages [start, end) touches: an unaligned range recorded as done (G003)
        still changes whole pages (§4, "converts the pages its range touches")."""
        if (start | end) & PAGE_MASK:
            start, end = start & ~PAGE_MASK, (end + PAGE_MASK) & ~PAGE_MASK
        self.pages.transition(start, end, change, seq, ts, gen)

    def _set_cpu(self, cpu: Cpu, state: CpuState, seq: int) -> None:
        cpu.state, cpu.since_seq, cpu.since_gen = state, seq, self.k.generation

    # --- provided by the kexec rules ---------------------------------------------------------

    def _jump(self, seq: int, ts: int, vcpu: int) -> None:
        raise NotImplementedError

    def _jump_checks(self, seq: int, ts: int, vcpu: int, jumper_vcpu: int | None = None) -> None:
        raise NotImplementedError

    def _settle_accounting(self, seq: int, ts: int, vcpu: int) -> None:
        raise NotImplementedError

    def _jump_event_follows(self, seq: int) -> bool:
        raise NotImplementedError
