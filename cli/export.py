"""`tdxray export TRACE [-o FILE]`: write a trace back out as JSON Lines (stdout by default)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import click

from tdxray.ingest.jsonl_write import write_jsonl
from tdxray.ingest.materialize import trace_file_for
from tdxray.store.atomic import atomic_path
from tdxray.store.read import open_trace


@click.command("export")
@click.argument("trace")
@click.option("--trace", "trace_id", help="Which trace of a store holding several.")
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl", show_default=True)
@click.option("-o", "--output", default="-", show_default=True,
              help="Output file (written atomically); - for stdout.")
def command(trace: str, trace_id: str | None, fmt: str, output: str) -> None:
    """Write TRACE (Parquet file, store directory or JSONL file) as tdxray JSON Lines v1."""
    (ref,) = trace_file_for(trace, trace_id, allow_many=False)
    trace_file = open_trace(ref.path)
    if output == "-":
        sys.stdout.flush()
        out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="\n")
        write_jsonl(trace_file.header, trace_file.iter_batches(), out)
        out.flush()
        out.detach()
        return
    with atomic_path(Path(output)) as tmp, tmp.open("w", encoding="utf-8") as out:
        write_jsonl(trace_file.header, trace_file.iter_batches(), out)
