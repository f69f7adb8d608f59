"""What happened in one phase of one generation: its bounds, conversions, ACCEPTs, sequences."""

from __future__ import annotations

from dataclasses import dataclass, field

from tdxray.analyses.diff.ranges import Ranges, RangeSet

# The phases of a generation, in order (TDX-KEXEC.md §3): boot until the first MapGPA (the
# first buffer shared for I/O), I/O until kexec starts shutting down (`shutdown`, `begin`,
# `crash` or `finish`), the shutdown until the jump, the jump until the next boot.
PHASES = ("boot", "io", "shutdown", "jump")
PHASE_TITLES = {"boot": "boot", "io": "I/O", "shutdown": "kexec shutdown", "jump": "jump"}
MAX_SEQUENCE = 2000  # mailbox and CPU steps kept per phase; more are counted, not kept

PhaseKey = tuple[int, str]  # (generation, phase)


@dataclass
class Sequence:
    """Steps in order (mailbox writes, CPU state changes, CR4 writes), capped."""

    steps: list[str] = field(default_factory=list)
    dropped: int = 0

    def add(self, step: str) -> None:
        if len(self.steps) < MAX_SEQUENCE:
            self.steps.append(step)
        else:
            self.dropped += 1


@dataclass
class Phase:
    generation: int
    name: str
    start_seq: int
    start_ts: int
    end_ts: int = 0
    # the page-state map when the phase starts: state name -> ranges
    page_map: dict[str, Ranges] = field(default_factory=dict)
    to_shared: RangeSet = field(default_factory=RangeSet)
    to_private: RangeSet = field(default_factory=RangeSet)
    accepted: RangeSet = field(default_factory=RangeSet)
    calls: dict[str, int] = field(default_factory=lambda: {"to_shared": 0, "to_private": 0,
                                                           "accept": 0})
    mailbox: Sequence = field(default_factory=Sequence)
    cpu: Sequence = field(default_factory=Sequence)

    @property
    def key(self) -> PhaseKey:
        return (self.generation, self.name)

    @property
    def ns(self) -> int:
        return max(0, self.end_ts - self.start_ts)

    @property
    def title(self) -> str:
        return f"generation {self.generation} {PHASE_TITLES[self.name]}"


def phase_order(key: PhaseKey) -> tuple[int, int]:
    return (key[0], PHASES.index(key[1]))
