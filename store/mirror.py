"""A store on object storage, worked on through a local mirror of the traces a command needs.

A store is listed once (every object under its prefix: one request per 1,000 objects), and the
listing says which traces and results exist, their sizes and modification times: no request per
object asked about. A trace is fetched with its replay results (when there are any) into a local
directory; the trace file gets the object's modification time, so the results' freshness stamp
means the same thing on every machine that fetches it. New results are published beside the
trace with one PUT each: S3 makes an object visible only once its upload is complete (PutObject,
CompleteMultipartUpload; a failed multipart upload is aborted), so a reader never sees a
half-written object under its final key. replay.json goes last, so results are fresh only once
all of them are in place; results that did not change since the fetch are not uploaded again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import shutil
import tempfile
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tdxray.schema.errors import InputError
from tdxray.schema.td import HeaderError, check_trace_id
from tdxray.store.fs import Location, backend_errors, is_url, locate
from tdxray.store.layout import RESULTS_SUFFIX, TRACE_SUFFIX, TraceRef, results_dir_for
from tdxray.store.scratch import scratch_dir

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

RESULT_FILES = ("divergences.parquet", "page_history.parquet", "filter_index.parquet")
# what a check reads of fresh results: a stale trace is replayed and all its results uploaded,
# fresh ones are not published again, so the page history stays in the bucket untouched
CHECK_RESULTS = ("divergences.parquet",)
STAMP_FILE = "replay.json"
MANIFEST_DIR = "_manifest"  # store/manifest.py's (which imports this module)


def check_bucket(store: Location) -> None:
    """The store's bucket exists and these credentials may read it (else one InputError)."""
    bucket = store.path.split("/", 1)[0]
    try:
        with backend_errors(store.url):
            store.fs.info(bucket)
    except InputError as exc:
        if exc.message.startswith("not found"):
            raise InputError(f"no such bucket {bucket!r}", store.url) from None
        raise


def list_store(store: Location) -> Location:
    """The store with the listing of every object under its prefix (its bucket checked first)."""
    check_bucket(store)
    with backend_errors(store.url):
        found = store.fs.find(store.path, detail=True)
    return Location(store.url, store.fs, store.path, found)


def _list_trace(trace: Location) -> Location:
    """A trace with the listing of its object and its results (one request)."""
    parent, name = trace.path.rsplit("/", 1)
    with backend_errors(trace.url):
        found = trace.fs.find(parent, prefix=name[: -len(TRACE_SUFFIX)], detail=True)
    if trace.path not in found:
        raise InputError("no such object", trace.url)
    return Location(trace.url, trace.fs, trace.path, found)


def remote_trace_ids(store: Location) -> list[str]:
    """The trace ids of a store on object storage (its top-level *.parquet objects)."""
    listed = store if store.listing is not None else list_store(store)
    assert listed.listing is not None
    names = [key.rsplit("/", 1)[-1] for key in listed.listing
             if key.rsplit("/", 1)[0] == store.path]
    return sorted(n[: -len(TRACE_SUFFIX)] for n in names
                  if n.endswith(TRACE_SUFFIX) and not n.startswith("."))


def remote_refs(url: str, trace_id: str | None, allow_many: bool) -> list[Location]:
    """The traces an s3:// TRACE argument names: one object, or a store's traces (each with
    the listing of the store)."""
    where = locate(url)
    if where.path.endswith(TRACE_SUFFIX):
        check_bucket(where)
        return [_list_trace(where)]
    listed = list_store(where)
    ids = remote_trace_ids(listed)
    if trace_id is not None:
        if trace_id not in ids:
            raise InputError(f"store has no trace {trace_id!r} "
                             f"(it has: {', '.join(ids[:8]) or 'none'})", url)
        ids = [trace_id]
    if not ids:
        raise InputError("store holds no traces", url)
    if len(ids) > 1 and not allow_many:
        raise InputError(f"store holds {len(ids)} traces; pick one with --trace "
                         f"({', '.join(ids[:8])}{', …' if len(ids) > 8 else ''})", url)
    return [listed.join(f"{i}{TRACE_SUFFIX}") for i in ids]


def own_listings(traces: Sequence[Location]) -> list[dict[str, dict[str, Any]]]:
    """For traces of one listed store, each one's own entries (its object and its results;
    size and modification time): what a worker needs to fetch it without listing again."""
    by_folder: dict[str, dict[str, dict[str, Any]]] = {}
    for t in traces:
        by_folder.setdefault(t.path.rsplit("/", 1)[0], {})
    for key, info in (traces[0].listing or {}).items() if traces else ():
        folder, _, rest = key.rpartition("/")
        if folder.endswith(RESULTS_SUFFIX):  # <store>/<id>.replay/<file>
            folder, _, rest = folder.rpartition("/")
            rest = rest[: -len(RESULTS_SUFFIX)]
        elif rest.endswith(TRACE_SUFFIX):
            rest = rest[: -len(TRACE_SUFFIX)]
        if folder in by_folder:
            by_folder[folder].setdefault(rest, {})[key] = {
                "LastModified": info["LastModified"], "size": info.get("size")}
    return [by_folder[t.path.rsplit("/", 1)[0]].get(t.name[: -len(TRACE_SUFFIX)], {})
            for t in traces]


