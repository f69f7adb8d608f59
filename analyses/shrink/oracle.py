"""Does a candidate subsequence still show the divergence? Replay it and look (cached)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from tdxray.analyses.shrink.ddmin import Budget
from tdxray.analyses.shrink.trace import TextTrace
from tdxray.ingest.materialize import trace_file_for
from tdxray.model.divergence import Divergence
from tdxray.model.replay import replay_trace
from tdxray.schema.errors import InputError
from tdxray.store.read import open_trace
from tdxray.store.write import TraceWriter


class Candidates:
    """The trace ingested once; a candidate is a `take` of its Arrow rows (seq renumbered)
    written straight to Parquet: no JSON text and no ingest per replay, `extra` carried."""

    def __init__(self, trace: TextTrace, workdir: Path) -> None:
        self.workdir = workdir
        self.table: pa.Table | None = None
        path = workdir / "whole.jsonl"
        trace.write(list(range(len(trace.events))), path)
        try:
            ref = trace_file_for(str(path), workdir=workdir, warn=lambda _message: None)[0]
        except InputError:
            return  # not a valid trace as a whole: every candidate goes the JSONL way
        whole = open_trace(ref.path)
        table = whole.read()
        seqs = table.column("seq").to_pylist()
        if seqs == [e.get("seq") for e in trace.events]:  # row i is event i
            self.table, self.header = table, whole.header

    def replay(self, keep: list[int]) -> list[Divergence] | None:
        assert self.table is not None
        rows = self.table.take(pa.array(keep, pa.int64()))
        seq = pa.array(np.arange(1, len(keep) + 1, dtype=np.uint64))
        rows = rows.set_column(rows.schema.get_field_index("seq"), "seq", seq)
        path = self.workdir / "candidate.parquet"
        with TraceWriter(path, self.header) as writer:
            for batch in rows.combine_chunks().to_batches():
                writer.write_batch(batch)
        try:
            return replay_trace(path, None).divergences
        finally:
            path.unlink(missing_ok=True)


def replay_lines(trace: TextTrace, keep: list[int], workdir: Path) -> list[Divergence] | None:
    """The divergences of the candidate; None when it is not a valid trace."""
    path = workdir / "candidate.jsonl"
    trace.write(keep, path)
    try:
        ref = trace_file_for(str(path), workdir=workdir, warn=lambda _message: None)[0]
    except InputError:
        return None
    try:
        return replay_trace(ref.path, None).divergences
    finally:
        ref.path.unlink(missing_ok=True)


class Oracle:
    """test(keep) is True when replaying those events reveals `rule` (with `fingerprint`)."""

    def __init__(self, trace: TextTrace, rule: str, fingerprint: str | None,
                 max_replays: int, seconds: float) -> None:
        self.trace, self.rule, self.fingerprint = trace, rule, fingerprint
        self.max_replays, self.deadline = max_replays, time.monotonic() + seconds
        self.replays = 0
        self.best: list[int] | None = None
        self._cache: dict[tuple[int, ...], bool] = {}
        self._dir = tempfile.TemporaryDirectory(prefix="tdxray-shrink-")
        self._candidates = Candidates(trace, Path(self._dir.name))

    def close(self) -> None:
        self._dir.cleanup()

    def matches(self, divergences: list[Divergence]) -> Divergence | None:
        for d in divergences:
            if d.rule == self.rule and self.fingerprint in (None, d.fingerprint):
                return d
        return None

    def __call__(self, keep: list[int]) -> bool:
        key = tuple(keep)
        if key in self._cache:
            return self._cache[key]
        if self.replays >= self.max_replays or time.monotonic() > self.deadline:
            raise Budget
        self.replays += 1
        if self._candidates.table is not None:
            found = self._candidates.replay(keep)
        else:
            found = replay_lines(self.trace, keep, Path(self._dir.name))
        ok = found is not None and self.matches(found) is not None
        self._cache[key] = ok
        if ok and (self.best is None or len(keep) < len(self.best)):
            self.best = keep
        return ok
