"""Each scenario's story: a TD's life told with the Kernel's and kexec's steps.

A story runs the kernel through its generations; faults are injected at a fraction of a
generation's running time (hooks) or as a KexecPlan.
"""

from __future__ import annotations

from collections.abc import Callable

from tdxray.schema.constants import (
    MAILBOX_COMMAND_WAKEUP,
    PAGE_SIZE,
    TDVMCALL_RETRY,
    TDVMCALL_SUCCESS,
    TDX_PAGE_ALREADY_ACCEPTED,
    TDX_SUCCESS,
)
from tdxray.simulator import console
from tdxray.simulator.conversions import MapStep
from tdxray.simulator.kernel import MB2, Kernel
from tdxray.simulator.kexec import KexecPlan, crash, kexec, load_crash_kernel, share_big_buffer
from tdxray.simulator.layout import KERNEL_TEXT

Story = Callable[[Kernel], None]
VMCORE_READS = 8


def kexec_story(plan: KexecPlan) -> Story:
    """Generation 0 runs and kexecs (as `plan` says); generation 1 runs if the TD survived."""

    def story(k: Kernel) -> None:
        k.generation()
        if kexec(k, plan):
            k.generation()
    return story


def clean_kdump(k: Kernel) -> None:
    k.generation([(0.02, lambda: load_crash_kernel(k))])
    crash(k, KexecPlan())
    kdump_kernel(k, leaked=None)


def kdump_shared_read(k: Kernel) -> None:
    """finish cannot unshare one page (RETRYs exhausted); makedumpfile then reads it privately."""
    k.generation([(0.02, lambda: load_crash_kernel(k))])
    leaked = k.virtio[0][0]
    crash(k, KexecPlan(unshare="exhausted"))
    kdump_kernel(k, leaked)


def kdump_kernel(k: Kernel, leaked: int | None) -> None:
    """The capture kernel: one CPU, reads the old kernel's memory through /proc/vmcore."""
    k.boot()
    k.log(0, console.KDUMP_CMDLINE)
    reads = [(float(t), k.vmcore_read) for t in k.rng.random(VMCORE_READS)]
    k.run(reads, busy=False)
    if leaked is not None:
        k.s.emit(0, "mem_access", gpa=leaked, write=False)  # private mapping of a shared page
        k.s.noise_off(0)


def retry_skip(k: Kernel) -> None:
    """A clean kexec, then the new kernel's MapGPA loop resumes 2 MiB past R11 (G001)."""
    k.generation()
    kexec(k, KexecPlan())
    k.generation([(0.5, lambda: skipping_conversion(k))])


def skipping_conversion(k: Kernel) -> None:
    buf = k.heap.alloc(4 * MB2, MB2)
    if buf is None:
        raise RuntimeError("simulator heap exhausted")
    steps = [MapStep(buf, TDVMCALL_RETRY, buf + MB2), MapStep(buf + 2 * MB2, TDVMCALL_SUCCESS)]
    k.decrypt(k.pick(), buf, buf + 4 * MB2, steps)


def conversion_in_flight(k: Kernel) -> None:
    k.generation([(0.3, lambda: share_big_buffer(k))])
    kexec(k, KexecPlan(in_flight=True))
    k.generation()


def accounting_mismatch(k: Kernel) -> None:
    """A driver shares pages behind the kernel's back: nr_shared misses them (K007)."""
    def unaccounted() -> None:
        buf = k.heap.alloc(3 * PAGE_SIZE)
        if buf is None:
            raise RuntimeError("simulator heap exhausted")
        k.decrypt(k.pick(), buf, buf + 3 * PAGE_SIZE, account=False)

    k.generation([(0.4, unaccounted)])
    kexec(k, KexecPlan())
    k.generation()


def mailbox_misuse(k: Kernel) -> None:
    """WAKEUP rewritten before the AP answered (M001); WAKEUP of an APIC id the TD lacks (M004),
    which nobody answers: the boot CPU waits forever while the APs idle."""
    k.boot()
    k.log(0, console.SMP_BRINGUP)
    for ap in k.aps:
        k.wake(ap, repeat=ap == 1)
    k.wakeup_command(k.cfg.vcpus)
    k.s.emit(0, "mailbox_read", field="command", value=MAILBOX_COMMAND_WAKEUP)
    k.s.noise_off(0)
    k.running.discard(0)
    k.run(busy=False)


def accept_misuse(k: Kernel) -> None:
    """An ACCEPT of an accepted page (G006) and a buffer freed by ACCEPT alone (G005)."""
    def double_accept() -> None:
        page = KERNEL_TEXT[0] + 0x40 * PAGE_SIZE
        k.s.emit(k.pick(), "accept", gpa=page, level=0, status=TDX_PAGE_ALREADY_ACCEPTED)

    def accept_shared() -> None:
        vcpu = k.pick()
        buf = k.heap.alloc(PAGE_SIZE)
        if buf is None:
            raise RuntimeError("simulator heap exhausted")
        k.decrypt(vcpu, buf, buf + PAGE_SIZE)
        k.ms(1, 5)
        k.s.emit(vcpu, "accept", gpa=buf, level=0, status=TDX_SUCCESS)  # no MapGPA first
        k.mem.accepted(buf, buf + PAGE_SIZE)  # the host converted it implicitly
        k.mem.pte_shared.remove(buf, buf + PAGE_SIZE)
        k.mem.nr_shared -= 1

    k.generation([(0.3, double_accept), (0.6, accept_shared)])
    kexec(k, KexecPlan())
    k.generation()
