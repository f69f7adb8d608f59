"""The sequential core of the TDX kexec model (TDX-KEXEC.md §2–§5).

It sees only the events that change model state or carry an outcome the model predicts
(MapGPA, ACCEPT, CR4, mailbox, CPU, kexec phases, conversions, memory accesses, accounting
messages). Background traffic is counted and checked in bulk by `bulk.py`.

The trace is the truth about what happened: every handler first judges the event against what
should have happened, then moves the state to what the trace says happened.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from tdxray.model.divergence import Divergence
from tdxray.model.pagemap import ACCEPTED, NO_SEQ, TO_PRIVATE, TO_SHARED, PageMap, PageState
from tdxray.model.state import Cpu, CpuState, Kernel, Mailbox, MapGpaOp
from tdxray.schema.constants import (
    ACCEPT_LEVEL_NAMES,
    ACCEPT_LEVEL_SIZES,
    MAILBOX_COMMAND_NAMES,
    MAILBOX_COMMAND_TEST,
    MAILBOX_COMMAND_WAKEUP,
    MAILBOX_TEST_TIMEOUT_NS,
    MAPGPA_MAX_NO_PROGRESS,
    PAGE_SHIFT,
    PAGE_SIZE,
    TD_ATTR_PKS,
    TDVMCALL_ALIGN_ERROR,
    TDVMCALL_RETRY,
    TDVMCALL_SUCCESS,
    TDX_OPERAND_INVALID,
    TDX_PAGE_ALREADY_ACCEPTED,
    TDX_PAGE_SIZE_MISMATCH,
    TDX_SUCCESS,
    XFAM_CET,
    XFAM_PK,
    XFAM_ULI,
    Cr4,
    cr4_bit,
    tdvmcall_status_name,
    tdx_status_class,
    tdx_status_name,
)
from tdxray.schema.td import TdConfig

NR_SHARED_RE = re.compile(r"nr_shared = (-?\d+), nr_found = (-?\d+)")
ACCOUNTING_OFF = "shared page accounting is off"
NR_SHARED = "nr_shared = "
MCE = cr4_bit(Cr4.MCE)
KEXEC_IN_PROGRESS = ("stopping", "finishing", "crashed")
_NOT_ACCEPTED = (int(PageState.PENDING), int(PageState.UNACCEPTED))


def _pages(start: int, end: int) -> int:
    return (end - start) >> PAGE_SHIFT


def _count(start: int, end: int) -> str:
    n = _pages(start, end)
    return f"{n} page{'s' if n != 1 else ''}"


def _rng(start: int, end: int) -> str:
    return f"[{start:#x}, {end:#x})"


class Model:
    """Replays core events in seq order and collects divergences in `self.found`."""

    def __init__(self, td: TdConfig, enabled: Iterable[str] | None = None) -> None:
        self.td = td
        self.sbit = td.shared_bit
        self.gpa_limit = 1 << td.gpaw
        initial = PageState.PRIVATE if td.memory == "accepted" else PageState.UNACCEPTED
        self.pages = PageMap(self.sbit, td.ram, initial)
        self.cpus = {apic: Cpu(apic, CpuState.ONLINE if i == 0 else CpuState.FIRMWARE)
                     for i, apic in enumerate(td.apic_ids)}
        self.mailbox = Mailbox()
        self.k = Kernel()
        self.enabled = set(enabled) if enabled is not None else None
        self.found: list[Divergence] = []
        self.last: tuple[int, int, int] | None = None  # (seq, ts, vcpu) of the last core event
        self.boot_seqs: list[int] = []   # every boot: the guest clock may restart there (T001)
        self.gen_starts: list[int] = []  # boots that start a new generation

    # --- helpers -------------------------------------------------------------------------------

    @property
    def dead(self) -> bool:
        return self.k.dead_seq is not None

    def emit(self, rule: str, message: str, seq: int | None, ts: int | None, vcpu: int | None,
             *, gpa: tuple[int, int] | None = None, apic_id: int | None = None,
             causes: Iterable[int] = (), pages: int | None = None, location: str | None = None,
             generation: int | None = None) -> None:
        if self.enabled is not None and rule not in self.enabled:
            return
        cause_seqs = sorted({c for c in causes if c is not None and c != NO_SEQ and c != seq})
        if gpa is not None and pages is None:
            pages = _pages(*gpa)
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
        for s, e in self.td.ram:  # noqa: SIM110 (a plain loop: this runs per MapGPA)
            if s <= start and end <= e:
                return False
        return True

    def _fatal(self, seq: int, ts: int, vcpu: int) -> None:
        """The TD dies here. Dying during a kexec still gets the jump-time checks (§4)."""
        if self.k.phase in KEXEC_IN_PROGRESS and not self.k.jumped:
            self._jump_checks(seq, ts, vcpu)
        self.k.dead_seq = seq

    def _touch(self, seq: int, ts: int, vcpu: int) -> None:
        self.last = (seq, ts, vcpu)

    # --- MapGPA (TDG.VP.VMCALL<MapGPA>) --------------------------------------------------------

    def map_gpa(self, seq: int, ts: int, vcpu: int, gpa: int, size: int, status: int,
                resume: int | None) -> None:
        self.last = (seq, ts, vcpu)
        if self.k.dead_seq is not None:
            return
        sbit = self.sbit
        to_private = not gpa & sbit
        start = gpa & ~sbit
        end = start + size
        last = gpa + size - 1
        beyond = gpa >= self.gpa_limit or last >= self.gpa_limit
        invalid = size == 0 or beyond or bool((gpa ^ last) & sbit)
        misaligned = bool((gpa | size) & (PAGE_SIZE - 1))
        if beyond:
            self.emit("T004", f"MapGPA {gpa:#x}+{size:#x} lies beyond GPAW {self.td.gpaw}",
                      seq, ts, vcpu, location=f"gpa:{gpa:x}")
        elif size and self._outside_ram(start, end):
            direction = "private" if to_private else "shared"
            self.emit("T004", f"MapGPA to {direction} of {_rng(start, end)} lies outside RAM",
                      seq, ts, vcpu, gpa=(start, end))
        if invalid or misaligned or status == TDVMCALL_ALIGN_ERROR:
            self._check_mapgpa_status(seq, ts, vcpu, gpa, size, status, invalid, misaligned)

        op = self.k.ops.get(vcpu)
        if op is not None and op.open and op.to_private == to_private and op.end == end:
            self._continue(op, seq, ts, vcpu, start)
        else:
            op = self._start(seq, ts, vcpu, start, end, to_private)
        if status == TDVMCALL_SUCCESS and not invalid:
            op.open = False
            self.pages.transition(start, end, TO_PRIVATE if to_private else TO_SHARED, seq, ts,
                                  self.k.generation)
        else:
            self._outcome(op, seq, ts, vcpu, start, end, status, resume, invalid or misaligned)

    def _check_mapgpa_status(self, seq: int, ts: int, vcpu: int, gpa: int, size: int,
                             status: int, invalid: bool, misaligned: bool) -> None:
        ok = status in (TDVMCALL_SUCCESS, TDVMCALL_RETRY)
        if (invalid or misaligned) and ok:
            why = "invalid operands" if invalid else "an unaligned start or size"
            expected = "INVALID_OPERAND" if invalid else "ALIGN_ERROR"
            self.emit("G003", f"MapGPA {gpa:#x}+{size:#x} has {why} but the host answered "
                      f"{tdvmcall_status_name(status)} (expected {expected})", seq, ts, vcpu,
                      location=f"gpa:{gpa:x}+{size:x}")
        elif status == TDVMCALL_ALIGN_ERROR and not misaligned and not invalid:
            self.emit("G003", f"MapGPA {gpa:#x}+{size:#x} is 4 KiB aligned but the host "
                      "answered ALIGN_ERROR", seq, ts, vcpu, location=f"gpa:{gpa:x}+{size:x}")

    def _start(self, seq: int, ts: int, vcpu: int, start: int, end: int,
               to_private: bool) -> MapGpaOp:
        k = self.k
        finish_own = k.phase == "finishing" and to_private
        if k.conversions_stopped and not finish_own:
            direction = "private" if to_private else "shared"
            where = "kexec_finish" if k.finished else "kexec_begin"
            self.emit("K005", f"MapGPA to {direction} of {_rng(start, end)} starts after {where}"
                      " stopped conversions (set_memory_*crypted must fail with -EBUSY)",
                      seq, ts, vcpu, gpa=(start, end), causes=[k.begin_seq])
        op = MapGpaOp(to_private, start, end, first_seq=seq, in_finish=finish_own)
        k.ops[vcpu] = op
        return op

    def _continue(self, op: MapGpaOp, seq: int, ts: int, vcpu: int, start: int) -> None:
        if op.abandoned is not None:
            if not op.g002_reported:
                op.g002_reported = True
                why = (f"{MAPGPA_MAX_NO_PROGRESS} consecutive RETRYs without progress"
                       if op.abandoned == "exhausted" else "a RETRY whose R11 lies outside "
                       f"{_rng(op.start, op.end)}")
                self.emit("G002", f"MapGPA continues operation {_rng(op.start, op.end)} after "
                          f"{why}: the kernel must have given up", seq, ts, vcpu,
                          gpa=(op.start, op.end), causes=[op.abandon_seq])
            return
        resume = op.resume if op.resume is not None else op.start
        if start != resume:
            lo, hi = min(start, resume), max(start, resume)
            what = "skips" if start > resume else "goes back over"
            self.emit("G001", f"MapGPA continuation starts at {start:#x}, not at the RETRY's "
                      f"R11 {resume:#x}: it {what} {_rng(lo, hi)}, which "
                      f"{'stays unconverted' if start > resume else 'is converted twice'}",
                      seq, ts, vcpu, gpa=(lo, hi), causes=[op.last_retry_seq])

    def _outcome(self, op: MapGpaOp, seq: int, ts: int, vcpu: int, start: int, end: int,
                 status: int, resume: int | None, bad_operands: bool) -> None:
        change = TO_PRIVATE if op.to_private else TO_SHARED
        gen = self.k.generation
        if status == TDVMCALL_SUCCESS:
            op.open = False
            if not bad_operands or end > start:
                self._convert(start, end, change, seq, ts, gen)
            return
        if status != TDVMCALL_RETRY:
            op.open = False
            self._unshare_failed(op, seq, ts, vcpu, start, end,
                                 f"MapGPA to private failed with {tdvmcall_status_name(status)}")
            return
        op.open = True
        op.last_retry_seq = seq
        r11 = (resume if resume is not None else start) & ~self.sbit
        if not start <= r11 < end:
            self.emit("G003", f"MapGPA RETRY with R11 {r11:#x} outside {_rng(start, end)} "
                      "(an invalid host answer)", seq, ts, vcpu, location=f"r11:{r11:x}")
            if r11 > start:
                self._convert(start, min(r11, end), change, seq, ts, gen)
            op.abandoned, op.abandon_seq = "r11", seq
            self._unshare_failed(op, seq, ts, vcpu, start, end,
                                 "MapGPA to private got a RETRY with R11 outside the range")
            return
        if r11 > start:
            self._convert(start, r11, change, seq, ts, gen)
            op.no_progress = 0
        else:
            op.no_progress += 1
        op.resume = r11
        if op.no_progress >= MAPGPA_MAX_NO_PROGRESS:
            op.abandoned, op.abandon_seq = "exhausted", seq
            self._unshare_failed(op, seq, ts, vcpu, start, end,
                                 f"MapGPA to private got {MAPGPA_MAX_NO_PROGRESS} RETRYs "
                                 "without progress")

    def _convert(self, start: int, end: int, change: tuple[int, ...], seq: int, ts: int,
                 gen: int) -> None:
        self.pages.transition(start, end, change, seq, ts, gen)

    def _unshare_failed(self, op: MapGpaOp, seq: int, ts: int, vcpu: int, start: int, end: int,
                        why: str) -> None:
        if not op.to_private or self.k.phase != "finishing" or op.failed_reported:
            return
        op.failed_reported = True
        causes = self._causes_in(start, end, (PageState.SHARED,))
        self.emit("K003", f"kexec_finish could not make {_rng(start, end)} private: {why}",
                  seq, ts, vcpu, gpa=(start, end), causes=causes)

    # --- ACCEPT (TDG.MEM.PAGE.ACCEPT) ----------------------------------------------------------

    def accept(self, seq: int, ts: int, vcpu: int, gpa: int, level: int, status: int) -> None:
        self.last = (seq, ts, vcpu)
        if self.k.dead_seq is not None:
            return
        size = ACCEPT_LEVEL_SIZES.get(level)
        if status == TDX_SUCCESS and size is not None and not gpa % size and gpa < self.sbit:
            # the common case: a pending page accepted (one piece, inside RAM, nothing to say)
            end = gpa + size
            if self.pages.uniform_state(gpa, end) in _NOT_ACCEPTED:
                self.pages.transition(gpa, end, ACCEPTED, seq, ts, self.k.generation)
                return
        cls = tdx_status_class(status)
        if gpa >= self.gpa_limit:
            self.emit("T004", f"ACCEPT of {gpa:#x} lies beyond GPAW {self.td.gpaw}", seq, ts, vcpu,
                      location=f"gpa:{gpa:x}")
        elif size is not None and self._outside_ram(gpa, gpa + size):
            self.emit("T004", f"ACCEPT of {_rng(gpa, gpa + size)} lies outside RAM", seq, ts,
                      vcpu, gpa=(gpa, gpa + size))
        if size is None or gpa % size or gpa & self.sbit or gpa >= self.gpa_limit:
            why = (f"level {level} is not 0-2" if size is None
                   else f"GPA {gpa:#x} is not aligned to {ACCEPT_LEVEL_NAMES[level]}"
                   if gpa % size else f"GPA {gpa:#x} is not a private GPA")
            if cls != TDX_OPERAND_INVALID:
                self.emit("G004", f"ACCEPT answered {tdx_status_name(status)} but {why}: the "
                          "TDX module answers TDX_OPERAND_INVALID", seq, ts, vcpu,
                          location=f"gpa:{gpa:x}/{level}")
            if cls == TDX_PAGE_ALREADY_ACCEPTED:
                self.emit("G006", f"ACCEPT of {gpa:#x} answered TDX_PAGE_ALREADY_ACCEPTED", seq,
                          ts, vcpu, location=f"gpa:{gpa:x}/{level}")
            self._accept_failed(seq, ts, vcpu, gpa, PAGE_SIZE, level, status)
            return
        end = gpa + size
        states = {st for _, _, st, _ in self.pages.pieces(gpa, end)}
        if PageState.SHARED in states:
            causes = self._causes_in(gpa, end, (PageState.SHARED,))
            self.emit("G005", f"ACCEPT of {_rng(gpa, end)} while it is shared (no MapGPA to "
                      "private before it)", seq, ts, vcpu, gpa=(gpa, end), causes=causes)
        else:
            self._check_accept_status(seq, ts, vcpu, gpa, end, level, status, states)
        if cls == TDX_PAGE_ALREADY_ACCEPTED:
            self.emit("G006", f"ACCEPT of {_rng(gpa, end)} answered TDX_PAGE_ALREADY_ACCEPTED: "
                      "the page was accepted before", seq, ts, vcpu, gpa=(gpa, end),
                      causes=self._causes_in(gpa, end, (PageState.PRIVATE,)))
        if cls == TDX_SUCCESS:
            self.pages.transition(gpa, end, ACCEPTED, seq, ts, self.k.generation)
        else:
            self._accept_failed(seq, ts, vcpu, gpa, size, level, status)

    def _check_accept_status(self, seq: int, ts: int, vcpu: int, gpa: int, end: int,
                             level: int, status: int, states: set[int]) -> None:
        cls = tdx_status_class(status)
        private = PageState.PRIVATE in states
        pending = bool(states & {PageState.PENDING, PageState.UNACCEPTED})
        if cls == TDX_SUCCESS and private:
            expected = "TDX_PAGE_ALREADY_ACCEPTED" if not pending else "an error (partly accepted)"
            why = f"the page is already accepted (expected {expected})"
        elif cls == TDX_PAGE_ALREADY_ACCEPTED and not private and pending:
            why = "no page of it was accepted (expected TDX_SUCCESS)"
        elif cls == TDX_PAGE_SIZE_MISMATCH and level == 0:
            why = "a 4 KiB ACCEPT cannot meet a smaller host page"
        else:
            return
        self.emit("G004", f"ACCEPT of {_rng(gpa, end)} answered {tdx_status_name(status)} but "
                  f"{why}", seq, ts, vcpu, gpa=(gpa, end),
                  causes=self._causes_in(gpa, end, (PageState.PRIVATE, PageState.PENDING)))

    def _accept_failed(self, seq: int, ts: int, vcpu: int, gpa: int, size: int, level: int,
                       status: int) -> None:
        if self.k.phase != "finishing" or level != 0:
            return
        end = gpa + size
        causes = self._causes_in(gpa, end, (PageState.PENDING, PageState.SHARED,
                                            PageState.PRIVATE))
        self.emit("K003", f"kexec_finish could not accept {_rng(gpa, end)} even at 4 KiB "
                  f"({tdx_status_name(status)}): the range stays unusable", seq, ts, vcpu,
                  gpa=(gpa, end), causes=causes)

    # --- host-observed conversions and memory accesses ------------------------------------------

    def convert(self, seq: int, ts: int, vcpu: int, gpa: int, size: int,
                to_private: bool) -> None:
        self._touch(seq, ts, vcpu)
        if self.dead:
            return
        start = gpa & ~self.sbit
        end = start + size
        if end > self.gpa_limit:
            self.emit("T004", f"conversion {_rng(start, end)} lies beyond GPAW {self.td.gpaw}",
                      seq, ts, vcpu, location=f"gpa:{gpa:x}")
        elif size and self._outside_ram(start, end):
            self.emit("T004", f"conversion {_rng(start, end)} lies outside RAM", seq, ts, vcpu,
                      gpa=(start, end))
        change = TO_PRIVATE if to_private else TO_SHARED
        self._convert(start, end, change, seq, ts, self.k.generation)

    def mem_access(self, seq: int, ts: int, vcpu: int, gpa: int, write: bool) -> None:
        self._touch(seq, ts, vcpu)
        if self.dead:
            return
        if gpa >= self.gpa_limit:
            self.emit("T004", f"access to {gpa:#x} lies beyond GPAW {self.td.gpaw}", seq, ts, vcpu,
                      location=f"gpa:{gpa:x}")
            return
        shared_mapping = bool(gpa & self.sbit)
        page = gpa & ~self.sbit & ~(PAGE_SIZE - 1)
        state, cause = self.pages.state_at(page)
        rng = (page, page + PAGE_SIZE)
        verb = "write" if write else "read"
        if state == PageState.NONE:
            return
        if not shared_mapping and state == PageState.SHARED:
            self.emit("A001", f"private-mapping {verb} of shared page {page:#x}: the TD takes an "
                      "unrecoverable exit", seq, ts, vcpu, gpa=rng, causes=[cause])
            self._fatal(seq, ts, vcpu)
        elif not shared_mapping and state in (PageState.PENDING, PageState.UNACCEPTED):
            what = "never accepted" if state == PageState.UNACCEPTED else "converted back to " \
                "private and not accepted"
            self.emit("A003", f"private-mapping {verb} of page {page:#x}, which is {what}",
                      seq, ts, vcpu, gpa=rng, causes=[cause])
        elif shared_mapping and state != PageState.SHARED:
            self.emit("A002", f"shared-mapping {verb} of private page {page:#x} (#VE)", seq, ts,
                      vcpu, gpa=rng, causes=[cause])

    # --- CR4 -----------------------------------------------------------------------------------

    def cr4_write(self, seq: int, ts: int, vcpu: int, old: int, new: int,
                  site: str | None) -> None:
        self._touch(seq, ts, vcpu)
        if self.dead:
            return
        if site == "relocate_kernel" and not self.k.jumped:
            # A trace with no jump takes the first relocate_kernel CR4 write as its jump (§4).
            self._jump(seq, ts, vcpu)
        forbidden = self._forbidden_cr4(new)
        if forbidden:
            names = ", ".join(forbidden)
            self.emit("C002", f"CR4 write {old:#x} -> {new:#x} sets {names}, which this TD may not "
                      "set (#GP)", seq, ts, vcpu, location=f"vcpu:{vcpu}:{names}")
        apic = self._apic_of(vcpu)
        if apic is not None:
            self.cpus[apic].cr4 = new
        if not new & MCE:
            where = f" in {site}" if site else ""
            self.emit("C001", f"CR4 write {old:#x} -> {new:#x}{where} clears MCE: #VE"
                      f"{' with no IDT: the TD dies' if site == 'relocate_kernel' else ''}",
                      seq, ts, vcpu)
            self._fatal(seq, ts, vcpu)

    def _forbidden_cr4(self, new: int) -> list[str]:
        td = self.td
        bad = []
        if new & cr4_bit(Cr4.KL):
            bad.append("KL")
        if td.attributes is not None and new & cr4_bit(Cr4.PKS) and not td.attributes & TD_ATTR_PKS:
            bad.append("PKS")
        if td.xfam is not None:
            if new & cr4_bit(Cr4.PKE) and not td.xfam & XFAM_PK:
                bad.append("PKE")
            if new & cr4_bit(Cr4.CET) and td.xfam & XFAM_CET != XFAM_CET:
                bad.append("CET")
            if new & cr4_bit(Cr4.UINTR) and not td.xfam & XFAM_ULI:
                bad.append("UINTR")
        return bad

    # --- the MADT multiprocessor-wakeup mailbox --------------------------------------------------

    def mailbox_write(self, seq: int, ts: int, vcpu: int, field: str, value: int) -> None:
        self._touch(seq, ts, vcpu)
        if self.dead:
            return
        mb = self.mailbox
        if field == "apic_id":
            mb.apic_id, mb.apic_seq, mb.wrote_apic = value, seq, True
        elif field == "wakeup_vector":
            mb.wrote_vector = True
        elif field == "command":
            if value == 0:
                self._acknowledge(seq)
            else:
                self._command(seq, ts, vcpu, value)

    def mailbox_read(self, seq: int, ts: int, vcpu: int, field: str, value: int) -> None:
        self._touch(seq, ts, vcpu)
        if self.dead:
            return
        if field == "command" and value == 0:
            self._acknowledge(seq)

    def _command(self, seq: int, ts: int, vcpu: int, command: int) -> None:
        mb = self.mailbox
        name = MAILBOX_COMMAND_NAMES.get(command, f"command {command}")
        apic = mb.apic_id
        if mb.command:
            pending = MAILBOX_COMMAND_NAMES.get(mb.command, str(mb.command))
            self.emit("M001", f"{name} written while {pending} for APIC id {mb.command_apic} is "
                      "unacknowledged", seq, ts, vcpu, apic_id=apic, causes=[mb.command_seq])
        missing = [] if mb.wrote_apic else ["apic_id"]
        if command == MAILBOX_COMMAND_WAKEUP and not mb.wrote_vector:
            missing.append("wakeup_vector")
        if missing:
            self.emit("M002", f"{name} written without {' and '.join(missing)} since the last "
                      "command", seq, ts, vcpu, apic_id=apic, causes=[mb.command_seq],
                      location=f"apic:{apic}:missing")
        if apic is not None and apic not in self.cpus:
            self.emit("M004", f"{name} names APIC id {apic}, which the TD does not have "
                      f"(APIC ids {', '.join(map(str, self.td.apic_ids))})", seq, ts, vcpu,
                      apic_id=apic, causes=[mb.apic_seq])
        version = self.td.mailbox.version if self.td.mailbox is not None else None
        if command == MAILBOX_COMMAND_TEST and version == 0:
            self.emit("M006", f"TEST for APIC id {apic} on a version-0 mailbox (TEST exists only "
                      "in version 1)", seq, ts, vcpu, apic_id=apic)
        mb.command, mb.command_seq, mb.command_ts, mb.command_apic = command, seq, ts, apic
        mb.wrote_apic = mb.wrote_vector = False
        mb.test_deadline = (ts + MAILBOX_TEST_TIMEOUT_NS
                            if command == MAILBOX_COMMAND_TEST and version == 1 else None)
        if command == MAILBOX_COMMAND_WAKEUP and apic in self.cpus:
            self._check_wakeup_target(seq, ts, vcpu, self.cpus[apic])

    def _check_wakeup_target(self, seq: int, ts: int, vcpu: int, cpu: Cpu) -> None:
        if cpu.state == CpuState.ONLINE:
            self.emit("M003", f"WAKEUP names APIC id {cpu.apic_id}, which is already online: it "
                      "never polls the mailbox again and the OS waits forever", seq, ts, vcpu,
                      apic_id=cpu.apic_id, causes=[cpu.since_seq])
            self._fatal(seq, ts, vcpu)
        elif cpu.state == CpuState.STOPPED and cpu.since_gen < self.k.generation:
            self.emit("M007", f"WAKEUP names APIC id {cpu.apic_id}, which generation "
                      f"{cpu.since_gen} left spinning in kernel code: it never answers", seq, ts,
                      vcpu, apic_id=cpu.apic_id, causes=[cpu.since_seq])
            self._fatal(seq, ts, vcpu)

    def _acknowledge(self, seq: int) -> None:
        mb = self.mailbox
        if not mb.command:
            return
        cpu = self.cpus.get(mb.command_apic) if mb.command_apic is not None else None
        if cpu is not None:
            if mb.command == MAILBOX_COMMAND_WAKEUP:
                self._set_cpu(cpu, CpuState.ONLINE, seq)
            elif mb.command == MAILBOX_COMMAND_TEST:
                self._set_cpu(cpu, CpuState.FIRMWARE, seq)
        mb.command = 0
        mb.test_deadline = None

    def test_overdue(self, seq: int, ts: int, vcpu: int) -> None:
        """The engine found the first event more than 1 s after an unacknowledged TEST (M005)."""
        mb = self.mailbox
        if self.dead or mb.test_deadline is None:
            return
        self.emit("M005", f"TEST for APIC id {mb.command_apic} not acknowledged within 1 s "
                  "(\"Failed to hand over CPU to BIOS\")", seq, ts, vcpu,
                  apic_id=mb.command_apic, causes=[mb.command_seq])
        mb.test_deadline = None

    # --- vCPUs ---------------------------------------------------------------------------------

    def cpu(self, seq: int, ts: int, vcpu: int, apic_id: int, action: str) -> None:
        self._touch(seq, ts, vcpu)
        if self.dead:
            return
        cpu = self.cpus.get(apic_id)
        if cpu is None:
            self.emit("T004", f"cpu {action} names APIC id {apic_id}, which the TD does not have",
                      seq, ts, vcpu, apic_id=apic_id)
            return
        state = {"woken": CpuState.ONLINE, "online": CpuState.ONLINE,
                 "parked": CpuState.FIRMWARE, "stopped": CpuState.STOPPED}.get(action)
        if state is not None:
            self._set_cpu(cpu, state, seq)

    def _set_cpu(self, cpu: Cpu, state: CpuState, seq: int) -> None:
        cpu.state, cpu.since_seq, cpu.since_gen = state, seq, self.k.generation

    # --- kexec phases --------------------------------------------------------------------------

    def kexec(self, seq: int, ts: int, vcpu: int, phase: str) -> None:
        self._touch(seq, ts, vcpu)
        if self.dead:
            return
        k = self.k
        if phase == "boot":
            self._boot(seq, ts, vcpu)
            return
        k.saw_kexec_event = True
        if phase == "begin":
            k.conversions_stopped, k.began, k.begin_seq = True, True, seq
            if k.phase != "finishing":
                k.phase = "stopping"
        elif phase == "crash":
            k.crashed = True
            k.phase = "crashed"
        elif phase == "finish":
            self._finish(seq, ts, vcpu)
        elif phase == "jump" and not k.jumped:
            self._jump(seq, ts, vcpu)

    def _finish(self, seq: int, ts: int, vcpu: int) -> None:
        k = self.k
        for op_vcpu, op in sorted(k.ops.items()):
            if op.open and op.abandoned is None:
                start = op.resume if op.resume is not None else op.start
                direction = "private" if op.to_private else "shared"
                self.emit("K006", f"kexec_finish starts while vCPU {op_vcpu}'s MapGPA to "
                          f"{direction} of {_rng(op.start, op.end)} waits on a RETRY (resume "
                          f"{start:#x})", seq, ts, vcpu, gpa=(start, op.end),
                          causes=[op.last_retry_seq])
        k.shared_at_finish = self.pages.count(PageState.SHARED)
        k.finished = True
        k.conversions_stopped = True
        k.phase = "finishing"

    def _jump(self, seq: int, ts: int, vcpu: int) -> None:
        self._jump_checks(seq, ts, vcpu)
        self.k.jumped = True
        self.k.phase = "jumped"

    def _jump_checks(self, seq: int, ts: int, vcpu: int) -> None:
        """The point of no return: what the next kernel inherits (K001, K002, K004, M008)."""
        self._settle_accounting()
        shared_total = 0
        all_causes: set[int] = set()
        for start, end, causes in self.pages.runs(PageState.SHARED):
            shared_total += _pages(start, end)
            all_causes.update(causes)
            self.emit("K001", f"{_rng(start, end)} ({_count(start, end)}) is still shared "
                      "at the kexec jump: the next kernel will use it as private", seq, ts, vcpu,
                      gpa=(start, end), causes=causes)
        for start, end, causes in self.pages.runs(PageState.PENDING):
            self.emit("K002", f"{_rng(start, end)} ({_count(start, end)}) was converted "
                      "back to private but never accepted, and is not in the unaccepted table",
                      seq, ts, vcpu, gpa=(start, end), causes=causes)
        if not self.k.finished and shared_total:
            self.emit("K004", f"jump with no kexec_finish in this generation while "
                      f"{shared_total} pages are shared (a kernel without TDX kexec support)",
                      seq, ts, vcpu, pages=shared_total, causes=all_causes,
                      location="jump")
        jumper = self._apic_of(vcpu)
        for cpu in self.cpus.values():
            if cpu.apic_id == jumper or cpu.state not in (CpuState.ONLINE, CpuState.STOPPED):
                continue
            how = "online" if cpu.state == CpuState.ONLINE else "stopped in kernel code"
            self.emit("M008", f"APIC id {cpu.apic_id} is {how} at the jump: the next kernel "
                      "cannot wake it", seq, ts, vcpu, apic_id=cpu.apic_id,
                      causes=[cpu.since_seq])
            if cpu.state == CpuState.ONLINE:
                cpu.state, cpu.since_gen = CpuState.STOPPED, self.k.generation

    def _boot(self, seq: int, ts: int, vcpu: int) -> None:
        k = self.k
        first = not k.booted and not k.saw_kexec_event and k.generation == 0
        k.booted = True
        k.clock_gen += 1
        self.boot_seqs.append(seq)
        if first:
            return  # marks generation 0's start, no jump implied (§4)
        self.gen_starts.append(seq)
        if not k.jumped:
            self._jump(seq, ts, vcpu)  # a new generation's boot without a jump (§4)
        self._settle_accounting()
        self.k = Kernel(generation=k.generation + 1, booted=True, saw_kexec_event=True,
                        clock_gen=k.clock_gen)
        for cpu in self.cpus.values():
            if cpu.apic_id == self._apic_of(vcpu):
                self._set_cpu(cpu, CpuState.ONLINE, seq)

    # --- console messages ----------------------------------------------------------------------

    def log(self, seq: int, ts: int, vcpu: int, text: str) -> None:
        self._touch(seq, ts, vcpu)
        if self.dead:
            return
        if ACCOUNTING_OFF in text:
            self._settle_accounting()
            self.k.accounting_off = (seq, ts, vcpu)
            return
        match = NR_SHARED_RE.search(text)
        if match is None:
            return
        nr_shared, nr_found = int(match.group(1)), int(match.group(2))
        k = self.k
        model = k.shared_at_finish if k.shared_at_finish is not None else \
            self.pages.count(PageState.SHARED)
        off = k.accounting_off
        k.accounting_off = None
        if nr_shared != model or nr_found != model:
            self.emit("K007", f"the guest counted nr_shared = {nr_shared}, nr_found = {nr_found}; "
                      f"the model holds {model} pages shared at kexec_finish", seq, ts, vcpu,
                      causes=[off[0]] if off else [], pages=model, location="accounting")

    def _settle_accounting(self) -> None:
        """"shared page accounting is off" with no nr_shared line after it: K007 on its own."""
        off = self.k.accounting_off
        if off is None:
            return
        self.k.accounting_off = None
        self.emit("K007", "the guest reports \"shared page accounting is off\"", off[0], off[1],
                  off[2], location="accounting")

    # --- end of trace --------------------------------------------------------------------------

    def end(self) -> None:
        if not self.dead:
            self._settle_accounting()
