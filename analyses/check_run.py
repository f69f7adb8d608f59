"""`tdxray check` as a function: replay traces, apply a baseline, and hand back the report.

    report = tdxray.check("store/", baseline="tdxray-baseline.json")
    report.exit_status, report.verdict, report.summary, report.divergences
    report.to_json()          # the --format json document (docs/report-format.md)
    report.render("sarif")    # any --format of the command
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tdxray.analyses.baseline import Baseline, BaselineEntry, read_baseline, stale_entries
from tdxray.analyses.event_lines import source_lines
from tdxray.analyses.report import (
    FAIL_ON_LEVELS,
    CheckedTrace,
    as_checked,
    build_report,
    exit_status,
    summarize,
)
from tdxray.ingest.materialize import trace_file_for
from tdxray.model.divergence import Divergence
from tdxray.model.result import ReplayResult
from tdxray.schema.errors import InputError
from tdxray.store.layout import TraceRef

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class CheckReport:
    """What one `check` found: the traces with their divergences, and the verdict."""

    traces: tuple[CheckedTrace, ...]
    fail_on: str = "error"
    stale: tuple[BaselineEntry, ...] = ()
    fail_on_stale: bool = False

    @property
    def exit_status(self) -> int:
        """What `tdxray check` would exit with: 1 when something fails the check, else 0."""
        return exit_status(self.traces, self.fail_on) or int(self.fail_on_stale
                                                             and bool(self.stale))

    @property
    def verdict(self) -> str:
        return "fail" if self.exit_status else "pass"

    @property
    def summary(self) -> dict[str, int]:
        return summarize(self.traces, len(self.stale))

    @property
    def divergences(self) -> list[tuple[str, Divergence]]:
        """(trace_id, divergence) for every divergence, baselined ones included."""
        return [(t.result.trace_id, d) for t in self.traces for d in t.divergences]

    def to_json(self) -> dict[str, object]:
        return build_report(self.traces, fail_on=self.fail_on, stale=self.stale,
                            status=self.exit_status)

    def render(self, fmt: str = "text") -> str:
        from tdxray.analyses.formats import FORMATS, render
        from tdxray.analyses.formats.base import RenderOptions

        if fmt not in FORMATS:
            raise InputError(f"no report format {fmt!r} (formats: {', '.join(FORMATS)})")
        opts = RenderOptions(fail_on=self.fail_on, stale=self.stale, status=self.exit_status)
        return render(fmt, list(self.traces), opts)


def replay_file(path: Path, results_dir: Path | None,
                progress: Progress | None = None) -> ReplayResult:
    """A trace's replay: the results kept in results_dir when fresh, else a new replay (kept
    there); results_dir None: replayed, nothing kept."""
    from tdxray.model import replay

    if results_dir is None:
        return replay.replay_trace(path, None, progress)
    return replay.load_or_replay(path, results_dir, progress)


def checked_trace(ref: TraceRef, result: ReplayResult, want_lines: bool = True) -> CheckedTrace:
    """The report's view of a replayed trace: where its divergences point (file and line)."""
    seqs = {d.seq for d in result.divergences if d.seq is not None}
    lines = source_lines(ref.path, seqs) if want_lines else {}
    artifact = str(ref.path) if Path(ref.source).is_dir() else ref.source
    return CheckedTrace(result, ref.source, artifact, lines)


def _baseline(baseline: Baseline | str | Path | None) -> Baseline | None:
    if baseline is None or isinstance(baseline, Baseline):
        return baseline
    return read_baseline(baseline)


def check(traces: str | Path | Iterable[str | Path], *, trace_id: str | None = None,
          fail_on: str = "error", baseline: Baseline | str | Path | None = None,
          fail_on_stale: bool = False) -> CheckReport:
    """Replay each TRACE (a Parquet trace, a store directory, a JSON Lines or text trace) and
    compare it with the model; an unusable input raises InputError naming it."""
    if fail_on not in FAIL_ON_LEVELS:
        raise InputError(f"fail_on must be one of {', '.join(FAIL_ON_LEVELS)}, not {fail_on!r}")
    args: Sequence[str | Path] = [traces] if isinstance(traces, str | Path) else list(traces)
    known = _baseline(baseline)
    refs = [ref for arg in args for ref in trace_file_for(str(arg), trace_id, allow_many=True)]
    results = [checked_trace(ref, replay_file(ref.path, ref.results_dir)) for ref in refs]
    checked = as_checked(results, known)
    stale = tuple(stale_entries(known, [t.result for t in checked])) if known else ()
    return CheckReport(tuple(checked), fail_on, stale, fail_on_stale)
