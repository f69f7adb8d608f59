"""`tdxray check --workers N | --scheduler tcp://HOST:PORT`: the traces replayed on Dask, one task
per trace; the merged report is built here, as for a sequential check."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import click

from tdxray.analyses.escape import escape_control
from tdxray.analyses.formats import WANT_LINES
from tdxray.analyses.report import CheckedTrace
from tdxray.fleet.cluster import client_for
from tdxray.fleet.replay import TraceOutcome, replay_all
from tdxray.ingest.materialize import trace_file_for
from tdxray.store.fs import Location, is_url, storage_options
from tdxray.store.layout import resolve_traces, results_dir_for
from tdxray.store.manifest import record_check
from tdxray.store.mirror import remote_refs

Resolved = tuple[Path | str | Location, Path | None, str]


class _Progress:
    """Traces done / total and events per second, on stderr when it is a terminal."""

    def __init__(self, quiet: bool = False) -> None:
        self.start = time.perf_counter()
        self.events = 0
        self.live = sys.stderr.isatty() and not quiet

    def rate(self) -> float:
        return self.events / max(time.perf_counter() - self.start, 1e-9)

    def __call__(self, outcome: TraceOutcome, done: int, total: int) -> None:
        self.events += outcome.events
        if self.live:
            click.echo(f"\rtdxray: {done}/{total} traces, {self.rate():,.0f} events/s",
                       err=True, nl=done == total)


def _resolve(arg: str, trace_id: str | None) -> list[Resolved]:
    """A store's traces are listed, not opened: each is opened by its own task, so one corrupt
    trace among thousands is reported by name and the others still are checked. An s3:// trace
    is named by its URL: its worker fetches it and publishes its results beside it."""
    if is_url(arg):
        return [(where, None, where.url) for where in remote_refs(arg, trace_id, True)]
    if Path(arg).is_dir():
        return [(p, results_dir_for(p), str(p))
                for p in resolve_traces(arg, trace_id, allow_many=True)]
    return [(ref.path, ref.results_dir, ref.source)
            for ref in trace_file_for(arg, trace_id, allow_many=True)]


def _record_stamps(per_arg: Sequence[tuple[str, list[Resolved]]],
                   outcomes: Iterator[TraceOutcome]) -> None:
    """One manifest part per store checked: the replay stamps of its traces that changed."""
    for arg, resolved in per_arg:
        done = [next(outcomes) for _ in resolved]
        record_check(arg, [(o.path, o.stamp) for o in done if o.result is not None])


def check_on_cluster(args: Sequence[str], trace_id: str | None, fmt: str, workers: int | None,
                     scheduler: str | None, quiet: bool = False
                     ) -> tuple[list[CheckedTrace], list[str]]:
    """The checked traces, in the order given, and one error line per trace that failed
    (quiet: no progress and no summary line; the errors are still printed by the caller)."""
    per_arg = [(arg, _resolve(arg, trace_id)) for arg in args]
    refs = [ref for _, resolved in per_arg for ref in resolved]
    progress = _Progress(quiet)
    with client_for(workers, scheduler) as client:
        outcomes = replay_all(client, [(path, rdir) for path, rdir, _ in refs], progress,
                              storage_options(), fmt in WANT_LINES)
    checked: list[CheckedTrace] = []
    failed: list[str] = []
    for (path, _, source), outcome in zip(refs, outcomes, strict=True):
        if outcome.result is None:
            failed.append(escape_control(outcome.error or "failed"))
            continue
        artifact = str(path) if Path(source).is_dir() else source
        checked.append(CheckedTrace(outcome.result, source, artifact, outcome.lines))
    _record_stamps(per_arg, iter(outcomes))
    if not quiet:
        click.echo(f"tdxray: {len(checked)}/{len(refs)} traces replayed on the cluster, "
                   f"{progress.rate():,.0f} events/s", err=True)
    return checked, failed
