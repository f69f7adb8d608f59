"""What one replay of one trace yields: coverage, divergences and counts."""

from __future__ import annotations

from dataclasses import dataclass, field

from tdxray.model.catalogue import SEVERITIES
from tdxray.model.divergence import Divergence


@dataclass
class ReplayResult:
    trace_id: str
    events: int
    rules_run: list[str] = field(default_factory=list)
    rules_skipped: list[tuple[str, str]] = field(default_factory=list)  # (rule, why)
    divergences: list[Divergence] = field(default_factory=list)  # sorted; T002/T003 included
    generations: int = 1
    kind_counts: dict[str, int] = field(default_factory=dict)

    def count(self, severity: str) -> int:
        return sum(1 for d in self.divergences if d.severity == severity and not d.baselined)

    def summary(self) -> dict[str, int]:
        out = {sev: self.count(sev) for sev in SEVERITIES}
        out["baselined"] = sum(1 for d in self.divergences if d.baselined)
        return out