def _results_location(trace: Location) -> Location:
    stem = trace.name[: -len(TRACE_SUFFIX)]
    parent = trace.path.rsplit("/", 1)[0]
    return Location(f"s3://{parent}/{stem}{RESULTS_SUFFIX}", trace.fs,
                    f"{parent}/{stem}{RESULTS_SUFFIX}")


def results_for(trace_url: str) -> str:
    """The URL of a remote trace's results (s3://…/<id>.replay)."""
    return trace_url[: -len(TRACE_SUFFIX)] + RESULTS_SUFFIX


def fetch(trace: Location, workdir: Path, flat: bool = False,
          results: Sequence[str] = RESULT_FILES) -> TraceRef:
    """The trace and its results, copied under `workdir` (flat: as a store directory's files);
    the ref remembers where they came from. What exists comes from the trace's listing (one
    request when it has none): a trace costs one GET, and one per results file it has, of
    `results` (and the stamp)."""
    return fetch_all([trace], workdir, flat, results)[0]


FETCH_AT_ONCE = 64  # objects in flight at a time (s3fs's own batch size is 128)


def fetch_all(traces: Sequence[Location], workdir: Path, flat: bool = False,
              results: Sequence[str] = RESULT_FILES) -> list[TraceRef]:
    """fetch() for many traces, their objects downloaded FETCH_AT_ONCE at a time: a store of
    many small traces waits for a few round trips instead of one per object."""
    plans = [_plan(t, workdir, flat, results) for t in traces]
    gets = [(t, key, path) for t, plan in zip(traces, plans, strict=True)
            for key, path in plan.gets]
    for start in range(0, len(gets), FETCH_AT_ONCE):
        batch = gets[start:start + FETCH_AT_ONCE]
        _together(batch[0][0].fs, [(t.url, t.fs._get_file(key, str(path)))
                                   for t, key, path in batch])
    return [plan.done(t) for t, plan in zip(traces, plans, strict=True)]


FIRST_WINDOW = 2  # traces the first replay waits for
AHEAD = 16  # traces fetched at a time while the caller works on the ones before


def fetch_ahead(traces: Sequence[Location], workdir: Path,
                results: Sequence[str] = RESULT_FILES) -> Iterator[TraceRef]:
    """fetch_all() a window of traces at a time, the next window downloading while the caller
    works on this one (a sequential check replaying): the waits for object storage hide behind
    the replays, and the first replay starts after FIRST_WINDOW traces, not the whole store. A
    failed fetch is its InputError, raised when the caller reaches its window."""
    if not traces:
        return
    starts = [0, *range(FIRST_WINDOW, len(traces), AHEAD)] if len(traces) > FIRST_WINDOW else [0]
    windows = [traces[a:b] for a, b in zip(starts, [*starts[1:], len(traces)], strict=True)]
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="tdxray-fetch") as pool:
        pending = pool.submit(fetch_all, windows[0], workdir, False, results)
        for window in [*windows[1:], None]:
            refs = pending.result()
            if window is not None:
                pending = pool.submit(fetch_all, window, workdir, False, results)
            yield from refs


@dataclass(frozen=True)
class _Plan:
    """Where a trace and its results go: the (key, local path) to download, the object's time."""

    local: Path
    results: Path
    gets: list[tuple[str, Path]]
    mtime_ns: int

    def done(self, trace: Location) -> TraceRef:
        """The ref once the files are here: the trace file gets the object's time."""
        os.utime(self.local, ns=(self.mtime_ns, self.mtime_ns))
        stamp = self.results / STAMP_FILE
        return TraceRef(self.local, self.results, trace.url, remote=trace.url,
                        fetched_stamp=stamp.read_bytes() if stamp.is_file() else None)


def _plan(trace: Location, workdir: Path, flat: bool, results_wanted: Sequence[str]) -> _Plan:
    listed = trace if trace.listing is not None else _list_trace(trace)
    assert listed.listing is not None
    if trace.path not in listed.listing:
        raise InputError("no such object", trace.url)
    workdir.mkdir(parents=True, exist_ok=True)
    local = workdir / trace.name if flat else Path(tempfile.mkdtemp(dir=workdir)) / trace.name
    local.parent.mkdir(parents=True, exist_ok=True)
    results = results_dir_for(local)
    remote = _results_location(trace)
    present = [name for name in (*results_wanted, STAMP_FILE)
               if f"{remote.path}/{name}" in listed.listing]
    gets = [(trace.path, local)]
    if STAMP_FILE in present:
        results.mkdir()
        gets += [(f"{remote.path}/{name}", results / name) for name in present]
    return _Plan(local, results, gets, _ns(listed.listing[trace.path]["LastModified"]))


