"""Parse the next JSONL blocks on threads while the reader converts the current one.

The byte checks (numpy), pyarrow's parse and the compiled scan hold no GIL, so they run beside
the conversion (Python and pyarrow.compute) and the Parquet encoder: the reader uses the second
core. The compiled scan (jsonl.scanned: numba) is loaded once a trace is long enough to pay for it;
the blocks before take pyarrow's parse.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from tdxray.ingest.jsonl.table import Parsed, plain_table

Parse = Callable[[bytes], Parsed]
# The compiled scan's blocks on one thread: it is ~4 ms a block, less than the encoder's share,
# and a second thread held ~10 MB more (its scratch, its malloc arena) for no gain (3e6 lines
# in process, load ~7: 282-283 MB peak against 287-299 MB, CPU within the spread)
SCAN_THREADS = 1


class ParseAhead:
    """The parse of the blocks `start`ed, on `threads` threads; `table` waits for one.

    A block not started (a piece of a block that is not plain) is parsed on the caller's
    thread by pyarrow's path.
    """

    def __init__(self, threads: int = 1) -> None:
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="tdxray-jsonl")
        self._started: dict[int, tuple[bytes, Future[Parsed]]] = {}
        self._scan: Parse | None = None
        self._scan_pool = ThreadPoolExecutor(SCAN_THREADS, thread_name_prefix="tdxray-jsonl-scan")

    def load_scan(self) -> None:
        """Load the compiled scan (numba) for the blocks started from now on.

        On this thread: loaded beside the conversion it took ~1 s CPU, not ~0.5 s (the GIL).
        """
        if self._scan is None:
            self._scan = _load_scan()

    def start(self, block: bytes) -> None:
        if self._scan is None:
            self._started[id(block)] = (block, self._pool.submit(plain_table, block))
        else:
            self._started[id(block)] = (block, self._scan_pool.submit(self._scan, block))

    def table(self, block: bytes) -> Parsed:
        started = self._started.pop(id(block), None)
        if started is not None and started[0] is block:
            return started[1].result()
        return plain_table(block)

    def close(self) -> None:
        self._started.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._scan_pool.shutdown(wait=True, cancel_futures=True)


def _load_scan() -> Parse:
    """The compiled scan, its kernels loaded (numba's cache) or compiled (the first time)."""
    scanned = importlib.import_module("tdxray.ingest.jsonl.scanned")
    scanned.warm()
    parse: Parse = scanned.scanned_or_table
    return parse
