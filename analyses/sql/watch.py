"""Run a query's work on a thread the caller can stop: Ctrl-C and --timeout interrupt DuckDB.

DuckDB runs a query with the GIL released, so a Python signal handler on the main thread never
gets to run while it works. The work runs on a worker thread instead; the main thread waits
(a wait Ctrl-C can break), and on Ctrl-C or at the deadline it calls `interrupt()`, which makes
the running query fail at once, then lets the worker unwind (temporary outputs removed).
An interrupt that lands while no query runs (a streaming worker between two fetches, or a
worker not yet started) is a no-op in DuckDB, so it is repeated until the worker has stopped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from tdxray.analyses.sql.guard import QueryError

T = TypeVar("T")
UNWIND_SECONDS = 5.0  # how long an interrupted worker gets to clean up (remove its temp file)
REPEAT_SECONDS = 0.05  # how often the interrupt is repeated while the worker has not stopped


class _Outcome(Generic[T]):
    def __init__(self) -> None:
        self.value: T | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()


def _work(fn: Callable[[], T], outcome: _Outcome[T]) -> None:
    try:
        outcome.value = fn()
    except BaseException as exc:  # handed to the waiting thread, which raises it
        outcome.error = exc
    finally:
        outcome.done.set()


def _stop(interrupt: Callable[[], None], outcome: _Outcome[T]) -> None:
    deadline = time.monotonic() + UNWIND_SECONDS
    while True:
        interrupt()
        if outcome.done.wait(REPEAT_SECONDS) or time.monotonic() >= deadline:
            return


def watched(fn: Callable[[], T], interrupt: Callable[[], None],
            timeout: float | None = None) -> T:
    """fn() on a worker thread; KeyboardInterrupt or `timeout` seconds call `interrupt`.

    Ctrl-C re-raises KeyboardInterrupt once the worker has unwound; the deadline raises
    QueryError. Whatever fn raised is raised here.
    """
    outcome: _Outcome[T] = _Outcome()
    worker = threading.Thread(target=_work, args=(fn, outcome), name="tdxray-sql", daemon=True)
    try:  # a Ctrl-C while the worker starts stops it too
        worker.start()
        finished = outcome.done.wait(timeout)
    except KeyboardInterrupt:
        _stop(interrupt, outcome)
        raise
    if not finished:
        _stop(interrupt, outcome)
        raise QueryError(f"the query ran out of time: stopped after {timeout:g} s (--timeout)")
    if outcome.error is not None:
        raise outcome.error
    return outcome.value  # type: ignore[return-value]
