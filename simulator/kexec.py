"""kexec and kdump as the kernel performs them (TDX-KEXEC.md §3), with the faults the scenarios
inject: an unfixed kernel, a bad CR4 write, conversions racing the stop, a failing unshare."""

from __future__ import annotations

from dataclasses import dataclass

from tdxray.schema.constants import (
    LOG_SHUTDOWN_MARKER,
    PAGE_SIZE,
    TDVMCALL_INVALID_OPERAND,
    TDVMCALL_RETRY,
    TDVMCALL_SUCCESS,
    Cr4,
    Subfn,
    cr4_bit,
)
from tdxray.simulator import console
from tdxray.simulator.conversions import (
    MapStep,
    accept_range,
    exhausted_answers,
    host_answers,
    issue_map_gpa,
)
from tdxray.simulator.kernel import MB2, Kernel
from tdxray.simulator.layout import (
    CR4_RUNNING,
    NEXT_KERNEL_BOOT_NS,
    PAGE_OFFSET_4LEVEL,
    PAGE_OFFSET_5LEVEL,
)

CR4_MODES = ("fixed", "clear-mce", "unfixed")
UNSHARE_FAULTS = (None, "invalid", "exhausted")


@dataclass(frozen=True)
class KexecPlan:
    """How this kernel's kexec goes wrong, if at all."""

    unfixed: bool = False  # no enc_kexec_begin/finish, APs left spinning, old CR4 write
    cr4: str = "fixed"
    race_after_begin: bool = False  # an AP starts a MapGPA after kexec_begin (K005)
    in_flight: bool = False  # an AP's conversion is stuck on RETRY when finish starts (K006)
    unshare: str | None = None  # finish's MapGPA of one range fails (K003)

    def __post_init__(self) -> None:
        if self.cr4 not in CR4_MODES or self.unshare not in UNSHARE_FAULTS:
            raise ValueError(f"bad kexec plan {self}")


def kexec(k: Kernel, plan: KexecPlan) -> bool:
    """`kexec -l` then `kexec -e`. False when the TD died at the jump."""
    k.s.emit(0, "kexec", phase="load")
    k.ms(500, 1500)
    k.log(0, LOG_SHUTDOWN_MARKER)
    k.s.noise_off(0)
    k.running.discard(0)
    k.s.emit(0, "kexec", phase="shutdown")
    if plan.in_flight:
        start_stuck_conversion(k)
    if not plan.unfixed:
        k.s.emit(0, "kexec", phase="begin")
    if plan.race_after_begin:
        racing_conversion(k)
    k.ms(0.5, 1.5)
    stop_aps(k, park=not plan.unfixed and k.cfg.mailbox_version >= 1)
    if not plan.unfixed:
        finish(k, plan.unshare)
    return jump(k, "unfixed" if plan.unfixed else plan.cr4)


def load_crash_kernel(k: Kernel) -> None:
    """`kexec -p` at boot: the kdump kernel waits in its reserved region."""
    k.s.emit(0, "kexec", phase="load")


def crash(k: Kernel, plan: KexecPlan) -> bool:
    """A panic: crash marker, APs stopped, begin and finish back to back, jump."""
    k.log(0, console.SYSRQ_CRASH)
    k.s.noise_off(0)
    k.running.discard(0)
    k.log(0, console.PANIC)
    k.s.emit(0, "kexec", phase="crash")
    k.ms(0.1, 0.5)
    stop_aps(k, park=k.cfg.mailbox_version >= 1)
    k.s.emit(0, "kexec", phase="begin")
    finish(k, plan.unshare)
    return jump(k, plan.cr4)


def stop_aps(k: Kernel, park: bool) -> None:
    """v1 (fixed kernel): each AP parks through the reset vector; else it spins in the kernel."""
    for ap in sorted(k.woken):
        k.s.emit(ap, "cpu", apic_id=ap, action="parked" if park else "stopped")
        k.s.noise_off(ap)
        k.running.discard(ap)
        if not park:
            k.s.emit(ap, "tdvmcall", subfn=int(Subfn.HLT), r12=1, status=TDVMCALL_SUCCESS)
    k.woken.clear()


