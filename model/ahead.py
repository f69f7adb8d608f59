"""Work on each item of a stream, done one item ahead on a thread of its own."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ahead(items: Iterable[T], work: Callable[[T], R], threaded: bool = True) -> Iterator[R]:
    """work(item) for each item, in order. `threaded`: the work on item k+1 runs on a thread of
    its own while the caller uses item k's result (numpy and Arrow release the GIL, so the two
    overlap). The items are taken on the caller's thread (the thread only runs `work`), and an
    error of `work` is raised where its result would have come."""
    if not threaded:
        for item in items:
            yield work(item)
        return
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tdxray-ahead")
    try:
        pending: Future[R] | None = None
        for item in items:
            following = pool.submit(work, item)
            if pending is not None:
                yield pending.result()
            pending = following
        if pending is not None:
            yield pending.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
