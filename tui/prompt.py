"""A one-line question in a small modal: 'go to seq'."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class GotoScreen(ModalScreen[int | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    GotoScreen { align: center middle; }
    GotoScreen > Vertical { width: 50; height: auto; border: thick $primary;
                            background: $surface; }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Go to seq (decimal or 0x…), Enter:", id="goto-label")
            yield Input(placeholder="seq", id="goto-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            seq = int(event.value.strip().replace("_", ""), 0)
        except ValueError:
            self.query_one("#goto-label", Static).update("not a number — seq (decimal or 0x…):")
            return
        self.dismiss(seq if seq >= 0 else None)

    def action_cancel(self) -> None:
        self.dismiss(None)
