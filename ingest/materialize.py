"""Resolve a command's TRACE argument to Parquet trace files (FORMATS.md §4).

TRACE is a trace's Parquet file, a store directory (with a trace id when it holds several), a
text trace (JSONL, maybe compressed, or `-`) that is converted on the fly into a temporary
Parquet file, or a directory of text traces (each file one trace, all converted). Every
command that takes TRACE calls `trace_file_for`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import pyarrow as pa

from tdxray.ingest.bad_lines import Warn
from tdxray.ingest.inputs import STDIN, is_parquet_file
from tdxray.ingest.trace_dir import has_parquet, no_traces_error, text_traces_in
from tdxray.schema.errors import InputError
from tdxray.schema.escape import escape_control
from tdxray.schema.td import TdConfig
from tdxray.store.fs import is_url
from tdxray.store.layout import TraceRef, resolve_traces, results_dir_for
from tdxray.store.read import open_trace
from tdxray.store.results_place import results_place
from tdxray.store.scratch import process_dir

# (source, its batches) -> the same batches, counted: a command's progress while it converts
Track = Callable[[str, Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]


def trace_file_for(arg: str, trace_id: str | None = None, allow_many: bool = False,
                   workdir: Path | None = None, warn: Warn | None = None,
                   track: Track | None = None, results: bool = True,
                   td: TdConfig | None = None, rows_later: bool = False) -> list[TraceRef]:
    """The traces TRACE names, each as (Parquet path, results dir, source as given).

    Parquet files are opened once to check them (corrupt file or other schema version: an
    InputError). Text traces are converted under `workdir` (default: a temporary directory
    removed when the process exits); their results dir is a temporary too; `track` sees
    their batches go by. A command that writes no replay results (`results=False`: info,
    export) gets the store's own results dir even when the store is read-only: no stand-in,
    no note. `td` is the TD configuration of text sources (ftrace, QEMU, console: `--td`).
    `rows_later`: a Parquet file's rows are checked by its replay as it reads them
    (store/read.open_trace), not now: a command that replays it next (check).
    """
    warn = warn or _warn_stderr
    if is_url(arg):
        return _remote(arg, trace_id, allow_many, workdir or _default_workdir())
    path = Path(arg)
    if arg != STDIN and path.is_dir() and not has_parquet(path):
        return _text_dir(path, trace_id, allow_many, workdir or _default_workdir(), warn, track,
                         td)
    place = results_place if results else _as_it_is
    if arg != STDIN and path.is_dir():
        refs = [TraceRef(p, place(results_dir_for(p)), str(p))
                for p in resolve_traces(arg, trace_id, allow_many)]
        for ref in refs:
            open_trace(ref.path)
        return refs
    if arg != STDIN and not path.exists():
        raise InputError("no such file or directory", arg)
    if is_parquet_file(arg):
        _check_trace_id(open_trace(path, rows_later).trace_id, trace_id, arg)
        return [TraceRef(path, place(results_dir_for(path)), arg)]
    return [_convert(arg, trace_id, workdir or _default_workdir(), warn, track, td)]


def trace_files(arg: str, trace_id: str | None = None, allow_many: bool = False,
                track: Track | None = None, td: TdConfig | None = None,
                fetch: Sequence[str] | None = None,
                rows_later: bool = False) -> tuple[int, Iterator[TraceRef]]:
    """trace_file_for's traces one at a time, and how many there are. An s3:// TRACE is listed
    now (a missing bucket or trace fails here) and its traces are fetched a few ahead of the
    one the caller is on (store/mirror.fetch_ahead), with only the `fetch` results files (a
    check reads only the divergences of fresh results: store/mirror.CHECK_RESULTS)."""
    if not is_url(arg):
        refs = trace_file_for(arg, trace_id, allow_many, track=track, td=td,
                              rows_later=rows_later)
        return len(refs), iter(refs)
    from tdxray.store.mirror import RESULT_FILES, fetch_ahead, remote_refs

    where = remote_refs(arg, trace_id, allow_many)
    refs = fetch_ahead(where, _default_workdir(), RESULT_FILES if fetch is None else fetch)
    return len(where), _opened(arg, trace_id, refs)


def _remote(arg: str, trace_id: str | None, allow_many: bool, workdir: Path) -> list[TraceRef]:
    """An s3:// store or trace: each trace fetched (with its results) into a local mirror."""
    from tdxray.store.mirror import fetch_all, remote_refs

    return list(_opened(arg, trace_id, fetch_all(remote_refs(arg, trace_id, allow_many),
                                                 workdir)))


def _opened(arg: str, trace_id: str | None, refs: Iterable[TraceRef]) -> Iterator[TraceRef]:
    """Fetched traces, each opened (checked) as it comes: an error names its URL."""
    for ref in refs:
        try:
            opened = open_trace(ref.path)
        except InputError as exc:  # named by its URL, not by the mirror's temporary path
            raise InputError(exc.message, ref.source, exc.line, exc.where) from None
        if arg.endswith(".parquet"):
            _check_trace_id(opened.trace_id, trace_id, arg)
        yield ref


def _text_dir(path: Path, trace_id: str | None, allow_many: bool, workdir: Path,
              warn: Warn, track: Track | None, td: TdConfig | None) -> list[TraceRef]:
    """Each text trace of a directory converted: all of them, or the one with trace_id."""
    files = text_traces_in(path)
    if not files:
        raise no_traces_error(path)
    refs = [_convert(str(f), None, workdir, warn, track, td) for f in files]
    if trace_id is not None:
        refs = [r for r in refs if r.path.stem == trace_id]
        if not refs:
            raise InputError(f"no trace {trace_id!r} in its {len(files)} files", str(path))
    if len(refs) > 1 and not allow_many:
        raise InputError(f"holds {len(refs)} traces; pick one with --trace "
                         f"({', '.join(r.path.stem for r in refs[:8])})", str(path))
    return refs


def _convert(arg: str, trace_id: str | None, workdir: Path, warn: Warn,
             track: Track | None, td: TdConfig | None = None) -> TraceRef:
    # the readers are imported only here: opening a store or a Parquet trace needs none of them
    from tdxray.ingest.registry import AUTO, read_traces
    from tdxray.ingest.text.trace import TextOptions
    from tdxray.ingest.to_store import write_trace

    with contextlib.closing(read_traces([arg], AUTO, warn, TextOptions(td=td))) as traces:
        trace = next(traces)
        _check_trace_id(trace.header.trace_id, trace_id, arg)
        if track is not None:
            trace = dataclasses.replace(trace, batches=track(arg, trace.batches))
        workdir.mkdir(parents=True, exist_ok=True)
        target = Path(tempfile.mkdtemp(dir=workdir)) / f"{trace.header.trace_id}.parquet"
        write_trace(trace, trace.header, target, replace=True)
    return TraceRef(target, results_dir_for(target), arg)


def _as_it_is(results_dir: Path) -> Path:
    return results_dir


def _check_trace_id(actual: str, wanted: str | None, arg: str) -> None:
    if wanted is not None and wanted != actual:
        raise InputError(f"holds trace {actual!r}, not {wanted!r}", arg)


def _default_workdir() -> Path:
    return process_dir("tdxray-")


def _warn_stderr(message: str) -> None:
    print(f"tdxray: warning: {escape_control(message)}", file=sys.stderr)
