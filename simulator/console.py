"""Console lines the simulated kernel prints. Ordinary lines never carry a marker the model reads
(the shutdown/boot markers, the tdx accounting and unshare messages) unless the story means it."""

from __future__ import annotations

from tdxray.schema.constants import LOG_ACCOUNTING_OFF, LOG_NR_SHARED, LOG_UNSHARE_FAILED

GUEST_DETECTED = "tdx: Guest detected"
SMP_BRINGUP = "smp: Bringing up secondary CPUs ..."
NO_MAILBOX = "No MADT mailbox: cannot bringup secondary CPUs. Booting with kexec?"
SYSRQ_CRASH = "sysrq: Trigger a crash"
PANIC = "Kernel panic - not syncing: sysrq triggered crash"
ACCOUNTING_OFF = f"tdx: {LOG_ACCOUNTING_OFF}"
KDUMP_CMDLINE = "Kernel command line: console=ttyS0 reset_devices nr_cpus=1 elfcorehdr=0x2f000000"

ORDINARY = (
    "random: crng init done",
    "EXT4-fs (vda1): mounted filesystem with ordered data mode. Quota mode: none.",
    "systemd[1]: Started systemd-journald.service - Journal Service.",
    "virtio_net virtio1 enp0s1: renamed from eth0",
    "NET: Registered PF_VSOCK protocol family",
    "clocksource: Switched to clocksource tsc",
    "audit: type=1130 audit(0.0:42): pid=1 uid=0 msg='unit=sshd comm=\"systemd\" res=success'",
    "virtio_blk virtio2: [vda] 41943040 512-byte logical blocks (21.5 GB/20.0 GiB)",
)


def smp_done(cpus: int) -> str:
    return f"smp: Brought up 1 node, {cpus} CPU{'s' if cpus > 1 else ''}"


def swiotlb_line(start: int, end: int) -> str:
    return f"software IO TLB: mapped [mem {start:#018x}-{end - 1:#018x}] ({(end - start) >> 20}MB)"


def unshare_failed(va_start: int, va_end: int) -> str:
    return f"tdx: {LOG_UNSHARE_FAILED} {va_start:#x}-{va_end:#x}"


def nr_shared_line(nr_shared: int, nr_found: int) -> str:
    return f"tdx: {LOG_NR_SHARED}{nr_shared}, nr_found = {nr_found}"
