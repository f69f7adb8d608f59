"""The kernel's state-changing story: a short, time-ordered list of events, plus the windows in
which each vCPU runs ordinary kernel code (where background noise may be placed).

The script's clock ticks in whole microseconds and every event advances it, so script events
have distinct timestamps; noise is placed at half microseconds, so the two never collide.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tdxray.simulator.layout import TICK_NS


@dataclass(frozen=True)
class Segment:
    """A stretch of time in which the same vCPUs are running (and may make noise)."""

    start_ns: int
    end_ns: int
    vcpus: tuple[int, ...]


@dataclass
class Script:
    events: list[dict[str, Any]] = field(default_factory=list)
    now: int = 0
    last_ts: int = 0
    _toggles: list[tuple[int, int, bool]] = field(default_factory=list)

    def advance(self, ns: int) -> None:
        self.now += max(0, -(-int(ns) // TICK_NS) * TICK_NS)

    def advance_to(self, ts: int) -> None:
        if ts > self.now:
            self.advance(ts - self.now)

    def emit(self, vcpu: int, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"ts_ns": self.now, "vcpu": vcpu, "kind": kind, **fields}
        self.events.append(event)
        self.last_ts = self.now
        self.now += TICK_NS
        return event

    def noise_on(self, vcpu: int) -> None:
        self._toggles.append((self.last_ts, vcpu, True))

    def noise_off(self, vcpu: int) -> None:
        self._toggles.append((self.last_ts, vcpu, False))

    def segments(self, end_ns: int) -> list[Segment]:
        """The noise windows as segments of constant running set, up to end_ns."""
        out: list[Segment] = []
        running: set[int] = set()
        cursor: int | None = None
        for ts, vcpu, on in [*self._toggles, (end_ns, -1, False)]:
            if cursor is not None and ts > cursor and running:
                out.append(Segment(cursor, min(ts, end_ns), tuple(sorted(running))))
            cursor = ts if cursor is None else max(cursor, ts)
            if vcpu < 0:
                break
            if on:
                running.add(vcpu)
            else:
                running.discard(vcpu)
        return [s for s in out if s.end_ns > s.start_ns]
