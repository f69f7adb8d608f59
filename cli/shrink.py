"""`tdxray shrink`: the smallest JSONL trace that still reveals one divergence (ddmin)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from tdxray.analyses.escape import escape_control
from tdxray.analyses.shrink.run import ReadBackError, shrink
from tdxray.analyses.shrink.stored import open_stored_trace
from tdxray.cli.progress import EventProgress
from tdxray.store.atomic import atomic_path

EXIT_INTERNAL = 3  # the reproducer read back does not reveal the divergence: a bug of tdxray


@click.command("shrink")
@click.argument("trace")
@click.option("--trace", "trace_id", metavar="ID",
              help="In a store directory holding several traces, shrink this one.")
@click.option("--rule", required=True, help="The rule id the reproducer must reveal (e.g. K001).")
@click.option("--fingerprint", help="Only that divergence of the rule [default: its first].")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Write the minimal trace (JSON Lines) here.")
@click.option("--max-replays", default=5000, show_default=True, help="Step budget.")
@click.option("--seconds", default=600.0, show_default=True, help="Time budget.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no stage lines.")
def command(trace: str, trace_id: str | None, rule: str, fingerprint: str | None, output: Path,
            max_replays: int, seconds: float, quiet: bool) -> None:
    """Shrink TRACE to the fewest events that still reveal --rule (and --fingerprint): the
    model's causes of the divergence and the cut after it first, then whole phases, event
    kinds, vCPUs and conversion ranges, then single events. TRACE is anything `check` takes:
    a JSONL or text trace (ftrace, trace-cmd report, console, QEMU log), a Parquet trace, a
    store directory (--trace picks one), an s3:// store or trace.

    Deterministic. The output is JSON Lines: the header, then the events kept, seq renumbered,
    timestamps kept. Exit status 0 when written, 2 when the trace cannot be read or does not
    reveal the divergence, 3 when the reproducer read back does not reveal it (a bug: nothing
    is written).
    """
    name = escape_control(trace)
    started = time.monotonic()  # the summary's time includes reading and converting TRACE
    with EventProgress(f"loading {name}", quiet=quiet) as progress:
        stored = open_stored_trace(trace, trace_id, track=progress.reading)

        def replaying(done: int, total: int) -> None:
            if progress.label != f"replaying {name}":
                progress.relabel(f"replaying {name}")
            progress(done, total)

        def report(stage: str, events: int) -> None:
            progress.close()
            if not quiet:
                click.echo(f"tdxray: shrink: after {stage}: {events} events", err=True)

        try:
            result = shrink(stored, rule.upper(), fingerprint, max_replays, seconds, report,
                            progress=replaying, start=started)
        except ReadBackError as err:
            progress.close()
            click.echo(f"tdxray: internal error: shrink of {name}, rule {err.rule} "
                       f"{err.fingerprint}: the {err.events}-event reproducer read back does "
                       "not reveal it; nothing written. Please report this bug with the trace.",
                       err=True)
            sys.exit(EXIT_INTERNAL)
    with atomic_path(output) as tmp:
        result.trace.write(result.keep, tmp)  # the events as the shrink saw them
    click.echo(result.summary())
