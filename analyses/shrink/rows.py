"""Candidates as Arrow rows in memory: the trace ingested once, each candidate a `take` of its
rows (seq renumbered) replayed without a trace file."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from tdxray.analyses.shrink.stored import StoredTrace
from tdxray.analyses.shrink.trace import Trace
from tdxray.ingest.materialize import Track, trace_file_for
from tdxray.model.divergence import Divergence
from tdxray.model.replay import replay_rows
from tdxray.schema.errors import InputError
from tdxray.schema.td import TraceHeader
from tdxray.store.read import Deferred, open_trace


@dataclass(frozen=True)
class RowsTrace:
    """A trace held as one Arrow table: what a replay reads of a trace file, without one."""

    header: TraceHeader
    table: pa.Table

    @property
    def trace_id(self) -> str:
        return self.header.trace_id

    @property
    def num_rows(self) -> int:
        return self.table.num_rows

    def iter_batches(self, columns: Sequence[str] | None = None, batch_size: int = 1 << 19,
                     prefetch: bool = False, threads: bool = True,
                     deferred: Deferred | None = None) -> Iterator[pa.RecordBatch]:
        """Every column asked for (`deferred` columns too: they are in memory already)."""
        table = self.table.select(list(columns)) if columns else self.table
        yield from table.to_batches(max_chunksize=batch_size)


class Candidates:
    """The trace ingested once (from `source`, the file read, when given: no JSON written).
    `table` is None when its rows do not map 1:1 to the events read (then every candidate
    goes the JSONL way); `path` is the whole trace's Parquet file. A StoredTrace's rows are
    its events: taken as they are."""

    def __init__(self, trace: Trace, workdir: Path, source: Path | None = None,
                 track: Track | None = None) -> None:
        self.table: pa.Table | None = None
        self.path: Path | None = None
        if isinstance(trace, StoredTrace):
            self.table, self.header, self.path = trace.table, trace.header, trace.path
            self.seqs = trace.table.column("seq").to_numpy()
            return
        if source is None:
            source = workdir / "whole.jsonl"
            trace.write(list(range(len(trace))), source)
        try:
            ref = trace_file_for(str(source), workdir=workdir, warn=lambda _message: None,
                                 track=track)[0]
        except InputError:
            return  # not a valid trace as a whole
        whole = open_trace(ref.path)
        table = whole.read().combine_chunks()
        seqs = table.column("seq").to_numpy()
        if len(seqs) == len(trace) and seqs.tolist() == trace.seqs():  # row i is event i
            self.table, self.header, self.path, self.seqs = table, whole.header, ref.path, seqs

    def replay(self, keep: np.ndarray) -> list[Divergence] | None:
        """The divergences of the events at `keep` (sorted indices); None: not a valid trace."""
        assert self.table is not None
        rows = self.table.take(pa.array(keep, pa.int64()))
        seq = pa.array(np.arange(1, len(keep) + 1, dtype=np.uint64))
        at = rows.schema.get_field_index("seq")
        rows = rows.set_column(at, rows.schema.field(at), seq)
        try:
            return replay_rows(RowsTrace(self.header, rows)).divergences
        except InputError:
            return None
