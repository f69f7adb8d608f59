"""watched(): a Ctrl-C or a deadline stops the work even when the first interrupt finds no query
running (DuckDB ignores an interrupt between two fetches of a streaming result)."""

from __future__ import annotations

import threading

import pytest

from tdxray.analyses.sql.guard import QueryError
from tdxray.analyses.sql.watch import watched


class _Streaming:
    """A stand-in for a streaming query: an interrupt stops it only while a fetch runs, and the
    first fetch starts only after the first interrupt has come (the race Ctrl-C can hit)."""

    def __init__(self) -> None:
        self.interrupts = 0
        self.fetching = threading.Event()
        self.stopped = threading.Event()

    def interrupt(self) -> None:
        self.interrupts += 1
        if self.interrupts > 1:
            self.fetching.set()  # from now on a fetch runs: this interrupt can stop it
            self.stopped.set()

    def run(self) -> str:
        while not self.stopped.wait(0.01):
            pass
        raise RuntimeError("INTERRUPT Error: Interrupted!")


def test_a_deadline_repeats_an_interrupt_that_found_no_query() -> None:
    work = _Streaming()
    with pytest.raises(QueryError, match=r"stopped after 0\.1 s"):
        watched(work.run, work.interrupt, timeout=0.1)
    assert work.stopped.is_set()
    assert work.interrupts >= 2


def test_work_that_ends_is_not_interrupted() -> None:
    calls: list[str] = []
    assert watched(lambda: "rows", lambda: calls.append("interrupt"), timeout=5) == "rows"
    assert calls == []
