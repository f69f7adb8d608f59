"""Conversion-heavy traces, built directly as Arrow batches: every event changes page state.

A cycle converts a buffer to shared (MapGPA with the shared bit), back to private (MapGPA),
then ACCEPTs each of its pages at 4 KiB, all successful. `buffers` walks small buffers across
RAM in order; `random_pages` picks one random 4 KiB page per cycle (a fragmented page map).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from tdxray.schema.constants import PAGE_SIZE, shared_bit
from tdxray.schema.events import EVENT_SCHEMA
from tdxray.schema.td import TdConfig, TraceHeader
from tdxray.store.write import TraceWriter

GPAW = 48
RAM_END = 2 << 30
VCPUS = 2
BUFFER_PAGES = 4
BATCH_CYCLES = 1 << 16
KINDS = pa.array(["map_gpa", "accept"])
VARIANTS = {"buffers": BUFFER_PAGES, "random_pages": 1}


def header(variant: str) -> TraceHeader:
    td = TdConfig(gpaw=GPAW, apic_ids=tuple(range(VCPUS)), ram=((0, RAM_END),))
    return TraceHeader(f"bench-conversions-{variant.replace('_', '-')}", td,
                       provenance={"tool": "tdxray benchmarks", "variant": variant})


def cycle_starts(variant: str, first: int, count: int, rng: np.random.Generator) -> np.ndarray:
    pages = VARIANTS[variant]
    slots = RAM_END // (pages * PAGE_SIZE)
    if variant == "random_pages":
        return rng.integers(0, slots, count, dtype=np.uint64) * np.uint64(PAGE_SIZE)
    index = (np.arange(first, first + count, dtype=np.uint64) % np.uint64(slots))
    return index * np.uint64(pages * PAGE_SIZE)


def cycle_batch(variant: str, starts: np.ndarray, first_seq: int) -> pa.RecordBatch:
    pages = VARIANTS[variant]
    per = 2 + pages
    n = len(starts) * per
    step = np.arange(per, dtype=np.uint64)  # 0: to shared, 1: to private, 2..: ACCEPT page k-2
    base = np.repeat(starts, per)
    pos = np.tile(step, len(starts))
    is_map = pos < 2
    page = np.where(is_map, np.uint64(0), pos - np.uint64(2))
    gpa = base + page * np.uint64(PAGE_SIZE)
    gpa[pos == 0] |= np.uint64(shared_bit(GPAW))
    seq = np.arange(first_seq, first_seq + n, dtype=np.uint64)
    columns = {
        "seq": pa.array(seq),
        "ts_ns": pa.array(seq.astype(np.int64) * 1000),
        "vcpu": pa.array((np.arange(n) // per % VCPUS).astype(np.uint32)),
        "kind": pa.DictionaryArray.from_arrays(pa.array((~is_map).astype(np.int32)), KINDS),
        "status": pa.array(np.zeros(n, dtype=np.uint64)),
        "gpa": pa.array(gpa),
        "size": pa.array(np.full(n, pages * PAGE_SIZE, dtype=np.uint64), mask=~is_map),
        "level": pa.array(np.zeros(n, dtype=np.uint8), mask=is_map),
    }
    arrays = [columns[f.name] if f.name in columns else pa.nulls(n, f.type) for f in EVENT_SCHEMA]
    return pa.RecordBatch.from_arrays(arrays, schema=EVENT_SCHEMA)


def batches(variant: str, events: int, seed: int = 0) -> Iterator[pa.RecordBatch]:
    """About `events` events (whole cycles, at least one)."""
    rng = np.random.default_rng(seed)
    cycles = max(events // (2 + VARIANTS[variant]), 1)
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
