"""Render a query result: a rich table, CSV, JSON, JSON Lines, Markdown, Parquet or Arrow IPC.

Text formats stream batch by batch. Trace content is untrusted: in table and Markdown output
(read by people, on terminals) control characters are escaped and nothing is taken as markup.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import decimal
import json
from collections.abc import Iterable, Iterator
from typing import IO, Any

import pyarrow as pa

from tdxray.analyses.escape import escape_control

TEXT_FORMATS = ("table", "csv", "json", "jsonl", "markdown")
BINARY_FORMATS = ("parquet", "arrow")
FORMATS = TEXT_FORMATS + BINARY_FORMATS
NULL = "NULL"
MAX_FIT = 40  # a column wider than this is folded rather than given the whole terminal


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.date | dt.time | dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


def cell_text(value: Any) -> str:
    """One value as display text (NULL for null; nested values as JSON)."""
    if value is None:
        return NULL
    if isinstance(value, str):
        return escape_control(value)
    if isinstance(value, list | dict):
        return escape_control(json.dumps(value, default=_json_default))
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dt.date | dt.time | dt.datetime):
        return value.isoformat()
    return str(value)


def _rows(batches: Iterable[pa.RecordBatch]) -> Iterator[dict[str, Any]]:
    for batch in batches:
        yield from batch.to_pylist()


def _is_numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def _table_cell(value: Any) -> str:
    """Display text for a table cell: newlines kept (multi-line cells), controls escaped."""
    if isinstance(value, str) and "\n" in value:
        return "\n".join(escape_control(part) for part in value.split("\n"))
    return cell_text(value)


def _fit(names: list[str], cells: list[list[str]], width: int | None) -> tuple[int, int]:
    """How many leading columns fit in `width`, and the width the table needs for them."""
    natural = [max([len(n)] + [max(map(len, c.split("\n"))) for c in col])
               for n, col in zip(names, cells, strict=True)]
    if width is None:
        return len(names), sum(natural) + 3 * len(names) + 1
    shown, used = 0, 1
    for w in natural:
        if shown and used + min(w, MAX_FIT) + 3 > width:
            break
        shown, used = shown + 1, used + min(w, MAX_FIT) + 3
    return shown, width


def write_table(table: pa.Table, out: IO[str], width: int | None = None) -> int:
    """A rich table of `table`; `width` None: as wide as it needs. Returns the columns shown
    (the leading columns that fit in `width`)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    rows = table.to_pylist()
    names = table.schema.names
    cells = [[_table_cell(row[n]) for row in rows] for n in names]
    shown, needed = _fit(names, cells, width)
    grid = Table(header_style="bold")
    for field in list(table.schema)[:shown]:
        grid.add_column(Text(escape_control(field.name)), overflow="fold",
                        justify="right" if _is_numeric(field.type) else "left")
    for i, row in enumerate(rows):
        grid.add_row(*(Text(cells[c][i], style="dim" if row[names[c]] is None else "")
                       for c in range(shown)))
    Console(file=out, width=needed, soft_wrap=False, highlight=False).print(grid)
    return shown


def write_csv(schema: pa.Schema, batches: Iterable[pa.RecordBatch], out: IO[str]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(schema.names)
    for row in _rows(batches):
        writer.writerow([_csv_cell(v) for v in row.values()])


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, default=_json_default)
    return value


def write_jsonl(batches: Iterable[pa.RecordBatch], out: IO[str]) -> None:
    for row in _rows(batches):
        out.write(json.dumps(row, default=_json_default) + "\n")


def write_json(batches: Iterable[pa.RecordBatch], out: IO[str]) -> None:
    out.write("[")
    first = True
    for row in _rows(batches):
        out.write(("\n  " if first else ",\n  ") + json.dumps(row, default=_json_default))
        first = False
    out.write("\n]\n" if not first else "]\n")


def _md_cell(value: Any) -> str:
    return cell_text(value).replace("\\", "\\\\").replace("|", "\\|")


def write_markdown(schema: pa.Schema, batches: Iterable[pa.RecordBatch], out: IO[str]) -> None:
    out.write("| " + " | ".join(_md_cell(n) for n in schema.names) + " |\n")
    out.write("|" + "|".join("---:" if _is_numeric(f.type) else "---" for f in schema) + "|\n")
    for row in _rows(batches):
        out.write("| " + " | ".join(_md_cell(v) for v in row.values()) + " |\n")


def write_binary(fmt: str, schema: pa.Schema, batches: Iterable[pa.RecordBatch],
                 out: IO[bytes] | str) -> None:
    """Parquet (zstd) or an Arrow IPC file, to a path or a binary stream."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        with pq.ParquetWriter(out, schema, compression="zstd") as writer:
            for batch in batches:
                writer.write_batch(batch)
        return
    with pa.ipc.new_file(out, schema) as ipc:
        for batch in batches:
            ipc.write_batch(batch)


def write_text(fmt: str, schema: pa.Schema, batches: Iterable[pa.RecordBatch],
               out: IO[str], width: int | None = None) -> str | None:
    """Write the rows in a text format; says so if the table format left columns out."""
    if fmt == "table":
        shown = write_table(pa.Table.from_batches(list(batches), schema), out, width)
        if shown < len(schema):
            return (f"showing {shown} of {len(schema)} columns (select fewer columns, or "
                    "--format csv)")
    elif fmt == "csv":
        write_csv(schema, batches, out)
    elif fmt == "json":
        write_json(batches, out)
    elif fmt == "jsonl":
        write_jsonl(batches, out)
    elif fmt == "markdown":
        write_markdown(schema, batches, out)
    else:
        raise ValueError(f"unknown text format {fmt!r}")
    return None
