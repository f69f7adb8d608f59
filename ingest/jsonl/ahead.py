"""Parse the next JSONL blocks on threads while the reader converts the current one.

The byte checks (numpy) and pyarrow's parse hold no GIL, so they run beside the conversion
(Python and pyarrow.compute) and the Parquet encoder: the reader uses the second core.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import pyarrow as pa

from tdxray.ingest.jsonl.table import plain_table


class ParseAhead:
    """plain_table of the blocks `start`ed, on `threads` threads; `table` waits for one.

    A block not started (a piece of a block that is not plain) is parsed on the caller's
    thread.
    """

    def __init__(self, threads: int = 1) -> None:
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="tdxray-jsonl")
        self._started: dict[int, tuple[bytes, Future[pa.Table | None]]] = {}

    def start(self, block: bytes) -> None:
        self._started[id(block)] = (block, self._pool.submit(plain_table, block))

    def table(self, block: bytes) -> pa.Table | None:
        started = self._started.pop(id(block), None)
        if started is not None and started[0] is block:
            return started[1].result()
        return plain_table(block)

    def close(self) -> None:
        self._started.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)
