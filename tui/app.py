"""`tdxray tui`: the application. It opens the trace in a worker and shows the trace screen
(or the trace picker, or a message saying why the trace cannot be shown)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer, LoadingIndicator, Static

# Imported before the app mounts (not in the open worker): once the UI is up, the first
# screen of events waits only for the trace itself.
from tdxray.analyses.escape import escape_control
from tdxray.ingest.materialize import trace_file_for
from tdxray.schema.errors import InputError
from tdxray.store.layout import Store
from tdxray.store.read import open_trace as read_trace
from tdxray.tui.commands import ActionCommands
from tdxray.tui.messages import Converting, LoadFailed, PickTrace, TraceOpened
from tdxray.tui.picker import MessageScreen, PickerScreen
from tdxray.tui.source import EventSource
from tdxray.tui.trace_screen import TraceScreen

if TYPE_CHECKING:
    import pyarrow as pa

CONVERTING_EVERY_S = 0.25  # how often a conversion's count reaches the screen


class TdxrayApp(App[None]):
    TITLE = "tdxray"
    COMMANDS = App.COMMANDS | {ActionCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1,question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+p", "command_palette", "Commands", show=False),
    ]
    CSS = "#opening { width: 100%; content-align: center middle; height: 3; }"

    def __init__(self, arg: str, trace_id: str | None = None) -> None:
        super().__init__()
        self.arg = arg
        self.trace_id = trace_id
        self.warnings: list[str] = []
        self.converted: Converting | None = None  # the last conversion count shown

    def compose(self) -> ComposeResult:
        yield Static(Text(f"opening {escape_control(self.arg)} …"), id="opening")
        yield LoadingIndicator()
        yield Footer()

    def on_mount(self) -> None:
        self.open_trace(self.arg, self.trace_id)

    @work(thread=True, exclusive=True, group="open")
    def open_trace(self, arg: str, trace_id: str | None) -> None:
        try:
            if trace_id is None and Path(arg).is_dir() and len(Store(Path(arg)).trace_ids()) > 1:
                self.post_message(PickTrace(arg, Store(Path(arg)).trace_ids()))
                return
            ref = trace_file_for(arg, trace_id, warn=self.warnings.append, track=self._count)[0]
            trace = read_trace(ref.path)
            if trace.num_rows == 0:
                self.post_message(LoadFailed(arg, "the trace holds no events"))
                return
            source = EventSource(trace)
            self.post_message(TraceOpened(ref, source))
        except InputError as exc:
            self.post_message(LoadFailed(arg, str(exc)))
        except (OSError, ValueError) as exc:
            self.post_message(LoadFailed(arg, f"{type(exc).__name__}: {exc}"))

    def _count(self, source: str, batches: Iterator[pa.RecordBatch]
               ) -> Iterator[pa.RecordBatch]:
        """A text TRACE's batches as it is converted, counted to the opening screen."""
        events, shown = 0, 0.0
        for batch in batches:
            yield batch
            events += batch.num_rows
            if time.monotonic() - shown >= CONVERTING_EVERY_S:
                self.post_message(Converting(source, events))
                shown = time.monotonic()
        self.post_message(Converting(source, events, done=True))

    def on_converting(self, message: Converting) -> None:
        self.converted = message
        what = "converted" if message.done else "converting"
        self.query_one("#opening", Static).update(
            f"opening {escape_control(self.arg)} … {what} {escape_control(message.source)}: "
            f"{message.events:,} events")

    def on_trace_opened(self, message: TraceOpened) -> None:
        screen = TraceScreen(message.ref, message.source)
        if isinstance(self.screen, TraceScreen):
            self.switch_screen(screen)
        else:
            self.push_screen(screen)
        for warning in self.warnings[:5]:
            self.notify(escape_control(warning), severity="warning", markup=False)

    def on_pick_trace(self, message: PickTrace) -> None:
        def picked(trace_id: str | None) -> None:
            if trace_id is not None:
                self.open_trace(message.arg, trace_id)

        self.push_screen(PickerScreen(message.arg, message.trace_ids), picked)

    def on_load_failed(self, message: LoadFailed) -> None:
        self.push_screen(MessageScreen(f"tdxray cannot show {message.what}", message.error))

    def action_help(self) -> None:
        from tdxray.tui.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.key_sections()))

    def key_sections(self) -> list[tuple[str, list]]:
        from tdxray.tui.event_table import EventTable
        from tdxray.tui.memory_map import MemoryMap
        from tdxray.tui.sql_panel import SqlScreen

        return [("Everywhere", list(self.BINDINGS)), ("Trace screen", TraceScreen.BINDINGS),
                ("Event table", EventTable.BINDINGS), ("Memory map (tab 3)", MemoryMap.BINDINGS),
                ("SQL screen (s)", SqlScreen.BINDINGS)]
