"""The help screen (F1, ?): every key of every part of the app, from the bindings themselves."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

INTRO = (
    "tdxray replays a TD trace against the TDX kexec model. The table lists the events; the "
    "side panel lists the divergences (what went wrong), the model state at the cursor and the "
    "GPA memory map. Pick a divergence and press Enter: the table jumps to the event that "
    "revealed it (red) and marks the events that caused it (yellow); c walks the causes. The "
    "filter bar narrows the table (Tab between fields); the WHERE clause it builds is shown "
    "under it. Mouse: click rows, tabs and tree nodes; scroll with the wheel."
)


def _key_name(keys: str) -> str:
    names = {"question_mark": "?", "slash": "/", "plus": "+", "minus": "-", "escape": "Esc",
             "ctrl+p": "Ctrl+P", "pageup": "PgUp", "pagedown": "PgDn", "enter": "Enter",
             "ctrl+r": "Ctrl+R", "ctrl+c": "Ctrl+C", "equals_sign": "="}
    return " ".join(names.get(k, k) for k in keys.split(","))


def key_table(sections: list[tuple[str, list[BindingType]]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for title, bindings in sections:
        table.add_row(Text(title, "bold underline"), "")
        for b in bindings:
            if isinstance(b, Binding):
                table.add_row(_key_name(b.key), b.description or b.action)
        table.add_row("", "")
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,f1,question_mark", "dismiss", "Close help")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90; height: 90%; border: thick $primary;
                                  background: $surface; padding: 0 1; }
    """

    def __init__(self, sections: list[tuple[str, list[BindingType]]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text("tdxray tui — keys", "bold"))
            yield Static(INTRO + "\n")
            yield Static(key_table(self.sections), id="help-keys")
            yield Static("Esc closes this screen.")
