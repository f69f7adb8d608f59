"""`tdxray export TRACE [-o FILE]`: write a trace back out (stdout by default): as JSON Lines,
or as the text a source would have recorded (host or guest ftrace, QEMU log, console)."""

from __future__ import annotations

import functools
import io
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

import click
import pyarrow as pa

from tdxray.analyses.escape import EscapingWriter
from tdxray.cli.progress import EventProgress
from tdxray.export.ftrace import guest_lines, host_lines
from tdxray.export.jsonl import recorded_header, write_jsonl
from tdxray.export.loss import dropped_line, nothing, refusal
from tdxray.export.text import console_lines, qemu_lines
from tdxray.ingest.materialize import trace_file_for
from tdxray.schema.errors import InputError
from tdxray.schema.td import TraceHeader
from tdxray.store.atomic import atomic_path
from tdxray.store.read import TraceFile, open_trace

Render = Callable[[TraceHeader, Iterable[pa.RecordBatch], Counter[str]], Iterator[str]]
RENDERS: dict[str, Render] = {
    "ftrace-host": host_lines,
    "ftrace-guest": guest_lines,
    "qemu": qemu_lines,
    "console": console_lines,
}


@click.command("export")
@click.argument("trace")
@click.option("--trace", "trace_id", help="Which trace of a store holding several.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", *RENDERS]), default="jsonl",
              show_default=True, help="jsonl, or the text of one source (for re-ingest).")
@click.option("-o", "--output", default="-", show_default=True,
              help="Output file (written atomically); - for stdout.")
@click.option("--partial", is_flag=True,
              help="Text formats: write the events the format holds and name the rest on "
                   "stderr (without it, a trace holding others is refused).")
@click.option("--tp-printk", is_flag=True,
              help="console: also the guest probe events, as a kernel booted with tp_printk "
                   "and CONFIG_PRINTK_CALLER prints them (the one text that spans a kexec).")
@click.option("--td-json", "td_json", type=click.Path(dir_okay=False),
              help="Also write the TD configuration (which no text holds) to this file, for "
                   "`tdxray ingest --td`.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def command(trace: str, trace_id: str | None, fmt: str, output: str, partial: bool,
            tp_printk: bool, td_json: str | None, quiet: bool) -> None:
    """Write TRACE (Parquet file, store directory or JSONL file) as tdxray JSON Lines v1, or as
    ftrace-host, ftrace-guest, qemu or console text.

    A text format holds what one source records. A trace with events the format cannot hold is
    refused (exit 2, nothing written), naming them; --partial writes the rest and names what it
    dropped on stderr."""
    if tp_printk and fmt != "console":
        raise click.UsageError("--tp-printk is for --format console")
    render = functools.partial(console_lines, tp_printk=True) if tp_printk else RENDERS.get(fmt)
    source = "console --tp-printk" if tp_printk else fmt
    (ref,) = trace_file_for(trace, trace_id, allow_many=False, results=False)
    trace_file = open_trace(ref.path)
    total = trace_file.num_rows
    dropped: Counter[str] = Counter()
    if render is not None:
        written = sum(1 for _ in render(trace_file.header, trace_file.iter_batches(), dropped))
        if not written:
            raise InputError(nothing(trace_file.trace_id, source, total))
        if dropped and not partial:
            raise InputError(refusal(trace_file.trace_id, source, dropped, total))
    if td_json is not None:
        with atomic_path(Path(td_json)) as tmp:
            tmp.write_text(json.dumps(trace_file.header.td.to_json(), indent=2) + "\n",
                           encoding="utf-8")
    _export(render, trace_file, output, quiet)
    if dropped:
        line = dropped_line(trace_file.trace_id, source, dropped, total)
        click.echo(f"tdxray: warning: {line}", err=True)


def _export(render: Render | None, trace_file: TraceFile, output: str, quiet: bool) -> None:
    """Write the trace with `render` (None: JSON Lines)."""
    if output == "-":
        sys.stdout.flush()
        out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="\n")
        # a terminal gets the text escaped (trace strings could drive it); a pipe gets it as is
        shown: IO[str] = EscapingWriter(out) if sys.stdout.isatty() else out  # type: ignore[assignment]
        _write(render, trace_file.header, trace_file.iter_batches(), shown)
        out.flush()
        out.detach()
        return
    with (EventProgress(f"exporting {trace_file.trace_id}", trace_file.num_rows, quiet) as progress,
          atomic_path(Path(output)) as tmp, tmp.open("w", encoding="utf-8", newline="\n") as out):
        _write(render, trace_file.header, progress.track(trace_file.iter_batches()), out)


def _write(render: Render | None, header: TraceHeader, batches: Iterable[pa.RecordBatch],
           out: IO[str]) -> None:
    if render is None:
        write_jsonl(recorded_header(header), batches, out)
        return
    out.writelines(render(header, batches, Counter()))
