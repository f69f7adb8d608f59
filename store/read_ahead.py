"""Decode a trace's batches on a thread of their own, one batch ahead of the consumer.

Parquet decoding releases the GIL (and spreads a batch's columns over pyarrow's CPU pool), so
the next batch is decoded while the caller works on this one. Batches are handed over a few
of the caller's batches at a time: each handoff costs a wake-up of the waiting thread. The
thread starts as soon as the ReadAhead is made (a caller can do other work, such as a prescan,
while the first batch is decoded) and holds at most one batch the consumer has not taken. An
error of the read is raised in the consumer, where its batch would have come; `close` (or
leaving the `with` block) stops the thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from types import TracebackType

import pyarrow as pa

_POLL = 0.1  # seconds between checks that the consumer is still there


class ReadAhead:
    """The batches of `decode()` (an iterator run on the thread), cut to `batch_size` rows."""

    def __init__(self, decode: Callable[[], Iterator[pa.RecordBatch]], batch_size: int) -> None:
        self._decode = decode
        self._batch_size = batch_size
        self._slot: list[tuple[str, object]] = []
        self._ready = threading.Condition()
        self._taken = threading.Semaphore(1)  # another batch may be decoded: the last was taken
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name="tdxray-read", daemon=True)
        self._thread.start()
        self._batches = self._slices()

    def _produce(self) -> None:
        try:
            for batch in self._turns(self._decode()):
                self._hand(("batch", batch))
        except BaseException as exc:  # handed to the consumer and raised there
            self._hand(("error", exc))
            return
        if self._wait_turn():
            self._hand(("end", None))

    def _turns(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """The batches, each decoded only once the consumer took the one before."""
        while self._wait_turn():
            batch = next(batches, None)
            if batch is None:
                self._taken.release()  # the turn not used: the end takes it
                return
            yield batch

    def _wait_turn(self) -> bool:
        while not self._taken.acquire(timeout=_POLL):
            if self._stop.is_set():
                return False
        return not self._stop.is_set()

    def _hand(self, entry: tuple[str, object]) -> None:
        with self._ready:
            self._slot.append(entry)
            self._ready.notify()

    def __iter__(self) -> ReadAhead:
        return self

    def __next__(self) -> pa.RecordBatch:
        return next(self._batches)

    def _slices(self) -> Iterator[pa.RecordBatch]:
        for batch in self._taken_batches():
            for start in range(0, batch.num_rows, self._batch_size):
                yield batch.slice(start, self._batch_size)

    def _taken_batches(self) -> Iterator[pa.RecordBatch]:
        try:
            while True:
                with self._ready:
                    while not self._slot:
                        self._ready.wait()
                    what, value = self._slot.pop()
                if what == "end":
                    return
                if what == "error":
                    assert isinstance(value, BaseException)
                    raise value
                assert isinstance(value, pa.RecordBatch)
                self._taken.release()
                yield value
                del value  # dropped before the next one is waited for
        finally:
            self.close()

    def close(self) -> None:
        """Stop the thread (it finishes the batch it is decoding) and drop what it read."""
        self._stop.set()
        self._taken.release()  # a producer waiting for its turn wakes up and sees the stop
        self._thread.join()
        self._slot.clear()

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
