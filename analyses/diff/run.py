"""`diff` as a function: two TRACE arguments in, the Diff out."""

from __future__ import annotations

from pathlib import Path

from tdxray.analyses.check_run import replay_file
from tdxray.analyses.diff.compare import Diff, Side, compare
from tdxray.analyses.diff.timeline import timeline
from tdxray.ingest.materialize import trace_file_for
from tdxray.schema.errors import InputError


def side(arg: str | Path, trace_id: str | None = None, option: str = "--trace") -> Side:
    """One TRACE, opened as `check` opens it (a JSONL or text trace, a Parquet file, a store
    or a directory of text traces with `option` naming the one, s3://), replayed and cut
    into phases."""
    refs = trace_file_for(str(arg), trace_id, allow_many=True)
    if len(refs) > 1:
        names = ", ".join(ref.path.stem for ref in refs[:8])
        raise InputError(f"holds {len(refs)} traces; pick one with {option} ({names})",
                         str(arg))
    ref = refs[0]
    return Side(str(arg), replay_file(ref.path, ref.results_dir), timeline(ref.path), ref.path)


def diff(a: str | Path, b: str | Path, trace_a: str | None = None,
         trace_b: str | None = None) -> Diff:
    return compare(side(a, trace_a, "--trace-a"), side(b, trace_b, "--trace-b"))
