"""What a query may do: read the store, nothing else.

Two layers, both DuckDB's own:

1. Configuration, set once the views exist and then locked: external access is off except for
   the store directory (`allowed_directories`), extensions are neither installed nor loaded, and
   `lock_configuration` makes every later SET/PRAGMA/RESET fail.
2. Statement types from DuckDB's own parser (`duckdb.extract_statements`): only SELECT (which
   covers WITH, FROM, VALUES, DESCRIBE, SHOW, SUMMARIZE) and EXPLAIN run. This is needed because
   `allowed_directories` grants write access too: without it `COPY … TO 'STORE/x'`,
   `EXPORT DATABASE 'STORE/x'` and `ATTACH 'STORE/x.db'` would write into the store.
   EXPLAIN ANALYZE runs its statement, so an EXPLAIN must wrap a single SELECT too: the EXPLAIN
   [ANALYZE] keywords are cut off and the rest must parse as one SELECT (anything else, such as
   `EXPLAIN (FORMAT json) …`, is refused: the check fails closed).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import duckdb

from tdxray.analyses.sql.macros import sql_str
from tdxray.schema.errors import InputError

SELECT = duckdb.StatementType.SELECT
EXPLAIN = duckdb.StatementType.EXPLAIN
ALLOWED_STATEMENTS = frozenset({SELECT, EXPLAIN})
_EXPLAIN_PREFIX = re.compile(
    r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*EXPLAIN\s+(?:ANALY[SZ]E\s+)?", re.I | re.S)


class QueryError(InputError):
    """A query that failed or was refused: one line, DuckDB's own words where it has them."""


def one_line(exc: BaseException) -> str:
    """DuckDB's first paragraph on one line: the error and its hint ("Did you mean", the
    candidate columns), not the quoted query below it."""
    text = str(exc).strip()
    return " ".join(text.split("\n\n")[0].splitlines()) if text else type(exc).__name__


def lockdown_statements(store: Path, also: Sequence[Path] = ()) -> list[str]:
    """The settings that confine a connection to reading `store` (run after the views exist)
    and the directories `also` (the stand-ins of a read-only store's results)."""
    allowed = ", ".join(sql_str(str(d) + "/") for d in [store, *also])
    return [
        f"SET allowed_directories = [{allowed}]",
        "SET enable_external_access = false",
        "SET autoinstall_known_extensions = false",
        "SET autoload_known_extensions = false",
        "SET lock_configuration = true",
    ]


def check_query(query: str) -> str:
    """The one statement of `query` if it only reads; QueryError otherwise."""
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise QueryError(one_line(exc)) from None
    if not statements:
        raise QueryError("empty query")
    if len(statements) > 1:
        raise QueryError(f"one statement at a time (got {len(statements)})")
    kind = statements[0].type
    if kind not in ALLOWED_STATEMENTS:
        raise QueryError(
            f"refused: {kind.name} statements are not allowed; tdxray sql only reads the store "
            "(SELECT, WITH, FROM, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN)")
    if kind == EXPLAIN and not _explains_a_select(statements[0].query):
        raise QueryError("refused: EXPLAIN [ANALYZE] is allowed only of a single SELECT")
    return query


def _explains_a_select(text: str) -> bool:
    inner, cut = _EXPLAIN_PREFIX.subn("", text, count=1)
    if not cut:
        return False
    try:
        return [s.type for s in duckdb.extract_statements(inner)] == [SELECT]
    except duckdb.Error:
        return False


_NO_TABLE = "Catalog Error: Table with name "


def query_error(exc: duckdb.Error) -> QueryError:
    """DuckDB's message as a QueryError; a permission error says what was refused."""
    message = one_line(exc)
    if isinstance(exc, duckdb.PermissionException):
        message = f"refused: {message} (tdxray sql reads only the store)"
    elif isinstance(exc, duckdb.OutOfMemoryException):
        message = f"{message} (--memory-limit SIZE raises the limit)"
    elif isinstance(exc, duckdb.CatalogException) and message.startswith(_NO_TABLE):
        # DuckDB may suggest an internal _view; the public view of the same name is the one
        message = message.replace('Did you mean "_', 'Did you mean "')
        message = f"{message} (SHOW TABLES lists the views; docs/sql.md says what each holds)"
    return QueryError(message)
