"""The simulated guest kernel: boots, brings up APs, shares I/O buffers, runs. It writes its
story into a Script and keeps the page states (Memory) true to what the events did."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from tdxray.schema.constants import (
    ACCEPT_LEVEL_SIZES,
    MAILBOX_COMMAND_NONE,
    MAILBOX_COMMAND_WAKEUP,
    PAGE_SIZE,
    shared_bit,
)
from tdxray.simulator import console
from tdxray.simulator.config import SimConfig, low_ram_end, td_config
from tdxray.simulator.conversions import MapStep, accept_range, host_answers, issue_map_gpa
from tdxray.simulator.layout import (
    BOOT_AT_NS,
    HEAP,
    KERNEL_TEXT,
    LAZY_BOOT_ACCEPT,
    LAZY_BOOT_ACCEPT_SMALL,
    NOISE_NS_PER_EVENT,
    RESERVED_TOP,
    RUN_MIN_NS,
    SWIOTLB_MAX,
    SWIOTLB_MIN,
    WAKEUP_VECTOR,
)
from tdxray.simulator.memory import Heap, Memory
from tdxray.simulator.script import Script

MB2 = ACCEPT_LEVEL_SIZES[1]
GB1 = ACCEPT_LEVEL_SIZES[2]
BIG_BUDGET = 200_000  # from this many events on, the story shows the 512-event accept fallbacks
VCPUS_PER_TIMELINE = 16  # more vCPUs than this stretch the timeline (noise needs free slots)

Hook = tuple[float, Callable[[], None]]


class Kernel:
    """One TD's kernels, generation after generation."""

    def __init__(self, cfg: SimConfig, rng: np.random.Generator) -> None:
        self.cfg = cfg
        self.td = td_config(cfg)
        self.rng = rng
        self.s = Script()
        self.mem = Memory.initial(self.td)
        self.heap = Heap(*HEAP)
        self.sbit = shared_bit(cfg.gpaw)
        self.gen = -1
        self.running: set[int] = set()
        self.woken: set[int] = set()
        self.virtio: list[tuple[int, int]] = []
        self.big_buffer: tuple[int, int] | None = None
        self.big = cfg.events >= BIG_BUDGET
        low = low_ram_end(cfg.memory)
        size = min(SWIOTLB_MAX, max(SWIOTLB_MIN, (low // 64) // MB2 * MB2))
        self.swiotlb = (low - RESERVED_TOP - size, low - RESERVED_TOP)

    # --- small helpers -------------------------------------------------------------------------

    @property
    def aps(self) -> list[int]:
        return list(range(1, self.cfg.vcpus))

    def pick(self) -> int:
        """A vCPU running kernel code now."""
        running = sorted(self.running)
        return running[int(self.rng.integers(len(running)))]

    def log(self, vcpu: int, text: str) -> None:
        self.s.emit(vcpu, "log", text=text)

    def ms(self, lo: float, hi: float) -> None:
        self.s.advance(int(self.rng.uniform(lo, hi) * 1_000_000))

    def run_ns(self) -> int:
        stretch = -(-self.cfg.vcpus // VCPUS_PER_TIMELINE)
        return max(RUN_MIN_NS, self.cfg.events // 2 * NOISE_NS_PER_EVENT * stretch)

    # --- a generation ----------------------------------------------------------------------------

    def generation(self, hooks: Sequence[Hook] = ()) -> None:
        self.boot()
        self.bring_up()
        self.setup_io()
        self.run(hooks)

    def boot(self) -> None:
        self.gen += 1
        if self.gen == 0:
            self.s.advance_to(BOOT_AT_NS)
        self.mem.new_kernel()
        self.running, self.woken = {0}, set()
        self.s.emit(0, "kexec", phase="boot")
        self.s.noise_on(0)
        self.log(0, console.GUEST_DETECTED)
        if self.gen == 0 and self.td.memory == "lazy":
            low = low_ram_end(self.cfg.memory)
            end = LAZY_BOOT_ACCEPT if low >= LAZY_BOOT_ACCEPT else LAZY_BOOT_ACCEPT_SMALL
            demo = frozenset({(0, 2)}) if self.big else frozenset()
            accept_range(self.s, self.mem, 0, 0, end, demo)
        self.ms(50, 100)

    def bring_up(self) -> None:
        if self.cfg.vcpus == 1:
            return
        if self.gen > 0 and self.cfg.mailbox_version == 0:
            self.log(0, console.NO_MAILBOX)
            return
        self.log(0, console.SMP_BRINGUP)
        for ap in self.aps:
            self.wake(ap)
        self.log(0, console.smp_done(self.cfg.vcpus))

    def wake(self, ap: int, apic_id: int | None = None, repeat: bool = False) -> None:
        """WAKEUP through the MADT mailbox; `repeat` rewrites it before the AP answers (M001)."""
        self.wakeup_command(ap if apic_id is None else apic_id)
        if repeat:
            self.ms(5, 10)
            self.s.emit(0, "mailbox_read", field="command", value=MAILBOX_COMMAND_WAKEUP)
            self.wakeup_command(ap)
        self.s.advance(int(self.rng.integers(40_000, 70_000)))
        self.s.emit(ap, "mailbox_write", field="command", value=MAILBOX_COMMAND_NONE)
        self.s.emit(0, "mailbox_read", field="command", value=MAILBOX_COMMAND_NONE)
        self.s.emit(ap, "cpu", apic_id=ap, action="woken")
        self.s.noise_on(ap)
        self.running.add(ap)
        self.woken.add(ap)
        self.ms(10, 20)

    def wakeup_command(self, apic_id: int) -> None:
        self.s.emit(0, "mailbox_write", field="apic_id", value=apic_id)
        self.s.emit(0, "mailbox_write", field="wakeup_vector", value=WAKEUP_VECTOR)
        self.s.emit(0, "mailbox_write", field="command", value=MAILBOX_COMMAND_WAKEUP)

    def setup_io(self) -> None:
        start, end = self.swiotlb
        self.decrypt(0, start, end)
        self.log(0, console.swiotlb_line(start, end))
        self.virtio = []
        for _ in range(2):
            pages = int(self.rng.integers(1, 5))
            buf = self.heap.alloc(pages * PAGE_SIZE)
            if buf is None:
                break
            self.decrypt(0, buf, buf + pages * PAGE_SIZE)
            self.s.emit(0, "mem_access", gpa=buf | self.sbit, write=True)
            self.virtio.append((buf, buf + pages * PAGE_SIZE))
        self.ms(100, 300)

    # --- conversions as set_memory_{de,en}crypted do them ----------------------------------------

    def decrypt(self, vcpu: int, start: int, end: int, steps: Sequence[MapStep] | None = None,
                account: bool = True) -> None:
        """Private -> shared: the PTEs turn shared, then MapGPA; nr_shared counts it. The buffer
        was just allocated, and the allocator accepted its memory (in 2 MiB units) first."""
        self.accept_units(vcpu, start, end)
        self.mem.pte_shared.add(start, end)
        plan = host_answers(self.rng, start, end) if steps is None else steps
        issue_map_gpa(self.s, self.mem, self.sbit, vcpu, end, True, plan)
        if account:
            self.mem.nr_shared += (end - start) // PAGE_SIZE

    def encrypt(self, vcpu: int, start: int, end: int) -> None:
        """Shared -> private: MapGPA without the shared bit, ACCEPT every page, then the PTEs."""
        if issue_map_gpa(self.s, self.mem, self.sbit, vcpu, end, False,
                         host_answers(self.rng, start, end)):
            accept_range(self.s, self.mem, vcpu, start, end)
        self.mem.pte_shared.remove(start, end)
        self.mem.nr_shared -= (end - start) // PAGE_SIZE

    # --- the running system ----------------------------------------------------------------------

    def run(self, hooks: Sequence[Hook] = (), busy: bool = True) -> None:
        """Ordinary life: buffers come and go, pages get touched, the console talks. A kernel
        that is not `busy` (stuck in bring-up, or a capture kernel) only talks and reads."""
        start, length = self.s.now, self.run_ns()
        events = self.cfg.events
        acts: list[tuple[float, Callable[[], None]]] = list(hooks)
        counts: list[tuple[int, Callable[[], None]]] = [
            (min(100, max(1, events // 8000)) if busy else 0, self.churn),
            (min(100, max(2, events // 5000)), self.chatter),
            (min(200, max(1, events // 2000)), self.touch_private),
            (min(200, max(1, events // 4000)) if busy and self.td.memory == "lazy" else 0,
             self.accept_more),
        ]
        for count, act in counts:
            acts.extend((float(t), act) for t in self.rng.random(count))
        acts.sort(key=lambda item: item[0])
        for frac, act in acts:
            self.s.advance_to(start + int(frac * length))
            if self.running:
                act()
        self.s.advance_to(start + length)

    def churn(self) -> None:
        """A driver shares a buffer, uses it, and usually gives it back."""
        vcpu = self.pick()
        if self.big and self.rng.random() < 0.05:
            size = int(self.rng.integers(1, 3)) * MB2
            buf = self.heap.alloc(size, MB2)
        else:
            size = int(self.rng.integers(1, 9)) * PAGE_SIZE
            buf = self.heap.alloc(size)
        if buf is None:
            return
        self.decrypt(vcpu, buf, buf + size)
        self.s.emit(vcpu, "mem_access", gpa=buf | self.sbit, write=bool(self.rng.random() < 0.5))
        if self.rng.random() < 0.7:
            self.ms(1, 20)
            self.encrypt(self.pick(), buf, buf + size)

    def chatter(self) -> None:
        self.log(self.pick(), console.ORDINARY[int(self.rng.integers(len(console.ORDINARY)))])

    def touch_private(self) -> None:
        pages = (KERNEL_TEXT[1] - KERNEL_TEXT[0]) // PAGE_SIZE
        gpa = KERNEL_TEXT[0] + int(self.rng.integers(pages)) * PAGE_SIZE
        self.s.emit(self.pick(), "mem_access", gpa=gpa, write=bool(self.rng.random() < 0.3))

    def accept_units(self, vcpu: int, start: int, end: int) -> None:
        """accept_memory(): the pending 2 MiB units overlapping [start, end)."""
        lo, hi = start // MB2 * MB2, -(-end // MB2) * MB2
        for s, e in self.mem.pending.intersection(lo, hi):
            accept_range(self.s, self.mem, vcpu, s, e)

    def vmcore_read(self) -> None:
        """makedumpfile reads an old-kernel page through a private mapping."""
        pages = (KERNEL_TEXT[1] - KERNEL_TEXT[0]) // PAGE_SIZE
        self.s.emit(0, "mem_access", gpa=KERNEL_TEXT[0] + int(self.rng.integers(pages)) * PAGE_SIZE,
                    write=False)

    def accept_more(self) -> None:
        """Lazy memory: the allocator reaches a 2 MiB unit nobody accepted yet."""
        for s, e in self.mem.pending:
            unit = -(-s // MB2) * MB2
            if unit + MB2 <= e:
                accept_range(self.s, self.mem, self.pick(), unit, unit + MB2)
                return
