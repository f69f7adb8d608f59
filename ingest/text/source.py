"""What every text-source reader shares: its context, and the batches it hands to the merge.

A source reader yields EVENT_SCHEMA batches in line order with `seq` 0 (the merge numbers the
events of all sources), each row carrying its `source` and `line`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from tdxray.ingest.bad_lines import BadLines
from tdxray.schema.events import EVENT_SCHEMA
from tdxray.schema.losses import Loss
from tdxray.schema.td import TdConfig


@dataclass(frozen=True)
class SourceContext:
    td: TdConfig
    bad: BadLines
    losses: list[Loss] = field(default_factory=list)  # buffer markers, in line order (no seq yet)
    # a guest's trace (ftrace-guest): its CPU column is the vCPU, so events no decoder models keep
    # it too, as the probes' do (a host's CPU column is a host CPU: they keep vCPU 0)
    guest: bool = False


SLICES_MAX = 16  # more runs of per-line rows than this: one `take` instead of slices


def interleaved(fast: pa.RecordBatch, slow: pa.RecordBatch) -> list[pa.RecordBatch]:
    """The rows of two batches, each in line order, in line order: slices when the few per-line
    rows go between a few slices of the bulk ones (no copy), else one batch put in order."""
    if not slow.num_rows:
        return [fast] if fast.num_rows else []
    if not fast.num_rows:
        return [slow]
    at = np.searchsorted(fast.column("line").to_numpy(), slow.column("line").to_numpy())
    points, first = np.unique(at, return_index=True)
    if len(points) > SLICES_MAX:
        both = pa.Table.from_batches([fast, slow]).combine_chunks()
        order = np.argsort(both.column("line").to_numpy(), kind="stable")
        return both.take(pa.array(order)).combine_chunks().to_batches()
    bounds = [*first.tolist(), len(at)]
    out, prev = [], 0
    for k, point in enumerate(points.tolist()):
        if point > prev:
            out.append(fast.slice(prev, point - prev))
        out.append(slow.slice(bounds[k], bounds[k + 1] - bounds[k]))
        prev = point
    if prev < fast.num_rows:
        out.append(fast.slice(prev))
    return out


def empty_batch() -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array([], f.type) for f in EVENT_SCHEMA],
                                      schema=EVENT_SCHEMA)
