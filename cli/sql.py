"""`tdxray sql [QUERY] --store DIR`: SQL over a store's traces and replay results (DuckDB)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import click
import pyarrow as pa

from tdxray.analyses.escape import EscapingWriter
from tdxray.analyses.sql.library import get_query, load_library
from tdxray.analyses.sql.output import BINARY_FORMATS, FORMATS, write_binary, write_text
from tdxray.analyses.sql.repl import HELP, History, history_path, repl
from tdxray.analyses.sql.run import DEFAULT_TABLE_LIMIT, run_query
from tdxray.analyses.sql.schema_doc import schema_text
from tdxray.analyses.sql.session import MEMORY_FRACTION, Session
from tdxray.analyses.sql.watch import watched
from tdxray.cli.progress import EventProgress
from tdxray.schema.errors import InputError
from tdxray.store.atomic import atomic_path
from tdxray.store.mirror import local_store
from tdxray.store.scratch import scratch_dir

PAGED_FORMATS = ("table", "markdown")  # formats for people: a default row limit applies


def _note_replay(trace_id: str) -> None:
    click.echo(f"tdxray: replaying {trace_id} (results missing or stale)", err=True)


def _effective_limit(fmt: str, limit: int | None) -> int | None:
    if limit is None:
        return DEFAULT_TABLE_LIMIT if fmt in PAGED_FORMATS else None
    return limit or None


@dataclass(frozen=True)
class Limits:
    """What one query may take: wall time (s) and rows; None: unlimited."""

    timeout: float | None = None
    max_rows: int | None = None
    quiet: bool = False  # no progress bar for a long export


def emit(session: Session, query: str, fmt: str, output: str | None, limit: int | None,
         limits: Limits = Limits()) -> None:
    """Run `query`, write its result in `fmt` to `output` (or stdout), say if it was cut.

    Ctrl-C and --timeout interrupt the query; a file output is written under a temporary
    name and renamed at the end, so a failed or stopped query leaves the old file as it was.
    """
    watched(lambda: _emit(session, query, fmt, output, limit, limits.max_rows, limits.quiet),
            session.interrupt, limits.timeout)


def _emit(session: Session, query: str, fmt: str, output: str | None, limit: int | None,
          max_rows: int | None, quiet: bool) -> None:
    to_screen = output is None and sys.stdout.isatty()  # the rows themselves show progress
    with EventProgress(f"writing {output or 'stdout'}", None, quiet or to_screen,
                       unit="rows") as progress:
        result = run_query(session, query, _effective_limit(fmt, limit), max_rows)
        batches = progress.track(result.batches)
        if output:
            columns_note = _to_file(result.schema, batches, fmt, Path(output))
        elif fmt in BINARY_FORMATS:
            write_binary(fmt, result.schema, batches, sys.stdout.buffer)
            columns_note = None
        else:
            columns_note = write_text(fmt, result.schema, batches, _stdout_text(fmt),
                                      _terminal_width())
    for note in (result.note(), columns_note):
        if note:
            click.echo(note, err=True)


def _to_file(schema: pa.Schema, batches: Iterable[pa.RecordBatch], fmt: str,
             output: Path) -> str | None:
    try:
        with atomic_path(output) as tmp:
            if fmt in BINARY_FORMATS:
                write_binary(fmt, schema, batches, str(tmp))
                return None
            with tmp.open("w", encoding="utf-8", newline="") as out:
                return write_text(fmt, schema, batches, out)
    except OSError as exc:
        raise InputError(f"cannot write the result: {exc.strerror or exc}", str(output)) from None


def _stdout_text(fmt: str) -> IO[str]:
    """stdout; on a terminal, escaping the formats that do not escape on their own (table and
    markdown escape each cell and draw their own styles)."""
    if fmt in ("table", "markdown") or not sys.stdout.isatty():
        return sys.stdout
    return EscapingWriter(sys.stdout)  # type: ignore[return-value]


def _terminal_width() -> int | None:
    """The terminal's width when stdout is one; None (as wide as needed) for a pipe or file."""
    if not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size().columns


def _list_library() -> None:
    queries = load_library()
    width = max(len(q.name) for q in queries)
    for q in queries:
        click.echo(f"{q.name:<{width}}  {q.description}")


