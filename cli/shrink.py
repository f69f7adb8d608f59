"""`tdxray shrink`: the smallest JSONL trace that still reveals one divergence (ddmin)."""

from __future__ import annotations

from pathlib import Path

import click

from tdxray.analyses.escape import escape_control
from tdxray.analyses.shrink.run import shrink
from tdxray.analyses.shrink.trace import open_text_trace
from tdxray.cli.progress import EventProgress
from tdxray.store.atomic import atomic_path


@click.command("shrink")
@click.argument("trace", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--rule", required=True, help="The rule id the reproducer must reveal (e.g. K001).")
@click.option("--fingerprint", help="Only that divergence of the rule [default: its first].")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Write the minimal trace (JSON Lines) here.")
@click.option("--max-replays", default=5000, show_default=True, help="Step budget.")
@click.option("--seconds", default=600.0, show_default=True, help="Time budget.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no stage lines.")
def command(trace: Path, rule: str, fingerprint: str | None, output: Path, max_replays: int,
            seconds: float, quiet: bool) -> None:
    """Shrink TRACE (JSON Lines) to the fewest events that still reveal --rule (and
    --fingerprint): the model's causes of the divergence and the cut after it first, then
    whole phases, event kinds, vCPUs and conversion ranges, then single events.

    Deterministic. The output keeps the header; seq is renumbered, timestamps kept. Exit status
    0 when written, 2 when the trace cannot be read or does not reveal the divergence.
    """
    name = escape_control(str(trace))
    with EventProgress(f"loading {name}", quiet=quiet) as progress:
        text = open_text_trace(trace, progress.advance)

        def replaying(done: int, total: int) -> None:
            if progress.label != f"replaying {name}":
                progress.relabel(f"replaying {name}")
            progress(done, total)

        def report(stage: str, events: int) -> None:
            progress.close()
            if not quiet:
                click.echo(f"tdxray: shrink: after {stage}: {events} events", err=True)

        result = shrink(text, rule.upper(), fingerprint, max_replays, seconds, report,
                        source=trace, track=progress.reading, progress=replaying)
    with atomic_path(output) as tmp:
        result.trace.write(result.keep, tmp)  # the events as the shrink saw them
    click.echo(result.summary())
