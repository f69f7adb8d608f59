"""The replay's results on disk, beside the trace: divergences and page history (versioned).

divergences.parquet also carries, in its metadata, the replay's coverage and counts, so that
`check` can reuse fresh results without replaying.
"""

from __future__ import annotations

import json
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tdxray.model.divergence import Divergence
from tdxray.model.pagemap import NO_SEQ, STATE_NAMES, PageState
from tdxray.model.result import ReplayResult

RESULTS_VERSION = 1
META_RESULTS_VERSION = b"tdxray.results_version"
META_REPLAY = b"tdxray.replay"

DIVERGENCES_FILE = "divergences.parquet"
PAGE_HISTORY_FILE = "page_history.parquet"
STAMP_FILE = "replay.json"

_STR = pa.dictionary(pa.int32(), pa.string())

DIVERGENCE_SCHEMA = pa.schema([
    pa.field("trace_id", _STR, nullable=False),
    pa.field("rule", _STR, nullable=False),
    pa.field("name", _STR, nullable=False),
    pa.field("severity", _STR, nullable=False),
    pa.field("seq", pa.uint64()),
    pa.field("ts_ns", pa.int64()),
    pa.field("vcpu", pa.uint32()),
    pa.field("gpa_start", pa.uint64()),
    pa.field("gpa_end", pa.uint64()),
    pa.field("pages", pa.uint64()),
    pa.field("apic_id", pa.uint32()),
    pa.field("cause_seqs", pa.list_(pa.uint64()), nullable=False),
    pa.field("generation", pa.uint32(), nullable=False),
    pa.field("location", pa.string()),
    pa.field("fingerprint", pa.string(), nullable=False),
    pa.field("message", pa.string(), nullable=False),
])

PAGE_HISTORY_SCHEMA = pa.schema([
    pa.field("trace_id", _STR, nullable=False),
    pa.field("gpa_start", pa.uint64(), nullable=False),
    pa.field("gpa_end", pa.uint64(), nullable=False),
    pa.field("state", _STR, nullable=False),
    pa.field("from_seq", pa.uint64()),  # null: the state the TD started with
    pa.field("from_ts", pa.int64()),
    pa.field("to_seq", pa.uint64()),    # null: still the state at the end of the trace
    pa.field("to_ts", pa.int64()),
    pa.field("generation", pa.uint32(), nullable=False),
    pa.field("cause_seq", pa.uint64()),
])


def _meta(extra: dict[bytes, bytes] | None = None) -> dict[bytes, bytes]:
    meta = {META_RESULTS_VERSION: str(RESULTS_VERSION).encode()}
    meta.update(extra or {})
    return meta


def divergences_table(trace_id: str, divergences: list[Divergence],
                      result: ReplayResult | None = None) -> pa.Table:
    rows: dict[str, list[Any]] = {name: [] for name in DIVERGENCE_SCHEMA.names}
    for d in divergences:
        for name in DIVERGENCE_SCHEMA.names:
            rows[name].append(trace_id if name == "trace_id" else getattr(d, name))
    extra = {}
    if result is not None:
        extra[META_REPLAY] = json.dumps({
            "trace_id": result.trace_id, "events": result.events,
            "rules_run": result.rules_run, "rules_skipped": result.rules_skipped,
            "generations": result.generations, "kind_counts": result.kind_counts,
        }).encode()
    return pa.table(rows, schema=DIVERGENCE_SCHEMA.with_metadata(_meta(extra)))


def read_result(path: Path) -> ReplayResult:
    table = pq.read_table(path)
    meta = table.schema.metadata or {}
    if int(meta.get(META_RESULTS_VERSION, b"0")) != RESULTS_VERSION:
        raise ValueError(f"{path}: results of another version")
    info = json.loads(meta[META_REPLAY])
    divergences = [
        Divergence(rule=r["rule"], message=r["message"], seq=r["seq"], ts_ns=r["ts_ns"],
                   vcpu=r["vcpu"], gpa_start=r["gpa_start"], gpa_end=r["gpa_end"],
                   pages=r["pages"], apic_id=r["apic_id"], cause_seqs=list(r["cause_seqs"]),
                   generation=r["generation"], location=r["location"])
        for r in table.to_pylist()
    ]
    return ReplayResult(
        trace_id=info["trace_id"], events=info["events"], rules_run=info["rules_run"],
        rules_skipped=[tuple(x) for x in info["rules_skipped"]], divergences=divergences,
        generations=info["generations"], kind_counts=info["kind_counts"])


JOIN_PARTS = 64  # more parts than this are joined once, not a column at a time

_SPLIT_COLUMNS = [f.name for f in PAGE_HISTORY_SCHEMA if pa.types.is_integer(f.type)]
_STATE_DICTIONARY = pa.array([STATE_NAMES[state] for state in PageState], pa.string())


