"""model/ahead.py: work on each item one item ahead, on a thread of its own, results in order."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tdxray.model.ahead import ahead


def _items(log: list[str], n: int) -> Iterator[int]:
    for i in range(n):
        log.append(f"take {i} on {threading.current_thread().name}")
        yield i


@pytest.mark.parametrize("threaded", [True, False])
def test_results_come_in_order_and_the_items_are_taken_by_the_caller(threaded: bool) -> None:
    log: list[str] = []
    workers: set[str] = set()

    def work(i: int) -> int:
        workers.add(threading.current_thread().name)
        return i * i

    got = list(ahead(_items(log, 5), work, threaded))
    assert got == [0, 1, 4, 9, 16]
    assert log == [f"take {i} on MainThread" for i in range(5)]
    assert workers == ({"tdxray-ahead_0"} if threaded else {"MainThread"})


@pytest.mark.parametrize("threaded", [True, False])
def test_an_error_of_the_work_comes_where_its_result_would_have(threaded: bool) -> None:
    def work(i: int) -> int:
        if i == 2:
            raise ValueError("item 2")
        return i

    got: list[int] = []
    with pytest.raises(ValueError, match="item 2"):
        for result in ahead(iter(range(5)), work, threaded):
            got.append(result)
    assert got == [0, 1]


def test_the_thread_ends_when_the_caller_stops_early() -> None:
    results = ahead(iter(range(100)), lambda i: i, True)
    assert next(results) == 0
    results.close()
    assert not any(t.name.startswith("tdxray-ahead") for t in threading.enumerate())
