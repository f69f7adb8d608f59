"""`tdxray tui --diff A B`: the diff of two traces side by side, phase by phase. The diff is
computed in a worker; moving in either table moves both and shows what differs below."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import DataTable, Footer, Static

from tdxray.analyses.diff.compare import Diff, PhaseDiff, Side
from tdxray.analyses.diff.text import phase_lines
from tdxray.analyses.escape import escape_control
from tdxray.schema.errors import InputError

COLUMNS = ("phase", "ms", "divergences", "to shared", "to private", "accepted")


class DiffReady(Message):
    def __init__(self, diff: Diff | None, error: str | None = None) -> None:
        super().__init__()
        self.diff = diff
        self.error = error


def side_row(side: Side, p: PhaseDiff) -> tuple[str, ...]:
    """One table row: the phase as this side saw it (dashes when it has no such phase)."""
    phase = side.phase(p.key)
    if phase is None:
        return (p.title, "-", "-", "-", "-", "-")
    found = sum(1 for d in side.result.divergences
                if d.severity != "info" and side.timeline.phase_of(d) == p.key)
    return (p.title, f"{phase.ns / 1e6:.3f}", str(found),
            *(str(phase.calls[k]) for k in ("to_shared", "to_private", "accept")))


class DiffApp(App[None]):
    TITLE = "tdxray diff"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "quit", "Quit")]
    CSS = """
    #sides { height: 1fr; }
    #sides DataTable { width: 1fr; }
    #detail { height: auto; max-height: 16; border-top: solid $primary; padding: 0 1; }
    """

    def __init__(self, a: str, b: str) -> None:
        super().__init__()
        self.a, self.b = a, b
        self.diff: Diff | None = None

    def compose(self) -> ComposeResult:
        yield Static(f"A {escape_control(self.a)}  vs  B {escape_control(self.b)}", id="heading")
        with Horizontal(id="sides"):
            yield DataTable(id="table-a", cursor_type="row")
            yield DataTable(id="table-b", cursor_type="row")
        yield Static("comparing…", id="detail")
        yield Footer()

    def on_mount(self) -> None:
        self.compute()

    @work(thread=True, exclusive=True)
    def compute(self) -> None:
        from tdxray.analyses.diff.run import diff

        try:
            self.post_message(DiffReady(diff(self.a, self.b)))
        except InputError as exc:
            self.post_message(DiffReady(None, str(exc)))

    def on_diff_ready(self, message: DiffReady) -> None:
        if message.diff is None:
            self.query_one("#detail", Static).update(
                Text(f"cannot compare: {escape_control(message.error or '')}", "red"))
            return
        self.diff = d = message.diff
        for table, side in ((self.query_one("#table-a", DataTable), d.a),
                            (self.query_one("#table-b", DataTable), d.b)):
            table.add_columns(*COLUMNS)
            for p in d.phases:
                style = "bold magenta" if p.differs else ""
                table.add_row(*(Text(c, style) for c in side_row(side, p)))
        self.query_one("#table-a", DataTable).focus()
        self.show_phase(0)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        other = "#table-b" if event.data_table.id == "table-a" else "#table-a"
        table = self.query_one(other, DataTable)
        if table.row_count and table.cursor_row != event.cursor_row:
            table.move_cursor(row=event.cursor_row)
        self.show_phase(event.cursor_row)

    def show_phase(self, row: int) -> None:
        if self.diff is None or not 0 <= row < len(self.diff.phases):
            return
        p = self.diff.phases[row]
        lines = list(phase_lines(p)) or ["same in A and B"]
        self.query_one("#detail", Static).update(
            Text(escape_control(p.title) + "\n" + "\n".join(escape_control(x) for x in lines)))

    def detail_text(self) -> str:
        content = self.query_one("#detail", Static).content
        return content.plain if isinstance(content, Text) else str(content)
