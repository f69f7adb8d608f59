"""Conversion-heavy traces, built directly as Arrow batches: every event changes page state.

A cycle converts a buffer to shared (MapGPA with the shared bit), back to private (MapGPA),
then ACCEPTs each of its pages at 4 KiB, all successful. `buffers` walks small buffers across
RAM in order; `random_pages` picks one random 4 KiB page per cycle (a fragmented page map).
`random_retry` picks a random 2-page buffer and the host answers its MapGPA to shared with a
RETRY halfway (the guest resumes at R11): no long run of plain conversions, so the sequential
core takes every event, over a map fragmented like random_pages'.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from tdxray.schema.constants import PAGE_SIZE, TDVMCALL_RETRY, shared_bit
from tdxray.schema.events import EVENT_SCHEMA
from tdxray.schema.td import TdConfig, TraceHeader
from tdxray.store.write import TraceWriter

GPAW = 48
RAM_END = 2 << 30
VCPUS = 2
BUFFER_PAGES = 4
BATCH_CYCLES = 1 << 16
KINDS = pa.array(["map_gpa", "accept"])
VARIANTS = {"buffers": BUFFER_PAGES, "random_pages": 1, "random_retry": 2}
NO_RESUME = -1

# A cycle's events: (MapGPA?, first page, pages, to shared?, status, RETRY's R11 page)
Step = tuple[bool, int, int, bool, int, int]


def steps(variant: str) -> list[Step]:
    pages = VARIANTS[variant]
    accepts: list[Step] = [(False, k, 1, False, 0, NO_RESUME) for k in range(pages)]
    if variant == "random_retry":
        half = pages // 2
        return [(True, 0, pages, True, TDVMCALL_RETRY, half),
                (True, half, pages - half, True, 0, NO_RESUME),
                (True, 0, pages, False, 0, NO_RESUME), *accepts]
    return [(True, 0, pages, True, 0, NO_RESUME), (True, 0, pages, False, 0, NO_RESUME),
            *accepts]


def header(variant: str) -> TraceHeader:
    td = TdConfig(gpaw=GPAW, apic_ids=tuple(range(VCPUS)), ram=((0, RAM_END),))
    return TraceHeader(f"bench-conversions-{variant.replace('_', '-')}", td,
                       provenance={"tool": "tdxray benchmarks", "variant": variant})


def cycle_starts(variant: str, first: int, count: int, rng: np.random.Generator) -> np.ndarray:
    pages = VARIANTS[variant]
    slots = RAM_END // (pages * PAGE_SIZE)
    if variant.startswith("random"):
        return rng.integers(0, slots, count, dtype=np.uint64) * np.uint64(pages * PAGE_SIZE)
    index = (np.arange(first, first + count, dtype=np.uint64) % np.uint64(slots))
    return index * np.uint64(pages * PAGE_SIZE)


def cycle_batch(variant: str, starts: np.ndarray, first_seq: int) -> pa.RecordBatch:
    table = np.array(steps(variant), dtype=np.int64)
    per = len(table)
    n = len(starts) * per
    base = np.repeat(starts, per)
    step = np.tile(table, (len(starts), 1))
    is_map = step[:, 0].astype(bool)
    page = np.uint64(PAGE_SIZE)
    sbit = np.uint64(shared_bit(GPAW))
    shared = np.where(step[:, 3].astype(bool), sbit, np.uint64(0))
    gpa = (base + step[:, 1].astype(np.uint64) * page) | shared
    resume = step[:, 5]
    retry = resume != NO_RESUME
    resume_gpa = (base + np.maximum(resume, 0).astype(np.uint64) * page) | shared
    seq = np.arange(first_seq, first_seq + n, dtype=np.uint64)
    columns = {
        "seq": pa.array(seq),
        "ts_ns": pa.array(seq.astype(np.int64) * 1000),
        "vcpu": pa.array((np.arange(n) // per % VCPUS).astype(np.uint32)),
        "kind": pa.DictionaryArray.from_arrays(pa.array((~is_map).astype(np.int32)), KINDS),
        "status": pa.array(step[:, 4].astype(np.uint64)),
        "gpa": pa.array(gpa),
        "size": pa.array(step[:, 2].astype(np.uint64) * page, mask=~is_map),
        "resume_gpa": pa.array(resume_gpa, mask=~retry),
        "level": pa.array(np.zeros(n, dtype=np.uint8), mask=is_map),
    }
    arrays = [columns[f.name] if f.name in columns else pa.nulls(n, f.type) for f in EVENT_SCHEMA]
    return pa.RecordBatch.from_arrays(arrays, schema=EVENT_SCHEMA)


def batches(variant: str, events: int, seed: int = 0) -> Iterator[pa.RecordBatch]:
    """About `events` events (whole cycles, at least one)."""
    rng = np.random.default_rng(seed)
    cycles = max(events // len(steps(variant)), 1)
    seq = 1
    for first in range(0, cycles, BATCH_CYCLES):
        count = min(BATCH_CYCLES, cycles - first)
        batch = cycle_batch(variant, cycle_starts(variant, first, count, rng), seq)
        seq += batch.num_rows
        yield batch


def write(path: Path, variant: str, events: int) -> int:
    with TraceWriter(path, header(variant)) as writer:
        for batch in batches(variant, events):
            writer.write_batch(batch)
        return writer.rows
