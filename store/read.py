"""Read a trace back: header, Arrow batches, Polars (lazy) and DuckDB, with version checks."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from stat import S_ISREG
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from tdxray.schema.errors import InputError
from tdxray.schema.events import META_HEADER, META_SCHEMA_VERSION, SCHEMA_VERSION
from tdxray.schema.losses import META_LOSSES, parse_losses, with_losses
from tdxray.schema.td import HeaderError, TraceHeader
from tdxray.store.read_ahead import ReadAhead
from tdxray.store.valid import BatchCheck, Defect, check_layout, check_trace, pool_helps

HANDOFF_BATCHES = 2  # batches decoded per handoff to the reading thread's consumer

if TYPE_CHECKING:
    import duckdb
    import polars as pl


@dataclass(frozen=True)
class Deferred:
    """Columns a reader decodes only in the row groups where `column` may hold `value` (its
    Parquet statistics say so, or there are none); elsewhere they are all null."""

    names: tuple[str, ...]
    column: str
    value: int


@dataclass
class TraceFile:
    """One trace's Parquet file, opened and checked."""

    path: Path
    header: TraceHeader
    schema_version: int
    parquet: pq.ParquetFile
    stat: os.stat_result  # of the file read (the open handle), not of whatever path names now
    source: pa.NativeFile | None = None  # what `parquet` reads (a thread reads it with its own)
    # the rows are still to be checked (store/valid.BatchCheck), by the prefetching reader
    unchecked: bool = False

    @property
    def trace_id(self) -> str:
        return self.header.trace_id

    @property
    def num_rows(self) -> int:
        return int(self.parquet.metadata.num_rows)

    @property
    def num_row_groups(self) -> int:
        return int(self.parquet.metadata.num_row_groups)

    def iter_batches(self, columns: Sequence[str] | None = None, batch_size: int = 1 << 19,
                     prefetch: bool = False, threads: bool = True,
                     deferred: Deferred | None = None) -> Iterator[pa.RecordBatch]:
        """Stream the trace row group by row group (constant memory in trace length).

        With prefetch, batches are decoded straight from the file, a batch at a time (not a
        whole row group: small batches stay in the CPU's caches): on a thread of their own,
        a few `batch_size`s at a time (store/read_ahead: Parquet decoding releases the GIL and
        spreads the columns over pyarrow's threads) while the caller works on the batch
        before; it starts now, before the first batch is asked for, and the caller closes it
        (`close()`) when it stops early. `threads=False`: decoded on the caller's thread, one
        at a time (a fleet worker, whose parallelism is across traces, keeps to one core).
        Without prefetch, each group is decoded when its first batch is asked for.
        `deferred`: columns decoded only in the row groups that may need them (null in the
        others). Of the `columns` asked for, those that a row group's statistics say are all
        null are not decoded there (null all the same).
        """
        cols = list(columns) if columns else None
        if prefetch and not threads:
            return self._decoded(cols, batch_size, deferred, use_threads=False)
        if not prefetch:
            return self._batches(cols, batch_size, deferred)
        # a reader of its own: one ParquetFile read from two threads at once mixes up its
        # buffered ranges ("ReadRangeCache did not find matching cache entry")
        own = self if self.source is None else replace(
            self, parquet=pq.ParquetFile(self.source, metadata=self.parquet.metadata))
        return ReadAhead(lambda: own._decoded(cols, batch_size * HANDOFF_BATCHES, deferred),
                         batch_size)

    def _batches(self, columns: list[str] | None, batch_size: int,
                 deferred: Deferred | None) -> Iterator[pa.RecordBatch]:
        if deferred is not None:
            yield from self._decoded(columns, batch_size, deferred)
            return
        nulls = _Nulls(self.parquet.schema_arrow)
        for rg in range(self.num_row_groups):
            read = self._to_decode(rg, columns)
            for batch in self._read_group(rg, read).to_batches(max_chunksize=batch_size):
                yield batch if read is columns else nulls.fill(batch, columns or [])

    def _to_decode(self, rg: int, columns: list[str] | None, deferred: Deferred | None = None,
                   needed: frozenset[str] = frozenset()) -> list[str] | None:
        """What to decode of `columns` in row group rg (`columns` itself when all of them):
        not the columns that its statistics say are all null (a column of nulls costs about
        as much to decode as one of values), nor the deferred ones it does not need (unless
        they are `needed`)."""
        if columns is None:
            return None
        skip = self._all_null(rg)
        if deferred is not None and not self._may_hold(rg, deferred):
            skip |= set(deferred.names) - needed
        read = [c for c in columns if c not in skip]
        return read if read and len(read) < len(columns) else columns

    def _decoded(self, columns: list[str] | None, batch_size: int, deferred: Deferred | None,
                 use_threads: bool = True) -> Iterator[pa.RecordBatch]:
        """Batches of `batch_size` rows, decoded from the file a batch at a time. An unchecked
        trace's rows are checked on the way (each batch before it is given out; at the first
        defect, check_trace names it), and the trace is checked once all are read."""
        check = BatchCheck(self.parquet) if self.unchecked and columns is not None else None
        nulls = _Nulls(self.parquet.schema_arrow)
        for rg in range(self.num_row_groups):
            wanted, own = columns, frozenset[str]()  # own: what only the check reads
            if check is not None and columns is not None:
                own = frozenset(check.columns(rg)) - set(columns)
                wanted = [*columns, *sorted(own)]
            read = self._to_decode(rg, wanted, deferred, own)
            try:
                for batch in self.parquet.iter_batches(batch_size, row_groups=[rg], columns=read,
                                                       use_threads=use_threads):
                    if read is not wanted:  # the check, too, sees the columns left out as null
                        batch = nulls.fill(batch, wanted or [])
                    if check is not None:
                        self._check(check, rg, batch)
                    yield batch if wanted is columns else nulls.fill(batch, columns or [])
            except (OSError, pa.ArrowException) as exc:
                if check is not None:  # named as the check at open would have named it
                    self.check_whole()
                raise InputError(f"corrupt Parquet: {exc}", str(self.path),
                                 where=f"row group {rg}") from exc
        if check is not None:
            _checked.add(_file_id(self.stat))
            _unchecked.discard(_file_id(self.stat))

    def _check(self, check: BatchCheck, rg: int, batch: pa.RecordBatch) -> None:
        try:
            check.check(rg, batch)
        except Defect:
            self.check_whole()
            raise InputError("invalid trace rows", str(self.path), where=f"row group {rg}") \
                from None

    def check_whole(self) -> None:
        """An unchecked trace's check, whole, as at open: the first defect in the same words
        (nothing for a trace already checked)."""
        if not self.unchecked or _file_id(self.stat) in _checked:
            return
        assert self.source is not None
        check_trace(self.path, pq.ParquetFile(self.source), self.source)
        _checked.add(_file_id(self.stat))
        _unchecked.discard(_file_id(self.stat))

    def _all_null(self, rg: int) -> set[str]:
        """The columns that row group rg's statistics say hold only nulls."""
        group = self.parquet.metadata.row_group(rg)
        if not group.num_rows:
            return set()
        out = set()
        for i, name in enumerate(self.parquet.schema_arrow.names):
            stats = group.column(i).statistics
            if stats is not None and stats.has_null_count and stats.null_count == group.num_rows:
                out.add(name)
        return out

    def _may_hold(self, rg: int, deferred: Deferred) -> bool:
        """Whether row group rg's statistics of deferred.column leave room for its value."""
        names = self.parquet.schema_arrow.names
        stats = self.parquet.metadata.row_group(rg).column(names.index(deferred.column)).statistics
        if stats is None or not stats.has_min_max:
            return True
        return bool(stats.min <= deferred.value <= stats.max)

    def _read_group(self, rg: int, columns: list[str] | None) -> pa.Table:
        try:
            return self.parquet.read_row_group(rg, columns=columns, use_threads=pool_helps())
        except (OSError, pa.ArrowException) as exc:
            raise InputError(f"corrupt Parquet: {exc}", str(self.path),
                             where=f"row group {rg}") from exc

    def read(self, columns: Sequence[str] | None = None) -> pa.Table:
        try:
            return self.parquet.read(columns=list(columns) if columns else None)
        except (OSError, pa.ArrowException) as exc:
            raise InputError(f"corrupt Parquet: {exc}", str(self.path)) from exc

    def lazy(self) -> pl.LazyFrame:
        import polars as pl

        return pl.scan_parquet(self.path)

    def duckdb(self, con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyRelation:
        import duckdb

        con = con or duckdb.connect()
        return con.read_parquet(str(self.path))


class _Nulls:
    """Fills in the columns a batch was decoded without, all null (one array of nulls per
    type and length, shared by the batches: arrays are immutable)."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self._made: dict[tuple[str, int], pa.Array] = {}

    def fill(self, batch: pa.RecordBatch, columns: list[str]) -> pa.RecordBatch:
        """`batch` with the `columns` it lacks, all null, in the order of `columns` (the
        schema of a batch that has them all; the columns it has beyond them are left out)."""
        have = batch.schema.names
        fields = [(batch.schema if c in have else self.schema).field(c) for c in columns]
        return pa.RecordBatch.from_arrays(
            [batch.column(c) if c in have else self._nulls(f, batch.num_rows)
             for c, f in zip(columns, fields, strict=True)],
            schema=pa.schema(fields, metadata=batch.schema.metadata))

    def _nulls(self, field: pa.Field, rows: int) -> pa.Array:
        key = (field.name, rows)
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = pa.nulls(rows, field.type)
        return made


FileId = tuple[int, int, int, int]  # device, inode, size, mtime
# Files this process found valid: the same file is not read twice.
_checked: set[FileId] = set()
# Files opened with their rows left to the reader, which has not read them all yet.
_unchecked: set[FileId] = set()


def _file_id(stat: os.stat_result) -> FileId:
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def open_trace(path: Path | str, rows_later: bool = False) -> TraceFile:
    """Open a trace file and check it (store/valid.py); a corrupt file, an invalid trace or
    another schema version is an InputError.

    `rows_later`: only what needs no reading of the rows is checked now (the schema, the
    sizes), when the file's statistics allow it; the rows are checked as the caller's
    prefetching reader decodes them (replay: one decoding for both). Until then the trace
    is `unchecked`, and a plain open_trace of the same file checks it whole.

    The file is read through the one handle opened here, and `stat` is that handle's: results
    stamped with it belong to the file actually read, even when another process replaces the
    name meanwhile.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise InputError("no such file", str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot open: {exc.strerror}", str(path)) from None
    try:
        stat = os.fstat(fd)
        if not S_ISREG(stat.st_mode):
            raise InputError("not a regular file (a trace is a Parquet file)", str(path))
        handle = pa.OSFile(_same_file(fd, path))  # pread: threads share it
    finally:
        os.close(fd)
    try:
        return _open_checked(path, handle, stat, rows_later)
    except BaseException:
        handle.close()
        raise


def check_unchecked(path: Path) -> None:
    """If `path` was opened with its rows left to a reader that has not read them (its
    results were fresh: no replay), check them now, as open_trace would have."""
    try:
        file_id = _file_id(path.stat())
    except OSError:
        return  # gone: whatever reads it next says so
    if file_id in _unchecked:
        open_trace(path)


def _same_file(fd: int, path: Path) -> str:
    """A name for the file open as `fd` itself, wherever `path` points meanwhile."""
    by_fd = f"/dev/fd/{fd}"
    return by_fd if os.path.exists(by_fd) else str(path)


def _open_checked(path: Path, handle: pa.NativeFile, stat: os.stat_result,
                  rows_later: bool = False) -> TraceFile:
    try:
        parquet = pq.ParquetFile(handle)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"not a readable Parquet file: {exc}", str(path)) from exc
    meta = parquet.schema_arrow.metadata or {}
    if META_SCHEMA_VERSION not in meta or META_HEADER not in meta:
        raise InputError("not a tdxray trace (no tdxray schema version in the file metadata)",
                         str(path))
    try:
        version = int(meta[META_SCHEMA_VERSION])
    except ValueError:
        raise InputError("malformed tdxray schema version in the file metadata",
                         str(path)) from None
    if version > SCHEMA_VERSION:
        raise InputError(
            f"written by a newer tdxray (schema version {version}); this tdxray reads up to "
            f"version {SCHEMA_VERSION}: upgrade tdxray", str(path))
    if version < SCHEMA_VERSION:
        raise InputError(
            f"schema version {version} is older than this tdxray's {SCHEMA_VERSION}: re-ingest "
            "the original source (tdxray ingest SOURCE -o STORE --replace)", str(path))
    try:
        header = TraceHeader.from_json(json.loads(meta[META_HEADER]))
        losses = (parquet.metadata.metadata or {}).get(META_LOSSES)
        if losses is not None:  # a text trace's buffer markers (schema/losses.py)
            header = with_losses(header, parse_losses(losses))
    except (ValueError, HeaderError) as exc:
        raise InputError(f"malformed trace header in the file metadata: {exc}", str(path)) from exc
    file_id = _file_id(stat)
    unchecked = False
    if file_id in _checked:  # a command opens a trace more than once: checked once
        pass
    elif rows_later and check_layout(path, parquet, handle):
        unchecked = True
        _unchecked.add(file_id)
    else:
        check_trace(path, parquet, handle)
        _checked.add(file_id)
    return TraceFile(path, header, version, parquet, stat, handle, unchecked)
