"""One Dask task per trace: replay it (or reuse fresh results) where it lives, hand back the result.

Results are written beside each trace by the worker, atomically (model/replay.py writes them to a
scratch directory and moves them in), so a task that is re-run after a worker dies rewrites the
same files: nothing is lost and nothing is counted twice. An s3:// trace is fetched by the worker
into a scratch directory and its new results are published beside it (store/mirror.py).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import TYPE_CHECKING

from tdxray.model.result import ReplayResult
from tdxray.schema.errors import InputError
from tdxray.store.scratch import scratch_dir

if TYPE_CHECKING:
    from tdxray.store.fs import Listing, Location
    from tdxray.store.layout import TraceRef


@dataclass(frozen=True)
class TraceOutcome:
    """What one trace's task gave: a result, or the one-line error that stopped it."""

    path: Path | str  # a local trace file, or an s3:// URL
    result: ReplayResult | None
    error: str | None
    events: int
    lines: dict[int, tuple[str, int]] = field(default_factory=dict)  # seq -> source file, line
    stamp: str | None = None  # the results' replay.json: what they were computed from


Replayed = tuple[ReplayResult, int, dict[int, tuple[str, int]], str | None]


def _replay_local(path: Path, results_dir: Path | None, want_lines: bool) -> Replayed:
    from tdxray.analyses.event_lines import source_lines
    from tdxray.model.outputs import STAMP_FILE
    from tdxray.model.replay import load_or_replay
    # fresh results are reused without opening the trace (it was checked when replayed); a
    # worker replays on its one thread: the cluster's parallelism is across traces
    result = load_or_replay(path, results_dir, read_ahead=False)
    seqs = {d.seq for d in result.divergences if d.seq is not None}
    stamp = results_dir / STAMP_FILE if results_dir is not None else None
    return (result, result.events, source_lines(path, seqs) if want_lines else {},
            stamp.read_text() if stamp is not None and stamp.is_file() else None)


def _remote(url: str, options: dict[str, str], listing: Listing | None) -> Location:
    from tdxray.store.fs import Location, locate

    where = locate(url, options)
    if listing is not None:  # the client listed the store: no request to find what exists
        where = Location(where.url, where.fs, where.path, listing)
    return where


def _replay_fetched(ref: TraceRef, url: str, want_lines: bool) -> Replayed:
    try:
        return _replay_local(ref.path, ref.results_dir, want_lines)
    except InputError as exc:  # named by its URL, not the scratch copy
        raise InputError(exc.message, url, exc.line, exc.where) from None


def _replay_remote(url: str, options: dict[str, str], want_lines: bool,
                   listing: Listing | None) -> Replayed:
    from tdxray.store.mirror import CHECK_RESULTS, fetch, publish

    with scratch_dir("tdxray-task-") as scratch:
        ref = fetch(_remote(url, options, listing), Path(scratch), results=CHECK_RESULTS)
        done = _replay_fetched(ref, url, want_lines)
        publish(ref, options)
    return done


def replay_task(path: str, results_dir: str | None, options: dict[str, str] | None = None,
                want_lines: bool = False, listing: Listing | None = None) -> TraceOutcome:
    """Runs on a worker. Bad input is an outcome (the other traces go on), never a raise.
    `listing`: for an s3:// trace, its own entries of the store's listing."""
    from tdxray.store.fs import is_url

    where: Path | str = path if is_url(path) else Path(path)
    try:
        if isinstance(where, str):
            result, events, lines, stamp = _replay_remote(where, options or {}, want_lines,
                                                          listing)
        else:
            result, events, lines, stamp = _replay_local(
                where, Path(results_dir) if results_dir else None, want_lines)
    except InputError as exc:
        return TraceOutcome(where, None, str(exc), 0)
    return TraceOutcome(where, result, None, events, lines, stamp)


Done = Callable[[TraceOutcome, int, int], None]  # (outcome, traces done, traces total)


TASKS_PER_WORKER = 4  # enough tasks for the workers to balance uneven traces
MAX_CHUNK = 32  # traces per task at most: a lost worker costs at most this much work again


