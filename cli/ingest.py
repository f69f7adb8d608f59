"""`tdxray ingest FILE… -o STORE`: read traces into a store, one Parquet file per trace.

JSONL and Parquet inputs are one trace each; text sources of one TD (host and guest ftrace,
QEMU trace log, console log) are merged into one trace.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

import click

from tdxray.analyses.escape import escape_control
from tdxray.cli.progress import EventProgress
from tdxray.ingest.registry import AUTO, FORMAT_NAMES, read_traces
from tdxray.ingest.text.trace import TextOptions, load_td
from tdxray.ingest.to_store import ingest_into_store
from tdxray.schema.errors import InputError
from tdxray.store.fs import Location, is_url, locate
from tdxray.store.layout import Store
from tdxray.store.manifest import ManifestDir, ingest_row
from tdxray.store.mirror import upload_trace
from tdxray.store.read import open_trace
from tdxray.store.scratch import scratch_dir


@click.command("ingest")
@click.argument("files", nargs=-1, required=True)
@click.option("-o", "--output", "store_dir", required=True, type=click.Path(file_okay=False),
              help="Store directory (created if missing), or s3://bucket/prefix.")
@click.option("--trace-id", help="Store the trace under this id instead of the header's.")
@click.option("--format", "fmt", multiple=True, metavar="[FILE=]FORMAT",
              help=f"Input format ({', '.join(FORMAT_NAMES)}); FILE=FORMAT for one input. "
                   "Default: detected from the content.")
@click.option("--td", "td_file", type=click.Path(dir_okay=False),
              help="TD configuration of text sources (JSON like the JSONL header's td).")
@click.option("--clock-offset", "offsets", multiple=True, metavar="FILE=NS",
              help="Add NS nanoseconds to the timestamps of FILE (sources on other clocks).")
@click.option("--skip-bad-lines", is_flag=True,
              help="Skip lines that do not parse (counted and reported) instead of failing.")
@click.option("--replace", is_flag=True, help="Overwrite a trace the store already holds.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary lines.")
def command(files: tuple[str, ...], store_dir: str, trace_id: str | None, fmt: tuple[str, ...],
            td_file: str | None, offsets: tuple[str, ...], skip_bad_lines: bool,
            replace: bool, quiet: bool) -> None:
    """Read FILE… (JSON Lines, ftrace text, QEMU trace log, console log; gzip/zstd/xz allowed,
    `-` for stdin) into STORE/<trace_id>.parquet."""
    default, per_file = _formats(fmt, files)
    options = TextOptions(trace_id, load_td(td_file) if td_file else None,
                          _offsets(offsets, files), skip_bad_lines)
    remote = locate(store_dir) if is_url(store_dir) else None
    with contextlib.ExitStack() as stack:
        # an s3:// store: each trace written locally first, then uploaded (temporary key, copy)
        local = stack.enter_context(scratch_dir("tdxray-ingest-")) \
            if remote is not None else Path(store_dir)
        rows: list[dict[str, object]] = []
        try:
            _ingest(files, Store(local), remote, trace_id, default, per_file, options, replace,
                    quiet, rows)
        finally:  # the traces that made it into the store are in its manifest, even on an error
            ManifestDir(store_dir).append(rows)


def _ingest(files: tuple[str, ...], store: Store, remote: Location | None, trace_id: str | None,
            default: str, per_file: dict[str, str], options: TextOptions, replace: bool,
            quiet: bool, rows: list[dict[str, object]]) -> None:
    written: set[str] = set()
    with contextlib.closing(read_traces(files, default, _warn, options, per_file)) as traces:
        for trace in traces:
            name = trace_id or trace.header.trace_id
            if name in written:
                raise InputError(f"trace {name!r} was given twice in this ingest "
                                 "(--trace-id names one trace)", trace.sources[0], 1)
            with EventProgress(f"ingesting {name}", None, quiet) as progress:
                tracked = dataclasses.replace(trace, batches=progress.track(trace.batches))
                done = ingest_into_store(tracked, store, trace_id, replace)
            written.add(done.trace_id)
            # rows_later: the rows were checked as read and written; the next reader checks
            # the file whole (open_trace) or as it decodes it (a replay)
            manifest_row = ingest_row(open_trace(done.path, rows_later=True), trace.sources,
                                      done.path.stat().st_size)
            where: object = done.path
            if remote is not None:
                where = upload_trace(done.path, remote, done.trace_id, replace).url
                done.path.unlink()
            rows.append(manifest_row)
            if not quiet:
                said = f"{done.trace_id}: {done.events} events -> {where}"
                click.echo(escape_control(said), err=True)


def _formats(given: tuple[str, ...], files: tuple[str, ...]) -> tuple[str, dict[str, str]]:
    default, per_file = AUTO, {}
    for item in given:
        arg, _, name = item.rpartition("=") if "=" in item else ("", "", item)
        if name not in FORMAT_NAMES:
            raise InputError(f"unknown format {name!r} (known: {', '.join(FORMAT_NAMES)})",
                             "--format")
        if arg:
            if arg not in files:
                raise InputError(f"{arg!r} is not one of the inputs", "--format")
            per_file[arg] = name
        else:
            default = name
    return default, per_file


def _offsets(given: tuple[str, ...], files: tuple[str, ...]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in given:
        arg, sep, value = item.rpartition("=")
        if not sep or arg not in files:
            raise InputError(f"{item!r}: expected FILE=NS with FILE one of the inputs",
                             "--clock-offset")
        try:
            out[arg] = int(value)
        except ValueError:
            raise InputError(f"{value!r} is not a number of nanoseconds", "--clock-offset") \
                from None
    return out


def _warn(message: str) -> None:
    click.echo(f"tdxray: warning: {escape_control(message)}", err=True)
