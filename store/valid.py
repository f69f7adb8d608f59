"""The one notion of a valid trace file, checked once where a trace is opened (every command).

A valid trace has every column of the event schema with its type, no null in the columns every
event has (seq, ts_ns, vcpu, kind), seq strictly increasing over the whole file, ts_ns not
negative, every event with the fields its kind requires, vocabulary values and the checks across
fields of schema/rules.py (the rules the JSONL reader applies: an exported trace reads back), a
header, and a decoded size within limits: a small file of dictionary-encoded text can decode to
gigabytes. Errors name the file and the row (0-based, in file order) and are InputErrors (exit
status 2).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tdxray.schema.errors import InputError
from tdxray.schema.events import COMMON_FIELDS, EVENT_SCHEMA, KIND_FIELDS, TS_NS_MAX
from tdxray.store.valid_kinds import columns_needed, first_broken_event, kind_codes, rows_by_kind

NON_NULL = tuple(f.name for f in COMMON_FIELDS)  # seq, ts_ns, vcpu, kind
TEXT_COLUMNS = ("text", "extra")
MAX_CELL_BYTES = 1 << 20  # one text cell: a console line or an event's extra fields
MAX_GROUP_BYTES = 1 << 30  # the text of one row group, decoded
DICTIONARY_ENCODINGS = {"PLAIN_DICTIONARY", "RLE_DICTIONARY"}


def check_schema(path: Path, schema: pa.Schema) -> None:
    """Every event column present, with the type the event schema gives it."""
    missing = [f.name for f in EVENT_SCHEMA if f.name not in schema.names]
    if missing:
        raise InputError(f"not a tdxray trace: missing columns {', '.join(missing)}", str(path))
    for want in EVENT_SCHEMA:
        got = schema.field(want.name).type
        if got != want.type:
            raise InputError(f"column {want.name} holds {got}, a trace's {want.name} is "
                             f"{want.type}", str(path))


def check_rows(path: Path, parquet: pq.ParquetFile) -> None:
    """No nulls where every event has a value; seq strictly increasing (read column by column,
    row group by row group: a few narrow columns, constant memory)."""
    first_row, last_seq = 0, None
    for rg in range(parquet.metadata.num_row_groups):
        table = _read_group(path, parquet, rg, list(NON_NULL))
        for name in NON_NULL:
            column = table.column(name)
            if column.null_count:
                row = first_row + _first_null(column)
                raise InputError(f"{name} is null (every event has one)", str(path),
                                 where=f"row {row}")
        last_seq = _check_seq(path, table.column("seq"), first_row, last_seq)
        _check_ts(path, table.column("ts_ns"), first_row)
        _check_kinds(path, parquet, rg, table.column("kind"), first_row)
        first_row += table.num_rows


def _group_nulls(parquet: pq.ParquetFile, rg: int) -> Callable[[str], int | None]:
    """A column's null count in row group rg, when its statistics know it."""
    group = parquet.metadata.row_group(rg)
    names = parquet.schema_arrow.names

    def nulls(name: str) -> int | None:
        stats = group.column(names.index(name)).statistics
        return stats.null_count if stats is not None and stats.has_null_count else None

    return nulls


def _check_kinds(path: Path, parquet: pq.ParquetFile, rg: int, kind: pa.ChunkedArray,
                 first_row: int) -> None:
    """The rules of each event's kind (store/valid_kinds.py), reading only what they need."""
    rows = rows_by_kind(*kind_codes(kind))
    needed = columns_needed(rows, _group_nulls(parquet, rg))
    if not needed:
        return
    table = _read_group(path, parquet, rg, needed)
    columns = {name: _one_array(table.column(name)) for name in needed}
    broken = first_broken_event(rows, columns.get)
    if broken is not None:
        row, field, message = broken
        raise InputError(f"field {field!r}: {message}", str(path), where=f"row {first_row + row}")


def _one_array(column: pa.ChunkedArray) -> pa.Array:
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def pool_helps() -> bool:
    """Whether a whole row group's read is worth pyarrow's thread pool: not when it has one
    thread (a fleet worker's: OMP_NUM_THREADS=1), where the caller would only wait for it, and
    pay a handoff per column and a second thread's malloc arena (fleet/cluster.py)."""
    return pa.cpu_count() > 1


def _read_group(path: Path, parquet: pq.ParquetFile, rg: int, columns: list[str]) -> pa.Table:
    try:
        return parquet.read_row_group(rg, columns=columns, use_threads=pool_helps())
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"corrupt Parquet: {exc}", str(path), where=f"row group {rg}") from exc


