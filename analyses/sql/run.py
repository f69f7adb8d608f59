"""Run one query with a row limit pushed into SQL: fetch limit+1 rows, count only if truncated.

The count of a cut result runs after its rows are shown, with a deadline: past it the note says
"more than N rows" rather than holding the first screen for a count of a huge result.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from tdxray.analyses.sql.guard import QueryError, one_line, query_error
from tdxray.analyses.sql.session import Session, arrow_reader, arrow_table

BATCH_ROWS = 1 << 16
DEFAULT_TABLE_LIMIT = 500
COUNT_SECONDS = 1.0  # how long a cut result's total may take to count


@dataclass
class Result:
    schema: pa.Schema
    batches: Iterable[pa.RecordBatch]
    shown: int | None = None
    count: Callable[[], int | None] | None = None  # set when the limit cut the result

    @property
    def truncated(self) -> bool:
        return self.count is not None

    def note(self) -> str | None:
        """"showing 500 of 1,234,567 rows": truncation is never silent (counted now)."""
        if self.count is None:
            return None
        total = self.count()
        of = f"{total:,}" if total is not None else f"more than {self.shown:,}"
        return f"showing {self.shown:,} of {of} rows (--limit N to change, --limit 0 for all)"


def too_many_rows(max_rows: int) -> QueryError:
    return QueryError(f"the result has more than {max_rows:,} rows: stopped (--max-rows)")


def _stream(reader: pa.RecordBatchReader, max_rows: int | None) -> Iterator[pa.RecordBatch]:
    seen = 0
    try:
        for batch in reader:
            seen += batch.num_rows
            if max_rows is not None and seen > max_rows:
                raise too_many_rows(max_rows)
            yield batch
    except duckdb.Error as exc:
        raise query_error(exc) from None
    except OSError as exc:  # DuckDB's errors while streaming arrive through Arrow as OSError
        raise QueryError(one_line(exc)) from None


def _counter(session: Session, rel: duckdb.DuckDBPyRelation,
             seconds: float) -> Callable[[], int | None]:
    def count() -> int | None:
        timer = threading.Timer(seconds, session.interrupt)
        timer.start()
        try:
            return int(rel.aggregate("count(*)").fetchall()[0][0])
        except duckdb.InterruptException:
            return None
        except duckdb.Error as exc:
            raise query_error(exc) from None
        finally:
            timer.cancel()
            timer.join()
    return count


def run_query(session: Session, query: str, limit: int | None, max_rows: int | None = None,
              count_seconds: float = COUNT_SECONDS) -> Result:
    """The result of `query`; with a limit, at most `limit` rows and a counter of the total.

    More than `max_rows` rows (while streaming, or within the limit) is a QueryError.
    """
    rel = session.relation(query)
    capped = max_rows is not None and (limit is None or limit > max_rows)
    try:
        if limit is None:
            source = rel.limit(max_rows + 1) if capped and max_rows is not None else rel
            reader = arrow_reader(source, BATCH_ROWS)
            return Result(reader.schema, _stream(reader, max_rows))
        table = arrow_table(rel.limit(limit + 1))
        if capped and max_rows is not None and table.num_rows > max_rows:
            raise too_many_rows(max_rows)
        if table.num_rows <= limit:
            return Result(table.schema, table.to_batches(), shown=table.num_rows)
        return Result(table.schema, table.slice(0, limit).to_batches(), shown=limit,
                      count=_counter(session, rel, count_seconds))
    except duckdb.Error as exc:
        raise query_error(exc) from None
