"""Run an iterator on its own thread, a few items ahead of its consumer.

Reading and decompressing the input (which release the GIL) then overlap with what the consumer
does between items. An exception raised by the iterator is raised in the consumer, at the point
where the item would have come; a consumer that stops early stops the thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")
_POLL = 0.1  # seconds between checks that the consumer is still there


def prefetched(items: Iterator[T], depth: int) -> Iterator[T]:
    slots: queue.Queue[tuple[str, object]] = queue.Queue(depth)
    stop = threading.Event()

    def put(entry: tuple[str, object]) -> bool:
        while not stop.is_set():
            try:
                slots.put(entry, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(("item", item)):
                    return
        except BaseException as exc:  # handed to the consumer and raised there
            put(("error", exc))
            return
        put(("end", None))

    thread = threading.Thread(target=produce, name="tdxray-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            what, value = slots.get()
            if what == "end":
                return
            if what == "error":
                assert isinstance(value, BaseException)
                raise value
            yield value  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()
