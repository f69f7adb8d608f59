"""The SQL screen: a query over the store's views (tdxray's locked-down SQL session), results
in an Arrow-backed table, errors inline, a history. Truncation is said, never silent."""

from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar

import duckdb
import pyarrow as pa
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, OptionList, Static
from textual_fastdatatable import ArrowBackend, DataTable

from tdxray.analyses.escape import escape_control
from tdxray.tui.messages import QueryDone

ROW_LIMIT = 10_000
EXAMPLE = "SELECT rule, severity, seq, message FROM divergences ORDER BY seq"


def escaped(table: pa.Table) -> pa.Table:
    """String columns with control characters escaped (query results carry trace text)."""
    columns = []
    for column in table.columns:
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            column = pa.array([None if v is None else escape_control(v)
                               for v in column.to_pylist()], pa.string())
        columns.append(column)
    return pa.table(columns, names=table.column_names)


class SqlScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back to the trace"),
        Binding("ctrl+k", "cancel", "Cancel the query"),
        Binding("ctrl+up", "history(-1)", "Previous query"),
        Binding("ctrl+down", "history(1)", "Next query"),
    ]
    DEFAULT_CSS = """
    SqlScreen #sql-input { margin: 0 1; }
    SqlScreen #sql-status { height: auto; max-height: 4; padding: 0 1; }
    SqlScreen #sql-history { width: 40; border-left: solid $primary; }
    SqlScreen #sql-results { height: 1fr; }
    """

    def __init__(self, store: Path, initial: str = "", history: list[str] | None = None,
                 label: str = "") -> None:
        super().__init__()
        self.store = store
        self.label = label or str(store)
        self.initial = initial or EXAMPLE
        self.session: object | None = None
        self.history: list[str] = history if history is not None else []
        self._history_at = len(self.history)

    def compose(self) -> ComposeResult:
        yield Static(Text(f"SQL over {escape_control(self.label)} — views: events, map_gpa, "
                          "accepts, divergences, page_history … (SHOW TABLES)", "bold"))
        yield Input(self.initial, placeholder="SELECT …  (Enter runs)", id="sql-input")
        yield Static("opening the SQL session…", id="sql-status")
        with Horizontal():
            yield Vertical(id="sql-results")
            yield OptionList(*[escape_control(q) for q in self.history], id="sql-history")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#sql-history", OptionList).border_title = "history"
        self.open_session()

    @work(thread=True, exclusive=True, group="sql-open")
    def open_session(self) -> None:
        from tdxray.analyses.sql.session import Session
        from tdxray.schema.errors import InputError

        try:
            self.session = Session(self.store)
            self.post_message(QueryDone("", None, False, None, 0.0))
        except (InputError, OSError) as exc:
            self.post_message(QueryDone("", None, False, f"cannot open the SQL session: {exc}",
                                        0.0))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        query = event.value.strip()
        if not query:
            return
        if not self.history or self.history[-1] != query:
            self.history.append(query)
            self.query_one("#sql-history", OptionList).add_option(escape_control(query))
        self._history_at = len(self.history)
        self.query_one("#sql-status", Static).update(Text("running…", "dim"))
        self.run_query(query)

    @work(thread=True, exclusive=True, group="sql")
    def run_query(self, query: str) -> None:
        from tdxray.analyses.sql.session import QueryError, Session

        session = self.session
        if not isinstance(session, Session):
            self.post_message(QueryDone(query, None, False, "the SQL session is not open", 0.0))
            return
        start = time.perf_counter()
        try:
            rel = session.relation(query)
            table = rel.limit(ROW_LIMIT + 1).to_arrow_table()
        except QueryError as exc:
            self.post_message(QueryDone(query, None, False, str(exc), 0.0))
            return
        except duckdb.Error as exc:  # errors the session's own wrapping lets through
            self.post_message(QueryDone(query, None, False, f"{type(exc).__name__}: {exc}", 0.0))
            return
        truncated = table.num_rows > ROW_LIMIT
        self.post_message(QueryDone(query, escaped(table.slice(0, ROW_LIMIT)), truncated, None,
                                    time.perf_counter() - start))

    def on_query_done(self, message: QueryDone) -> None:
        status = self.query_one("#sql-status", Static)
        if message.error is not None:
            status.update(Text(escape_control(message.error), "bold red"))
            return
        if message.table is None:
            status.update(Text("ready: type a query and press Enter", "green"))
            return
        rows = message.table.num_rows
        note = f"{rows:,} rows" + (f" in {message.seconds:.1f} s" if message.seconds >= 1 else "")
        if message.truncated:
            note += f" — TRUNCATED to the first {ROW_LIMIT:,} rows (add a LIMIT or aggregate)"
        status.update(Text(note, "yellow" if message.truncated else "green"))
        box = self.query_one("#sql-results", Vertical)
        box.remove_children()
        box.mount(DataTable(backend=ArrowBackend(message.table), id="sql-table",
                            render_markup=False, max_column_content_width=60))

    def action_cancel(self) -> None:
        session = self.session
        if session is not None:
            session.interrupt()  # type: ignore[attr-defined]

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        self._history_at = max(0, min(len(self.history) - 1, self._history_at + step))
        self.query_one("#sql-input", Input).value = self.history[self._history_at]

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.query_one("#sql-input", Input).value = self.history[event.option_index]
        self.query_one("#sql-input", Input).focus()

    def on_unmount(self) -> None:
        session = self.session
        if session is not None:
            session.close()  # type: ignore[attr-defined]
