"""Interleave the script's few events with bulk noise by timestamp, straight into RecordBatches
of EVENT_SCHEMA, numbered seq = 1..N in merged order."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from tdxray.schema.constants import CPU_ACTIONS, KEXEC_PHASES, MAILBOX_FIELDS
from tdxray.schema.events import EVENT_SCHEMA, KNOWN_KINDS
from tdxray.simulator.noise import REGISTERS, NoiseBlock, noise_block
from tdxray.simulator.script import Segment

MAX_NOISE_ROWS = 1 << 18
SITES = ("relocate_kernel",)
VOCABULARIES: dict[str, tuple[str, ...]] = {
    "kind": KNOWN_KINDS, "site": SITES, "field": MAILBOX_FIELDS, "action": CPU_ACTIONS,
    "phase": KEXEC_PHASES, "source": (),
}
TEXT_COLUMNS = ("text", "extra")
TDVMCALL = KNOWN_KINDS.index("tdvmcall")


@dataclass(frozen=True)
class Tile:
    start_ns: int
    end_ns: int
    vcpus: tuple[int, ...]
    count: int


class ScriptColumns:
    """The script's events as columns: values and validity per field, codes for dictionaries."""

    def __init__(self, events: Sequence[dict[str, Any]]) -> None:
        self.values: dict[str, np.ndarray] = {}
        self.valid: dict[str, np.ndarray] = {}
        self.texts: dict[str, pa.Array] = {}
        for f in EVENT_SCHEMA:
            column = [e.get(f.name) for e in events]
            self.valid[f.name] = np.array([v is not None for v in column], dtype=bool)
            if f.name in VOCABULARIES:
                vocab = VOCABULARIES[f.name]
                codes = [-1 if v is None else vocab.index(v) for v in column]
                self.values[f.name] = np.array(codes, dtype=np.int32)
            elif f.name in TEXT_COLUMNS:
                self.texts[f.name] = pa.array([*column, None], type=f.type)
            elif f.name != "seq":
                dtype = f.type.to_pandas_dtype()
                self.values[f.name] = np.array([0 if v is None else v for v in column],
                                               dtype=dtype)
        self.ts = self.values["ts_ns"]
        self.rows = len(events)


def plan_tiles(segments: Sequence[Segment], total: int) -> list[Tile]:
    """Share `total` noise events among the segments by (duration x running vCPUs), then cut
    segments into tiles of at most MAX_NOISE_ROWS events."""
    weights = np.array([(s.end_ns - s.start_ns) * len(s.vcpus) for s in segments], dtype=float)
    if total <= 0 or not len(weights) or weights.sum() <= 0:
        return []
    exact = weights / weights.sum() * total
    counts = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: total - int(counts.sum())]] += 1
    tiles = []
    for seg, count in zip(segments, counts.tolist(), strict=True):
        pieces = -(-count // MAX_NOISE_ROWS)
        span = seg.end_ns - seg.start_ns
        bounds = [seg.start_ns + span * i // pieces // 1000 * 1000 for i in range(pieces)]
        bounds.append(seg.end_ns)
        for i in range(pieces):
            share = count // pieces + (1 if i < count % pieces else 0)
            tiles.append(Tile(bounds[i], bounds[i + 1], seg.vcpus, share))
    return tiles


def merged_batches(events: Sequence[dict[str, Any]], segments: Sequence[Segment], noise: int,
                   rng: np.random.Generator, shared_bit: int) -> Iterator[pa.RecordBatch]:
    script = ScriptColumns(events)
    seq, done = 1, 0
    for tile in plan_tiles(segments, noise):
        block = noise_block(rng, tile.start_ns, tile.end_ns, tile.vcpus, tile.count, shared_bit)
        upto = int(np.searchsorted(script.ts, tile.end_ns, side="left"))
        idx = np.arange(done, upto)
        pos = np.searchsorted(block.ts, script.ts[done:upto], side="left") + np.arange(len(idx))
        batch = assemble(seq, script, idx, pos, block)
        seq, done = seq + batch.num_rows, upto
        yield batch
    if done < script.rows:
        idx = np.arange(done, script.rows)
        yield assemble(seq, script, idx, np.arange(len(idx)), None)


def assemble(seq0: int, script: ScriptColumns, idx: np.ndarray, pos: np.ndarray,
             block: NoiseBlock | None) -> pa.RecordBatch:
    """One batch: script rows `idx` at positions `pos`, noise rows in order everywhere else."""
    n = len(idx) + (len(block) if block is not None else 0)
    is_noise = np.ones(n, dtype=bool)
    is_noise[pos] = False
    noise_cols = _noise_columns(block) if block is not None else {}
    arrays = []
    for f in EVENT_SCHEMA:
        if f.name == "seq":
            arrays.append(pa.array(np.arange(seq0, seq0 + n, dtype=np.uint64)))
        elif f.name in TEXT_COLUMNS:
            take = np.full(n, script.rows, dtype=np.int64)
            take[pos] = idx
            arrays.append(script.texts[f.name].take(pa.array(take)))
        else:
            values = np.zeros(n, dtype=script.values[f.name].dtype)
            valid = np.zeros(n, dtype=bool)
            values[pos] = script.values[f.name][idx]
            valid[pos] = script.valid[f.name][idx]
            if f.name in noise_cols:
                noise_values, noise_valid = noise_cols[f.name]
                values[is_noise] = noise_values
                valid[is_noise] = noise_valid
            arrays.append(_array(f, values, valid))
    return pa.RecordBatch.from_arrays(arrays, schema=EVENT_SCHEMA)


def _noise_columns(block: NoiseBlock) -> dict[str, tuple[np.ndarray, np.ndarray | bool]]:
    cols: dict[str, tuple[np.ndarray, np.ndarray | bool]] = {
        "ts_ns": (block.ts, True),
        "vcpu": (block.vcpu, True),
        "kind": (np.full(len(block), TDVMCALL, dtype=np.int32), True),
        "subfn": (block.subfn, True),
        "status": (np.zeros(len(block), dtype=np.uint64), True),
    }
    for name in REGISTERS:
        cols[name] = block.registers[name]
    return cols


def _array(f: pa.Field, values: np.ndarray, valid: np.ndarray) -> pa.Array:
    mask = None if valid.all() else ~valid
    if f.name in VOCABULARIES:
        codes = pa.array(values, type=pa.int32(), mask=mask)
        return pa.DictionaryArray.from_arrays(codes, pa.array(VOCABULARIES[f.name], pa.string()))
    return pa.array(values, type=f.type, mask=mask)
