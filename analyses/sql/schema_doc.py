"""`tdxray sql --schema`: every view with its columns and a one-line description, the macros."""

from __future__ import annotations

from tdxray.analyses.sql.macros import SCALAR_MACROS
from tdxray.analyses.sql.session import Session
from tdxray.analyses.sql.table_macros import TABLE_MACRO_DOCS
from tdxray.analyses.sql.views import VIEW_DOCS


def view_columns(session: Session, view: str) -> list[tuple[str, str]]:
    """(name, type) of every column of a view."""
    rows = session.con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() "
        "WHERE table_name = ? AND schema_name = 'main' ORDER BY column_index", [view]).fetchall()
    return [(str(name), str(kind)) for name, kind in rows]


def schema_text(session: Session) -> str:
    session.define_all()
    lines = []
    for view, doc in VIEW_DOCS.items():
        lines.append(f"{view}: {doc}")
        columns = view_columns(session, view)
        width = max(len(name) for name, _ in columns)
        lines += [f"    {name:<{width}}  {kind}" for name, kind in columns]
        lines.append("")
    lines.append("table macros (SELECT * FROM name(...)):")
    width = max(len(n) for n in TABLE_MACRO_DOCS)
    lines += [f"    {name:<{width}}  {doc}" for name, doc in TABLE_MACRO_DOCS.items()]
    lines.append("")
    lines.append("scalar macros:")
    calls = {f"{name}({params})": doc for name, (params, _, doc) in SCALAR_MACROS.items()}
    width = max(len(c) for c in calls)
    lines += [f"    {call:<{width}}  {doc}" for call, doc in calls.items()]
    return "\n".join(lines)