def _query_text(query: str | None, query_file: IO[str] | None, run_name: str | None) -> str | None:
    given = [x for x in (query, query_file, run_name) if x is not None]
    if len(given) > 1:
        raise click.UsageError("give the query once: QUERY, -f FILE or --run NAME")
    if query is not None:
        return query
    if query_file is not None:
        return query_file.read()
    if run_name is not None:
        return get_query(run_name).sql
    if not sys.stdin.isatty():
        return sys.stdin.read()
    return None


def _interactive(session: Session, limit: int | None, limits: Limits) -> None:
    def command_(line: str) -> None:
        name, _, arg = line.partition(" ")
        if name == ".schema":
            click.echo(schema_text(session))
        elif name == ".list":
            _list_library()
        elif name == ".run" and arg.strip():
            emit(session, get_query(arg.strip()).sql, "table", None, limit, limits)
        elif name == ".help":
            click.echo(HELP)
        else:
            raise InputError(f"unknown command {line!r} (.help lists them)")

    history = History(history_path())
    click.echo(f"tdxray sql: {len(session.trace_ids)} traces in {session.root}; .help for help")
    try:
        repl(lambda q: emit(session, q, "table", None, limit, limits), command_)
    finally:
        history.save()


@click.command("sql")
@click.argument("query", required=False)
@click.option("--store", envvar="TDXRAY_STORE", type=click.Path(file_okay=False),
              help="The store directory (default: $TDXRAY_STORE).")
@click.option("-f", "--file", "query_file", type=click.File("r", encoding="utf-8"),
              help="Read the query from FILE ('-': standard input).")
@click.option("--run", "run_name", metavar="NAME", help="Run a query of the library (--list).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="Output format (parquet and arrow are binary: -o FILE or a pipe).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the result to FILE.")
@click.option("--limit", type=click.IntRange(min=0),
              help=f"At most N rows; 0: all (default {DEFAULT_TABLE_LIMIT} for table and "
                   "markdown, all for the other formats).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="S",
              help="Stop a query that runs longer than S seconds (exit 2).")
@click.option("--max-rows", type=click.IntRange(min=0), metavar="N",
              help="Stop a query whose result has more than N rows (exit 2).")
@click.option("--memory-limit", metavar="SIZE",
              help=f"DuckDB's memory limit, e.g. 2GB (default {MEMORY_FRACTION:.0%} of RAM; "
                   "beyond it DuckDB spills to a temporary directory or the query fails).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar for a long export.")
@click.option("--schema", is_flag=True, help="Print every view, its columns and macros.")
@click.option("--list", "list_queries", is_flag=True, help="List the query library.")
def command(query: str | None, store: str | None, query_file: IO[str] | None,
            run_name: str | None, fmt: str, output: str | None, limit: int | None,
            timeout: float | None, max_rows: int | None, memory_limit: str | None,
            quiet: bool, schema: bool, list_queries: bool) -> None:
    """Query the traces of a store with SQL (DuckDB), read-only.

    QUERY comes from the argument, -f FILE, --run NAME or standard input; without one on a
    terminal an interactive prompt opens. Views: traces, events, map_gpa, accepts, divergences,
    page_history and more (--schema). Missing or stale replay results are computed first.
    Ctrl-C stops a running query (exit 130).
    """
    if list_queries:
        _list_library()
        return
    if schema:
        _print_schema(store)
        return
    if not store:
        raise click.UsageError("--store DIR is required (or set TDXRAY_STORE)")
    if fmt in BINARY_FORMATS and not output and sys.stdout.isatty():
        raise click.UsageError(f"{fmt} output is binary: give -o FILE or redirect stdout")
    text = _query_text(query, query_file, run_name)
    limits = Limits(timeout, max_rows, quiet)
    with local_store(store) as root, \
            Session(root, on_replay=_note_replay, memory_limit=memory_limit) as session:
        if text is None:
            _interactive(session, limit, limits)
        else:
            emit(session, text, fmt, output, limit, limits)


def _print_schema(store: str | None) -> None:
    if store:
        with local_store(store) as root, Session(root, on_replay=_note_replay) as session:
            click.echo(schema_text(session))
        return
    with scratch_dir("tdxray-schema-") as empty, Session(empty) as session:
        click.echo(schema_text(session))