@contextlib.contextmanager
def local_store(arg: str) -> Iterator[str]:
    """A store directory to work in: `arg` itself, or for an s3:// store a temporary mirror of
    its traces, results and manifest whose new results are published when the block ends."""
    if not is_url(arg):
        yield arg
        return
    where = list_store(locate(arg))
    assert where.listing is not None
    with scratch_dir("tdxray-store-") as scratch:
        root = Path(scratch)
        refs = fetch_all([where.join(f"{tid}{TRACE_SUFFIX}") for tid in remote_trace_ids(where)],
                         root, flat=True)
        parts = [key for key in where.listing
                 if key.rsplit("/", 1)[0] == f"{where.path}/{MANIFEST_DIR}"]
        if parts:
            (root / MANIFEST_DIR).mkdir()
            with backend_errors(arg):
                for part in parts:
                    where.fs.get_file(part, str(root / MANIFEST_DIR / part.rsplit("/", 1)[-1]))
        yield scratch
        for ref in refs:
            publish(ref)


def _ns(when: object) -> int:
    stamp = when.timestamp() if hasattr(when, "timestamp") else float(str(when))
    return int(stamp) * 1_000_000_000


def publish(ref: TraceRef, options: Mapping[str, str] | None = None) -> None:
    """Put the ref's results beside its remote trace, when they changed since the fetch."""
    with Publisher() as uploads:
        uploads.publish(ref, options)


class Publisher:
    """Results published in the background while the caller goes on (the next trace's replay);
    the block ends when every upload is done (the first failure: one InputError naming its
    URL). A block left by an exception cancels what is still uploading: each trace's files go
    up before its replay.json, so a cancelled trace's results are never taken as fresh."""

    def __init__(self) -> None:
        self._pending: list[tuple[str, concurrent.futures.Future[None]]] = []

    def publish(self, ref: TraceRef, options: Mapping[str, str] | None = None,
                drop: bool = False) -> None:
        """`drop`: the ref's local copy (a fetched trace's own directory: fetch_ahead's) is
        removed once its results are up, so a long check mirrors a window, not the store; the
        upload before it is waited for first (it ran during this trace's replay), so uploads
        slower than replays cannot pile up copies."""
        if ref.remote is None:
            return
        if drop and self._pending:
            concurrent.futures.wait([self._pending[-1][1]])  # its outcome: __exit__'s to report
        stamp = ref.results_dir / STAMP_FILE
        if not stamp.is_file() or stamp.read_bytes() == ref.fetched_stamp:
            if drop:
                _drop(ref)
            return
        remote = _results_location(locate(ref.remote, options))
        files = [name for name in RESULT_FILES if (ref.results_dir / name).is_file()]
        fs = remote.fs

        async def upload() -> None:  # the results at once, then their stamp
            await asyncio.gather(*(fs._put_file(str(ref.results_dir / name),
                                                f"{remote.path}/{name}") for name in files))
            await fs._put_file(str(stamp), f"{remote.path}/{STAMP_FILE}")

        future = asyncio.run_coroutine_threadsafe(upload(), fs.loop)
        if drop:
            future.add_done_callback(lambda _: _drop(ref))
        self._pending.append((remote.url, future))

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        pending, self._pending = self._pending, []
        if kind is not None:
            for _, future in pending:
                future.cancel()
            return
        for url, future in pending:
            with backend_errors(url):
                future.result()


def _drop(ref: TraceRef) -> None:
    """A fetched trace's mirror directory, gone (a temporary: its results are in the bucket,
    or their upload failed and the check says so)."""
    shutil.rmtree(ref.path.parent, ignore_errors=True)


def _together(fs: AbstractFileSystem,
              calls: Sequence[tuple[str, Coroutine[Any, Any, Any]]]) -> None:
    """s3fs's transfers (url, coroutine) run at once on its event loop: one round trip's wait
    for them all. The first that failed is one InputError naming its URL."""
    from fsspec.asyn import sync

    async def run() -> list[object]:
        return await asyncio.gather(*(call for _, call in calls), return_exceptions=True)

    for (url, _), outcome in zip(calls, sync(fs.loop, run), strict=True):
        if isinstance(outcome, BaseException):
            with backend_errors(url):
                raise outcome


def put_atomic(local: Path, target: Location) -> None:
    """Upload to the target's key: one PUT (or a multipart upload, aborted if it fails), which
    S3 makes visible only once complete; never a half-written object under the key."""
    with backend_errors(target.url):
        target.fs.put_file(str(local), target.path)


def upload_trace(local: Path, store: Location, trace_id: str, replace: bool) -> Location:
    """A freshly ingested trace into a store on object storage; its old results are dropped."""
    try:
        check_trace_id(trace_id)
    except HeaderError as exc:
        raise InputError(str(exc), store.url) from None
    target = store.join(f"{trace_id}{TRACE_SUFFIX}")
    check_bucket(store)
    with backend_errors(store.url):
        if store.fs.exists(target.path) and not replace:
            raise InputError(f"the store already holds trace {trace_id!r}; give --replace "
                             "to overwrite it", target.url)
        put_atomic(local, target)
        stale = _results_location(target)
        if store.fs.exists(stale.path):
            store.fs.rm(stale.path, recursive=True)
    return target
