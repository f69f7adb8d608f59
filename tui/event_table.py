"""The event table: a Line API widget over a trace of any length.

Only visible rows are rendered; rows are read from DuckDB in pages of PAGE rows by a worker
(the page around the viewport plus one either side) and kept in a small LRU. Rows not read
yet show as a dim placeholder for the few milliseconds it takes.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import work
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tdxray.tui.describe import Row, describe, escaped_kind, is_failure
from tdxray.tui.messages import JumpResolved, RowsLoaded
from tdxray.tui.source import EventSource, View

PAGE = 256
CACHE_PAGES = 48
KIND_WIDTH = 13


class EventTable(ScrollView, can_focus=True):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown,space", "page(1)", "Page down", show=False),
        Binding("home", "edge(0)", "First event", show=False),
        Binding("end", "edge(1)", "Last event", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "event-table--cursor", "event-table--failure", "event-table--reveal",
        "event-table--cause", "event-table--pending"}
    DEFAULT_CSS = """
    EventTable { height: 1fr; overflow-x: hidden; }
    EventTable > .event-table--cursor { background: $accent 60%; text-style: bold; }
    EventTable > .event-table--failure { color: $error; }
    EventTable > .event-table--reveal { background: $error 45%; }
    EventTable > .event-table--cause { background: $warning 40%; }
    EventTable > .event-table--pending { color: $text-muted; }
    """

    cursor: reactive[int] = reactive(0, always_update=True)

    class CursorMoved(Message):
        def __init__(self, index: int, row: Row | None) -> None:
            super().__init__()
            self.index, self.row = index, row

    def __init__(self, source: EventSource, sbit: int, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.source = source
        self.sbit = sbit
        self.view: View = source.full_view()
        self.generation = 0
        self.marks: dict[int, str] = {}  # seq -> component class (revealing event, causes)
        self._pages: OrderedDict[int, list[Row]] = OrderedDict()
        self._wanted: set[int] = set()
        self._seq_width = max(5, len(str(self.source.rows)) + 1)
        self._pinned: dict[int, list[Row]] = {}  # pages around divergences, read ahead
        self._seq_index: dict[int, int] = {}  # seq -> view index, for the pinned seqs
        self._prefetched: list[int] = []

    # --- the view ------------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.virtual_size = Size(self.size.width, self.view.total)
        self.request_pages()

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, self.view.total)
        self.request_pages()

    def set_view(self, view: View) -> None:
        """Show another set of rows (a filter changed); keep the cursor on the same event."""
        keep = self.current_row()
        self.view = view
        self.generation += 1
        self._pages.clear()
        self._wanted.clear()
        self._pinned.clear()
        self._seq_index.clear()
        if self._prefetched:
            self.prefetch(self._prefetched)
        self.virtual_size = Size(self.size.width, view.total)
        if keep is not None:
            self.go_to_seq(int(keep["seq"]))
        else:
            self.cursor = 0
            self.scroll_to(y=0, animate=False)
            self.request_pages()
        self.refresh()

    def current_row(self) -> Row | None:
        return self.row_at(self.cursor)

    def row_at(self, index: int) -> Row | None:
        rows = self._pages.get(index // PAGE) or self._pinned.get(index // PAGE)
        if rows is None or index % PAGE >= len(rows):
            return None
        return rows[index % PAGE]

    # --- fetching ------------------------------------------------------------------------------

    def request_pages(self) -> None:
        top = int(self.scroll_offset.y)
        first = max(0, top // PAGE - 1)
        last = (top + max(self.size.height, 1)) // PAGE + 1
        pages = [p for p in range(first, last + 1)
                 if p * PAGE < self.view.total and p not in self._pages]
        if pages and set(pages) != self._wanted:
            self._wanted = set(pages)
            self._fetch(pages, self.view, self.generation)

    @work(thread=True, exclusive=True, group="rows")
    def _fetch(self, pages: list[int], view: View, generation: int) -> None:
        for page in sorted(pages, key=lambda p: abs(p * PAGE - int(self.scroll_offset.y))):
            rows = self.source.window(view, page * PAGE, PAGE).to_pylist()
            self.post_message(RowsLoaded(generation, page, rows))

    def on_rows_loaded(self, message: RowsLoaded) -> None:
        message.stop()
        if message.generation != self.generation:
            return
        if message.pin is not None:
            self._pinned[message.page] = message.rows
            self._seq_index[message.pin[0]] = message.pin[1]
            return
        self._pages[message.page] = message.rows
        self._pages.move_to_end(message.page)
        self._wanted.discard(message.page)
        while len(self._pages) > CACHE_PAGES:
            self._pages.popitem(last=False)
        self.refresh()
        if message.page == self.cursor // PAGE:
            self.post_message(self.CursorMoved(self.cursor, self.current_row()))

    def go_to_seq(self, seq: int) -> None:
        """Put the cursor on event `seq` (or the first shown event after it)."""
        index = self._seq_index.get(seq)
        if index is not None:
            self.move_to(index, center=True)
        else:
            self._resolve(seq, self.view, self.generation)

    def prefetch(self, seqs: list[int]) -> None:
        """Read ahead the pages holding these events (divergences): jumps become instant."""
        self._prefetched = seqs
        self._read_ahead(seqs, self.view, self.generation)

    @work(thread=True, exclusive=True, group="prefetch")
    def _read_ahead(self, seqs: list[int], view: View, generation: int) -> None:
        for seq in seqs:
            index = self.source.index_of_row(view, self.source.row_of_seq(seq))
            rows = self.source.window(view, index // PAGE * PAGE, PAGE).to_pylist()
            self.post_message(RowsLoaded(generation, index // PAGE, rows, pin=(seq, index)))

    @work(thread=True, exclusive=True, group="jump")
    def _resolve(self, seq: int, view: View, generation: int) -> None:
        index = self.source.index_of_row(view, self.source.row_of_seq(seq))
        page = index // PAGE
        if page not in self._pages:
            rows = self.source.window(view, page * PAGE, PAGE).to_pylist()
            self.post_message(RowsLoaded(generation, page, rows))
        self.post_message(JumpResolved(generation, index, seq))

    def on_jump_resolved(self, message: JumpResolved) -> None:
        message.stop()
        if message.generation == self.generation:
            self.move_to(message.index, center=True)

    # --- moving --------------------------------------------------------------------------------

    def move_to(self, index: int, center: bool = False) -> None:
        index = max(0, min(index, self.view.total - 1))
        self.cursor = index
        height = max(self.size.height, 1)
        top = int(self.scroll_offset.y)
        if center and not top <= index < top + height:
            self.scroll_to(y=max(0, index - height // 2), animate=False)
        elif index < top:
            self.scroll_to(y=index, animate=False)
        elif index >= top + height:
            self.scroll_to(y=index - height + 1, animate=False)

    def watch_cursor(self, old: int, new: int) -> None:
        self.refresh()
        self.post_message(self.CursorMoved(new, self.row_at(new)))

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self.request_pages()

    def action_move(self, delta: int) -> None:
        self.move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_to(self.cursor + direction * max(self.size.height - 1, 1))

    def action_edge(self, end: int) -> None:
        self.move_to(self.view.total - 1 if end else 0, center=True)

    def on_click(self, event: object) -> None:
        y = getattr(event, "y", None)
        if y is not None:
            self.move_to(int(self.scroll_offset.y) + int(y))

    # --- rendering -----------------------------------------------------------------------------

    def header_text(self) -> str:
        return (f"{'seq':>{self._seq_width}} {'time (s)':>14} {'cpu':>3} "
                f"{'kind':<{KIND_WIDTH}} details")

    def render_line(self, y: int) -> Strip:
        index = int(self.scroll_offset.y) + y
        width = self.size.width
        if index >= self.view.total:
            return Strip.blank(width, self.rich_style)
        row = self.row_at(index)
        if row is None:
            self.call_later(self.request_pages)
            style = self.get_component_rich_style("event-table--pending")
            text, line_style = f"{'…':>{self._seq_width}}", style
        else:
            text, line_style = self._line(row), self._style(row)
        if index == self.cursor:
            line_style += self.get_component_rich_style("event-table--cursor")
        return Strip([Segment(text[:width].ljust(width), self.rich_style + line_style)], width)

    def _line(self, row: Row) -> str:
        time = f"{seconds(row['ts_ns']):>14}"
        return (f"{row['seq']:>{self._seq_width}} {time} {row['vcpu']:>3} "
                f"{escaped_kind(row['kind'])[:KIND_WIDTH]:<{KIND_WIDTH}} "
                f"{describe(row, self.sbit)}")

    def _style(self, row: Row) -> Style:
        style = Style()
        if is_failure(row):
            style += self.get_component_rich_style("event-table--failure")
        mark = self.marks.get(int(row["seq"]))
        if mark is not None:
            style += self.get_component_rich_style(f"event-table--{mark}")
        return style


def seconds(ts: int | None) -> str:
    """ns as seconds with 9 decimals, exactly (no float rounding)."""
    if ts is None:
        return ""
    sign = "-" if ts < 0 else ""
    ts = abs(ts)
    return f"{sign}{ts // 1_000_000_000}.{ts % 1_000_000_000:09d}"
