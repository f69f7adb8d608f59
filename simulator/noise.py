"""Background TDVMCALL traffic, generated in bulk with numpy.

Each exit is drawn from a small weighted table of templates (HLT, x2APIC MSR writes, serial and
PCI-config port I/O, virtio MMIO, CPUID, RDMSR), so register values have low entropy and the
Parquet columns compress well. Noise never changes page state and never touches memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import cast

import numpy as np

from tdxray.schema.constants import Subfn

IO_OUT, IO_IN = 1, 0
MMIO_WRITE, MMIO_READ = 1, 0
VIRTIO_NOTIFY = 0xFE003000  # virtio-pci notify BAR (outside RAM, reached by its shared alias)
VIRTIO_ISR = 0xFE001000
COM1, COM1_LSR = 0x3F8, 0x3FD
PCI_CONFIG_ADDRESS, PCI_CONFIG_DATA = 0xCF8, 0xCFC
MSR_X2APIC_ICR, MSR_X2APIC_TMICT = 0x830, 0x838
MSR_APIC_BASE, MSR_PKG_ENERGY_STATUS = 0x1B, 0x611

# (weight, subfn, r12, r13, r14, r15, varying r15: (span, step)); None = register not given.
_TEMPLATES: tuple[tuple[float, int, int, int | None, int | None, int | None, tuple[int, int]],
                  ...] = (
    (0.29, Subfn.HLT, 0, None, None, None, (1, 0)),
    (0.01, Subfn.HLT, 1, None, None, None, (1, 0)),
    (0.10, Subfn.WRMSR, MSR_X2APIC_TMICT, 0x61A80, None, None, (1, 0)),
    (0.06, Subfn.WRMSR, MSR_X2APIC_TMICT, 0x30D40, None, None, (1, 0)),
    (0.03, Subfn.WRMSR, MSR_X2APIC_ICR, 0xFB, None, None, (1, 0)),
    (0.03, Subfn.WRMSR, MSR_X2APIC_ICR, 0x1000000FD, None, None, (1, 0)),
    (0.08, Subfn.IO, 1, IO_OUT, COM1, 0x20, (0x5F, 1)),
    (0.06, Subfn.IO, 1, IO_IN, COM1_LSR, None, (1, 0)),
    (0.03, Subfn.IO, 4, IO_OUT, PCI_CONFIG_ADDRESS, 0x80000800, (16, 4)),
    (0.03, Subfn.IO, 4, IO_IN, PCI_CONFIG_DATA, None, (1, 0)),
    (0.06, Subfn.MMIO, 2, MMIO_WRITE, VIRTIO_NOTIFY, 0, (3, 1)),
    (0.06, Subfn.MMIO, 1, MMIO_READ, VIRTIO_ISR, None, (1, 0)),
    (0.03, Subfn.CPUID, 0x1, 0, None, None, (1, 0)),
    (0.02, Subfn.CPUID, 0xB, 0, None, None, (1, 0)),
    (0.02, Subfn.CPUID, 0xB, 1, None, None, (1, 0)),
    (0.01, Subfn.CPUID, 0x40000000, 0, None, None, (1, 0)),
    (0.05, Subfn.RDMSR, MSR_APIC_BASE, None, None, None, (1, 0)),
    (0.03, Subfn.RDMSR, MSR_PKG_ENERGY_STATUS, None, None, None, (1, 0)),
)
REGISTERS = ("r12", "r13", "r14", "r15")
HALF_TICK_NS = 500


@dataclass(frozen=True)
class Templates:
    cdf: np.ndarray
    subfn: np.ndarray
    values: dict[str, np.ndarray]
    given: dict[str, np.ndarray]
    span: np.ndarray
    step: np.ndarray


@cache
def templates(shared_bit: int) -> Templates:
    weights = np.array([t[0] for t in _TEMPLATES])
    cdf = np.cumsum(weights / weights.sum())
    cdf[-1] = 1.0
    values: dict[str, np.ndarray] = {}
    given: dict[str, np.ndarray] = {}
    for i, name in enumerate(REGISTERS):
        raw = [cast(int | None, t[2 + i]) for t in _TEMPLATES]
        if name == "r14":  # MMIO addresses are reached through the shared mapping
            raw = [v | shared_bit if v is not None and t[1] == Subfn.MMIO else v
                   for v, t in zip(raw, _TEMPLATES, strict=True)]
        values[name] = np.array([0 if v is None else v for v in raw], dtype=np.uint64)
        given[name] = np.array([v is not None for v in raw])
    return Templates(
        cdf=cdf,
        subfn=np.array([int(t[1]) for t in _TEMPLATES], dtype=np.uint64),
        values=values,
        given=given,
        span=np.array([t[6][0] for t in _TEMPLATES], dtype=np.int64),
        step=np.array([t[6][1] for t in _TEMPLATES], dtype=np.uint64),
    )


@dataclass(frozen=True)
class NoiseBlock:
    """`count` background exits, sorted by time; registers as (values, given) pairs."""

    ts: np.ndarray
    vcpu: np.ndarray
    subfn: np.ndarray
    registers: dict[str, tuple[np.ndarray, np.ndarray]]

    def __len__(self) -> int:
        return len(self.ts)


def noise_block(rng: np.random.Generator, start_ns: int, end_ns: int, vcpus: tuple[int, ...],
                count: int, shared_bit: int) -> NoiseBlock:
    """Exits strictly inside (start_ns, end_ns), at distinct half-microsecond instants.

    start_ns is a whole microsecond; slots are the microseconds after it, each used at most once,
    so timestamps never repeat (and per-vCPU time strictly increases).
    """
    slots = (end_ns - start_ns) // 1000 - 1
    if count > slots:
        raise ValueError(f"{count} noise events do not fit in {slots} microsecond slots")
    pos = np.sort(rng.integers(0, slots - count + 1, size=count)) + np.arange(count)
    ts = start_ns + (pos + 1) * 1000 + HALF_TICK_NS
    online = np.asarray(vcpus, dtype=np.uint32)
    vcpu = online[rng.integers(0, len(online), size=count)]
    tpl = templates(shared_bit)
    kind = np.searchsorted(tpl.cdf, rng.random(count), side="right")
    registers = {name: (tpl.values[name][kind], tpl.given[name][kind]) for name in REGISTERS}
    span = tpl.span[kind]
    vary = (rng.integers(0, 1 << 30, size=count) % span).astype(np.uint64) * tpl.step[kind]
    r15, given15 = registers["r15"]
    registers["r15"] = (r15 + vary, given15)
    return NoiseBlock(ts.astype(np.int64), vcpu, tpl.subfn[kind], registers)
