"""A version-1 MADT wakeup structure that the kernel takes as version 0 (acpi_parse_mp_wake()
in arch/x86/kernel/acpi/madt_wakeup.c, linux 6.12): shorter than 24 bytes, or with a reset
vector acpi_mp_setup_reset() could not map ("Failed to setup MADT reset vector"). Then
smp_ops.stop_this_cpu stays unset and an AP's stop_this_cpu spins in kernel code: `stopped`."""

from __future__ import annotations

from tdxray.ingest.kprobe.decode import GuestDecoder
from tdxray.schema.td import Mailbox, TdConfig

V1 = TdConfig(apic_ids=(0, 1), mailbox=Mailbox(1, 0x7FFD6000, 0x7FFD7000))
STOP = ("stop_cpu", "(stop_this_cpu+0x4/0xc0)", 1)
BANNER = "Linux version 6.12.0-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP"


def actions(decoder: GuestDecoder, *lines: str | tuple[str, str, int]) -> list[str]:
    out = []
    for line in lines:
        if isinstance(line, str):
            decoder.log(line)
        else:
            out += [e.values["action"] for e in decoder.decode(*line, ts=0)]
    return out


def test_a_failed_reset_vector_leaves_the_ap_stopped_until_the_next_banner() -> None:
    decoder = GuestDecoder(V1)
    assert actions(decoder, STOP) == ["parked"]
    assert actions(decoder, "Failed to setup MADT reset vector", STOP) == ["stopped"]
    assert actions(decoder, "Failed to hand over CPU 1 to BIOS", STOP) == ["stopped"]
    assert actions(decoder, BANNER, STOP) == ["parked"]  # the next kernel sets smp_ops again


def test_a_v1_structure_without_its_reset_vector_acts_as_v0() -> None:
    short = TdConfig(apic_ids=(0, 1), mailbox=Mailbox(1, 0x7FFD6000))
    assert actions(GuestDecoder(short), STOP, BANNER, STOP) == ["stopped", "stopped"]
    v0 = TdConfig(apic_ids=(0, 1), mailbox=Mailbox(0, 0x7FFD6000))
    assert actions(GuestDecoder(v0), STOP) == ["stopped"]
