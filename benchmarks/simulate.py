"""Stage 1: simulate the ladder. Build time, events/s, bytes/event and the core's share."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tdxray.benchmarks.figures import Figure
from tdxray.benchmarks.ladder import Built
from tdxray.model.columns import BatchView
from tdxray.model.replay import CORE_KINDS
from tdxray.store.read import open_trace


def core_fraction(path: Path) -> float:
    """Share of events the replay's sequential core must see (the state-changing ones):
    the core kinds plus generic TDVMCALL<MapGPA> and TDCALL ACCEPT."""
    trace = open_trace(path)
    picked = 0
    for batch in trace.iter_batches(["kind", "r10", "subfn", "leaf", "r12", "r13"]):
        view = BatchView(batch)
        mask = view.is_kind(*CORE_KINDS) | view.generic_mapgpa() | view.generic_accept()
        picked += int(np.count_nonzero(mask))
    return picked / max(trace.num_rows, 1)


def simulate_figures(size: int, built: Built) -> list[Figure]:
    note = f"cached, built {built.built_at}; --fresh re-times" if built.cached else ""
    rows = max(built.rows, 1)
    prefix = f"simulate.{size}"
    return [
        Figure(f"{prefix}.seconds", built.seconds, "s", note),
        Figure(f"{prefix}.events_per_s", rows / built.seconds, "events/s", note),
        Figure(f"{prefix}.bytes_per_event", built.path.stat().st_size / rows, "bytes/event"),
        Figure(f"{prefix}.core_fraction", core_fraction(built.path), "ratio",
               "state-changing events (what the sequential core replays)"),
    ]