def chunk_size(traces: int, workers: int) -> int:
    """Traces per task: one task per trace costs ~30 ms of scheduling each (benchmarks/fleet.py),
    so small traces go in groups, while every worker still gets TASKS_PER_WORKER tasks."""
    return max(1, min(MAX_CHUNK, traces // max(workers * TASKS_PER_WORKER, 1)))


def chunk_sizes(traces: int, workers: int) -> list[int]:
    """The tasks' sizes, in the order they run: each chunk_size of the traces still left, so
    the tasks shrink towards the end (guided self-scheduling) and the workers finish together,
    not one waiting for the other's last group of MAX_CHUNK traces."""
    sizes: list[int] = []
    left = traces
    while left > 0:
        sizes.append(chunk_size(left, workers))
        left -= sizes[-1]
    return sizes


Item = tuple[str, str | None, "Listing | None"]  # trace, results dir, its listing (s3://)


def replay_chunk(items: Sequence[Item], options: dict[str, str] | None,
                 want_lines: bool) -> list[TraceOutcome]:
    """Runs on a worker: the traces of one task, one after the other; s3:// ones pipelined."""
    from tdxray.store.fs import is_url

    if len(items) > 1 and all(is_url(path) for path, _, _ in items):
        return _remote_chunk(items, options or {}, want_lines)
    return [replay_task(path, rdir, options, want_lines, listing)
            for path, rdir, listing in items]


def _remote_chunk(items: Sequence[Item], options: dict[str, str],
                  want_lines: bool) -> list[TraceOutcome]:
    """s3:// traces replayed one after the other while the next one is fetched and the one
    before is published, each on a thread of its own (as a sequential check does): a worker
    waits for a round trip only when a replay is quicker than it. At most three traces are on
    local disk at once. A trace whose fetch, replay or upload fails is its own outcome."""
    from concurrent.futures import Future, ThreadPoolExecutor, wait

    from tdxray.store.mirror import CHECK_RESULTS, fetch, publish

    def fetched(item: Item) -> TraceRef:
        url, _, listing = item
        return fetch(_remote(url, options, listing), Path(scratch), results=CHECK_RESULTS)

    def published(ref: TraceRef) -> None:
        try:
            publish(ref, options)
        finally:
            shutil.rmtree(ref.path.parent, ignore_errors=True)  # its own scratch directory

    outcomes: list[TraceOutcome] = []
    uploads: list[tuple[int, Future[None]]] = []
    with scratch_dir("tdxray-task-") as scratch, \
            ThreadPoolExecutor(1, thread_name_prefix="tdxray-task-fetch") as fetches, \
            ThreadPoolExecutor(1, thread_name_prefix="tdxray-task-publish") as publisher:
        ahead = fetches.submit(fetched, items[0])
        for k, item in enumerate(items):
            current = ahead
            if k + 1 < len(items):
                ahead = fetches.submit(fetched, items[k + 1])
            try:
                ref = current.result()
                result, events, lines, stamp = _replay_fetched(ref, item[0], want_lines)
            except InputError as exc:
                outcomes.append(TraceOutcome(item[0], None, str(exc), 0))
                continue
            if uploads:  # the one before is up first: at most three traces on disk
                wait([uploads[-1][1]])
            uploads.append((k, publisher.submit(published, ref)))
            outcomes.append(TraceOutcome(item[0], result, None, events, lines, stamp))
        for k, upload in uploads:
            try:
                upload.result()
            except InputError as exc:
                outcomes[k] = TraceOutcome(outcomes[k].path, None, str(exc), 0)
    return outcomes


def _items(traces: Sequence[tuple[Path | str | Location, Path | None]]) -> list[Item]:
    """What the tasks get: paths as text; a listed s3:// trace with its own listing entries."""
    from tdxray.store.fs import Location
    from tdxray.store.mirror import own_listings

    listed = [where for where, _ in traces if isinstance(where, Location) and where.listing]
    own = dict(zip((id(w) for w in listed), own_listings(listed), strict=True))
    return [(where.url if isinstance(where, Location) else str(where),
             str(rdir) if rdir else None, own.get(id(where))) for where, rdir in traces]


def replay_all(client: object, traces: Sequence[tuple[Path | str | Location, Path | None]],
               on_done: Done | None = None, options: dict[str, str] | None = None,
               want_lines: bool = False) -> list[TraceOutcome]:
    """Replay every (trace, results dir) on the client's cluster, in tasks of chunk_size traces;
    the outcomes come back in the order given, whatever order the workers finish in. An s3://
    trace given as a Location from a listed store is fetched without listing it again."""
    from distributed import Client, as_completed

    assert isinstance(client, Client)
    items = _items(traces)
    sizes = chunk_sizes(len(items), max(len(client.scheduler_info().get("workers", {})), 1))
    starts = [0, *accumulate(sizes)][:-1]
    # the big tasks first, the small ones last (a higher priority runs earlier)
    futures = [client.submit(replay_chunk, items[i:i + size], options, want_lines,
                             key=f"tdxray-replay-{i}-{_name(items[i][0])}", pure=False,
                             priority=len(sizes) - k)
               for k, (i, size) in enumerate(zip(starts, sizes, strict=True))]
    first = {f.key: i for f, i in zip(futures, starts, strict=True)}
    outcomes: list[TraceOutcome | None] = [None] * len(items)
    done = 0
    for future in as_completed(futures):
        for offset, outcome in enumerate(future.result()):
            outcomes[first[future.key] + offset] = outcome
            done += 1
            if on_done is not None:
                on_done(outcome, done, len(items))
    return [o for o in outcomes if o is not None]


def _name(path: Path | str) -> str:
    return str(path).rstrip("/").rsplit("/", 1)[-1]
