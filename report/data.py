"""What the HTML report shows of one trace, gathered headless: aggregates, never all events."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from tdxray.analyses.check_run import replay_file
from tdxray.analyses.diff.ranges import Ranges
from tdxray.analyses.diff.timeline import Timeline, timeline
from tdxray.analyses.page_history import shared_over_time
from tdxray.model.divergence import Divergence
from tdxray.model.result import ReplayResult
from tdxray.schema.events import HEX_COLUMNS
from tdxray.schema.td import TdConfig
from tdxray.store.layout import TraceRef
from tdxray.store.read import open_trace

SHARED_POINTS = 400    # points of the shared-pages plot
AROUND = 5             # events shown before and after each divergence's revealing event
AROUND_DIVERGENCES = 50  # divergences that get their events shown
SKIP_COLUMNS = {"seq", "ts_ns", "vcpu", "kind", "source", "line"}


@dataclass(frozen=True)
class JumpMap:
    """The page-state map at one jump: what the next kernel inherits."""

    generation: int
    seq: int
    ranges: dict[str, Ranges]


@dataclass
class TraceData:
    source: str
    td: TdConfig
    result: ReplayResult
    timeline: Timeline
    shared: list[tuple[int, int]] = field(default_factory=list)  # (seq, shared pages)
    jumps: list[JumpMap] = field(default_factory=list)
    around: dict[int, list[str]] = field(default_factory=dict)  # revealing seq -> event lines


def _seq_bounds(path: Path) -> tuple[int, int]:
    """First and last seq from the Parquet statistics (no column read)."""
    meta = pq.ParquetFile(path).metadata
    index = meta.schema.to_arrow_schema().get_field_index("seq")
    lo = meta.row_group(0).column(index).statistics
    hi = meta.row_group(meta.num_row_groups - 1).column(index).statistics
    if lo is None or hi is None or not lo.has_min_max:
        return 0, 0
    return int(lo.min), int(hi.max)


def _event_line(row: dict[str, object]) -> str:
    fields = []
    for name, value in row.items():
        if name in SKIP_COLUMNS or value is None:
            continue
        shown = hex(value) if name in HEX_COLUMNS and isinstance(value, int) else value
        fields.append(f"{name}={shown}")
    return (f"seq {row['seq']} t={row['ts_ns']} vCPU {row['vcpu']} {row['kind']} "
            + " ".join(str(f) for f in fields))


def events_around(path: Path, divergences: list[Divergence]) -> dict[int, list[str]]:
    """For the first divergences with an event: the events around it, one line each."""
    seqs = sorted({d.seq for d in divergences if d.seq is not None})[:AROUND_DIVERGENCES]
    if not seqs:
        return {}
    filters = [[("seq", ">=", max(0, s - AROUND)), ("seq", "<=", s + AROUND)] for s in seqs]
    rows = pq.read_table(path, filters=filters).to_pylist()
    out: dict[int, list[str]] = {}
    for s in seqs:
        out[s] = [_event_line(r) for r in rows if abs(int(r["seq"]) - s) <= AROUND]
    return out


def gather(ref: TraceRef) -> TraceData:
    result = replay_file(ref.path, ref.results_dir)
    tl = timeline(ref.path)
    data = TraceData(ref.source, open_trace(ref.path).header.td, result, tl)
    first, last = _seq_bounds(ref.path)
    seqs = np.linspace(first, last, SHARED_POINTS).astype(np.int64).tolist()
    data.shared = list(zip(seqs, shared_over_time(ref.results_dir, first, last, SHARED_POINTS),
                           strict=False))
    data.jumps = [JumpMap(p.generation, p.start_seq, p.page_map) for p in tl.phases
                  if p.name == "jump"]
    data.around = events_around(ref.path, [d for d in result.divergences if d.severity != "info"])
    return data
