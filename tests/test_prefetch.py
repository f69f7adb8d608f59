"""The reading thread: items in order, the iterator's error raised in the consumer, early stop."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tdxray.ingest.text.prefetch import prefetched


def test_items_come_in_order() -> None:
    assert list(prefetched(iter(range(100)), 3)) == list(range(100))


def test_an_error_of_the_iterator_is_raised_where_its_item_would_come() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise OSError("disk gone")

    got = []
    with pytest.raises(OSError, match="disk gone"):
        for item in prefetched(items(), 2):
            got.append(item)
    assert got == [1, 2]


def test_a_consumer_that_stops_early_stops_the_thread() -> None:
    produced = []

    def endless() -> Iterator[int]:
        n = 0
        while True:
            produced.append(n)
            yield n
            n += 1

    stream = prefetched(endless(), 2)
    assert next(stream) == 0
    stream.close()  # what leaving a for loop early does
    assert not any(t.name == "tdxray-prefetch" for t in threading.enumerate())
    assert len(produced) <= 4
