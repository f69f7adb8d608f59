"""The filter index: a sidecar holding the few events of a trace that carry a GPA or fail.

    STORE/<trace_id>.replay/filter_index.parquet

A GPA filter ("events touching 0x1a2000") or a failures-only filter matches a handful of events
among millions; counting them in the trace reads every row. The index holds those events whole
(every column, plus `row`: the event's row in the trace file), sorted by row, so that a filter
whose WHERE clause implies `INDEXED` counts and reads them there.

It is built on first use, written atomically (a temporary name, then a rename) and stamped in
its own Parquet metadata with the trace file's name, size, mtime and row count: an index whose
stamp does not match the trace (the trace was replaced) or that cannot be read is rebuilt, and
the caller is told why. `ingest --replace` removes the results directory, index included. When
more than MAX_FRACTION of the events would be in it the index would not be small: the file then
holds no events and says so (`dense`), and filters scan the trace.

Beside it, the histogram (filter_histogram.parquet, stamped and rebuilt the same way) counts the
events of every block of `block` rows per (kind, vcpu): a filter made only of kind and vCPU
conditions is counted per block there, in a table of a few thousand rows, not in the trace.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tdxray.schema.constants import Leaf, Subfn
from tdxray.store.atomic import atomic_path
from tdxray.store.read import TraceFile

INDEX_FILE = "filter_index.parquet"
INDEX_VERSION = 1
META_KEY = b"tdxray.filter_index"
MAX_FRACTION = 1 / 8
INDEX_ROW_GROUP = 1 << 16
HISTOGRAM_FILE = "filter_histogram.parquet"
HISTOGRAM_VERSION = 1
HISTOGRAM_KEY = b"tdxray.filter_histogram"
HISTOGRAM_BLOCK = 1 << 16  # rows per block: the TUI's counting block (tui/source.py BLOCK)

# Each condition selects one family of events that carry a GPA; each can be pushed down into the
# Parquet scan on its own (an OR over them, or an IN list, reads every column of every row).
GPA_KINDS = ("map_gpa", "convert", "accept", "mem_access")
TDVMCALL_MAP_GPA = f"kind = 'tdvmcall' AND subfn = {int(Subfn.MAP_GPA)}"
TDCALL_ACCEPT = f"kind = 'tdcall' AND leaf = {int(Leaf.MEM_PAGE_ACCEPT)}"
GPA_EVENTS = (*(f"kind = '{k}'" for k in GPA_KINDS), TDVMCALL_MAP_GPA, TDCALL_ACCEPT)
FAILURE = "(status IS NOT NULL AND status <> 0)"
CARRIES_GPA = "(" + " OR ".join(f"({c})" for c in GPA_EVENTS) + ")"
INDEXED = f"({CARRIES_GPA} OR {FAILURE})"  # the events the index holds


class FilterIndexError(ValueError):
    """An index file that cannot be used: why, in a few words."""


class MissingIndex(FilterIndexError):
    """No index has been built for this trace yet."""


@dataclass(frozen=True)
class FilterIndex:
    path: Path
    events: int    # events held (0 when dense)
    dense: bool    # more than MAX_FRACTION of the trace matched: nothing held, scan the trace


@dataclass(frozen=True)
class Histogram:
    path: Path
    block: int     # rows per block
    entries: int   # (block, kind, vcpu, n) rows held


def index_path(results_dir: Path) -> Path:
    return Path(results_dir) / INDEX_FILE


def histogram_path(results_dir: Path) -> Path:
    return Path(results_dir) / HISTOGRAM_FILE


def _stamp(trace: TraceFile) -> dict[str, object]:
    st = Path(trace.path).stat()
    return {"version": INDEX_VERSION, "trace": Path(trace.path).name, "size": st.st_size,
            "mtime_ns": st.st_mtime_ns, "trace_rows": trace.num_rows}


def _read_stamp(path: Path, key: bytes, what: str) -> tuple[int, dict[str, object]]:
    """The row count and stamp of the sidecar at `path`; FilterIndexError if it is missing,
    unreadable or not stamped as `what`."""
    if not path.exists():
        raise MissingIndex("missing")
    try:
        meta = pq.read_metadata(path)
    except (OSError, pa.ArrowException) as exc:
        raise FilterIndexError(f"unreadable ({exc})") from exc
    raw = (meta.metadata or {}).get(key)
    if raw is None:
        raise FilterIndexError(f"not a tdxray {what} (no stamp in its metadata)")
    try:
        stamp = json.loads(raw)
    except ValueError as exc:
        raise FilterIndexError(f"malformed stamp ({exc})") from exc
    if not isinstance(stamp, dict):
        raise FilterIndexError("malformed stamp (not an object)")
    return meta.num_rows, stamp


def open_index(trace: TraceFile, results_dir: Path) -> FilterIndex:
    """The index of `trace` kept in `results_dir`; FilterIndexError if it is missing, stale or
    unreadable (the message says which)."""
    path = index_path(results_dir)
    rows, stamp = _read_stamp(path, META_KEY, "filter index")
    try:
        events, dense = int(stamp.pop("events")), bool(stamp.pop("dense"))
    except (ValueError, KeyError, TypeError) as exc:
        raise FilterIndexError(f"malformed stamp ({exc})") from exc
    if stamp != _stamp(trace):
        raise FilterIndexError("stale (built for another version of the trace)")
    if rows != events:
        raise FilterIndexError(f"damaged: holds {rows} events, its stamp says {events}")
    return FilterIndex(path, events, dense)


def build_index(trace: TraceFile, results_dir: Path, threads: int = 2) -> FilterIndex:
    """Scan `trace` for the events the index holds and write the index atomically."""
    import duckdb

    con = duckdb.connect(":memory:", config={"threads": threads, "memory_limit": "256MB"})
    con.execute("SET enable_progress_bar = false")
    try:
        trace_stamp = _stamp(trace)  # before reading: a trace replaced meanwhile reads as stale
        source = f"read_parquet({_literal(str(trace.path))}, file_row_number=true)"
        con.execute("SET GLOBAL parquet_metadata_cache = true")  # one footer parse, not eight
        # disjoint, each pushed down on its own: the failures that carry no GPA come last
        branches = [*GPA_EVENTS, f"{FAILURE} AND ({CARRIES_GPA}) IS NOT TRUE"]
        rows = " UNION ALL ".join(f"SELECT file_row_number FROM {source} WHERE {b}"
                                  for b in branches)
        cap = int(MAX_FRACTION * trace.num_rows)
        ((events,),) = con.sql(f"SELECT count(*) FROM ({rows} LIMIT {cap + 1})").fetchall()
        dense = events > cap
        whole = " UNION ALL ".join(
            f"SELECT file_row_number AS row, * EXCLUDE (file_row_number) FROM {source} WHERE {b}"
            for b in (["false"] if dense else branches))
        stamp = json.dumps({**trace_stamp, "events": 0 if dense else int(events),
                            "dense": dense})
        path = index_path(results_dir)
        with atomic_path(path) as tmp:
            con.execute(f"COPY (SELECT * FROM ({whole}) ORDER BY row) TO {_literal(str(tmp))} "
                        f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {INDEX_ROW_GROUP}, "
                        f"KV_METADATA {{{_literal(META_KEY.decode())}: {_literal(stamp)}}})")
    finally:
        con.close()
    return open_index(trace, results_dir)


def ensure_index(trace: TraceFile, results_dir: Path) -> tuple[FilterIndex, str | None]:
    """The fresh index of `trace`, built if need be, and why an existing file was rebuilt (None
    when it was fresh or absent). OSError if the directory cannot be written."""
    try:
        return open_index(trace, results_dir), None
    except MissingIndex:
        reason = None
    except FilterIndexError as exc:
        reason = str(exc)
    return build_index(trace, results_dir), reason


def _histogram_stamp(trace: TraceFile, block: int) -> dict[str, object]:
    return {**_stamp(trace), "version": HISTOGRAM_VERSION, "block": block}


def open_histogram(trace: TraceFile, results_dir: Path, block: int = HISTOGRAM_BLOCK
                   ) -> Histogram:
    """The histogram of `trace` by blocks of `block` rows, kept in `results_dir`;
    FilterIndexError if it is missing, stale (another trace or block size) or unreadable."""
    path = histogram_path(results_dir)
    rows, stamp = _read_stamp(path, HISTOGRAM_KEY, "filter histogram")
    try:
        entries = int(stamp.pop("entries"))
    except (ValueError, KeyError, TypeError) as exc:
        raise FilterIndexError(f"malformed stamp ({exc})") from exc
    if stamp != _histogram_stamp(trace, block):
        raise FilterIndexError("stale (built for another version of the trace)")
    if rows != entries:
        raise FilterIndexError(f"damaged: holds {rows} rows, its stamp says {entries}")
    return Histogram(path, block, entries)


def build_histogram(trace: TraceFile, results_dir: Path, block: int = HISTOGRAM_BLOCK,
                    threads: int = 2) -> Histogram:
    """Count the events of `trace` per block, kind and vcpu (one scan of the two columns) and
    write the histogram atomically."""
    import duckdb

    con = duckdb.connect(":memory:", config={"threads": threads, "memory_limit": "256MB"})
    con.execute("SET enable_progress_bar = false")
    try:
        trace_stamp = _histogram_stamp(trace, block)  # before reading, as for the index
        source = f"read_parquet({_literal(str(trace.path))}, file_row_number=true)"
        con.execute(f"CREATE TEMP TABLE hist AS SELECT file_row_number // {block} AS block, "
                    f"kind, vcpu, count(*) AS n FROM {source} GROUP BY ALL")
        ((entries,),) = con.sql("SELECT count(*) FROM hist").fetchall()
        stamp = json.dumps({**trace_stamp, "entries": int(entries)})
        with atomic_path(histogram_path(results_dir)) as tmp:
            con.execute(f"COPY (SELECT * FROM hist ORDER BY ALL) TO {_literal(str(tmp))} "
                        f"(FORMAT parquet, COMPRESSION zstd, KV_METADATA "
                        f"{{{_literal(HISTOGRAM_KEY.decode())}: {_literal(stamp)}}})")
    finally:
        con.close()
    return open_histogram(trace, results_dir, block)


def ensure_histogram(trace: TraceFile, results_dir: Path, block: int = HISTOGRAM_BLOCK
                     ) -> tuple[Histogram, str | None]:
    """The fresh histogram of `trace`, built if need be, and why an existing file was rebuilt
    (None when it was fresh or absent). OSError if the directory cannot be written."""
    try:
        return open_histogram(trace, results_dir, block), None
    except MissingIndex:
        reason = None
    except FilterIndexError as exc:
        reason = str(exc)
    return build_histogram(trace, results_dir, block), reason


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
