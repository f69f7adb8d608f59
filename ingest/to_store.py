"""Write an arriving trace into a store, atomically, with its ingest provenance."""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tdxray import __version__
from tdxray.ingest.registry import TraceInput
from tdxray.schema.errors import InputError
from tdxray.schema.td import HeaderError, TraceHeader, check_trace_id
from tdxray.store.layout import Store, results_dir_for
from tdxray.store.write import TraceWriter

PROVENANCE_KEY = "ingest"


@dataclass(frozen=True)
class Ingested:
    trace_id: str
    path: Path
    events: int


def ingest_into_store(trace: TraceInput, store: Store, trace_id: str | None = None,
                      replace: bool = False) -> Ingested:
    """Write `trace` as STORE/<trace_id>.parquet; refuse an existing id unless `replace`."""
    header = with_ingest_provenance(trace.header, trace)
    if trace_id is not None:
        header = dataclasses.replace(header, trace_id=_valid_trace_id(trace_id))
    return write_trace(trace, header, store.trace_path(header.trace_id), replace)


def write_trace(trace: TraceInput, header: TraceHeader, path: Path, replace: bool) -> Ingested:
    if path.exists() and not replace:
        raise InputError(f"the store already holds trace {header.trace_id!r}; give --replace "
                         "to overwrite it", str(path))
    with TraceWriter(path, header, replace=replace) as writer:
        for batch in trace.batches:
            writer.write_batch(batch)
        writer.losses = trace.losses  # complete now that the events are read
    # the replaced trace's replay results describe other events: drop them
    shutil.rmtree(results_dir_for(path), ignore_errors=True)
    return Ingested(header.trace_id, path, writer.rows)


def with_ingest_provenance(header: TraceHeader, trace: TraceInput) -> TraceHeader:
    """Add this ingest to header.provenance["ingest"] (a list: one record per ingest)."""
    record = {
        "sources": list(trace.sources),
        "format": trace.format,
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "tdxray": __version__,
    }
    provenance: dict[str, Any] = dict(header.provenance)
    previous = provenance.get(PROVENANCE_KEY)
    history = previous if isinstance(previous, list) else ([] if previous is None else [previous])
    provenance[PROVENANCE_KEY] = [*history, record]
    return dataclasses.replace(header, provenance=provenance)


def _valid_trace_id(trace_id: str) -> str:
    try:
        return check_trace_id(trace_id)
    except HeaderError as exc:
        raise InputError(str(exc), "--trace-id") from None
