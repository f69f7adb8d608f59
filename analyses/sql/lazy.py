"""Views and macros a session defines on first use: a query names them, they (and what they are
built on) are created just before it runs. Binding a view over the events binds the scan of
every trace file again; a store of 1,000 traces spent ~0.35 s of each session's set-up on views
the query never read. A query that looks at the catalogue (SHOW, DESCRIBE, duckdb_views(), …)
gets every definition first, so what it lists does not depend on what ran before."""

from __future__ import annotations

import re
from collections.abc import Mapping

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# words of a query that reads the catalogue rather than a view
CATALOGUE_WORDS = frozenset({"show", "describe", "summarize", "pragma", "information_schema",
                             "duckdb_views", "duckdb_tables", "duckdb_columns",
                             "duckdb_functions", "duckdb_dependencies", "sqlite_master"})


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


class Lazy:
    """DDL statements by the name they define, handed out once each, dependencies first."""

    def __init__(self, ddl: Mapping[str, str], leaves: Mapping[str, str] | None = None) -> None:
        """`leaves`: DDL built on no other definition (views over files: their text, a list
        of thousands of paths, is not searched for names)."""
        self._ddl = {**(leaves or {}), **ddl}
        self._deps = {name: sorted(_words(body) & set(self._ddl) - {name})
                      for name, body in ddl.items()}
        self._deps.update({name: [] for name in leaves or {}})
        self._done: set[str] = set()

    def take(self, query: str) -> list[str]:
        """The statements to run before `query`: what it names and is not defined yet."""
        words = _words(query)
        wanted = list(self._ddl) if words & CATALOGUE_WORDS else sorted(words & set(self._ddl))
        out: list[str] = []
        for name in wanted:
            self._visit(name, out)
        return out

    def pending(self) -> bool:
        """Whether some definition has not been handed out yet."""
        return len(self._done) < len(self._ddl)

    def take_all(self) -> list[str]:
        out: list[str] = []
        for name in self._ddl:
            self._visit(name, out)
        return out

    def _visit(self, name: str, out: list[str]) -> None:
        if name in self._done:
            return
        self._done.add(name)
        for dep in self._deps[name]:
            self._visit(dep, out)
        out.append(self._ddl[name])
