"""Progress bars on stderr, only on an interactive terminal: replay (long traces only) and
long writes (simulate, ingest: past a second, unless --quiet)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

if TYPE_CHECKING:
    import pyarrow as pa

LONG_TRACE = 1_000_000  # events; shorter traces replay in about a second: no bar


class ReplayProgress:
    """The `progress(done, total)` callback of replay; starts a bar on the first long call."""

    def __init__(self, label: str, console: Console | None = None) -> None:
        self.label = label
        self.console = console or Console(stderr=True)
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __call__(self, done: int, total: int) -> None:
        if total < LONG_TRACE or not self.console.is_interactive:
            return
        if self._bar is None:
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeRemainingColumn(),
                                 console=self.console, transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=total)
        assert self._task is not None
        self._bar.update(self._task, completed=done, total=total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> ReplayProgress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


DELAY_S = 1.0  # an operation shorter than this never shows a bar


class EventProgress:
    """Progress of a long write (simulate, ingest): events counted as batches go by.

    Drawn on stderr with rich, only on an interactive terminal, only once the operation has
    run past DELAY_S, never when quiet; `total` None shows a count without a bar."""

    def __init__(self, label: str, total: int | None = None, quiet: bool = False,
                 console: Console | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.label = label
        self.total = total
        self.console = console or Console(stderr=True)
        self.enabled = not quiet and self.console.is_interactive
        self._clock = clock
        self._started = clock()
        self._done = 0
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def advance(self, rows: int) -> None:
        self._done += rows
        if not self.enabled:
            return
        if self._bar is None:
            if self._clock() - self._started < DELAY_S:
                return
            columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                       TimeRemainingColumn()] if self.total else [
                       SpinnerColumn(), TextColumn("{task.description}"),
                       TextColumn("{task.completed:,} events"), TimeElapsedColumn()]
            self._bar = Progress(*columns, console=self.console, transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total)
        assert self._task is not None
        self._bar.update(self._task, completed=self._done)

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
