"""Host-observed conversions and memory accesses through either mapping (A001-A003)."""

from __future__ import annotations

from tdxray.model.base import (
    ModelBase,
    hex_range,
)
from tdxray.model.pagemap import TO_PRIVATE, TO_SHARED, PageState
from tdxray.schema.constants import (
    PAGE_SIZE,
)


class AccessRules(ModelBase):
    # --- host-observed conversions and memory accesses ------------------------------------------

    def convert(self, seq: int, ts: int, vcpu: int, gpa: int, size: int,
                to_private: bool) -> None:
        if self.dead:
            return
        start = gpa & ~self.sbit
        end = start + size
        if end > self.gpa_limit:
            self.emit("T004", f"conversion {hex_range(start, end)} lies beyond GPAW {self.td.gpaw}",
                      seq, ts, vcpu, gpa=(start, end), location=f"gpa:{gpa:x}")
        elif size and self._outside_ram(start, end):
            self.emit("T004", f"conversion {hex_range(start, end)} lies outside RAM", seq, ts, vcpu,
                      gpa=(start, end))
        change = TO_PRIVATE if to_private else TO_SHARED
        self._convert(start, end, change, seq, ts, self.k.generation)

    def mem_access(self, seq: int, ts: int, vcpu: int, gpa: int, write: bool) -> None:
        if self.dead:
            return
        if gpa >= self.gpa_limit:
            page = gpa & ~self.sbit & ~(PAGE_SIZE - 1)  # the page accessed (§5), as A00x
            self.emit("T004", f"access to {gpa:#x} lies beyond GPAW {self.td.gpaw}", seq, ts, vcpu,
                      gpa=(page, page + PAGE_SIZE), location=f"gpa:{gpa:x}")
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