def finish(k: Kernel, fault: str | None) -> None:
    """enc_kexec_finish: walk the direct map, make every shared PTE private again, then compare
    the pages found with nr_shared."""
    k.s.emit(0, "kexec", phase="finish")
    target = k.virtio[0][0] if k.virtio else None
    found = 0
    for start, end in pte_pieces(k):
        found += (end - start) // PAGE_SIZE
        k.mem.pte_shared.remove(start, end)
        steps = host_answers(k.rng, start, end)
        if fault is not None and start == target:
            steps = unshare_failure(start, fault)
        if issue_map_gpa(k.s, k.mem, k.sbit, 0, end, False, steps):
            demo = frozenset({(start, 1)}) if k.big and start == k.swiotlb[0] else frozenset()
            accept_range(k.s, k.mem, 0, start, end, demo)
        else:
            base = PAGE_OFFSET_5LEVEL if k.cfg.gpaw == 52 else PAGE_OFFSET_4LEVEL
            k.log(0, console.unshare_failed(base + start, base + end))
    if found != k.mem.nr_shared:
        k.log(0, console.ACCOUNTING_OFF)
        k.log(0, console.nr_shared_line(k.mem.nr_shared, found))
    k.ms(1, 5)


def pte_pieces(k: Kernel) -> list[tuple[int, int]]:
    """The direct map's shared mappings: 2 MiB where a whole aligned 2 MiB is shared, else 4 KiB."""
    pieces = []
    for start, end in k.mem.pte_shared:
        cur = start
        while cur < end:
            size = MB2 if cur % MB2 == 0 and end - cur >= MB2 else PAGE_SIZE
            pieces.append((cur, cur + size))
            cur += size
    return pieces


def unshare_failure(start: int, fault: str) -> list[MapStep]:
    if fault == "invalid":
        return [MapStep(start, TDVMCALL_INVALID_OPERAND)]
    if fault == "exhausted":
        return exhausted_answers(start)
    raise ValueError(f"unknown unshare fault {fault!r}")


def jump(k: Kernel, cr4: str) -> bool:
    """relocate_kernel: the jump, then its CR4 write. True when the TD survives it."""
    k.s.emit(0, "kexec", phase="jump")
    old = CR4_RUNNING | (cr4_bit(Cr4.LA57) if k.cfg.gpaw == 52 else 0)
    keep = cr4_bit(Cr4.PAE) | cr4_bit(Cr4.LA57)
    new = {
        "fixed": (old & keep) | cr4_bit(Cr4.MCE),
        "clear-mce": old & keep,
        "unfixed": cr4_bit(Cr4.PAE) | (old & cr4_bit(Cr4.LA57)),
    }[cr4]
    k.s.emit(0, "cr4_write", old=old, new=new, site="relocate_kernel")
    if not new & cr4_bit(Cr4.MCE):
        return False
    k.s.advance(NEXT_KERNEL_BOOT_NS)
    return True


# --- the faults around begin --------------------------------------------------------------------


def share_big_buffer(k: Kernel) -> None:
    """An AP shares a 4 MiB buffer and keeps it (the one the stuck conversion gives back)."""
    buf = k.heap.alloc(2 * MB2, MB2)
    if buf is None:
        raise RuntimeError("simulator heap exhausted")
    k.decrypt(1, buf, buf + 2 * MB2)
    k.big_buffer = (buf, buf + 2 * MB2)


def start_stuck_conversion(k: Kernel) -> None:
    """The AP frees the buffer: MapGPA to private, RETRY after one chunk, and the AP is stopped
    before it reissues it. Its PTEs and nr_shared still say shared (they change after)."""
    if k.big_buffer is None:
        raise RuntimeError("conversion-in-flight needs share_big_buffer first")
    start, end = k.big_buffer
    issue_map_gpa(k.s, k.mem, k.sbit, 1, end, False, [MapStep(start, TDVMCALL_RETRY, start + MB2)])


def racing_conversion(k: Kernel) -> None:
    """A driver on an AP shares a buffer after conversions were stopped (the lock was missed)."""
    buf = k.heap.alloc(4 * PAGE_SIZE)
    if buf is None:
        raise RuntimeError("simulator heap exhausted")
    k.decrypt(1, buf, buf + 4 * PAGE_SIZE)
