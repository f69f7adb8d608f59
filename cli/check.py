"""`tdxray check TRACE…`: the CI gate. Replay, compare with a baseline, report, exit 0/1/2."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tdxray.analyses.choices import FAIL_ON_LEVELS, FORMAT_NAMES, WANT_LINES
from tdxray.schema.errors import InputError

if TYPE_CHECKING:  # the check path is imported by the command, not by `check --help`
    from tdxray.analyses.baseline import Baseline, BaselineEntry
    from tdxray.analyses.report import CheckedTrace
    from tdxray.schema.td import TdConfig
    from tdxray.store.layout import TraceRef


def _resolve(arg: str, trace_id: str | None) -> list[TraceRef]:
    """The traces one TRACE argument names (no progress)."""
    from tdxray.ingest.materialize import trace_file_for

    return trace_file_for(arg, trace_id, allow_many=True)


def _check_all(traces: Sequence[str], trace_id: str | None, fmt: str,
               quiet: bool, td: TdConfig | None = None,
               kept: list[TraceRef] | None = None) -> list[CheckedTrace]:
    """Resolve each TRACE (a Parquet file, every trace of a store, a text trace converted on
    the fly), replay each trace (its results when fresh): one progress bar for the run. A
    store's manifest then records the replay stamps, as after a fleet check. `kept` (the HTML
    report, which reads every results file): each checked trace's ref is appended, and an
    s3:// trace's fetched copy stays for it instead of being fetched a second time."""
    from tdxray.analyses.check_run import checked_trace, replay_file
    from tdxray.analyses.escape import escape_control
    from tdxray.cli.progress import EventProgress
    from tdxray.ingest.materialize import trace_files
    from tdxray.store.manifest import record_check
    from tdxray.store.mirror import CHECK_RESULTS, RESULT_FILES, Publisher

    out = []
    wanted = CHECK_RESULTS if kept is None else RESULT_FILES
    with EventProgress("checking", quiet=quiet) as progress:
        # an s3:// store's traces come a few ahead of the replay, without the page history
        # of fresh results (a check reads their divergences only)
        # a Parquet file's rows are checked by its replay, which reads them anyway
        per_arg = [(arg, *trace_files(arg, trace_id, allow_many=True, track=progress.reading,
                                      td=td, fetch=wanted, rows_later=True))
                   for arg in traces]
        total = sum(count for _, count, _ in per_arg)
        n = 0
        for arg, _, refs in per_arg:
            stamps = []
            with Publisher() as uploads:  # an s3:// trace's results go up during the next replay
                for ref in refs:
                    n += 1
                    many = f" ({n}/{total})" if total > 1 else ""
                    progress.relabel(f"replaying {escape_control(ref.path.name)}{many}")
                    result = replay_file(ref.path, ref.results_dir, progress)
                    out.append(checked_trace(ref, result, fmt in WANT_LINES))
                    stamps.append((ref.path, _stamp_text(ref)))
                    # a fetched trace's copy goes once its results are up
                    uploads.publish(ref, drop=ref.remote is not None and kept is None)
                    if kept is not None:
                        kept.append(ref)
            record_check(arg, stamps)
    return out


def _td(td_file: str | None) -> TdConfig | None:
    """--td FILE.json, read only when given (the text readers stay unimported otherwise)."""
    if td_file is None:
        return None
    from tdxray.ingest.text.trace import load_td

    return load_td(td_file)


def _stamp_text(ref: TraceRef) -> str | None:
    """The replay.json of a trace's results in its store (None for a stand-in's)."""
    from tdxray.model.outputs import STAMP_FILE
    from tdxray.store.layout import results_dir_for

    stamp = ref.results_dir / STAMP_FILE
    if ref.results_dir != results_dir_for(ref.path) or not stamp.is_file():
        return None
    return stamp.read_text()


def _emit(text: str, output: Path | None, color: bool) -> None:
    from tdxray.store.atomic import atomic_path

    if output is None:
        click.echo(text, nl=False, color=color)
        return
    try:
        with atomic_path(output) as tmp:
            tmp.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write the report: {exc.strerror or exc}", str(output)) from None


def _use_color(flag: bool | None, output: Path | None) -> bool:
    if flag is not None:
        return flag
    return output is None and "NO_COLOR" not in os.environ and sys.stdout.isatty()


def _step_summary(fmt: str) -> Path | None:
    value = os.environ.get("GITHUB_STEP_SUMMARY")
    return Path(value) if fmt == "github" and value else None


def _new_baseline(path: Path, traces: Sequence[CheckedTrace]) -> Baseline:
    from tdxray.analyses.baseline import baseline_from, write_baseline

    baseline = baseline_from(t.result for t in traces)
    try:
        write_baseline(path, baseline)
    except OSError as exc:
        raise InputError(f"cannot write the baseline: {exc.strerror or exc}", str(path)) from None
    click.echo(f"tdxray: wrote {len(baseline.entries)} baseline entries to {path}", err=True)
    return baseline


def _stale(baseline: Baseline | None, traces: Sequence[CheckedTrace],
           rewritten: bool) -> tuple[BaselineEntry, ...]:
    from tdxray.analyses.baseline import stale_entries

    if baseline is None or rewritten:
        return ()
    return tuple(stale_entries(baseline, [t.result for t in traces]))


def _status(traces: Sequence[CheckedTrace], fail_on: str, stale: Sequence[BaselineEntry],
            fail_on_stale: bool, rewritten: bool) -> int:
    from tdxray.analyses.report import exit_status

    if rewritten:
        return 0
    return exit_status(traces, fail_on) or int(fail_on_stale and bool(stale))


