"""`tdxray probes`: the kprobe events that capture, inside a TD, what the model needs."""

from __future__ import annotations

import click

from tdxray.ingest.kprobe.recipe import GROUP, kprobe_events_text, record_command


@click.command("probes")
@click.option("--trace-cmd", "trace_cmd", is_flag=True,
              help="Print only the trace-cmd record command.")
@click.option("-o", "--output", "output", default="guest.dat", show_default=True,
              help="The trace-cmd output file named in the command.")
def command(trace_cmd: bool, output: str) -> None:
    """Print the lines to write into tracefs kprobe_events (x86_64 argument registers), then
    the trace-cmd command that records them. See docs/real-guests.md for the whole recipe."""
    if not trace_cmd:
        click.echo(kprobe_events_text(), nl=False)
        click.echo(f"# enable them: echo 1 > /sys/kernel/tracing/events/{GROUP}/enable")
        click.echo("# or record them with:")
    click.echo(record_command(output))