def _first_null(column: pa.ChunkedArray) -> int:
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    return int(np.flatnonzero(~valid)[0])


def _check_seq(path: Path, column: pa.ChunkedArray, first_row: int,
               last_seq: int | None) -> int | None:
    seq = column.to_numpy()
    if not len(seq):
        return last_seq
    if last_seq is not None and int(seq[0]) <= last_seq:
        raise InputError(f"seq {seq[0]} does not increase (previous {last_seq})", str(path),
                         where=f"row {first_row}")
    bad = np.flatnonzero(seq[1:] <= seq[:-1])
    if len(bad):
        i = int(bad[0])
        raise InputError(f"seq {seq[i + 1]} does not increase (previous {seq[i]})", str(path),
                         where=f"row {first_row + i + 1}")
    return int(seq[-1])


def _check_ts(path: Path, column: pa.ChunkedArray, first_row: int) -> None:
    ts = column.to_numpy()
    if len(ts) and int(ts.min()) < 0:
        row = int(np.argmax(ts < 0))
        raise InputError(f"field 'ts_ns': {int(ts[row])} is out of range [0, {TS_NS_MAX:#x}]",
                         str(path), where=f"row {first_row + row}")


def check_sizes(path: Path, parquet: pq.ParquetFile, source: pa.NativeFile) -> None:
    """Text decoded within limits. Plain text is as large as its pages say; dictionary-encoded
    text is measured on its dictionary indices, without decoding it."""
    meta = parquet.metadata
    names = parquet.schema_arrow.names
    encoded = set()
    for rg in range(meta.num_row_groups):
        group = meta.row_group(rg)
        for name in TEXT_COLUMNS:
            chunk = group.column(names.index(name))
            if DICTIONARY_ENCODINGS & set(chunk.encodings):
                encoded.add(rg)
            elif chunk.total_uncompressed_size > MAX_GROUP_BYTES:
                _too_large(path, f"{name} is {chunk.total_uncompressed_size} bytes decoded", rg)
    if encoded:
        _check_dictionary_text(path, source, sorted(encoded))


def _check_dictionary_text(path: Path, source: pa.NativeFile,
                           groups: list[int]) -> None:
    # the same open file, read with the text kept as a dictionary
    probe = pq.ParquetFile(source, read_dictionary=list(TEXT_COLUMNS))
    starts = np.cumsum([0] + [probe.metadata.row_group(i).num_rows
                              for i in range(probe.metadata.num_row_groups)])
    for rg in groups:
        table = probe.read_row_group(rg, columns=list(TEXT_COLUMNS), use_threads=pool_helps())
        total = 0
        for name in TEXT_COLUMNS:
            lengths = _cell_lengths(table.column(name))
            if len(lengths) and int(lengths.max()) > MAX_CELL_BYTES:
                row = int(starts[rg]) + int(np.argmax(lengths))
                raise InputError(f"too large: a {name} cell of {int(lengths.max())} bytes (at "
                                 f"most {MAX_CELL_BYTES})", str(path), where=f"row {row}")
            total += int(lengths.sum())
        if total > MAX_GROUP_BYTES:
            _too_large(path, f"its text is {total} bytes decoded", rg)


def _cell_lengths(column: pa.ChunkedArray) -> np.ndarray:
    parts = []
    for chunk in column.chunks:
        if isinstance(chunk, pa.DictionaryArray):
            sizes = pc.binary_length(chunk.dictionary).fill_null(0).to_numpy()
            index = chunk.indices.fill_null(0).to_numpy() if len(chunk.dictionary) else None
            cells = sizes[index] if index is not None else np.zeros(len(chunk), np.int64)
            if chunk.null_count and index is not None:
                cells = np.where(chunk.is_valid().to_numpy(zero_copy_only=False), cells, 0)
        else:
            cells = pc.binary_length(chunk).fill_null(0).to_numpy()
        parts.append(np.asarray(cells, dtype=np.int64))
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def _too_large(path: Path, what: str, rg: int) -> None:
    raise InputError(f"too large: {what} (at most {MAX_GROUP_BYTES} per row group)", str(path),
                     where=f"row group {rg}")


STRING_COLUMNS = tuple(f.name for f in EVENT_SCHEMA if pa.types.is_string(f.type) or (
    pa.types.is_dictionary(f.type) and pa.types.is_string(f.type.value_type)))


