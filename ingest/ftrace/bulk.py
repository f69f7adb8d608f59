"""The batch of the events of a chunk that the compiled scan decoded, without a Python loop over
lines: the hot host events, and events of other names that no decoder looks at.

A TDVMCALL exit becomes a `tdvmcall`, an EPT violation a `mem_access`, a memory-attribute change
a `convert`; other exits and entries, and events of names with no decoder, are kept as unmodeled
events with their fields in `extra` (ftrace_kvm gives the same events one line at a time).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tdxray.ingest.columns import assemble, nulls, source_column
from tdxray.ingest.ftrace.kvm import FORMATS
from tdxray.ingest.ftrace.prefix import Prefix
from tdxray.ingest.ftrace.scanned import ATTRIBUTES, ENTRY, EXIT, FAULT
from tdxray.ingest.kprobe.recipe import PROBE_BY_EVENT
from tdxray.ingest.text.chunks import Lines
from tdxray.schema.events import EVENT_SCHEMA

MODELED = ("mem_access", "tdvmcall", "convert")  # kinds after the names of the chunk


def bulk_rows(lines: Lines, prefix: Prefix, source: str, vcpu_of: dict[int, int],
              guest: bool = False) -> tuple[pa.RecordBatch, np.ndarray]:
    """(batch of the rows decoded in bulk, bool per prefix row: decoded here). `guest`: the
    CPU column is the vCPU (a guest's trace), kept by the events of names no decoder models."""
    from tdxray.ingest.ftrace.scan import json_fields  # numba: only when needed

    scanned, names = prefix.scanned, prefix.names
    free = [i for i, name in enumerate(names) if name not in FORMATS
            and name not in PROBE_BY_EVENT]
    done = scanned.hot > 0
    if len(free) and scanned.plain.any():
        done |= scanned.plain & np.isin(prefix.name_id, free)
    sel = np.flatnonzero(done)
    n = len(sel)
    s = scanned.subset(sel)
    name_id = prefix.name_id[sel] if n < len(done) else prefix.name_id
    mem_access, tdvmcall, convert = range(len(names), len(names) + len(MODELED))
    tdvm = (s.hot == EXIT) & (s.subfn >= 0)
    access, attrs = s.hot == FAULT, s.hot == ATTRIBUTES
    code = name_id.astype(np.int32)
    code[tdvm], code[access], code[attrs] = tdvmcall, mem_access, convert
    unmodeled = code < len(names)
    rows = prefix.rows[sel]
    offsets, text = json_fields(lines.grid.buf, s.fields, lines.ends[rows], unmodeled)
    has_vcpu = (s.hot == EXIT) | (s.hot == ENTRY) | access
    vcpu = _mapped(s.vcpu, vcpu_of).astype(np.uint32)
    vcpu[~has_vcpu] = 0
    if guest:
        free_rows = np.isin(name_id, free) & (prefix.cpu[sel] >= 0)
        vcpu[free_rows] = prefix.cpu[sel][free_rows]
    arrays = {name: nulls(n, EVENT_SCHEMA.field(name).type) for name in EVENT_SCHEMA.names}
    arrays.update({
        "seq": pa.array(np.zeros(n, np.uint64)),
        "ts_ns": pa.array(s.ts),
        "vcpu": pa.array(vcpu),
        "kind": pa.DictionaryArray.from_arrays(pa.array(code),
                                               pa.array([*names, *MODELED], pa.string())),
        "subfn": _where(tdvm, s.subfn.astype(np.uint64)),
        "status": _where(tdvm, np.zeros(n, np.uint64)),
        "gpa": _where(access | attrs, s.gpa),
        "size": _where(attrs, s.size),
        "to_private": _where(attrs, s.to_private),
        "write": _where(access, s.write),
        "extra": pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(text),
                                             _bitmap(unmodeled)),
        "line": pa.array((rows + lines.chunk.first_line).astype(np.uint64)),
        "source": source_column(source, n),
    })
    return assemble(arrays), done


def _bitmap(valid: np.ndarray) -> pa.Buffer:
    return pa.py_buffer(np.packbits(valid, bitorder="little"))


def _where(valid: np.ndarray, values: np.ndarray) -> pa.Array:
    """values where valid, else null (a validity bitmap over the values: no copy, no mask)."""
    if not valid.any():
        return nulls(len(values), pa.from_numpy_dtype(values.dtype))
    data = _bitmap(values) if values.dtype == np.bool_ else pa.py_buffer(values)
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), len(values),
                                 [_bitmap(valid), data])


def _mapped(vcpu: np.ndarray, vcpu_of: dict[int, int]) -> np.ndarray:
    if all(k == v for k, v in vcpu_of.items()):
        return vcpu
    keys = np.array(sorted(vcpu_of), np.int64)
    index = np.clip(np.searchsorted(keys, vcpu), 0, len(keys) - 1)
    mapped = np.array([vcpu_of[k] for k in keys.tolist()], np.int64)[index]
    return np.where(keys[index] == vcpu, mapped, vcpu)
