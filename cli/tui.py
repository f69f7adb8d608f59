"""`tdxray tui TRACE|STORE`: explore a trace in the terminal (`--diff A B`: compare two)."""

from __future__ import annotations

import os
import sys

import click

from tdxray.ingest.inputs import STDIN
from tdxray.schema.errors import InputError
from tdxray.store.fs import is_url


def _can_open(traces: tuple[str, ...]) -> None:
    """Refuse before the screen is taken: no terminal to draw on, or a TRACE that is not there
    (the app would show it on a full screen, the shell would get no exit status 2)."""
    for arg in traces:
        if arg != STDIN and not is_url(arg) and not os.path.lexists(arg):
            raise InputError("no such file or directory", arg)
    if not sys.stdout.isatty():
        raise click.UsageError("tui needs a terminal (stdout is not one); for a report on a "
                               "file or pipe: tdxray check TRACE")


@click.command("tui")
@click.argument("traces", nargs=-1, required=True, metavar="TRACE")
@click.option("--trace", "trace_id", metavar="ID", help="Which trace of a store (default: ask).")
@click.option("--diff", "diff", is_flag=True,
              help="Compare two traces A B side by side, phase by phase (see tdxray diff).")
@click.option("--trace-a", metavar="ID", help="--diff: which trace of A when A holds several.")
@click.option("--trace-b", metavar="ID", help="--diff: which trace of B when B holds several.")
def command(traces: tuple[str, ...], trace_id: str | None, diff: bool, trace_a: str | None,
            trace_b: str | None) -> None:
    """Explore TRACE in an interactive terminal UI.

    TRACE is a trace's Parquet file, a store directory or a JSONL file. The screen shows the
    events, the divergences replay found (Enter jumps to the event that revealed one), the model
    state at the cursor, the GPA memory map and a SQL panel. F1 lists every key.

    With --diff A B: the two traces' phases side by side, what differs in each below
    (--trace-a/--trace-b pick a trace of a store, as for tdxray diff).
    """
    if diff:
        if len(traces) != 2:
            raise click.UsageError("--diff takes two traces: A B")
        _can_open(traces)
        from tdxray.tui.diff_app import DiffApp

        DiffApp(traces[0], traces[1], trace_a, trace_b).run()
        return
    if trace_a is not None or trace_b is not None:
        raise click.UsageError("--trace-a and --trace-b go with --diff (one TRACE: --trace)")
    if len(traces) != 1:
        raise click.UsageError("tui takes one TRACE (or --diff A B)")
    _can_open(traces)
    from tdxray.tui.app import TdxrayApp

    TdxrayApp(traces[0], trace_id).run()
