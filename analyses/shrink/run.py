"""Shrink a trace: structure first (vCPUs, phases, conversion ranges), then single events."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tdxray.analyses.shrink import groups
from tdxray.analyses.shrink.ddmin import Budget, ddmin, flatten
from tdxray.analyses.shrink.oracle import Oracle, replay_lines
from tdxray.analyses.shrink.trace import TextTrace
from tdxray.schema.errors import InputError

Stage = Callable[[TextTrace], list[list[int]]]
STAGES: list[tuple[str, Stage]] = [
    ("vcpus", groups.by_vcpu),
    ("phases", groups.by_phase),
    ("ranges", groups.by_range),
    ("events", lambda trace: [[i] for i in range(len(trace.events))]),
]
Report = Callable[[str, int], None]


@dataclass
class Shrunk:
    trace: TextTrace
    keep: list[int]
    rule: str
    fingerprint: str
    replays: int
    seconds: float
    complete: bool  # False when the budget stopped it (keep is the best so far)

    @property
    def before(self) -> int:
        return len(self.trace.events)

    @property
    def after(self) -> int:
        return len(self.keep)

    def summary(self) -> str:
        pct = 100.0 * self.after / self.before if self.before else 0.0
        tail = "" if self.complete else " (budget reached: best so far)"
        return (f"{self.rule} {self.fingerprint}: {self.before} -> {self.after} events "
                f"({pct:.1f}%), {self.replays} replays, {self.seconds:.1f} s{tail}")


def shrink(trace: TextTrace, rule: str, fingerprint: str | None = None, max_replays: int = 5000,
           seconds: float = 600.0, report: Report | None = None) -> Shrunk:
    """The fewest events (1-minimal per stage) that still reveal `rule` with `fingerprint`."""
    start = time.monotonic()
    everything = list(range(len(trace.events)))
    oracle = Oracle(trace, rule, None, max_replays, seconds)
    try:
        fingerprint = _target(oracle, trace, everything, rule, fingerprint)
        oracle.fingerprint = fingerprint
        keep, complete = everything, True
        oracle.best = everything
        try:
            for name, stage in STAGES:
                keep = _stage(stage(trace), keep, oracle)
                if report is not None:
                    report(name, len(keep))
        except Budget:
            keep, complete = oracle.best, False
        return Shrunk(trace, keep, rule, fingerprint, oracle.replays,
                      time.monotonic() - start, complete)
    finally:
        oracle.close()


def _target(oracle: Oracle, trace: TextTrace, keep: list[int], rule: str,
            fingerprint: str | None) -> str:
    with_dir = Path(oracle._dir.name)
    found = replay_lines(trace, keep, with_dir) or []
    oracle.replays += 1
    hits = [d for d in found if d.rule == rule and fingerprint in (None, d.fingerprint)]
    if not hits:
        what = f"{rule} with fingerprint {fingerprint}" if fingerprint else rule
        raise InputError(f"the trace does not reveal {what}", str(trace.header.get("trace_id")))
    return hits[0].fingerprint


def _stage(units: list[list[int]], keep: list[int], oracle: Oracle) -> list[int]:
    kept = set(keep)
    live = [[i for i in unit if i in kept] for unit in units]
    live = [u for u in live if u]
    fixed = sorted(kept - {i for u in live for i in u})
    if len(live) < 2:
        return keep
    return flatten([fixed, *ddmin(live, fixed, oracle)])
