"""Screens shown before a trace is open: the trace picker, and a message when it cannot open."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from tdxray.analyses.escape import escape_control


class PickerScreen(Screen[str]):
    """A store holds several traces: pick one (Enter); the screen returns its id."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "app.quit", "Quit")]
    DEFAULT_CSS = """
    PickerScreen { align: center middle; }
    PickerScreen > Vertical { width: 80; height: auto; max-height: 90%; border: thick $primary; }
    PickerScreen OptionList { height: auto; max-height: 30; }
    """

    def __init__(self, store: str, trace_ids: list[str]) -> None:
        super().__init__()
        self.store = store
        self.trace_ids = trace_ids

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(f"{escape_control(self.store)} holds {len(self.trace_ids)} "
                              "traces: pick one (↑↓ Enter)", "bold"))
            yield OptionList(*[Option(Text(escape_control(t)), id=t) for t in self.trace_ids],
                             id="picker")
        yield Footer()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is not None:
            self.dismiss(event.option.id)


class MessageScreen(Screen[None]):
    """The trace cannot be shown: say why, plainly (never a traceback)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("q,escape", "app.quit", "Quit")]
    DEFAULT_CSS = """
    MessageScreen { align: center middle; }
    MessageScreen > Vertical { width: 90; height: auto; border: thick $error; padding: 1 2; }
    """

    def __init__(self, title: str, message: str) -> None:
        super().__init__()
        self.title_text = title
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.title_text, "bold red"), id="message-title")
            yield Static(Text(escape_control(self.message)), id="message-text")
            yield Static(Text("Press q to quit.", "dim"))
        yield Footer()
