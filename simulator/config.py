"""What to simulate: the TD's shape and the run's size, and the TD configuration it gives."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tdxray.schema.constants import MEMORY_MODES, PAGE_SIZE
from tdxray.schema.td import Mailbox, TdConfig
from tdxray.simulator.layout import (
    HIGH_RAM_START,
    LOW_RAM_END,
    MAILBOX_BELOW_LOW_END,
    MIN_MEMORY,
    RAM_ALIGN,
)

GPAW_CHOICES = (48, 52)
MAILBOX_VERSIONS = (0, 1)
MAX_VCPUS = 256
DEFAULT_EVENTS = 20_000

_SIZE_RE = re.compile(r"^\s*(\d+)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """A memory size such as `4G`, `512M`, `2GiB` or a byte count; binary units."""
    match = _SIZE_RE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a size (use e.g. 512M, 4G)")
    return int(match.group(1)) * _UNITS[match.group(2).upper()]


def format_size(size: int) -> str:
    for unit in ("T", "G", "M", "K"):
        if size % _UNITS[unit] == 0:
            return f"{size // _UNITS[unit]}{unit}"
    return str(size)


@dataclass(frozen=True)
class SimConfig:
    """One simulator run. Every field is fixed before the story starts: same config, same trace."""

    scenario: str
    vcpus: int = 2
    memory: int = 2 << 30
    gpaw: int = 48
    mailbox_version: int = 1
    memory_mode: str = "accepted"
    events: int = DEFAULT_EVENTS
    seed: int = 0
    trace_id: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.vcpus <= MAX_VCPUS:
            raise ValueError(f"vcpus must be 1..{MAX_VCPUS}, got {self.vcpus}")
        if self.memory < MIN_MEMORY or self.memory % RAM_ALIGN:
            raise ValueError(
                f"memory must be a multiple of 2M and at least {format_size(MIN_MEMORY)}, "
                f"got {self.memory:#x}")
        if self.gpaw not in GPAW_CHOICES:
            raise ValueError(f"gpaw must be 48 or 52, got {self.gpaw}")
        if self.mailbox_version not in MAILBOX_VERSIONS:
            raise ValueError(f"mailbox version must be 0 or 1, got {self.mailbox_version}")
        if self.memory_mode not in MEMORY_MODES:
            raise ValueError(f"memory mode must be one of {MEMORY_MODES}, got {self.memory_mode}")
        if self.events < 0:
            raise ValueError("events must be >= 0")

    @property
    def resolved_trace_id(self) -> str:
        return self.trace_id or f"sim-{self.scenario}-{self.seed}"


def ram_ranges(memory: int) -> tuple[tuple[int, int], ...]:
    """RAM as a q35-style VMM lays it out: up to 2 GiB low, the rest from 4 GiB."""
    if memory <= LOW_RAM_END:
        return ((0, memory),)
    return ((0, LOW_RAM_END), (HIGH_RAM_START, HIGH_RAM_START + memory - LOW_RAM_END))


def low_ram_end(memory: int) -> int:
    return ram_ranges(memory)[0][1]


def td_config(cfg: SimConfig) -> TdConfig:
    mailbox = None
    if cfg.vcpus > 1:
        gpa = low_ram_end(cfg.memory) - MAILBOX_BELOW_LOW_END
        reset = gpa + PAGE_SIZE if cfg.mailbox_version >= 1 else None
        mailbox = Mailbox(cfg.mailbox_version, gpa, reset)
    return TdConfig(
        gpaw=cfg.gpaw,
        apic_ids=tuple(range(cfg.vcpus)),
        ram=ram_ranges(cfg.memory),
        memory=cfg.memory_mode,
        mailbox=mailbox,
    )
