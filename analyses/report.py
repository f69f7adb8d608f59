"""The check report: the traces checked, their divergences, the verdict.

Every output format renders from the same `CheckedTrace` list; `build_report` is the JSON
contract itself, key order included (docs/report-format.md, schema report.schema.json).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from tdxray import __version__
from tdxray.analyses.baseline import Baseline, BaselineEntry, apply_baseline, stale_entries
from tdxray.analyses.choices import FAIL_ON_LEVELS as FAIL_ON_LEVELS
from tdxray.model.catalogue import SEVERITIES, SEVERITY_RANK
from tdxray.model.divergence import Divergence
from tdxray.model.result import ReplayResult

EXIT_UNUSABLE = 2  # `tdxray check`: an input or the command line could not be used

REPORT_VERSION = 1


@dataclass(frozen=True)
class CheckedTrace:
    """One replayed trace as the report shows it."""

    result: ReplayResult
    source: str  # the TRACE argument as given on the command line
    artifact: str | None = None  # the file to point at (a store's Parquet file), else source
    lines: Mapping[int, tuple[str, int]] = field(default_factory=dict)  # seq -> (file, line)

    @property
    def divergences(self) -> list[Divergence]:
        return sorted(self.result.divergences, key=Divergence.sort_key)

    def location_of(self, div: Divergence) -> tuple[str, int | None]:
        """Where to point a reader: the revealing event's source line when ingest recorded one."""
        if div.seq is not None and div.seq in self.lines:
            return self.lines[div.seq]
        return (self.artifact or self.source, None)


TraceLike = CheckedTrace | tuple[ReplayResult, str]


def as_checked(traces: Iterable[TraceLike], baseline: Baseline | None = None) -> list[CheckedTrace]:
    """Normalise (result, source) pairs and apply a baseline when one is given."""
    out = []
    for item in traces:
        checked = item if isinstance(item, CheckedTrace) else CheckedTrace(item[0], item[1])
        if baseline is not None:
            checked = CheckedTrace(apply_baseline(checked.result, baseline), checked.source,
                                   checked.artifact, checked.lines)
        out.append(checked)
    return out


def is_failing(div: Divergence, fail_on: str) -> bool:
    """A divergence that fails the check: not baselined and at least as severe as fail_on."""
    return not div.baselined and SEVERITY_RANK[div.severity] <= SEVERITY_RANK[fail_on]


def failing(traces: Sequence[CheckedTrace], fail_on: str) -> list[tuple[CheckedTrace, Divergence]]:
    return [(t, d) for t in traces for d in t.divergences if is_failing(d, fail_on)]


def exit_status(traces: Sequence[CheckedTrace], fail_on: str) -> int:
    """0: nothing at or above fail_on (baselined ones aside); 1: something."""
    return 1 if failing(traces, fail_on) else 0


def summarize(traces: Sequence[CheckedTrace], stale: int = 0) -> dict[str, int]:
    """Counts per severity of the divergences not baselined; baselined ones counted apart, and
    the baseline entries nothing matched (stale)."""
    out = dict.fromkeys(SEVERITIES, 0)
    out["baselined"] = 0
    for trace in traces:
        for div in trace.result.divergences:
            out["baselined" if div.baselined else div.severity] += 1
    out["stale_baseline"] = stale
    return out


def divergence_json(trace: CheckedTrace, div: Divergence) -> dict[str, object]:
    """A divergence as the JSON report spells it: its fields, then where to look (file, line)."""
    file, line = trace.location_of(div)
    return {**div.to_json(), "source": {"file": file, "line": line}}


def trace_json(trace: CheckedTrace) -> dict[str, object]:
    result = trace.result
    return {
        "trace_id": result.trace_id,
        "source": trace.source,
        "events": result.events,
        "rules_run": list(result.rules_run),
        "rules_skipped": [{"rule": rule, "why": why} for rule, why in result.rules_skipped],
        "divergences": [divergence_json(trace, d) for d in trace.divergences],
    }


def entry_json(entry: BaselineEntry) -> dict[str, object]:
    return {"fingerprint": entry.fingerprint, "rule": entry.rule, "trace_id": entry.trace_id,
            "message": entry.message}


def build_report(traces: Iterable[TraceLike], baseline: Baseline | None = None, *,
                 fail_on: str = "error", stale: Sequence[BaselineEntry] | None = None,
                 status: int | None = None, unreadable: Sequence[str] = ()
                 ) -> dict[str, object]:
    """The JSON document for traces (CheckedTrace or (ReplayResult, source) pairs).

    stale: the baseline entries nothing matched (computed from baseline when not given);
    status: the run's exit status when it is not the divergences' verdict (--write-baseline,
    --fail-on-stale); the verdict follows it ("error" for 2: an input could not be used);
    unreadable: those inputs, one line each (a fleet check reports the others), listed under
    "unreadable" when there are any."""
    checked = as_checked(traces, baseline)
    if stale is None:
        stale = stale_entries(baseline, [t.result for t in checked]) if baseline else []
    if status is None:
        status = exit_status(checked, fail_on)
    report: dict[str, object] = {
        "tdxray": REPORT_VERSION,
        "tool": {"name": "tdxray", "version": __version__},
        "verdict": "error" if status == EXIT_UNUSABLE else "fail" if status else "pass",
        "exit_status": status,
        "fail_on": fail_on,
        "traces": [trace_json(t) for t in checked],
        "summary": summarize(checked, len(stale)),
        "stale_baseline": [entry_json(e) for e in stale],
    }
    if unreadable:
        report["unreadable"] = list(unreadable)
    return report