def arrow_of(values: np.ndarray, kind: pa.DataType,
             missing: np.ndarray | None = None) -> pa.Array:
    """`values` (numbers as wide as `kind`) as an Arrow array, null where `missing`: the same
    array as pa.array(values, mask=missing, type=kind), built from its buffers; pa.array of a
    numpy array imports numpy.ma at its first call (16 ms of the history thread's CPU, with
    the GIL held)."""
    data = pa.py_buffer(np.ascontiguousarray(values))
    if missing is None:
        return pa.Array.from_buffers(kind, len(values), [None, data], null_count=0)
    valid = pa.py_buffer(np.packbits(~missing, bitorder="little"))
    return pa.Array.from_buffers(kind, len(values), [valid, data],
                                 null_count=int(missing.sum()))


class PageHistoryWriter:
    """Streams page-history intervals to Parquet as replay produces them; encoding and
    compressing a row group runs on a writer thread while replay goes on (one at a time, in
    order; a write's error is raised by the next flush or by close)."""

    FLUSH_ROWS = 1 << 16

    def __init__(self, path: Path, trace_id: str) -> None:
        self.trace_id = trace_id
        # dictionaries only where values repeat (GPAs and seqs do not: trying costs 3x); the
        # numbers byte-stream split: zstd then sees each byte plane apart (the high bytes of
        # GPAs and seqs barely change), encoding half as long for a file 1-10x smaller
        self._writer = pq.ParquetWriter(str(path), PAGE_HISTORY_SCHEMA.with_metadata(_meta()),
                                        compression="zstd", compression_level=1,
                                        use_dictionary=["trace_id", "state"],
                                        column_encoding=dict.fromkeys(_SPLIT_COLUMNS,
                                                                      "BYTE_STREAM_SPLIT"))
        self._rows: list[np.ndarray] = []
        self._pending = 0
        self.rows_written = 0
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tdxray-history")
        self._writing: Future[None] | None = None

    def add(self, rows: np.ndarray) -> None:
        """Rows of (n, 9) int64 (HistoryRow's columns), buffered into large row groups."""
        self.add_parts([rows])

    def add_parts(self, parts: list[np.ndarray]) -> None:
        """Rows in parts, as `add` takes them: joined on the writer thread, column by column."""
        for rows in parts:
            if len(rows):
                self._rows.append(rows)
                self._pending += len(rows)
        if self._pending >= self.FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        """Hand the buffered rows to the writer thread: it builds the row group and writes it
        (in order; at most one waits while replay buffers the next)."""
        if not self._rows:
            return
        parts, n = self._rows, self._pending
        self._wait()
        self._writing = self._thread.submit(self._write, parts, n)
        self.rows_written += n
        self._rows, self._pending = [], 0

    def _write(self, parts: list[np.ndarray], n: int) -> None:
        if len(parts) > JOIN_PARTS:  # many small parts (the core's, a change at a time)
            parts = [np.concatenate(parts)]

        def column(i: int, kind: pa.DataType) -> pa.Array:
            # column by column: a column-major part (open_intervals) is read contiguously
            values = parts[0][:, i] if len(parts) == 1 else np.concatenate([r[:, i] for r in parts])
            missing = values == NO_SEQ
            # the int64 bits as they are (a view, no copy) where the column is as wide
            data = (values.view(np.uint64) if kind == pa.uint64()
                    else values.astype(kind.to_pandas_dtype(), copy=False))
            return arrow_of(data, kind, missing if missing.any() else None)

        table = pa.table({
            "trace_id": pa.DictionaryArray.from_arrays(arrow_of(np.zeros(n, dtype=np.int32),
                                                                pa.int32()),
                                                       pa.array([self.trace_id], pa.string())),
            "gpa_start": column(0, pa.uint64()),
            "gpa_end": column(1, pa.uint64()),
            "state": pa.DictionaryArray.from_arrays(column(2, pa.int32()), _STATE_DICTIONARY),
            "from_seq": column(3, pa.uint64()),
            "from_ts": column(4, pa.int64()),
            "to_seq": column(5, pa.uint64()),
            "to_ts": column(6, pa.int64()),
            "generation": column(7, pa.uint32()),
            "cause_seq": column(8, pa.uint64()),
        }, schema=PAGE_HISTORY_SCHEMA.with_metadata(None))
        self._writer.write_table(table)

    def _wait(self) -> None:
        if self._writing is not None:
            writing, self._writing = self._writing, None
            writing.result()

    def close(self) -> None:
        try:
            self.flush()
            self._wait()
        finally:
            self._thread.shutdown(wait=True)
            self._writer.close()
