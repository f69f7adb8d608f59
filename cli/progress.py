"""Progress bars on stderr for long commands (simulate, ingest, export, replay, check, sql -o):
drawn with rich, only on an interactive terminal, only once the command has run past a
second, never under --quiet."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING

from tdxray.analyses.escape import escape_control

if TYPE_CHECKING:
    import pyarrow as pa
    from rich.console import Console
    from rich.progress import Progress, TaskID

# what can make rich take a pipe for an interactive terminal (rich.console.Console)
_RICH_TERMINAL_ENV = ("TTY_INTERACTIVE", "TTY_COMPATIBLE", "FORCE_COLOR")

DELAY_S = 1.0  # an operation shorter than this never shows a bar


class EventProgress:
    """Progress of a long operation: rows (events, or result rows) counted as they go by.

    `advance(rows)` counts batches; calling it as `progress(done, total)` is replay's progress
    callback. Drawn on stderr, only on an interactive terminal, only once the operation has run
    past DELAY_S, never when quiet; `total` None shows a count without a bar."""

    def __init__(self, label: str, total: int | None = None, quiet: bool = False,
                 console: Console | None = None,
                 clock: Callable[[], float] = time.monotonic, unit: str = "events") -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.console = console  # None: stderr's, made when a bar is drawn
        self.enabled = not quiet and _interactive(console)
        self._clock = clock
        self._started = clock()
        self._done = 0
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def advance(self, rows: int) -> None:
        self._done += rows
        self._draw()

    def __call__(self, done: int, total: int) -> None:
        """Replay's callback: `done` of `total` events of the trace being replayed."""
        self._done, self.total = done, total
        self._draw()

    def relabel(self, label: str) -> None:
        """What is being done now (check: the next trace); the count starts again."""
        self.label, self._done, self.total = label, 0, None
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, description=label, completed=0, total=None)

    def reading(self, source: str, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """A text TRACE converted before its replay (trace_file_for's `track`)."""
        self.relabel(f"reading {escape_control(source)}")
        return self.track(batches)

    def _draw(self) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            if self._clock() - self._started < DELAY_S:
                return
            self._start()
        assert self._bar is not None and self._task is not None
        self._bar.update(self._task, completed=self._done, total=self.total)

    def _start(self) -> None:
        # imported when a bar is drawn: most runs draw none (start-up, cli/progress.py)
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        label = TextColumn("{task.description}", markup=False)  # file names are not markup
        columns = [label, BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn()] if self.total else [
                   SpinnerColumn(), label,
                   TextColumn(f"{{task.completed:,}} {self.unit}"), TimeElapsedColumn()]
        if self.console is None:
            from rich.console import Console

            self.console = Console(stderr=True)
        self._bar = Progress(*columns, console=self.console, transient=True)
        self._bar.start()
        self._task = self._bar.add_task(self.label, total=self.total)

    def track(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """The batches, unchanged, counted as they are consumed."""
        for batch in batches:
            yield batch
            self.advance(batch.num_rows)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> EventProgress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _interactive(console: Console | None) -> bool:
    """Whether a bar can be drawn: rich says, for `console` or stderr. rich (its Console
    alone is ~30 ms of start-up) is not imported when stderr is no terminal and nothing in
    the environment tells rich to take it for one: it would say no."""
    if console is not None:
        return console.is_interactive
    if not _stderr_is_tty() and not any(os.environ.get(k) for k in _RICH_TERMINAL_ENV):
        return False
    from rich.console import Console

    return Console(stderr=True).is_interactive


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except ValueError:  # a closed stream (rich answers the same): no terminal
        return False
