"""`tdxray shrink`: the smallest JSONL trace that still reveals one divergence (ddmin)."""

from __future__ import annotations

from pathlib import Path

import click

from tdxray.analyses.shrink.run import shrink
from tdxray.analyses.shrink.trace import read_text_trace
from tdxray.store.atomic import atomic_path


@click.command("shrink")
@click.argument("trace", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--rule", required=True, help="The rule id the reproducer must reveal (e.g. K001).")
@click.option("--fingerprint", help="Only that divergence of the rule [default: its first].")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Write the minimal trace (JSON Lines) here.")
@click.option("--max-replays", default=5000, show_default=True, help="Step budget.")
@click.option("--seconds", default=600.0, show_default=True, help="Time budget.")
def command(trace: Path, rule: str, fingerprint: str | None, output: Path, max_replays: int,
            seconds: float) -> None:
    """Shrink TRACE (JSON Lines) to the fewest events that still reveal --rule (and
    --fingerprint): whole vCPUs, kexec phases and conversion ranges first, then single events.

    Deterministic. The output keeps the header; seq is renumbered, timestamps kept. Exit status
    0 when written, 2 when the trace cannot be read or does not reveal the divergence.
    """
    text = read_text_trace(trace)

    def report(stage: str, events: int) -> None:
        click.echo(f"tdxray: shrink: after {stage}: {events} events", err=True)

    result = shrink(text, rule.upper(), fingerprint, max_replays, seconds, report, source=trace)
    with atomic_path(output) as tmp:
        text.write(result.keep, tmp)
    click.echo(result.summary())
