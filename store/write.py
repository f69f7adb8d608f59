"""Write one trace as Parquet, atomically, with its header and schema version in the metadata."""

from __future__ import annotations

import contextlib
import errno
import json
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tdxray.schema.errors import InputError
from tdxray.schema.events import EVENT_SCHEMA, META_HEADER, META_SCHEMA_VERSION, SCHEMA_VERSION
from tdxray.schema.losses import META_LOSSES, Loss, losses_json
from tdxray.schema.td import TraceHeader
from tdxray.store.atomic import release, temp_beside

NO_HARD_LINKS = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV)
ROW_GROUP_ROWS = 1 << 19  # 524,288 events: a few MB per row group, many per file for parallel scans
# rows held while a row group is encoded; then the batches wait for it, so a fast reader holds
# about one row group and a quarter, not two (~57 MB each at an export's ~108 bytes an event)
HOLD_ROWS = ROW_GROUP_ROWS // 4


def trace_metadata(header: TraceHeader) -> dict[bytes, bytes]:
    return {
        META_SCHEMA_VERSION: str(SCHEMA_VERSION).encode(),
        META_HEADER: json.dumps(header.to_json()).encode(),
    }


DELTA_COLUMNS = ("seq", "ts_ns", "line")  # increasing integers: delta-encoded
FREE_TEXT = ("text", "extra")  # no min/max statistics: no query prunes on them


def parquet_writer(path: Path | str, schema: pa.Schema) -> pq.ParquetWriter:
    """zstd level 1 (level 3 costs a third more time for 1-2 % less space), dictionaries for the
    dictionary columns, statistics where a filter can use them."""
    return pq.ParquetWriter(
        str(path),
        schema,
        compression="zstd",
        compression_level=1,
        use_dictionary=[f.name for f in schema if pa.types.is_dictionary(f.type)],
        column_encoding={name: "DELTA_BINARY_PACKED" for name in DELTA_COLUMNS
                         if name in schema.names} or None,
        write_statistics=[name for name in schema.names if name not in FREE_TEXT],
        write_batch_size=1 << 16,
    )


def publish(tmp: Path, final: Path, replace: bool, what: str) -> None:
    """Give the finished file `tmp` its name; without `replace`, never over an existing file."""
    if replace:
        os.replace(tmp, final)
        return
    try:
        os.link(tmp, final)
    except FileExistsError:
        raise InputError(f"the store already holds {what} (written meanwhile?); give --replace "
                         "to overwrite it", str(final)) from None
    except OSError as exc:
        if exc.errno not in NO_HARD_LINKS:
            raise
        if final.exists():  # a file system without hard links: the best it allows
            raise InputError(f"the store already holds {what}; give --replace to overwrite it",
                             str(final)) from None
        os.replace(tmp, final)
        return
    tmp.unlink()


class TraceWriter:
    """Stream record batches into `path`; the file appears under its name only on close().

    Checks that seq strictly increases across the whole trace (a backstop: readers check
    per line and name it). Without `replace`, the file is published with a hard link, which
    fails when the name exists: of two writers racing for one name exactly one wins, the other
    gets an InputError (a check before a rename would let both succeed, one silently lost).
    """

    def __init__(self, path: Path | str, header: TraceHeader, replace: bool = True) -> None:
        self.path = Path(path)
        self.header = header
        self.replace = replace
        self._tmp = temp_beside(self.path)
        try:  # until __enter__, only the exit hook would remove it (a SIGTERM right here)
            self._schema = EVENT_SCHEMA.with_metadata(trace_metadata(header))
            self._writer: pq.ParquetWriter | None = parquet_writer(self._tmp, self._schema)
        except BaseException:
            self._tmp.unlink(missing_ok=True)
            release(self._tmp)
            raise
        # Row groups are encoded and compressed on a thread of their own (Arrow releases the
        # GIL), one at a time, while the caller produces the next one.
        self._encoder = ThreadPoolExecutor(1, thread_name_prefix="tdxray-parquet")
        self._encoding: Future[None] | None = None
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._last_seq: int | None = None
        self.rows = 0
        self.losses: list[Loss] = []  # known once the events are read: written at close

    def write_batch(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        if batch.schema != EVENT_SCHEMA:
            batch = pa.RecordBatch.from_arrays(
                [batch.column(name).cast(EVENT_SCHEMA.field(name).type)
                 for name in EVENT_SCHEMA.names],
                schema=EVENT_SCHEMA,
            )
        self._check_seq(batch)
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        self.rows += batch.num_rows
        if self._pending_rows >= ROW_GROUP_ROWS:
            self._flush(final=False)
        elif self._pending_rows >= HOLD_ROWS and self._encoding is not None:
            self._wait()

    def _check_seq(self, batch: pa.RecordBatch) -> None:
        seq = batch.column("seq").to_numpy()
        if self._last_seq is not None and int(seq[0]) <= self._last_seq:
            raise InputError(f"seq {seq[0]} does not increase (previous {self._last_seq})",
                             str(self.path))
        bad = np.flatnonzero(seq[1:] <= seq[:-1])
        if len(bad):
            i = int(bad[0])
            raise InputError(f"seq {seq[i + 1]} does not increase (previous {seq[i]})",
                             str(self.path))
        self._last_seq = int(seq[-1])

    def _flush(self, final: bool) -> None:
        assert self._writer is not None
        table = pa.Table.from_batches(self._pending, schema=EVENT_SCHEMA)
        whole = (table.num_rows // ROW_GROUP_ROWS) * ROW_GROUP_ROWS
        cut = table.num_rows if final else whole
        if cut:
            self._wait()  # one row group in the encoder at a time: memory stays bounded
            self._encoding = self._encoder.submit(
                self._writer.write_table, table.slice(0, cut).replace_schema_metadata(None),
                row_group_size=ROW_GROUP_ROWS)
        rest = table.slice(cut)
        self._pending = rest.to_batches()
        self._pending_rows = rest.num_rows

    def _wait(self) -> None:
        """Wait for the row group being written; its error, if any, is raised here."""
        encoding, self._encoding = self._encoding, None
        if encoding is not None:
            encoding.result()

    def close(self) -> Path:
        if self._writer is None:
            return self.path
        self._flush(final=True)
        self._wait()
        self._encoder.shutdown()
        if self.losses:  # the Arrow schema's metadata is fixed at open: a key of its own
            self._writer.add_key_value_metadata({META_LOSSES: losses_json(self.losses)})
        self._writer.close()
        self._writer = None
        publish(self._tmp, self.path, self.replace, f"trace {self.header.trace_id!r}")
        release(self._tmp)
        return self.path

    def abort(self) -> None:
        if self._encoding is not None:
            self._encoding.cancel()
        self._encoder.shutdown(wait=True)
        self._encoding = None
        writer, self._writer = self._writer, None
        try:
            if writer is not None:
                # the error being handled is the one reported; closing a file on a full disk
                # fails again, and the half file is removed below either way
                with contextlib.suppress(OSError):
                    writer.close()
        finally:
            self._tmp.unlink(missing_ok=True)
            release(self._tmp)

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None:
            self.abort()
            return
        try:
            self.close()  # the last row group is written here: it can fail too (a full disk)
        except BaseException:
            self.abort()
            raise
