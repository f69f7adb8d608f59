"""The structure tried before single events: event kinds, whole vCPUs, conversion ranges (the
model's phases come from the model itself: analyses/shrink/session.py). Each is a rank per
event (kind, vCPU, 2 MiB region of GPA space), from the trace's Arrow rows or its events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

RANGE_KINDS = ("map_gpa", "accept", "convert", "mem_access")
GPA_MASK = (1 << 47) - 1  # the shared bit and above off
REGION_SHIFT = 21  # 2 MiB


@dataclass(frozen=True)
class Ranks:
    """Per event: its kind's rank by name, its vCPU's rank (by the vCPU as text) and its
    conversion region (-1: not a conversion event with a GPA)."""

    kind: np.ndarray
    vcpu: np.ndarray
    region: np.ndarray


def _rank(values: Sequence[object]) -> np.ndarray:
    """Each value's rank among the distinct values ordered as text."""
    order = {v: i for i, v in enumerate(sorted(set(values), key=str))}
    return np.array([order[v] for v in values], dtype=np.int64)


def _gpa(value: object) -> int | None:
    if isinstance(value, str):
        try:
            return int(value, 16)
        except ValueError:
            return None
    return value if isinstance(value, int) else None


def ranks_of_events(events: Sequence[dict[str, object]]) -> Ranks:
    region = [-1] * len(events)
    for i, event in enumerate(events):
        gpa = _gpa(event.get("gpa"))
        if event.get("kind") in RANGE_KINDS and gpa is not None:
            region[i] = (gpa & GPA_MASK) >> REGION_SHIFT
    return Ranks(_rank([str(e.get("kind")) for e in events]),
                 _rank([e.get("vcpu") for e in events]), np.array(region, dtype=np.int64))


def ranks_of_rows(table: pa.Table) -> Ranks:
    kinds = table.column("kind").combine_chunks().cast(pa.string())
    encoded = pc.dictionary_encode(kinds)
    names = encoded.dictionary.to_pylist()
    rank_of_code = np.empty(len(names), dtype=np.int64)
    rank_of_code[sorted(range(len(names)), key=names.__getitem__)] = np.arange(len(names))
    kind = rank_of_code[encoded.indices.to_numpy(zero_copy_only=False)]
    vcpus = table.column("vcpu").to_numpy()
    distinct = np.unique(vcpus)
    rank_of_pos = np.empty(len(distinct), dtype=np.int64)
    rank_of_pos[sorted(range(len(distinct)), key=lambda i: str(distinct[i]))] = np.arange(
        len(distinct))
    vcpu = rank_of_pos[np.searchsorted(distinct, vcpus)]
    gpa = table.column("gpa").combine_chunks()
    ranged = pc.and_(pc.is_in(kinds, pa.array(RANGE_KINDS)), pc.is_valid(gpa))
    raw = pc.fill_null(gpa, 0).to_numpy().astype(np.uint64)
    region = (raw & np.uint64(GPA_MASK)) >> np.uint64(REGION_SHIFT)
    return Ranks(kind, vcpu, np.where(ranged.to_numpy(zero_copy_only=False),
                                      region.astype(np.int64), -1))


def units(rank: np.ndarray, keep: list[int]) -> list[list[int]]:
    """The kept events grouped by rank (rank -1 left out), groups in rank order, each in
    event order."""
    idx = np.asarray(keep, dtype=np.int64)
    values = rank[idx]
    idx, values = idx[values >= 0], values[values >= 0]
    order = np.argsort(values, kind="stable")
    cuts = np.flatnonzero(np.diff(values[order])) + 1
    return [group.tolist() for group in np.split(idx[order], cuts) if len(group)]
