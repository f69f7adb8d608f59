"""`tdxray probes`: the kprobe events that capture, inside a TD, what the model needs."""

from __future__ import annotations

import click

from tdxray.ingest.kprobe.recipe import GROUP, kprobe_events_text, record_command
from tdxray.ingest.kprobe.script import probe_script


@click.command("probes")
@click.option("--script", "script", is_flag=True,
              help="Print a POSIX sh script (busybox works) that places the probes one by one, "
                   "reports refusals and missing functions, and enables them.")
@click.option("--trace-cmd", "trace_cmd", is_flag=True,
              help="Print only the trace-cmd record command.")
@click.option("-o", "--output", "output", default="guest.dat", show_default=True,
              help="The trace-cmd output file named in the command.")
def command(script: bool, trace_cmd: bool, output: str) -> None:
    """Print the lines to write into tracefs kprobe_events, one per write (x86_64 argument
    registers), then the trace-cmd command that records them. See docs/real-guests.md."""
    if script:
        click.echo(probe_script(), nl=False)
        return
    if not trace_cmd:
        click.echo(kprobe_events_text(), nl=False)
        click.echo(f"# enable them: echo 1 > /sys/kernel/tracing/events/{GROUP}/enable")
        click.echo("# or record them with:")
    click.echo(record_command(output))
