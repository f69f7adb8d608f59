"""TDG.MEM.PAGE.ACCEPT: statuses against page state (G004-G006) and failed unshares (K003)."""

from __future__ import annotations

from tdxray.model.base import (
    ModelBase,
    hex_range,
)
from tdxray.model.pagemap import ACCEPTED, PageState
from tdxray.schema.constants import (
    ACCEPT_LEVEL_NAMES,
    ACCEPT_LEVEL_SIZES,
    PAGE_SIZE,
    TDX_OPERAND_INVALID,
    TDX_PAGE_ALREADY_ACCEPTED,
    TDX_PAGE_SIZE_MISMATCH,
    TDX_SUCCESS,
    tdx_status_class,
    tdx_status_name,
)


class AcceptRules(ModelBase):
    # --- ACCEPT (TDG.MEM.PAGE.ACCEPT) ----------------------------------------------------------

    def accept(self, seq: int, ts: int, vcpu: int, gpa: int, level: int, status: int) -> None:
        if self.k.dead_seq is not None:
            return
        size = ACCEPT_LEVEL_SIZES.get(level)
        # the common case: a pending page accepted (one piece, inside RAM, nothing to say)
        if (status == TDX_SUCCESS and size is not None and not gpa % size and gpa < self.sbit
                and self.pages.accept_pending(gpa, gpa + size, seq, ts, self.k.generation)):
            return
        cls = tdx_status_class(status)
        # RAM holds private GPAs: compare without the shared bit; an unaligned ACCEPT (or one
        # of a level outside 0-2) names no level-sized range (the module refuses it), only the
        # page at its GPA
        start = gpa & ~self.sbit
        end = start + (size if size is not None and not gpa % size else PAGE_SIZE)
        if gpa >= self.gpa_limit:
            # the range it names, as for one outside RAM (§5: the GPA range involved)
            self.emit("T004", f"ACCEPT of {gpa:#x} lies beyond GPAW {self.td.gpaw}", seq, ts, vcpu,
                      gpa=(start, end), location=f"gpa:{gpa:x}")
        elif size is not None and self._outside_ram(start, end):
            self.emit("T004", f"ACCEPT of {hex_range(start, end)} lies outside RAM", seq, ts,
                      vcpu, gpa=(start, end))
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
            self.emit("G005", f"ACCEPT of {hex_range(gpa, end)} while it is shared (no MapGPA to "
                      "private before it)", seq, ts, vcpu, gpa=(gpa, end), causes=causes)
        else:
            self._check_accept_status(seq, ts, vcpu, gpa, end, level, status, states)
        if cls == TDX_PAGE_ALREADY_ACCEPTED:
            self.emit("G006", f"ACCEPT of {hex_range(gpa, end)} answered "
                      "TDX_PAGE_ALREADY_ACCEPTED: the page was accepted before", seq, ts, vcpu,
                      gpa=(gpa, end),
                      causes=self._causes_in(gpa, end, (PageState.PRIVATE,)))
        if cls != TDX_SUCCESS:
            # Linux's try_accept_one takes any non-zero status as a failure
            self._accept_failed(seq, ts, vcpu, gpa, size, level, status)
        if cls in (TDX_SUCCESS, TDX_PAGE_ALREADY_ACCEPTED):
            # the trace is the truth (§4): the module says the page is accepted
            self.pages.transition(gpa, end, ACCEPTED, seq, ts, self.k.generation)

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
        elif cls == TDX_OPERAND_INVALID and self.accept_statuses_recorded and (private or pending):
            # the module refuses only bad operands (a level outside 0-2, an unaligned or a
            # shared GPA: judged above); a text trace's failed ACCEPT carries no status
            expected = "TDX_SUCCESS" if not private else "TDX_PAGE_ALREADY_ACCEPTED" \
                if not pending else "TDX_SUCCESS or an error for its accepted part"
            why = f"its operands are valid (expected {expected})"
        else:
            return
        self.emit("G004", f"ACCEPT of {hex_range(gpa, end)} answered {tdx_status_name(status)} but "
                  f"{why}", seq, ts, vcpu, gpa=(gpa, end),
                  causes=self._causes_in(gpa, end, (PageState.PRIVATE, PageState.PENDING)))

    def _accept_failed(self, seq: int, ts: int, vcpu: int, gpa: int, size: int, level: int,
                       status: int) -> None:
        if level != 0 or not self._finish_own(vcpu, True):
            return
        end = gpa + size
        causes = self._causes_in(gpa, end, (PageState.PENDING, PageState.SHARED,
                                            PageState.PRIVATE))
        named = f" ({tdx_status_name(status)})" if self.accept_statuses_recorded else ""
        self.emit("K003", f"kexec_finish could not accept {hex_range(gpa, end)} even at 4 KiB"
                  f"{named}: the range stays unusable", seq, ts, vcpu,
                  gpa=(gpa, end), causes=causes)
