"""`diff` as a function: two TRACE arguments in, the Diff out."""

from __future__ import annotations

from pathlib import Path

from tdxray.analyses.check_run import replay_file
from tdxray.analyses.diff.compare import Diff, Side, compare
from tdxray.analyses.diff.timeline import timeline
from tdxray.ingest.materialize import trace_file_for


def side(arg: str | Path, trace_id: str | None = None) -> Side:
    """One TRACE (Parquet file, store with --trace, JSONL) replayed and cut into phases."""
    ref = trace_file_for(str(arg), trace_id)[0]
    return Side(str(arg), replay_file(ref.path, ref.results_dir), timeline(ref.path), ref.path)


def diff(a: str | Path, b: str | Path, trace_a: str | None = None,
         trace_b: str | None = None) -> Diff:
    return compare(side(a, trace_a), side(b, trace_b))
