"""A trace as `check` reads it: TRACE opened by the same code (ingest/materialize.py: a JSONL or
text trace converted, a Parquet file, a store directory, s3://) and held as its Arrow rows. The
reproducer is written from the rows kept, as JSON Lines (export/jsonl.py), seq renumbered."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from tdxray.export.jsonl import write_jsonl
from tdxray.ingest.materialize import Track, trace_file_for
from tdxray.schema.td import TraceHeader
from tdxray.store.read import open_trace


@dataclass(frozen=True)
class StoredTrace:
    """Event i is row i of `table`, the rows of the Parquet trace at `path` (in seq order);
    `source` is TRACE as given."""

    path: Path
    header: TraceHeader
    table: pa.Table
    source: str

    def __len__(self) -> int:
        return self.table.num_rows

    def seqs(self) -> list[object]:
        return list(self.table.column("seq").to_pylist())

    def rows(self, keep: list[int]) -> pa.Table:
        """The rows at `keep` (sorted indices), seq renumbered 1..n."""
        rows = self.table.take(pa.array(keep, pa.int64()))
        at = rows.schema.get_field_index("seq")
        seq = pa.array(np.arange(1, len(keep) + 1, dtype=np.uint64),
                       rows.schema.field(at).type)
        return rows.set_column(at, rows.schema.field(at), seq)

    def lines(self, keep: list[int]) -> list[str]:
        """The JSONL lines of the events at `keep`: the header, then the events (seq 1..n)."""
        out = io.StringIO()
        write_jsonl(self.header, self.rows(keep).to_batches(), out)
        return out.getvalue().splitlines()

    def write(self, keep: list[int], path: Path) -> None:
        with path.open("w", encoding="utf-8", newline="\n") as out:
            write_jsonl(self.header, self.rows(keep).to_batches(), out)


def open_stored_trace(arg: str, trace_id: str | None = None, workdir: Path | None = None,
                      track: Track | None = None) -> StoredTrace:
    """TRACE opened as `check` opens it (one trace: a store holding several needs trace_id);
    a text trace is converted under `workdir` (default: the process's temporary directory)."""
    (ref,) = trace_file_for(arg, trace_id, workdir=workdir, track=track, results=False)
    opened = open_trace(ref.path)
    return StoredTrace(ref.path, opened.header, opened.read().combine_chunks(), ref.source)
