"""`tdxray tui TRACE|STORE`: explore a trace in the terminal."""

from __future__ import annotations

import click


@click.command("tui")
@click.argument("trace")
@click.option("--trace", "trace_id", metavar="ID", help="Which trace of a store (default: ask).")
def command(trace: str, trace_id: str | None) -> None:
    """Explore TRACE in an interactive terminal UI.

    TRACE is a trace's Parquet file, a store directory or a JSONL file. The screen shows the
    events, the divergences replay found (Enter jumps to the event that revealed one), the model
    state at the cursor, the GPA memory map and a SQL panel. F1 lists every key.
    """
    from tdxray.tui.app import TdxrayApp

    TdxrayApp(trace, trace_id).run()
