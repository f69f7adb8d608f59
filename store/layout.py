"""A store directory: one Parquet file per trace, its replay results beside it (FORMATS.md §4).

    STORE/<trace_id>.parquet                     the events
    STORE/<trace_id>.replay/divergences.parquet  what replay found
    STORE/<trace_id>.replay/page_history.parquet page-state intervals
    STORE/<trace_id>.replay/replay.json          what the results were computed from
    STORE/<trace_id>.replay/filter_index.parquet the events with a GPA or a failure status, for
                                                 the TUI's filters (store/filter_index.py)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tdxray.schema.errors import InputError
from tdxray.schema.td import HeaderError, check_trace_id

TRACE_SUFFIX = ".parquet"
RESULTS_SUFFIX = ".replay"


@dataclass(frozen=True)
class Store:
    root: Path

    def trace_path(self, trace_id: str) -> Path:
        try:
            check_trace_id(trace_id)
        except HeaderError as exc:
            raise InputError(str(exc), str(self.root)) from None
        return self.root / f"{trace_id}{TRACE_SUFFIX}"

    def results_dir(self, trace_id: str) -> Path:
        return self.root / f"{trace_id}{RESULTS_SUFFIX}"

    def trace_ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name[: -len(TRACE_SUFFIX)] for p in self.root.glob(f"*{TRACE_SUFFIX}")
                      if p.is_file() and not p.name.startswith("."))

    def has(self, trace_id: str) -> bool:
        return self.trace_path(trace_id).exists()


@dataclass(frozen=True)
class TraceRef:
    """A trace named on the command line: its file, where replay results go, how it was named."""

    path: Path            # the trace's Parquet file (for JSONL input: a converted temporary)
    results_dir: Path     # where replay writes divergences and page history
    source: str           # as given on the command line (reports print it)
    remote: str | None = None  # an s3:// trace: its URL (path and results_dir are a local mirror)
    fetched_stamp: bytes | None = None  # an s3:// trace: its results' replay.json when fetched


def results_dir_for(trace_file: Path) -> Path:
    """Results live beside the trace: STORE/<id>.replay for STORE/<id>.parquet."""
    name = trace_file.name
    stem = name[: -len(TRACE_SUFFIX)] if name.endswith(TRACE_SUFFIX) else name
    return trace_file.with_name(stem + RESULTS_SUFFIX)


def resolve_traces(arg: str, trace_id: str | None = None, allow_many: bool = False) -> list[Path]:
    """Parquet trace files named by a CLI TRACE argument (a file, or a store directory)."""
    path = Path(arg)
    if path.is_dir():
        store = Store(path)
        ids = store.trace_ids()
        if trace_id is not None:
            if trace_id not in ids:
                raise InputError(f"store has no trace {trace_id!r} "
                                 f"(it has: {', '.join(ids) or 'none'})", arg)
            return [store.trace_path(trace_id)]
        if not ids:
            raise InputError("store holds no traces", arg)
        if len(ids) > 1 and not allow_many:
            raise InputError(f"store holds {len(ids)} traces; pick one with --trace "
                             f"({', '.join(ids[:8])}{', …' if len(ids) > 8 else ''})", arg)
        return [store.trace_path(i) for i in ids]
    if not path.exists():
        raise InputError("no such file or directory", arg)
    return [path]
