"""`tdxray replay TRACE`: replay against the model and store divergences and page history."""

from __future__ import annotations

from pathlib import Path

import click

from tdxray.analyses.escape import escape_control
from tdxray.cli.heap import keep_freed_memory
from tdxray.cli.progress import EventProgress
from tdxray.ingest.materialize import trace_file_for
from tdxray.model.replay import replay_trace
from tdxray.model.result import ReplayResult


@click.command("replay")
@click.argument("trace")
@click.option("--trace", "trace_id", metavar="ID", help="Which trace of a store (default: all).")
@click.option("-o", "--output", "output", type=click.Path(file_okay=False, path_type=Path),
              help="Write the results into DIR instead of beside the trace in its store.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary lines.")
def command(trace: str, trace_id: str | None, output: Path | None, quiet: bool) -> None:
    """Replay TRACE against the TDX kexec model.

    TRACE is a trace's Parquet file, a store directory (or s3://bucket/prefix) or a JSONL
    file. The results (divergences.parquet, page_history.parquet) go beside the trace in its
    store, as STORE/<trace_id>.replay/, or into -o DIR. `tdxray check` and `tdxray sql` read them.
    """
    keep_freed_memory()  # a replay reuses its large arrays' memory (cli/heap.py)
    with EventProgress("replaying", quiet=quiet) as progress:
        refs = trace_file_for(trace, trace_id, allow_many=True, track=progress.reading,
                              rows_later=True)  # a Parquet file's rows: checked as replayed
        for n, ref in enumerate(refs, start=1):
            out = output / ref.path.stem if output is not None and len(refs) > 1 else output
            results_dir = out if out is not None else ref.results_dir
            progress.relabel(_label(ref.source, n, len(refs)))
            result = replay_trace(ref.path, results_dir, progress)
            where: Path | str = results_dir
            if out is None and ref.remote:  # s3://: the results go up beside the trace
                from tdxray.store.mirror import publish, results_for

                publish(ref)
                where = results_for(ref.remote)
            if not quiet:
                _summary(result, where)


def _label(source: str, n: int, of: int) -> str:
    return f"replaying {escape_control(source)}" + (f" ({n}/{of})" if of > 1 else "")


def _summary(result: ReplayResult, results_dir: Path | str) -> None:
    summary = result.summary()
    counts = ", ".join(f"{summary[s]} {s}" for s in ("fatal", "error", "warning", "info"))
    click.echo(escape_control(f"{result.trace_id}: {result.events:,} events, "
                             f"{result.generations} generation"
                             f"{'s' if result.generations != 1 else ''}; {counts}"))
    click.echo(escape_control(f"  results: {results_dir}"))
