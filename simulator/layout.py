"""Where the simulated kernel puts things in guest-physical memory, and how long things take.

These are the simulator's choices (a q35-like VMM, an x86-64 kernel), not TDX ABI numbers.
"""

from __future__ import annotations

MIB = 1 << 20
GIB = 1 << 30

LOW_RAM_END = 0x80000000  # RAM above 2 GiB starts again at 4 GiB (the PCI hole is below 4 GiB)
HIGH_RAM_START = 0x100000000
RAM_ALIGN = 2 * MIB
MIN_MEMORY = 256 * MIB

MAILBOX_BELOW_LOW_END = 0x2A000  # firmware's MADT mailbox page, near the top of low RAM
RESERVED_TOP = 2 * MIB  # firmware-reserved top of low RAM (mailbox, ACPI tables)
WAKEUP_VECTOR = 0x9A000  # the real-mode trampoline

KERNEL_TEXT = (16 * MIB, 48 * MIB)  # pages the kernel (and vmcore readers) touch privately
HEAP = (64 * MIB, 192 * MIB)  # where drivers' shared buffers come from (bump allocated)
LAZY_BOOT_ACCEPT = 1 * GIB  # lazy memory: what the kernel accepts at boot, from 0 ...
LAZY_BOOT_ACCEPT_SMALL = 64 * MIB  # ... or this when low RAM is smaller than that
SWIOTLB_MAX = 64 * MIB
SWIOTLB_MIN = 2 * MIB

# Direct-map virtual base, for "Failed to unshare range" lines (4- and 5-level paging).
PAGE_OFFSET_4LEVEL = 0xFFFF888000000000
PAGE_OFFSET_5LEVEL = 0xFF11000000000000

# The CR4 value a running x86-64 kernel has (PAE|MCE|PGE|OSFXSR|OSXMMEXCPT|UMIP|FSGSBASE|PCIDE|
# OSXSAVE|SMEP|SMAP), LA57 added under 5-level paging.
CR4_RUNNING = 0x370EE0

# Time (ns). The script's clock ticks in whole microseconds; noise sits at half a microsecond.
TICK_NS = 1000
BOOT_AT_NS = 1_000_000_000
NEXT_KERNEL_BOOT_NS = 150_000_000
RUN_MIN_NS = 2_000_000_000
NOISE_NS_PER_EVENT = 50_000  # mean spacing of background exits on the timeline
