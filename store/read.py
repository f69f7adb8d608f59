"""Read a trace back: header, Arrow batches, Polars (lazy) and DuckDB, with version checks."""

from __future__ import annotations

import json
import os
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from stat import S_ISREG
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from tdxray.schema.errors import InputError
from tdxray.schema.events import META_HEADER, META_SCHEMA_VERSION, SCHEMA_VERSION
from tdxray.schema.losses import META_LOSSES, parse_losses, with_losses
from tdxray.schema.td import HeaderError, TraceHeader
from tdxray.store.valid import check_trace

if TYPE_CHECKING:
    import duckdb
    import polars as pl


@dataclass
class TraceFile:
    """One trace's Parquet file, opened and checked."""

    path: Path
    header: TraceHeader
    schema_version: int
    parquet: pq.ParquetFile
    stat: os.stat_result  # of the file read (the open handle), not of whatever path names now

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
                     prefetch: bool = False, threads: bool = True) -> Iterator[pa.RecordBatch]:
        """Stream the trace row group by row group (constant memory in trace length).

        With prefetch, batches of `batch_size` rows are decoded straight from the file (not a
        whole row group at a time: small batches stay in the CPU's caches), the next one in
        a background thread (Parquet decoding releases the GIL) while the caller works on
        the current one; `threads=False`: decoded on the caller's thread, one at a time (a
        fleet worker, whose parallelism is across traces, keeps to one core).
        """
        cols = list(columns) if columns else None
        if prefetch and not threads:
            yield from self._stream(cols, batch_size)
            return
        if prefetch:
            yield from self._stream_ahead(cols, batch_size)
            return
        for table in (self._read_group(rg, cols) for rg in range(self.num_row_groups)):
            yield from table.to_batches(max_chunksize=batch_size)

    def _read_group(self, rg: int, columns: list[str] | None) -> pa.Table:
        try:
            return self.parquet.read_row_group(rg, columns=columns)
        except (OSError, pa.ArrowException) as exc:
            raise InputError(f"corrupt Parquet: {exc}", str(self.path),
                             where=f"row group {rg}") from exc

    def _stream(self, columns: list[str] | None, batch_size: int) -> Iterator[pa.RecordBatch]:
        batches = self.parquet.iter_batches(batch_size=batch_size, columns=columns,
                                            use_threads=False)
        done = 0
        while True:
            try:
                batch = next(batches, None)
            except (OSError, pa.ArrowException) as exc:
                raise self._corrupt(exc, done) from exc
            if batch is None:
                return
            done += batch.num_rows
            yield batch

    def _corrupt(self, exc: Exception, done: int) -> InputError:
        """The error for a batch that could not be decoded after `done` rows: its row group."""
        ends = list(accumulate(self.parquet.metadata.row_group(rg).num_rows
                               for rg in range(self.num_row_groups)))
        return InputError(f"corrupt Parquet: {exc}", str(self.path),
                          where=f"row group {bisect_right(ends, done)}")

    def _stream_ahead(self, columns: list[str] | None,
                      batch_size: int) -> Iterator[pa.RecordBatch]:
        batches = self.parquet.iter_batches(batch_size=batch_size, columns=columns)
        done = 0
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tdxray-read") as pool:
            pending = pool.submit(next, batches, None)
            while True:
                try:
                    batch = pending.result()
                except (OSError, pa.ArrowException) as exc:
                    raise self._corrupt(exc, done) from exc
                if batch is None:
                    return
                pending = pool.submit(next, batches, None)
                done += batch.num_rows
                yield batch

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


# Files this process found valid (device, inode, size, mtime): the same file is not read twice.
_checked: set[tuple[int, int, int, int]] = set()


def open_trace(path: Path | str) -> TraceFile:
    """Open a trace file and check it (store/valid.py); a corrupt file, an invalid trace or
    another schema version is an InputError.

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
        return _open_checked(path, handle, stat)
    except BaseException:
        handle.close()
        raise


def _same_file(fd: int, path: Path) -> str:
    """A name for the file open as `fd` itself, wherever `path` points meanwhile."""
    by_fd = f"/dev/fd/{fd}"
    return by_fd if os.path.exists(by_fd) else str(path)


def _open_checked(path: Path, handle: pa.NativeFile, stat: os.stat_result) -> TraceFile:
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
    file_id = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if file_id not in _checked:  # a command opens a trace more than once: checked once
        check_trace(path, parquet, handle)
        _checked.add(file_id)
    return TraceFile(path, header, version, parquet, stat)
