"""A store on object storage, worked on through a local mirror of the traces a command needs.

A trace is fetched with its replay results (when there are any) into a local directory; the
trace file gets the object's modification time, so the results' freshness stamp means the same
thing on every machine that fetches it. New results are published beside the trace, each file to
a temporary key first, then copied to its final key and the temporary deleted (S3 has no rename):
a reader never sees a half-written object under a final key. replay.json goes last, so results
are fresh only once all of them are in place.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

from tdxray.schema.errors import InputError
from tdxray.schema.td import HeaderError, check_trace_id
from tdxray.store.fs import Location, backend_errors, is_url, locate
from tdxray.store.layout import RESULTS_SUFFIX, TRACE_SUFFIX, TraceRef, results_dir_for

RESULT_FILES = ("divergences.parquet", "page_history.parquet", "filter_index.parquet")
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


def remote_trace_ids(store: Location) -> list[str]:
    """The trace ids of a store on object storage (its top-level *.parquet objects)."""
    check_bucket(store)
    with backend_errors(store.url):
        names = [p.rsplit("/", 1)[-1] for p in store.fs.ls(store.path, detail=False)
                 ] if store.fs.isdir(store.path) else []
    return sorted(n[: -len(TRACE_SUFFIX)] for n in names
                  if n.endswith(TRACE_SUFFIX) and not n.startswith("."))


def remote_refs(url: str, trace_id: str | None, allow_many: bool) -> list[Location]:
    """The traces an s3:// TRACE argument names: one object, or a store's traces."""
    where = locate(url)
    if where.path.endswith(TRACE_SUFFIX):
        with backend_errors(url):
            if not where.fs.exists(where.path):
                raise InputError("no such object", url)
        return [where]
    ids = remote_trace_ids(where)
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
    return [where.join(f"{i}{TRACE_SUFFIX}") for i in ids]


def _results_location(trace: Location) -> Location:
    stem = trace.name[: -len(TRACE_SUFFIX)]
    parent = trace.path.rsplit("/", 1)[0]
    return Location(f"s3://{parent}/{stem}{RESULTS_SUFFIX}", trace.fs,
                    f"{parent}/{stem}{RESULTS_SUFFIX}")


def results_for(trace_url: str) -> str:
    """The URL of a remote trace's results (s3://…/<id>.replay)."""
    return trace_url[: -len(TRACE_SUFFIX)] + RESULTS_SUFFIX


def fetch(trace: Location, workdir: Path, flat: bool = False) -> TraceRef:
    """The trace and its results, copied under `workdir` (flat: as a store directory's files);
    the ref remembers where they came from."""
    workdir.mkdir(parents=True, exist_ok=True)
    local = workdir / trace.name if flat else Path(tempfile.mkdtemp(dir=workdir)) / trace.name
    local.parent.mkdir(parents=True, exist_ok=True)
    results = results_dir_for(local)
    with backend_errors(trace.url):
        trace.fs.get_file(trace.path, str(local))
        mtime = trace.fs.info(trace.path)["LastModified"]
        os.utime(local, ns=(_ns(mtime), _ns(mtime)))
        remote = _results_location(trace)
        if trace.fs.exists(f"{remote.path}/{STAMP_FILE}"):
            results.mkdir()
            for name in (*RESULT_FILES, STAMP_FILE):
                if trace.fs.exists(f"{remote.path}/{name}"):
                    trace.fs.get_file(f"{remote.path}/{name}", str(results / name))
    return TraceRef(local, results, trace.url, remote=trace.url)


@contextlib.contextmanager
def local_store(arg: str) -> Iterator[str]:
    """A store directory to work in: `arg` itself, or for an s3:// store a temporary mirror of
    its traces, results and manifest whose new results are published when the block ends."""
    if not is_url(arg):
        yield arg
        return
    where = locate(arg)
    with tempfile.TemporaryDirectory(prefix="tdxray-store-") as scratch:
        root = Path(scratch)
        refs = [fetch(where.join(f"{tid}{TRACE_SUFFIX}"), root, flat=True)
                for tid in remote_trace_ids(where)]
        with backend_errors(arg):
            parts = f"{where.path}/{MANIFEST_DIR}"
            if where.fs.isdir(parts):
                (root / MANIFEST_DIR).mkdir()
                for part in where.fs.ls(parts, detail=False):
                    where.fs.get_file(part, str(root / MANIFEST_DIR / part.rsplit("/", 1)[-1]))
        yield scratch
        for ref in refs:
            publish(ref)


def _ns(when: object) -> int:
    stamp = when.timestamp() if hasattr(when, "timestamp") else float(str(when))
    return int(stamp) * 1_000_000_000


def publish(ref: TraceRef, options: Mapping[str, str] | None = None) -> None:
    """Put the ref's results beside its remote trace, when they changed since the fetch."""
    if ref.remote is None:
        return
    stamp = ref.results_dir / STAMP_FILE
    if not stamp.is_file():
        return
    remote = _results_location(locate(ref.remote, options))
    with backend_errors(remote.url):
        key = f"{remote.path}/{STAMP_FILE}"
        if remote.fs.exists(key) and remote.fs.cat_file(key) == stamp.read_bytes():
            return
        for name in (*RESULT_FILES, STAMP_FILE):
            if (ref.results_dir / name).is_file():
                put_atomic(ref.results_dir / name, remote.join(name))


def put_atomic(local: Path, target: Location) -> None:
    """Upload to a temporary key beside the target, then copy to the target and delete it."""
    parent = target.path.rsplit("/", 1)[0]
    tmp = f"{parent}/.{target.name}.{uuid.uuid4().hex}.tmp"
    with backend_errors(target.url):
        try:
            target.fs.put_file(str(local), tmp)
            target.fs.copy(tmp, target.path)
        finally:
            if target.fs.exists(tmp):
                target.fs.rm_file(tmp)


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
