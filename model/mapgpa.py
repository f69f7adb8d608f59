"""MapGPA (TDG.VP.VMCALL<MapGPA>): operations, RETRY resumes, statuses (G001-G003, K003, K005)."""

from __future__ import annotations

from tdxray.model.base import (
    ModelBase,
    hex_range,
)
from tdxray.model.pagemap import TO_PRIVATE, TO_SHARED, PageState
from tdxray.model.state import MapGpaOp
from tdxray.schema.constants import (
    MAPGPA_MAX_NO_PROGRESS,
    PAGE_SIZE,
    TDVMCALL_ALIGN_ERROR,
    TDVMCALL_RETRY,
    TDVMCALL_SUCCESS,
    tdvmcall_status_name,
)


class MapGpaRules(ModelBase):
    # --- MapGPA (TDG.VP.VMCALL<MapGPA>) --------------------------------------------------------

    def map_gpa(self, seq: int, ts: int, vcpu: int, gpa: int, size: int, status: int,
                resume: int | None) -> None:
        k = self.k
        if k.dead_seq is not None:
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
                      seq, ts, vcpu, gpa=(start, end) if size else None, location=f"gpa:{gpa:x}")
        elif size and not (self.ram_lo <= start and end <= self.ram_hi
                           and self._one_ram_range) and self._outside_ram(start, end):
            direction = "private" if to_private else "shared"
            self.emit("T004", f"MapGPA to {direction} of {hex_range(start, end)} lies outside RAM",
                      seq, ts, vcpu, gpa=(start, end))
        if invalid or misaligned or status == TDVMCALL_ALIGN_ERROR:
            self._check_mapgpa_status(seq, ts, vcpu, gpa, size, status, invalid, misaligned)

        ops = k.ops
        op = ops.get(vcpu)
        if op is not None and op.open and op.to_private == to_private and op.end == end:
            self._continue(op, seq, ts, vcpu, start)
        else:
            if k.conversions_stopped:
                self._check_start(seq, ts, vcpu, start, end, to_private)
            if status == TDVMCALL_SUCCESS and not invalid:
                # the common case: an operation done in one call; nothing to remember
                if op is not None:
                    del ops[vcpu]
                self._convert(start, end, TO_PRIVATE if to_private else TO_SHARED, seq, ts,
                              k.generation)
                return
            op = MapGpaOp(to_private, start, end, first_seq=seq,
                          in_finish=self._finish_own(vcpu, to_private))
            ops[vcpu] = op
        if status == TDVMCALL_SUCCESS and not invalid:
            op.open = False
            self._convert(start, end, TO_PRIVATE if to_private else TO_SHARED, seq, ts,
                          k.generation)
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
                      gpa=self._call_range(gpa, size), location=f"gpa:{gpa:x}+{size:x}")
        elif status == TDVMCALL_ALIGN_ERROR and not misaligned and not invalid:
            self.emit("G003", f"MapGPA {gpa:#x}+{size:#x} is 4 KiB aligned but the host "
                      "answered ALIGN_ERROR", seq, ts, vcpu, gpa=self._call_range(gpa, size))

    def _call_range(self, gpa: int, size: int) -> tuple[int, int] | None:
        """The GPA range a MapGPA names, without the shared bit (None if it has no pages)."""
        start = gpa & ~self.sbit
        return (start, start + size) if size and start + size < 1 << 64 else None

    def _check_start(self, seq: int, ts: int, vcpu: int, start: int, end: int,
                     to_private: bool) -> None:
        """A new operation: after kexec_begin only finish's own conversions may start (K005)."""
        k = self.k
        if k.conversions_stopped and not self._finish_own(vcpu, to_private):
            direction = "private" if to_private else "shared"
            where = "kexec_finish" if k.finished else "kexec_begin"
            self.emit("K005", f"MapGPA to {direction} of {hex_range(start, end)} starts after "
                      f"{where} stopped conversions (set_memory_*crypted must fail with -EBUSY)",
                      seq, ts, vcpu, gpa=(start, end), causes=[k.begin_seq])

    def _continue(self, op: MapGpaOp, seq: int, ts: int, vcpu: int, start: int) -> None:
        if op.abandoned is not None:
            if not op.g002_reported:
                op.g002_reported = True
                why = (f"{MAPGPA_MAX_NO_PROGRESS} consecutive RETRYs without progress"
                       if op.abandoned == "exhausted" else "a RETRY whose R11 lies outside "
                       f"{hex_range(op.start, op.end)}")
                self.emit("G002", f"MapGPA continues operation {hex_range(op.start, op.end)} after "
                          f"{why}: the kernel must have given up", seq, ts, vcpu,
                          gpa=(op.start, op.end), causes=[op.abandon_seq])
            return
        resume = op.resume if op.resume is not None else op.start
        if start != resume:
            lo, hi = min(start, resume), max(start, resume)
            what = "skips" if start > resume else "goes back over"
            self.emit("G001", f"MapGPA continuation starts at {start:#x}, not at the RETRY's "
                      f"R11 {resume:#x}: it {what} {hex_range(lo, hi)}, which "
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
            # a text source's failed tdx_map_gpa() call carries no status of its own
            named = f" with {tdvmcall_status_name(status)}" if self.accept_statuses_recorded else ""
            self._unshare_failed(op, seq, ts, vcpu, start, end, f"MapGPA to private failed{named}")
            return
        op.open = True
        op.last_retry_seq = seq
        r11 = (resume if resume is not None else start) & ~self.sbit
        # tdx_map_gpa() compares R11 with start and end as issued, shared bit included: an R11
        # whose shared bit differs from R12's is outside the range, and the kernel gives up
        bit_differs = resume is not None and bool(resume & self.sbit) == op.to_private
        if bit_differs or not start <= r11 < end:
            why = ": its shared bit differs from R12's" if bit_differs else ""
            shown = resume if bit_differs and resume is not None else r11
            self.emit("G003", f"MapGPA RETRY with R11 {shown:#x} outside {hex_range(start, end)}"
                      f"{why} (an invalid host answer)", seq, ts, vcpu, gpa=(start, end),
                      location=f"r11:{shown:x}")
            op.abandoned, op.abandon_seq = "r11", seq
            # K003's causes are what shared the range, before the RETRY converts any of it
            self._unshare_failed(op, seq, ts, vcpu, start, end,
                                 "MapGPA to private got a RETRY with R11 outside the range")
            if r11 > start:
                self._convert(start, min(r11, end), change, seq, ts, gen)
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

    def _unshare_failed(self, op: MapGpaOp, seq: int, ts: int, vcpu: int, start: int, end: int,
                        why: str) -> None:
        if not op.to_private or op.failed_reported or not self._finish_own(vcpu, True):
            return
        op.failed_reported = True
        causes = self._causes_in(start, end, (PageState.SHARED,))
        self.emit("K003", f"kexec_finish could not make {hex_range(start, end)} private: {why}",
                  seq, ts, vcpu, gpa=(start, end), causes=causes)
