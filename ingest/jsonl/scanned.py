"""A block of plain JSONL lines as columns, by the compiled scan (jsonl.scan), or None.

The tables the kernel reads come from the schema (EVENT_SCHEMA, KIND_FIELDS, INT_BOUNDS); the
closed vocabularies and the checks across fields run here on the finished columns with the same
functions as pyarrow's path (jsonl.table). The result is that path's batch without its `line`
and `source` columns, which depend on the blocks before (block_batch adds them).
"""

from __future__ import annotations

import threading

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tdxray.ingest.columns import SPARSE, nulls
from tdxray.ingest.jsonl.event import COMMON_KEYS
from tdxray.ingest.jsonl.fast import ARROW_TYPES, ENUM_SETS, BulkInvalid, check_across_fields
from tdxray.ingest.jsonl.scan import BOOL, INT, STR, gather, scan_block
from tdxray.ingest.jsonl.table import KIND_SETS, Parsed, plain_table
from tdxray.schema.events import BOOL_COLUMNS, EVENT_SCHEMA, INT_BOUNDS, KIND_FIELDS

KEYS = tuple(name for name in EVENT_SCHEMA.names if name in COMMON_KEYS or name in KIND_SETS)
KEY_ID = {name: i for i, name in enumerate(KEYS)}
KINDS = tuple(KIND_FIELDS)
NUMPY_TYPES = {pa.uint64(): np.uint64, pa.uint32(): np.uint32, pa.uint8(): np.uint8,
               pa.int64(): np.int64}


def _tables() -> dict[str, np.ndarray]:
    lookup = np.full((17, 128, 8), -1, np.int8)
    key_bytes = np.zeros((len(KEYS), 16), np.uint8)
    key_class = np.zeros(len(KEYS), np.int8)
    key_slot = np.zeros(len(KEYS), np.int64)
    key_max = np.zeros(len(KEYS), np.uint64)
    for i, name in enumerate(KEYS):
        spelled = name.encode()
        candidates = lookup[len(spelled), spelled[0]]
        candidates[np.count_nonzero(candidates >= 0)] = i
        key_bytes[i, :len(spelled)] = np.frombuffer(spelled, np.uint8)
        if name in INT_BOUNDS:
            key_max[i] = INT_BOUNDS[name][1]
        else:
            key_class[i] = BOOL if name in BOOL_COLUMNS else STR
    key_class[[KEY_ID[name] for name in INT_BOUNDS if name in KEY_ID]] = INT
    strings = np.flatnonzero(key_class == STR)
    key_slot[strings] = np.arange(len(strings))
    for name, slot in _number_slots(key_class).items():
        key_slot[KEY_ID[name]] = slot
    kind_names = np.zeros((len(KINDS), 16), np.uint8)
    for j, kind in enumerate(KINDS):
        kind_names[j, :len(kind)] = np.frombuffer(kind.encode(), np.uint8)
    common = sum(1 << KEY_ID[name] for name in COMMON_KEYS)
    allowed = np.full(len(KINDS) + 1, common, np.uint64)  # the last: a kind of no known name
    required = np.full(len(KINDS) + 1, common, np.uint64)
    for j, (must, may) in enumerate(KIND_FIELDS.values()):
        allowed[j] |= sum(1 << KEY_ID[name] for name in (*must, *may))
        required[j] |= sum(1 << KEY_ID[name] for name in must)
    return {"lookup": lookup, "key_bytes": key_bytes, "key_class": key_class,
            "key_slot": key_slot, "key_max": key_max, "kind_names": kind_names,
            "kind_lens": np.array([len(kind) for kind in KINDS], np.int64),
            "allowed": allowed, "required": required}


def _number_slots(key_class: np.ndarray) -> dict[str, int]:
    """The row of `ints` of each number and boolean key. uint64 keys of no kind in common
    share one (a row holds the keys of its kind only: checked by the scan), and then one
    buffer in the batch: a row group held ~half the memory (8 bytes a row per buffer)."""
    slots: dict[str, int] = {}
    shared: list[set[str]] = []  # the kinds of each shared slot's keys
    own = [name for k, name in enumerate(KEYS) if key_class[k] != STR]
    for name in own:
        kinds = KIND_SETS.get(name)
        if ARROW_TYPES[name] != pa.uint64() or name in COMMON_KEYS or kinds is None:
            continue
        free = next((i for i, taken in enumerate(shared) if not taken & kinds), None)
        if free is None:
            free = len(shared)
            shared.append(set())
        shared[free] |= kinds
        slots[name] = free
    # seq first (slot 0: the scan checks its order there), then the keys of their own
    order = ["seq", *(name for name in own if name not in slots and name != "seq")]
    slots = {name: slot + len(order) for name, slot in slots.items()}
    slots.update({name: i for i, name in enumerate(order)})
    return slots


TABLES = _tables()
STRING_KEYS = int(np.count_nonzero(TABLES["key_class"] == STR))
NUMBER_KEYS = int(TABLES["key_slot"][TABLES["key_class"] != STR].max()) + 1


