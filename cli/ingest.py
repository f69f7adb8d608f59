"""`tdxray ingest FILE… -o STORE`: read traces into a store, one Parquet file per trace."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from tdxray.ingest.registry import AUTO, FORMAT_NAMES, read_traces
from tdxray.ingest.to_store import ingest_into_store
from tdxray.schema.errors import InputError
from tdxray.store.layout import Store


@click.command("ingest")
@click.argument("files", nargs=-1, required=True)
@click.option("-o", "--output", "store_dir", required=True, type=click.Path(file_okay=False),
              help="Store directory (created if missing).")
@click.option("--trace-id", help="Store the trace under this id instead of the header's.")
@click.option("--format", "fmt", type=click.Choice(FORMAT_NAMES), default=AUTO, show_default=True,
              help="Input format; auto detects it from the content.")
@click.option("--replace", is_flag=True, help="Overwrite a trace the store already holds.")
def command(files: tuple[str, ...], store_dir: str, trace_id: str | None, fmt: str,
            replace: bool) -> None:
    """Read FILE… (JSON Lines, gzip/zstd allowed, `-` for stdin) into STORE/<trace_id>.parquet."""
    if trace_id is not None and len(files) > 1:
        raise InputError("--trace-id names one trace: give one input file", "--trace-id")
    store = Store(Path(store_dir))
    written: set[str] = set()
    with contextlib.closing(read_traces(files, fmt, _warn)) as traces:
        for trace in traces:
            name = trace_id or trace.header.trace_id
            if name in written:
                raise InputError(f"trace {name!r} was given twice in this ingest",
                                 trace.sources[0], 1)
            done = ingest_into_store(trace, store, trace_id, replace)
            written.add(done.trace_id)
            click.echo(f"{done.trace_id}: {done.events} events -> {done.path}", err=True)


def _warn(message: str) -> None:
    click.echo(f"tdxray: warning: {message}", err=True)