def _print_schema(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        from tdxray.analyses.formats.schema import report_schema_text

        click.echo(report_schema_text(), nl=False)
        ctx.exit(0)


@click.command("check")
@click.argument("traces", nargs=-1, required=True, metavar="TRACE...")
@click.option("--trace", "trace_id", metavar="ID",
              help="In a store directory, check only this trace.")
@click.option("--td", "td_file", type=click.Path(dir_okay=False), metavar="FILE.json",
              help="TD configuration of text traces (ftrace, QEMU, console logs): JSON like "
                   "the JSONL header's td.")
@click.option("--format", "fmt", type=click.Choice([*FORMAT_NAMES, "html"]), default="text",
              show_default=True, help="Report format.")
@click.option("--fail-on", type=click.Choice(FAIL_ON_LEVELS), default="error", show_default=True,
              help="Exit 1 when a divergence at or above this severity is not baselined.")
@click.option("--baseline", "baseline_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Known divergences (a baseline file): reported, but never fail the check.")
@click.option("--write-baseline", type=click.Path(dir_okay=False, path_type=Path),
              help="Write every current divergence above info as a baseline, then exit 0.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report to this file instead of stdout.")
@click.option("--include-info", is_flag=True,
              help="sarif: include info findings (unmodeled events, skipped rules) as notes.")
@click.option("--uri-base", type=click.Path(file_okay=False, path_type=Path),
              help="sarif: write paths under this directory relative to it (originalUriBaseIds).")
@click.option("--fail-on-stale", is_flag=True,
              help="Exit 1 also when a baseline entry matches no divergence (fixed: drop it).")
@click.option("--color/--no-color", default=None, help="Colour the text report [default: auto].")
@click.option("--workers", type=click.IntRange(min=1), metavar="N",
              help="Replay on a local Dask cluster of N worker processes, one task per trace.")
@click.option("--scheduler", metavar="tcp://HOST:PORT",
              help="Replay on an existing Dask cluster, one task per trace.")
@click.option("-q", "--quiet", is_flag=True,
              help="No progress bar (with --workers/--scheduler: no summary line either).")
@click.option("--schema", is_flag=True, expose_value=False, is_eager=True, callback=_print_schema,
              help="Print the JSON Schema of the --format json report and exit.")
def command(traces: tuple[str, ...], trace_id: str | None, td_file: str | None, fmt: str,
            fail_on: str,
            baseline_path: Path | None, write_baseline: Path | None, output: Path | None,
            include_info: bool, uri_base: Path | None, fail_on_stale: bool,
            color: bool | None, workers: int | None, scheduler: str | None,
            quiet: bool) -> None:
    """Replay each TRACE (a Parquet trace, a store directory: all its traces, a JSONL file or a
    text trace: ftrace, QEMU or console log, with --td for its TD) and report every divergence
    from the TDX kexec model.

    Exit status: 0 when no divergence at or above --fail-on is left after the baseline,
    1 when some is, 2 when an input or the command line cannot be used (with --workers or
    --scheduler: the other traces are still reported, the failed ones are named on stderr).
    """
    from tdxray.analyses.baseline import read_baseline
    from tdxray.analyses.formats import render
    from tdxray.analyses.formats.base import RenderOptions
    from tdxray.analyses.formats.text import verdict
    from tdxray.analyses.report import as_checked

    baseline = read_baseline(baseline_path) if baseline_path is not None else None
    failed: list[str] = []
    kept: list[TraceRef] | None = None
    td = _td(td_file)
    if workers is not None or scheduler is not None:
        if td is not None:
            raise click.UsageError("--td is for traces checked here; with --workers or "
                                   "--scheduler ingest text traces first: tdxray ingest FILE "
                                   "--td FILE.json -o STORE")
        from tdxray.cli.check_fleet import check_on_cluster

        checked, failed = check_on_cluster(traces, trace_id, fmt, workers, scheduler, quiet)
    else:
        kept = [] if fmt == "html" else None
        checked = _check_all(traces, trace_id, fmt, quiet, td, kept)
    if write_baseline is not None:
        baseline = _new_baseline(write_baseline, checked)
    checked = as_checked(checked, baseline)
    rewritten = write_baseline is not None
    stale = _stale(baseline, checked, rewritten)
    status = 2 if failed else _status(checked, fail_on, stale, fail_on_stale, rewritten)
    use_color = _use_color(color, output)
    opts = RenderOptions(fail_on=fail_on, color=use_color and fmt == "text",
                         step_summary=_step_summary(fmt), stale=stale, status=status,
                         include_info=include_info,
                         uri_base=str(uri_base) if uri_base is not None else None,
                         unreadable=tuple(failed))
    if fmt == "html":  # the page of `tdxray report` (report/, a layer above the formats)
        from tdxray.report.page import report_html

        # the traces this run checked; a fleet check's are resolved (fetched) here once
        refs = kept if kept is not None else [ref for arg in traces
                                               for ref in _resolve(arg, trace_id)]
        _emit(report_html(refs), output, False)
    else:
        _emit(render(fmt, checked, opts), output, use_color)
    if output is not None:
        said = verdict(checked, fail_on, status=status)
        click.echo(f"tdxray: report written to {output}: {said}", err=True)
    for line in failed:
        click.echo(f"tdxray: error: {line}", err=True)
    sys.exit(status)
