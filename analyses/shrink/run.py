"""Shrink a trace: the divergence's causes and the cut after it first, then the model's phases,
event kinds, vCPUs and conversion ranges, then single events (ddmin inside each)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tdxray.analyses.shrink import groups
from tdxray.analyses.shrink.ddmin import Budget, ddmin, flatten
from tdxray.analyses.shrink.oracle import Oracle, replay_lines
from tdxray.analyses.shrink.session import Session
from tdxray.analyses.shrink.trace import Trace
from tdxray.ingest.materialize import Track
from tdxray.model.divergence import Divergence
from tdxray.model.replay import Progress

Stage = Callable[[Session, list[int]], list[list[int]]]  # the kept events -> units
STAGES: list[tuple[str, Stage]] = [
    ("phases", Session.phases_of),
    ("kinds", lambda s, keep: groups.units(s.ranks.kind, keep)),
    ("vcpus", lambda s, keep: groups.units(s.ranks.vcpu, keep)),
    ("ranges", lambda s, keep: groups.units(s.ranks.region, keep)),
    ("events", lambda s, keep: [[i] for i in keep]),
]
Report = Callable[[str, int], None]


@dataclass
class Shrunk:
    trace: Trace
    keep: list[int]
    rule: str
    fingerprint: str
    replays: int
    seconds: float
    complete: bool  # False when the budget stopped it (keep is the best so far)

    @property
    def before(self) -> int:
        return len(self.trace)

    @property
    def after(self) -> int:
        return len(self.keep)

    def summary(self) -> str:
        pct = 100.0 * self.after / self.before if self.before else 0.0
        tail = "" if self.complete else " (budget reached: best so far)"
        return (f"{self.rule} {self.fingerprint}: {self.before} -> {self.after} events "
                f"({pct:.1f}%), {self.replays} replays, {self.seconds:.1f} s{tail}")


def shrink(trace: Trace, rule: str, fingerprint: str | None = None, max_replays: int = 5000,
           seconds: float = 600.0, report: Report | None = None, source: Path | None = None,
           track: Track | None = None, progress: Progress | None = None,
           start: float | None = None) -> Shrunk:
    """The fewest events (1-minimal per stage) that still reveal `rule` with `fingerprint`;
    `source` is the file `trace` was read from (ingested as it is, not written again);
    `track` and `progress` see it converted and replayed (Session). `start` (monotonic) is
    when the command began: its reading counts in the time and against the budget."""
    start = time.monotonic() if start is None else start
    with Session(trace, source, track, progress) as session:
        return shrink_in(session, rule, fingerprint, max_replays,
                         seconds - (time.monotonic() - start), report, start)


def shrink_in(session: Session, rule: str, fingerprint: str | None = None,
              max_replays: int = 5000, seconds: float = 600.0, report: Report | None = None,
              start: float | None = None) -> Shrunk:
    """Shrink one divergence of a session's trace (its replays shared with the others)."""
    start = time.monotonic() if start is None else start
    target = session.target(rule, fingerprint)
    oracle = Oracle(session.replays, rule, target.fingerprint, max_replays, seconds)
    keep = list(range(len(session.trace)))
    oracle.best, complete = keep, True
    try:
        for name, cut in (("causes", _causes), ("tail", _tail)):
            keep = cut(session, target, keep, oracle)
            _say(report, name, keep)
        for name, stage in STAGES:
            keep = _stage(stage(session, keep), keep, oracle)
            _say(report, name, keep)
    except Budget:
        keep, complete = oracle.best, False
    if len(keep) < len(session.trace):
        _verify(session, keep, target)
    return Shrunk(session.trace, keep, rule, target.fingerprint, oracle.replays,
                  time.monotonic() - start, complete)


def _say(report: Report | None, stage: str, keep: list[int]) -> None:
    if report is not None:
        report(stage, len(keep))


def _causes(session: Session, target: Divergence, keep: list[int], oracle: Oracle) -> list[int]:
    """Only the events the model names as the divergence's causes and the one revealing it."""
    seqs = [*target.cause_seqs, *([target.seq] if target.seq is not None else [])]
    indices = [session.index_of(s) for s in seqs]
    if not seqs or None in indices:
        return keep
    few = sorted({i for i in indices if i is not None})
    return few if oracle(few) else keep


def _tail(session: Session, target: Divergence, keep: list[int], oracle: Oracle) -> list[int]:
    """Nothing after the event revealing the divergence, else after the model phase of it."""
    at = session.index_of(target.seq) if target.seq is not None else None
    if at is None or len(keep) < len(session.trace):
        return keep
    for end in (at + 1, session.phase_end(at)):
        if end < len(keep) and oracle(keep[:end]):
            return keep[:end]
    return keep


def _stage(units: list[list[int]], keep: list[int], oracle: Oracle) -> list[int]:
    """ddmin over the units (of kept events); the kept events in none of them stay fixed."""
    live = [u for u in units if u]
    if len(live) < 2:
        return keep
    grouped = {i for u in live for i in u}
    fixed = [i for i in keep if i not in grouped]
    return flatten([fixed, *ddmin(live, fixed, oracle)])


class ReadBackError(Exception):
    """The reproducer, read back as `check` reads it, does not reveal the divergence it was
    shrunk for: an inconsistency inside tdxray (a bug), never a property of the input."""

    def __init__(self, trace_id: str, rule: str, fingerprint: str, events: int) -> None:
        super().__init__(f"{trace_id}: the {events}-event reproducer of {rule} {fingerprint} "
                         "does not reveal it when read back")
        self.trace_id, self.rule, self.fingerprint, self.events = (trace_id, rule, fingerprint,
                                                                   events)


def _verify(session: Session, keep: list[int], target: Divergence) -> None:
    """The reproducer as `check` will read it (JSONL, ingested) shows the divergence."""
    found = replay_lines(session.trace, keep, Path(session.replays.workdir)) or []
    if not any((d.rule, d.fingerprint) == (target.rule, target.fingerprint) for d in found):
        raise ReadBackError(session.trace_id, target.rule, target.fingerprint, len(keep))
