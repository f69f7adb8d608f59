"""Page states of the simulated TD: what is true, and what the running kernel believes."""

from __future__ import annotations

from dataclasses import dataclass, field

from tdxray.schema.constants import PAGE_SIZE
from tdxray.schema.td import TdConfig
from tdxray.simulator.ranges import RangeSet


@dataclass
class Memory:
    """The truth (shared, pending) and the kernel's view (direct-map PTEs, nr_shared).

    The two agree for a correct kernel; faulty scenarios make them differ on purpose.
    """

    shared: RangeSet = field(default_factory=RangeSet)
    pending: RangeSet = field(default_factory=RangeSet)
    pte_shared: RangeSet = field(default_factory=RangeSet)
    nr_shared: int = 0

    @classmethod
    def initial(cls, td: TdConfig) -> Memory:
        pending = RangeSet(td.ram) if td.memory == "lazy" else RangeSet()
        return cls(pending=pending)

    def converted(self, start: int, end: int, to_shared: bool) -> None:
        """What a MapGPA that the host completed over [start, end) did (TDX-KEXEC.md §4)."""
        if to_shared:
            self.shared.add(start, end)
            self.pending.remove(start, end)
            return
        for s, e in self.shared.intersection(start, end):
            self.shared.remove(s, e)
            self.pending.add(s, e)

    def accepted(self, start: int, end: int) -> None:
        self.shared.remove(start, end)  # an accept of a shared page makes it private (G005)
        self.pending.remove(start, end)

    def new_kernel(self) -> None:
        """A new kernel believes every page private: its PTEs and counter start clean."""
        self.pte_shared = RangeSet()
        self.nr_shared = 0


class Heap:
    """Bump allocator for drivers' buffers; never reuses an address within one trace."""

    def __init__(self, start: int, end: int) -> None:
        self.next = start
        self.end = end

    def alloc(self, size: int, align: int = PAGE_SIZE) -> int | None:
        start = -(-self.next // align) * align
        if start + size > self.end:
            return None
        self.next = start + size
        return start
