"""The model's state besides pages: vCPUs, MapGPA operations, the mailbox, the kernel."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class CpuState(Enum):
    FIRMWARE = "firmware"  # never woken, or parked through the reset vector
    ONLINE = "online"
    STOPPED = "stopped-in-kernel"
    DEAD = "dead"


@dataclass
class Cpu:
    apic_id: int
    state: CpuState
    since_seq: int | None = None  # the event that put it in this state
    since_gen: int = 0
    cr4: int | None = None


@dataclass(slots=True)
class MapGpaOp:
    """One conversion request: a first MapGPA and its continuations after RETRY (§2)."""

    to_private: bool
    start: int            # without the shared bit
    end: int
    first_seq: int
    resume: int | None = None      # R11 of the last RETRY (without the shared bit)
    open: bool = False             # the last answer was RETRY: the kernel will continue
    no_progress: int = 0           # consecutive no-progress RETRYs
    abandoned: str | None = None   # why the kernel must have given up ("exhausted", "r11")
    last_retry_seq: int | None = None
    abandon_seq: int | None = None
    g002_reported: bool = False
    in_finish: bool = False        # issued by kexec_finish (its own unshare)
    failed_reported: bool = False


@dataclass
class Mailbox:
    command: int = 0               # pending command, 0 when idle or acknowledged
    command_seq: int | None = None
    command_ts: int | None = None
    command_apic: int | None = None
    apic_id: int | None = None     # last apic_id the OS wrote
    apic_seq: int | None = None
    wrote_apic: bool = False       # since the last non-zero command
    wrote_vector: bool = False
    test_deadline: int | None = None  # ts after which an unacknowledged TEST is M005


@dataclass
class Kernel:
    generation: int = 0
    phase: str = "running"  # running, stopping, finishing, jumped, crashed
    conversions_stopped: bool = False
    began: bool = False
    begin_seq: int | None = None
    finished: bool = False
    crashed: bool = False
    jumped: bool = False
    jump_seq: int | None = None    # the event that was (or implied) the jump
    booted: bool = False           # a boot event was seen in this trace
    saw_kexec_event: bool = False  # any kexec phase before the first boot
    shared_at_finish: int | None = None
    accounting_off: tuple[int, int, int] | None = None  # (seq, ts, vcpu) of the message
    finish_vcpu: int | None = None
    control_vcpu: int | None = None  # the CPU running the kexec (begin, crash, finish)
    clock_gen: int = 0             # T001's generation: changes at each boot
    dead_seq: int | None = None
    ops: dict[int, MapGpaOp] = field(default_factory=dict)
