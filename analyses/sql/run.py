"""Run one query with a row limit pushed into SQL: fetch limit+1 rows, count only if truncated."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from tdxray.analyses.sql.guard import query_error
from tdxray.analyses.sql.session import Session, arrow_reader, arrow_table

BATCH_ROWS = 1 << 16
DEFAULT_TABLE_LIMIT = 500


@dataclass
class Result:
    schema: pa.Schema
    batches: Iterable[pa.RecordBatch]
    total: int | None = None  # set when the limit cut the result: how many rows it has
    shown: int | None = None

    @property
    def truncated(self) -> bool:
        return self.total is not None

    def note(self) -> str | None:
        """"showing 500 of 1,234,567 rows": truncation is never silent."""
        if self.total is None:
            return None
        return (f"showing {self.shown:,} of {self.total:,} rows "
                "(--limit N to change, --limit 0 for all)")


def _stream(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    try:
        yield from reader
    except duckdb.Error as exc:
        raise query_error(exc) from None


def run_query(session: Session, query: str, limit: int | None) -> Result:
    """The result of `query`; with a limit, at most `limit` rows and the total if cut."""
    rel = session.relation(query)
    try:
        if limit is None:
            reader = arrow_reader(rel, BATCH_ROWS)
            return Result(reader.schema, _stream(reader))
        table = arrow_table(rel.limit(limit + 1))
        if table.num_rows <= limit:
            return Result(table.schema, table.to_batches(), shown=table.num_rows)
        total = int(rel.aggregate("count(*)").fetchall()[0][0])
        return Result(table.schema, table.slice(0, limit).to_batches(), total=total, shown=limit)
    except duckdb.Error as exc:
        raise query_error(exc) from None
