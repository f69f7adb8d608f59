"""The manifest of a store: one row per trace, kept as small Parquet parts that are only appended.

    STORE/_manifest/part-<time ns>-<random>.parquet

Each ingest (and each fleet check, with the replay stamps) appends one part; nothing is rewritten.
A reader merges the parts: for every trace, a column's latest non-null value wins (parts are
ordered by `recorded_at`). `tdxray store compact` replaces many parts by one. The parts live on
the store's filesystem: a local directory, or beside the traces on object storage.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tdxray.schema.constants import LOG_BOOT_MARKER
from tdxray.schema.errors import InputError
from tdxray.schema.events import META_HEADER
from tdxray.schema.losses import LOSSES_KEY
from tdxray.store.atomic import atomic_path
from tdxray.store.fs import backend_errors, is_url, locate
from tdxray.store.read import TraceFile
from tdxray.store.scratch import scratch_dir

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

MANIFEST_DIR = "_manifest"
PART_PREFIX = "part-"
MANIFEST_SCHEMA = pa.schema([
    pa.field("trace_id", pa.string(), nullable=False),
    pa.field("sources", pa.list_(pa.string())),
    pa.field("size", pa.uint64()),
    pa.field("events", pa.uint64()),
    pa.field("kernel_version", pa.string()),
    pa.field("td_config_hash", pa.string()),
    pa.field("ingested_at", pa.timestamp("us", tz="UTC")),
    pa.field("replay_stamp", pa.string()),
    pa.field("header", pa.string()),  # the trace header as in the file's metadata (JSON)
    pa.field("recorded_at", pa.timestamp("us", tz="UTC"), nullable=False),
])
_BANNER = re.compile(re.escape(LOG_BOOT_MARKER) + r"(\S+)")


def kernel_version(trace: TraceFile) -> str | None:
    """The release in the first console banner ("Linux version 6.12.0-... (") of the trace:
    row group by row group until it is found (a boot's first line: seldom past the first), and
    only the log lines that hold the marker are matched in Python."""
    for group in range(trace.num_row_groups):
        text = _row_group(trace, group, "text")
        marked = pc.indices_nonzero(pc.fill_null(pc.match_substring(text, LOG_BOOT_MARKER),
                                                 False))
        if not len(marked):
            continue  # the kinds are read only where the text has the marker
        kinds = _row_group(trace, group, "kind").take(marked).cast(pa.string()).to_pylist()
        for row, kind in zip(marked.to_pylist(), kinds, strict=True):
            found = _BANNER.search(text[row].as_py()) if kind == "log" else None
            if found:
                return found.group(1)
    return None


def _row_group(trace: TraceFile, group: int, name: str) -> pa.ChunkedArray:
    """One column of one row group (the text column of a trace without a banner is mostly
    null: reading it alone, not the kinds as strings, kept a 3e6-event ingest's end ~30 MB
    lower)."""
    try:
        return trace.parquet.read_row_group(group, columns=[name]).column(name)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"corrupt Parquet: {exc}", str(trace.path)) from exc


def td_config_hash(trace: TraceFile) -> str:
    """16 hex digits of SHA-256 over the TD configuration (canonical JSON): same TD, same hash."""
    td = json.dumps(trace.header.td.to_json(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(td.encode()).hexdigest()[:16]


def ingest_row(trace: TraceFile, sources: Sequence[str], size: int) -> dict[str, Any]:
    """The manifest row of a trace just ingested."""
    now = datetime.now(UTC)
    return {"trace_id": trace.trace_id, "sources": list(sources), "size": size,
            "events": trace.num_rows, "kernel_version": kernel_version(trace),
            "td_config_hash": td_config_hash(trace), "ingested_at": now, "replay_stamp": None,
            "header": _header_json(trace), "recorded_at": now}


def _header_json(trace: TraceFile) -> str | None:
    raw = (trace.parquet.schema_arrow.metadata or {}).get(META_HEADER)
    if raw is not None and LOSSES_KEY in trace.header.provenance:
        return json.dumps(trace.header.to_json())  # with the losses written at close
    return raw.decode() if raw is not None else None


def file_row(trace: TraceFile, trace_id: str, size: int) -> dict[str, Any]:
    """The manifest row of a trace file found in a store: sources and ingest time from the
    header's last ingest record."""
    ingests = trace.header.provenance.get("ingest")
    last = ingests[-1] if isinstance(ingests, list) and ingests else {}
    last = last if isinstance(last, dict) else {}
    when = _parse_time(last.get("time"))
    row = ingest_row(trace, [str(s) for s in last.get("sources", [])], size)
    return {**row, "trace_id": trace_id, "ingested_at": when}


def _parse_time(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def header_row(trace: TraceFile, trace_id: str) -> dict[str, Any]:
    """A row that records only a trace's header (for rows written before headers were kept)."""
    return {"trace_id": trace_id, "header": _header_json(trace), "recorded_at": datetime.now(UTC)}


def replay_row(trace_id: str, stamp: str) -> dict[str, Any]:
    """A row that records only a trace's replay stamp (the rest comes from earlier parts)."""
    return {"trace_id": trace_id, "replay_stamp": stamp, "recorded_at": datetime.now(UTC)}


def record_stamps(root: str, stamps: Mapping[str, str]) -> str | None:
    """One part with the replay stamps (trace id -> replay.json text) that differ from the
    manifest's: a check that only reused fresh results appends nothing."""
    manifest = ManifestDir(root)
    known = {r["trace_id"]: r["replay_stamp"]
             for r in manifest.read().select(["trace_id", "replay_stamp"]).to_pylist()}
    return manifest.append(replay_row(tid, stamp) for tid, stamp in sorted(stamps.items())
                           if known.get(tid) != stamp)


def record_check(arg: str, stamps: Iterable[tuple[Path | str, str | None]]) -> str | None:
    """After `check` of a TRACE argument: when it names a store (a directory, an s3:// prefix),
    its manifest records the replay stamps of its traces, given as (trace file or URL, the
    results' replay.json text; None when there are none, e.g. results in a stand-in)."""
    if is_url(arg):
        if arg.endswith(".parquet"):
            return None
    elif not Path(arg).is_dir():
        return None
    root = None if is_url(arg) else Path(arg).resolve()
    given = {_stem(where): stamp for where, stamp in stamps if stamp is not None
             and (root is None or Path(where).resolve().parent == root)}
    return record_stamps(arg, given) if given else None


def _stem(where: Path | str) -> str:
    name = str(where).rstrip("/").rsplit("/", 1)[-1]
    return name[: -len(".parquet")] if name.endswith(".parquet") else name


def store_fs(root: str) -> tuple[AbstractFileSystem, str]:
    """The filesystem of a store and its root path in it (local directories through fsspec's
    local filesystem, so both kinds of store are listed and read the same way)."""
    if is_url(root):
        where = locate(root)
        return where.fs, where.path
    from fsspec.implementations.local import LocalFileSystem

    return LocalFileSystem(), str(Path(root).resolve())


def trace_stats(root: Path) -> dict[str, os.stat_result]:
    """trace id -> stat of every trace file of a local store (one listing, no file read)."""
    try:
        with os.scandir(root) as entries:
            found = {e.name[: -len(".parquet")]: e.stat() for e in entries
                     if e.name.endswith(".parquet") and not e.name.startswith(".")
                     and e.is_file()}
    except NotADirectoryError:
        raise InputError("not a store", str(root)) from None
    except FileNotFoundError:
        raise InputError("not a store", str(root)) from None
    return dict(sorted(found.items()))


def trace_sizes(root: str) -> dict[str, int]:
    """trace id -> size in bytes of every trace file of the store (one listing, no file read)."""
    if not is_url(root):
        return {tid: st.st_size for tid, st in trace_stats(Path(root)).items()}
    fs, path = store_fs(root)
    with backend_errors(root):
        if not fs.isdir(path):
            raise InputError("not a store", root)
        entries = fs.ls(path, detail=True)
    out: dict[str, int] = {}
    for entry in entries:
        name = str(entry["name"]).rsplit("/", 1)[-1]
        if entry["type"] == "file" and name.endswith(".parquet") and not name.startswith("."):
            out[name[: -len(".parquet")]] = int(entry["size"])
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class ManifestDir:
    """The manifest of the store at `root` (a local directory or an s3:// URL)."""

    root: str

    def _fs(self) -> tuple[AbstractFileSystem, str]:
        fs, root = store_fs(self.root)
        folder = f"{root}/{MANIFEST_DIR}"
        if not is_url(self.root) and Path(folder).is_symlink():  # parts written, compacted away
            raise InputError("is a symbolic link: the manifest is kept only in the store itself "
                             "(remove the link)", folder)
        return fs, folder

    def parts(self) -> list[str]:
        fs, folder = self._fs()
        with backend_errors(self.root):
            try:  # one listing (an isdir first was a second one on object storage)
                names = fs.ls(folder, detail=False)
            except FileNotFoundError:
                return []
        return sorted(n for n in names if n.rsplit("/", 1)[-1].startswith(PART_PREFIX)
                      and n.endswith(".parquet"))

    def append(self, rows: Iterable[dict[str, Any]]) -> str | None:
        """Write the rows as one new part (atomically); returns its name, None for no rows."""
        table = pa.Table.from_pylist(list(rows), schema=MANIFEST_SCHEMA)
        if not table.num_rows:
            return None
        name = f"{PART_PREFIX}{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        _, folder = self._fs()
        if not is_url(self.root):
            with atomic_path(Path(folder) / name) as tmp:
                pq.write_table(table, tmp, compression="zstd")
            return name
        from tdxray.store.mirror import put_atomic

        with scratch_dir("tdxray-manifest-") as scratch:
            local = Path(scratch) / name
            pq.write_table(table, local, compression="zstd")
            put_atomic(local, locate(self.root).join(f"{MANIFEST_DIR}/{name}"))
        return name

    def read_parts(self, parts: Sequence[str] | None = None) -> pa.Table:
        fs, _ = self._fs()
        tables = []
        for part in self.parts() if parts is None else parts:
            try:
                with backend_errors(self.root):
                    data = _whole(fs, part, is_url(self.root))
                # No reader threads: with them on a Python file object, pyarrow 26 aborted
                # now and then at exit ("terminate called without an active exception").
                tables.append(_conform(pq.read_table(pa.BufferReader(data), use_threads=False)))
            except (pa.ArrowException, ValueError) as exc:
                raise InputError(f"corrupt manifest part: {exc}", part) from None
        if not tables:
            return MANIFEST_SCHEMA.empty_table()
        return pa.concat_tables(tables)

    def read(self) -> pa.Table:
        """One row per trace: for each column the latest non-null value (by recorded_at)."""
        return merge(self.read_parts())

    def compact(self) -> tuple[int, int]:
        """Replace the parts by one merged part; (parts before, traces). The merged part is in
        place before the old ones go, and a reader merges either way: no moment without rows."""
        parts = self.parts()
        merged = merge(self.read_parts(parts))
        if len(parts) <= 1:
            return len(parts), merged.num_rows
        self.append(merged.to_pylist())
        fs, _ = self._fs()
        with backend_errors(self.root):
            for part in parts:
                fs.rm_file(part)
        return len(parts), merged.num_rows


def _whole(fs: AbstractFileSystem, path: str, remote: bool) -> bytes:
    """A small object's bytes in one GET (s3fs asks for the size first, a HEAD, to fetch a big
    object in parallel ranges: max_concurrency=1 skips that)."""
    return fs.cat_file(path, max_concurrency=1) if remote else fs.cat_file(path)


def _conform(table: pa.Table) -> pa.Table:
    """A part in MANIFEST_SCHEMA: columns added since it was written are NULL in it."""
    for field in MANIFEST_SCHEMA:
        if field.name not in table.column_names:
            table = table.append_column(field, pa.nulls(table.num_rows, field.type))
    return table.select(MANIFEST_SCHEMA.names).cast(MANIFEST_SCHEMA)


def consistent(root: str, merged: pa.Table | None = None,
               sizes: dict[str, int] | None = None) -> pa.Table | None:
    """The merged manifest when it describes the store's trace files exactly (the same trace
    ids, each file's size, a header for every row), else None: a reader may then trust it
    instead of opening every trace file. `merged` and `sizes`: the manifest and the trace
    sizes when the caller has read them already."""
    merged = ManifestDir(root).read() if merged is None else merged
    sizes = trace_sizes(root) if sizes is None else sizes
    rows = merged.select(["trace_id", "size", "events", "header"]).to_pylist()
    if [r["trace_id"] for r in rows] != list(sizes):
        return None
    if any(r["size"] != sizes[r["trace_id"]] or r["events"] is None or r["header"] is None
           for r in rows):
        return None
    return merged


def merge(table: pa.Table) -> pa.Table:
    """Latest non-null value per trace and column; rows sorted by trace id. Arrow's ordered
    group-by ("last" skips nulls): a fleet's manifest grows a part per check, and a Python
    loop over its rows cost 0.2 s per 2,000 rows."""
    if pc.count_distinct(table.column("trace_id")).as_py() == table.num_rows:
        return table.sort_by("trace_id")  # one row per trace (a compacted manifest)
    ordered = table.take(pc.sort_indices(table, [("recorded_at", "ascending")]))
    rows = pa.array(range(ordered.num_rows), pa.uint64())
    lists = [f.name for f in MANIFEST_SCHEMA if pa.types.is_list(f.type)]  # no "last" kernel
    keyed = ordered
    for name in lists:  # the row that holds the latest list instead
        keyed = keyed.append_column(f"{name}__row", pc.if_else(
            pc.is_valid(ordered.column(name)), rows, pa.scalar(None, pa.uint64())))
    plain = [n for n in MANIFEST_SCHEMA.names if n != "trace_id" and n not in lists]
    grouped = keyed.group_by("trace_id", use_threads=False).aggregate(
        [(n, "last") for n in plain] + [(f"{n}__row", "last") for n in lists])
    columns = {"trace_id": grouped.column("trace_id")}
    columns.update({n: grouped.column(f"{n}_last") for n in plain})
    columns.update({n: ordered.column(n).take(grouped.column(f"{n}__row_last")) for n in lists})
    merged = pa.table([columns[n] for n in MANIFEST_SCHEMA.names], names=MANIFEST_SCHEMA.names)
    return merged.sort_by("trace_id").cast(MANIFEST_SCHEMA)
