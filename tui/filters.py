"""The filter bar: kind, vCPU, time range, GPA touched, failures only, free text.

Each change is parsed into a `Filter` at once; the screen counts matching rows in a worker and
shows the WHERE clause the filter stands for under the fields.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Checkbox, Input, Static

from tdxray.tui.filter_sql import Filter

FIELDS = (
    ("kind", "kind: map_gpa,accept", 22),
    ("vcpu", "vCPU: 0,2-3", 12),
    ("time", "time s: 1.5-2", 15),
    ("gpa", "GPA touched: 0x1a2000", 23),
    ("text", "text search (/)", 20),
)


class FilterBar(Vertical):
    DEFAULT_CSS = """
    FilterBar { height: 2; }
    FilterBar Horizontal { height: 1; }
    FilterBar Input { margin-right: 1; }
    FilterBar Input.-invalid { color: $error; }
    FilterBar #filter-summary { height: 1; color: $text-muted; }
    """

    class Changed(Message):
        def __init__(self, filter: Filter) -> None:
            super().__init__()
            self.filter = filter

    def compose(self) -> ComposeResult:
        with Horizontal():
            for name, placeholder, width in FIELDS:
                field = Input(placeholder=placeholder, id=f"filter-{name}", compact=True)
                field.styles.width = width
                yield field
            yield Checkbox("failures only", id="filter-failures", compact=True)
        yield Static("no filter", id="filter-summary")

    def current(self) -> Filter:
        values = {name: self.query_one(f"#filter-{name}", Input).value for name, _, _ in FIELDS}
        failures = self.query_one("#filter-failures", Checkbox).value
        return Filter(failures=failures, **values)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(self.current()))

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(self.current()))

    def clear(self) -> None:
        for name, _, _ in FIELDS:
            self.query_one(f"#filter-{name}", Input).value = ""
        self.query_one("#filter-failures", Checkbox).value = False

    def mark_invalid(self, field: str | None) -> None:
        for name, _, _ in FIELDS:
            self.query_one(f"#filter-{name}", Input).set_class(name == field, "-invalid")

    def summary(self, text: str, where: str | None = None, error: bool = False) -> None:
        line = Text(text, "bold red" if error else "")
        if where:
            line.append("  WHERE " + where, "dim")
        self.query_one("#filter-summary", Static).update(line)