def check_strings(path: Path, parquet: pq.ParquetFile) -> None:
    """Every string valid UTF-8, as the JSONL reader requires (Parquet does not: a file that
    holds other bytes made export, check and replay stop with a UnicodeDecodeError).
    Dictionary columns are checked on their dictionaries."""
    first_row = 0
    for rg in range(parquet.metadata.num_row_groups):
        table = _read_group(path, parquet, rg, list(STRING_COLUMNS))
        for name in STRING_COLUMNS:
            for start, chunk in _chunks(table.column(name)):
                values = chunk.dictionary if isinstance(chunk, pa.DictionaryArray) else chunk
                try:
                    values.validate(full=True)
                except pa.ArrowInvalid:
                    row = first_row + start + _first_invalid(chunk)
                    raise InputError(f"field {name!r}: not valid UTF-8", str(path),
                                     where=f"row {row}") from None
        first_row += table.num_rows


def _chunks(column: pa.ChunkedArray) -> list[tuple[int, pa.Array]]:
    starts = np.cumsum([0] + [len(c) for c in column.chunks])
    return list(zip(starts.tolist(), column.chunks, strict=False))


def _first_invalid(chunk: pa.Array) -> int:
    """The first row whose string is not UTF-8 (only once a chunk is known to hold one)."""
    if isinstance(chunk, pa.DictionaryArray):
        bad = {i for i, v in enumerate(chunk.dictionary.view(pa.binary()).to_pylist())
               if v is not None and not _utf8(v)}
        codes = chunk.indices.to_pylist()
        return next(i for i, c in enumerate(codes) if c in bad)
    return next(i for i, v in enumerate(chunk.view(pa.binary()).to_pylist())
                if v is not None and not _utf8(v))


def _utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def check_trace(path: Path, parquet: pq.ParquetFile, source: pa.NativeFile) -> None:
    """All of the above: the schema, the sizes, the strings, the rows (`source`: what `parquet`
    reads)."""
    check_schema(path, parquet.schema_arrow)
    check_sizes(path, parquet, source)
    check_strings(path, parquet)
    check_rows(path, parquet)


def check_layout(path: Path, parquet: pq.ParquetFile, source: pa.NativeFile) -> bool:
    """What check_trace checks without reading the rows: the schema and the sizes. True when
    the rest can be checked by BatchCheck as a reader decodes the rows (every row group's
    statistics say seq, ts_ns, vcpu and kind hold no null); False: check_trace must."""
    check_schema(path, parquet.schema_arrow)
    check_sizes(path, parquet, source)
    for rg in range(parquet.metadata.num_row_groups):
        nulls = _group_nulls(parquet, rg)
        if any(nulls(name) != 0 for name in NON_NULL):
            return False
    return True


class Defect(Exception):
    """A batch that check_strings or check_rows would refuse (check_trace names it)."""


class BatchCheck:
    """check_strings and check_rows on the batches a reader decodes, in file order, once
    check_layout said the statistics allow it. Only whether the rows so far are valid: on a
    defect, check_trace is run, and names the first defect as it always has (strings before
    rows, in its order)."""

    def __init__(self, parquet: pq.ParquetFile) -> None:
        self.parquet = parquet
        self.row = 0
        self.last_seq: int | None = None

    def columns(self, rg: int) -> list[str]:
        """What the checks read of row group rg (whichever kinds it holds)."""
        needed = columns_needed(KIND_FIELDS, _group_nulls(self.parquet, rg))
        return sorted({*NON_NULL, *STRING_COLUMNS, *needed})

    def check(self, rg: int, batch: pa.RecordBatch) -> None:
        """Raise Defect if the batch (the next rows of the file, from row group rg) has one."""
        path = Path("-")
        try:
            for name in STRING_COLUMNS:
                column = batch.column(name)
                values = column.dictionary if isinstance(column, pa.DictionaryArray) else column
                values.validate(full=True)
            self.last_seq = _check_seq(path, batch.column("seq"), self.row, self.last_seq)
            _check_ts(path, batch.column("ts_ns"), self.row)
        except (InputError, pa.ArrowInvalid):
            raise Defect from None
        rows = rows_by_kind(*kind_codes(pa.chunked_array([batch.column("kind")])))
        needed = columns_needed(rows, _group_nulls(self.parquet, rg))
        columns = {name: batch.column(name) for name in needed}
        if needed and first_broken_event(rows, columns.get) is not None:
            raise Defect
        self.row += batch.num_rows