def scanned_columns(block: bytes) -> dict[str, pa.Array] | None:
    """The block's columns but `line` and `source`, if every line is plain; else None."""
    buf = np.frombuffer(block, np.uint8)
    n = int(np.count_nonzero(buf == 10))
    if not n or buf[-1] != 10:
        return None
    ints, starts, lens, present = _scratch(n)
    modes = np.zeros(len(KEYS), np.int8)
    t = TABLES
    if scan_block(buf, n, t["lookup"], t["key_bytes"], t["key_class"], t["key_slot"],
                  t["key_max"],
                  KEY_ID["kind"], t["kind_names"], t["kind_lens"], t["allowed"],
                  t["required"], ints, starts, lens, present, modes):
        return None
    arrays = {}
    slot = t["key_slot"]
    shared: dict[int, pa.Buffer] = {}  # slot -> its buffer, for the uint64 keys that share it
    for k, name in enumerate(KEYS):
        s = int(slot[k])
        if t["key_class"][k] == STR:
            arrays[name] = _column(name, buf, n, ints[0], starts[s], lens[s], present[k])
        elif ARROW_TYPES[name] == pa.uint64() and name != "seq":
            arrays[name] = _shared_column(ints, s, present[k], shared)
        else:
            arrays[name] = _column(name, buf, n, ints[s], starts[0], lens[0], present[k])
    for name in SPARSE:
        if name not in arrays:
            arrays[name] = nulls(n, ARROW_TYPES[name])
    kinds = arrays["kind"]
    for name, values in ENUM_SETS.items():
        column = arrays[name]
        if column.null_count < n and not set(column.dictionary.to_pylist()) <= values:
            return None
    check = dict(arrays, kind=kinds.dictionary.take(kinds.indices))
    try:
        check_across_fields(check)
    except BulkInvalid:
        return None
    return arrays


_LOCAL = threading.local()


def _scratch(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The kernel's output arrays for n lines, kept per thread (fresh pages cost page faults);
    the columns made from them are copies, so a batch never holds a thread's scratch."""
    rows = (NUMBER_KEYS, STRING_KEYS, STRING_KEYS, len(KEYS))
    arrays = getattr(_LOCAL, "arrays", None)
    if arrays is None or len(arrays[0]) < NUMBER_KEYS * n:
        kept = max(n, 1 << 13)
        arrays = _LOCAL.arrays = tuple(np.empty(r * kept, dtype) for r, dtype in zip(
            rows, (np.uint64, np.int32, np.int32, np.uint8), strict=True))
    ints, starts, lens, present = (a[:r * n].reshape(r, n)
                                   for a, r in zip(arrays, rows, strict=True))
    present[:] = 0
    return ints, starts, lens, present


def _column(name: str, buf: np.ndarray, n: int, values: np.ndarray, starts: np.ndarray,
            lens: np.ndarray, present: np.ndarray) -> pa.Array:
    arrow_type = ARROW_TYPES[name]
    count = int(np.count_nonzero(present))
    if not count:
        return nulls(n, arrow_type)
    validity = None if count == n else _pool_copy(np.packbits(present, bitorder="little"))
    if pa.types.is_boolean(arrow_type):
        bits = _pool_copy(np.packbits(values.astype(np.uint8) & present, bitorder="little"))
        return pa.Array.from_buffers(arrow_type, n, [validity, bits], n - count)
    if pa.types.is_integer(arrow_type):
        data = _pool_copy(values, NUMPY_TYPES[arrow_type])
        return pa.Array.from_buffers(arrow_type, n, [validity, data], n - count)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(np.where(present, lens, 0), out=offsets[1:])
    data = pa.allocate_buffer(int(offsets[-1]))
    gather(buf, starts, lens, present, offsets, np.frombuffer(data, np.uint8))
    strings = pa.Array.from_buffers(pa.string(), n, [validity, _pool_copy(offsets, np.int32),
                                                     data], n - count)
    return strings if arrow_type == pa.string() else pc.dictionary_encode(strings)


def _shared_column(ints: np.ndarray, slot: int, present: np.ndarray,
                   shared: dict[int, pa.Buffer]) -> pa.Array:
    """A uint64 column whose values are its slot's where it is present."""
    n = len(present)
    count = int(np.count_nonzero(present))
    if not count:
        return nulls(n, pa.uint64())
    data = shared.get(slot)
    if data is None:
        data = shared[slot] = _pool_copy(ints[slot])
    validity = None if count == n else _pool_copy(np.packbits(present, bitorder="little"))
    return pa.Array.from_buffers(pa.uint64(), n, [validity, data], n - count)


def _pool_copy(values: np.ndarray, dtype: type | None = None) -> pa.Buffer:
    """`values` (cast to `dtype`) in a new buffer of Arrow's memory pool (the scratch they
    come from is reused for the next block)."""
    dtype = dtype or values.dtype.type
    out = pa.allocate_buffer(len(values) * np.dtype(dtype).itemsize)
    np.copyto(np.frombuffer(out, dtype), values, casting="unsafe")
    return out


def scanned_or_table(block: bytes) -> Parsed:
    """The block's scanned columns, or pyarrow's plain_table when the scan declines it."""
    columns = scanned_columns(block)
    return plain_table(block) if columns is None else columns


def warm() -> None:
    """Load (or compile) the kernels now, on one plain line."""
    line = b'{"seq": 1, "ts_ns": 0, "vcpu": 0, "kind": "log", "text": "x"}\n'
    assert scanned_columns(line) is not None
