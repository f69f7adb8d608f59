"""`tdxray tui --diff A B`: the diff of two traces side by side, phase by phase. The diff is
computed in a worker; moving in either table moves both and shows what differs below, then
the selected phase's events side by side (A's and B's aligned, differences coloured)."""

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
from tdxray.analyses.diff.events import EventRow, PhaseEvents, Step, phase_events
from tdxray.analyses.diff.text import phase_lines
from tdxray.analyses.escape import escape_control
from tdxray.schema.errors import InputError

COLUMNS = ("phase", "ms", "divergences", "to shared", "to private", "accepted")
EVENT_COLUMNS = ("seq", "event")
ONLY_STYLE = {"a": "bold red", "b": "bold green"}  # an event only one side has
CHANGED_STYLE = "bold yellow"  # the two sides' events at one place differ


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


class EventsReady(Message):
    def __init__(self, row: int, events: PhaseEvents) -> None:
        super().__init__()
        self.row = row
        self.events = events


def event_cells(step: Step | None, style: str) -> tuple[Text, Text]:
    if step is None:
        return Text(""), Text("")
    return Text(str(step.seq), style), Text(escape_control(step.says), style)


def event_style(row: EventRow, side: str) -> str:
    if row.same:
        return ""
    return CHANGED_STYLE if row.a is not None and row.b is not None else ONLY_STYLE[side]


class DiffApp(App[None]):
    TITLE = "tdxray diff"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "quit", "Quit")]
    CSS = """
    #sides { height: 10; }
    #sides DataTable, #events DataTable { width: 1fr; }
    #detail { height: auto; max-height: 10; border-top: solid $primary; padding: 0 1; }
    #events-heading { border-top: solid $primary; padding: 0 1; }
    #events { height: 1fr; }
    """

    def __init__(self, a: str, b: str, trace_a: str | None = None,
                 trace_b: str | None = None) -> None:
        """A and B as `tdxray diff` takes them (trace_a/trace_b: which trace of a store)."""
        super().__init__()
        self.a, self.b = a, b
        self.trace_a, self.trace_b = trace_a, trace_b
        self.diff: Diff | None = None
        self.shown_events: int | None = None  # the phase row whose events are shown

    def compose(self) -> ComposeResult:
        yield Static(Text(f"A {escape_control(self.a)}  vs  B {escape_control(self.b)}"),
                     id="heading")
        with Horizontal(id="sides"):
            yield DataTable(id="table-a", cursor_type="row")
            yield DataTable(id="table-b", cursor_type="row")
        yield Static("comparing…", id="detail")
        yield Static("", id="events-heading")
        with Horizontal(id="events"):
            yield DataTable(id="events-a", cursor_type="row")
            yield DataTable(id="events-b", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.compute()

    @work(thread=True, exclusive=True)
    def compute(self) -> None:
        from tdxray.analyses.diff.run import diff

        try:
            self.post_message(DiffReady(diff(self.a, self.b, self.trace_a, self.trace_b)))
        except InputError as exc:
            self.post_message(DiffReady(None, str(exc)))

    def on_diff_ready(self, message: DiffReady) -> None:
        if message.diff is None:
            self.query_one("#detail", Static).update(
                Text(f"cannot compare: {escape_control(message.error or '')}", "red"))
            return
        self.diff = d = message.diff
        for name in ("#events-a", "#events-b"):
            self.query_one(name, DataTable).add_columns(*EVENT_COLUMNS)
        for table, side in ((self.query_one("#table-a", DataTable), d.a),
                            (self.query_one("#table-b", DataTable), d.b)):
            table.add_columns(*COLUMNS)
            for p in d.phases:
                style = "bold magenta" if p.differs else ""
                table.add_row(*(Text(c, style) for c in side_row(side, p)))
        self.query_one("#table-a", DataTable).focus()
        self.show_phase(0)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        pairs = {"table-a": "#table-b", "table-b": "#table-a", "events-a": "#events-b",
                 "events-b": "#events-a"}
        table = self.query_one(pairs[event.data_table.id or ""], DataTable)
        if table.row_count and table.cursor_row != event.cursor_row:
            table.move_cursor(row=event.cursor_row)
        if event.data_table.id in ("table-a", "table-b"):
            self.show_phase(event.cursor_row)

    def show_phase(self, row: int) -> None:
        if self.diff is None or not 0 <= row < len(self.diff.phases):
            return
        p = self.diff.phases[row]
        lines = list(phase_lines(p)) or ["same in A and B"]
        self.query_one("#detail", Static).update(
            Text(escape_control(p.title) + "\n" + "\n".join(escape_control(x) for x in lines)))
        if self.shown_events != row:
            self.shown_events = None
            self.query_one("#events-heading", Static).update("reading the phase's events…")
            self.load_events(row)

    @work(thread=True, exclusive=True, group="events")
    def load_events(self, row: int) -> None:
        assert self.diff is not None
        self.post_message(EventsReady(row, phase_events(self.diff.a, self.diff.b,
                                                        self.diff.phases[row].key)))

    def on_events_ready(self, message: EventsReady) -> None:
        if self.diff is None or self.query_one("#table-a", DataTable).cursor_row != message.row:
            return  # the cursor moved on: that phase's events are no longer wanted
        self.shown_events = message.row
        events = message.events
        differ = sum(not r.same for r in events.rows)
        shown = f"{len(events.rows)} rows" if events.rows else "no events the model acts on"
        self.query_one("#events-heading", Static).update(Text(
            f"events: A {events.total_a}, B {events.total_b} the model acts on; {shown}, "
            f"{differ} differ (red: only A, green: only B, yellow: changed)"))
        for name, side in (("#events-a", "a"), ("#events-b", "b")):
            table = self.query_one(name, DataTable)
            table.clear()
            for r in events.rows:
                table.add_row(*event_cells(r.a if side == "a" else r.b, event_style(r, side)))

    def detail_text(self) -> str:
        content = self.query_one("#detail", Static).content
        return content.plain if isinstance(content, Text) else str(content)
