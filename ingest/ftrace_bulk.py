"""Bulk decoding of the hot host events (kvm_exit, kvm_entry) of a chunk, without Python loops.

Each line is checked against the kernel's printk format column by column (head from the
fields' start, tail from the line's end); a line that does not fit exactly is left to the
per-line decoder (ftrace_kvm), which accepts the rarer spellings or reports the error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tdxray.ingest.bytegrid import DIGIT, HEX, HEX_VALUE, WORD, run_length
from tdxray.ingest.columns import assemble, source_column
from tdxray.ingest.ftrace_kvm import EXIT_SUBFN
from tdxray.ingest.ftrace_prefix import Prefix
from tdxray.ingest.text_chunks import Lines
from tdxray.schema.events import EVENT_SCHEMA

LOWER_HEX = HEX.copy()
LOWER_HEX[ord("A"):ord("F") + 1] = False
EXIT_TAIL = (b" info1 0x################ info2 0x################ intr_info 0x########"
             b" error_code 0x########")
REQUESTS = b" requests 0x################"
IMMEDIATE = b"[immediate exit]"
TAIL = len(EXIT_TAIL) + len(REQUESTS) + 24


def _template(win: np.ndarray, pattern: bytes) -> np.ndarray:
    want = np.frombuffer(pattern, np.uint8)
    hexes = want == ord("#")
    return (np.where(hexes, LOWER_HEX[win], win == want)).all(axis=1)


def _vcpu(head: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(digits, value) of `vcpu <digits>` at the start of the fields."""
    ok = (head[:, :5] == np.frombuffer(b"vcpu ", np.uint8)).all(axis=1)
    digits = run_length(DIGIT[head[:, 5:16]])
    exponent = digits[:, None] - 1 - np.arange(11)
    values = (head[:, 5:16].astype(np.int64) - 48) * 10 ** np.clip(exponent, 0, None)
    value = np.where(exponent >= 0, values, 0).sum(axis=1)
    return np.where(ok & (digits >= 1) & (digits <= 10), digits, 0), value


def _fixed_at(head: np.ndarray, col: np.ndarray, text: bytes) -> np.ndarray:
    idx = np.clip(col[:, None] + np.arange(len(text)), 0, head.shape[1] - 1)
    return (np.take_along_axis(head, idx, axis=1) == np.frombuffer(text, np.uint8)).all(axis=1)


def decode_exit(lines: Lines, rows: np.ndarray, fields: np.ndarray) -> tuple[np.ndarray, ...]:
    """(ok, vcpu, subfn or -1) of kvm_exit lines."""
    ends = lines.ends[rows]
    head = lines.grid.window(fields, 48)
    digits, vcpu = _vcpu(head)
    ok = (digits > 0) & _fixed_at(head, 5 + digits, b" reason ")
    rs = 13 + digits
    reason_len = run_length(WORD[np.take_along_axis(
        head, np.clip(rs[:, None] + np.arange(32), 0, 47), axis=1)])
    tail = lines.grid.window(ends - TAIL, TAIL)
    plain = _template(tail[:, -len(EXIT_TAIL):], EXIT_TAIL)
    req = _template(tail[:, -len(EXIT_TAIL) - len(REQUESTS):],
                    EXIT_TAIL + REQUESTS)
    rip_end = np.where(req, TAIL - len(EXIT_TAIL) - len(REQUESTS), TAIL - len(EXIT_TAIL))
    back = np.clip(rip_end[:, None] - 1 - np.arange(17), 0, TAIL - 1)
    rip_len = run_length(LOWER_HEX[np.take_along_axis(tail, back, axis=1)])
    rip_at = rip_end - rip_len - 7
    ok &= (plain | req) & (rip_len >= 1) & (rip_len <= 16) & (reason_len >= 1)
    ok &= _fixed_at(tail, rip_at, b" rip 0x")
    ok &= fields + rs + reason_len == ends - TAIL + rip_at  # no exit-reason flags
    subfn = np.full(len(rows), -1, np.int64)
    for name, value in EXIT_SUBFN.items():
        hit = (reason_len == len(name)) & _fixed_at(head, rs, name.encode())
        subfn[hit] = value
    return ok, vcpu, subfn


def decode_entry(lines: Lines, rows: np.ndarray, fields: np.ndarray) -> tuple[np.ndarray, ...]:
    """(ok, vcpu) of kvm_entry lines: `vcpu %u, rip 0x%lx` and maybe `[immediate exit]`."""
    ends = lines.ends[rows]
    head = lines.grid.window(fields, 48)
    digits, vcpu = _vcpu(head)
    ok = (digits > 0) & _fixed_at(head, 5 + digits, b", rip 0x")
    hex_at = 13 + digits
    rip_len = run_length(LOWER_HEX[np.take_along_axis(
        head, np.clip(hex_at[:, None] + np.arange(17), 0, 47), axis=1)])
    rip_end = fields + hex_at + rip_len
    tail = lines.grid.window(ends - len(IMMEDIATE), len(IMMEDIATE))
    immediate = (tail == np.frombuffer(IMMEDIATE, np.uint8)).all(axis=1)
    gap = ends - len(IMMEDIATE) - rip_end
    ok &= (rip_len >= 1) & (rip_len <= 16)
    ok &= (rip_end == ends) | (immediate & ((gap == 0) | ((gap == 1) & (
        lines.grid.byte(rip_end) == 32))))
    return ok, vcpu


def decode_fault(lines: Lines, rows: np.ndarray, fields: np.ndarray) -> tuple[np.ndarray, ...]:
    """(ok, vcpu, gpa, write) of kvm_page_fault lines:
    `vcpu %u rip 0x%lx address 0x%016llx error_code 0x%llx`."""
    ends = lines.ends[rows]
    head = lines.grid.window(fields, 96)
    digits, vcpu = _vcpu(head)
    ok = (digits > 0) & _fixed_at(head, 5 + digits, b" rip 0x")
    rip_at = 12 + digits
    rip_len = run_length(LOWER_HEX[np.take_along_axis(
        head, np.clip(rip_at[:, None] + np.arange(17), 0, 95), axis=1)])
    addr = rip_at + rip_len
    ok &= (rip_len >= 1) & (rip_len <= 16) & _fixed_at(head, addr, b" address 0x")
    digits16 = np.take_along_axis(head, np.clip(addr[:, None] + 11 + np.arange(16), 0, 95),
                                  axis=1)
    ok &= LOWER_HEX[digits16].all(axis=1) & _fixed_at(head, addr + 27, b" error_code 0x")
    code_at = fields + addr + 41
    code_len = ends - code_at
    run = run_length(LOWER_HEX[lines.grid.window(code_at, 17)])
    ok &= (code_len >= 1) & (code_len <= 16) & (run == code_len)
    powers = np.uint64(16) ** np.arange(15, -1, -1, dtype=np.uint64)
    gpa = (HEX_VALUE[digits16] * powers).sum(axis=1, dtype=np.uint64)
    write = (HEX_VALUE[lines.grid.byte(ends - 1)] & np.uint64(2)) != 0
    return ok, vcpu, gpa, write


def text_views(grid_buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> pa.Array:
    """The byte ranges as an Arrow string_view array over the chunk (no copy of the text)."""
    n = len(starts)
    lens = (ends - starts).astype(np.int32)
    views = np.zeros((n, 16), np.uint8)
    views[:, :4] = lens.view(np.uint8).reshape(n, 4)
    window = grid_buf[np.clip(starts, 0, len(grid_buf) - 13)[:, None] + np.arange(12)]
    views[:, 4:16] = np.where(np.arange(12) < lens[:, None], window, np.uint8(0))
    long = lens > 12
    views[long, 8:12] = 0
    views[long, 12:16] = starts[long].astype(np.int32).view(np.uint8).reshape(-1, 4)
    return pa.Array.from_buffers(pa.string_view(), n, [None, pa.py_buffer(views),
                                                       pa.py_buffer(grid_buf)])


def json_fields(grid_buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> pa.Array:
    """`{"fields": "<text>"}` for each byte range (text without quotes or backslashes)."""
    text = text_views(grid_buf, starts, ends).cast(pa.string())
    return pc.binary_join_element_wise('{"fields": "', text, '"}', "")


@dataclass
class Decoded:
    """Per prefix row: decoded in bulk, and the values of the decoded rows."""

    done: np.ndarray
    kind: np.ndarray
    vcpu: np.ndarray
    subfn: np.ndarray
    gpa: np.ndarray
    write: np.ndarray

    @classmethod
    def empty(cls, n: int) -> Decoded:
        return cls(np.zeros(n, bool), np.full(n, "", object), np.zeros(n, np.int64),
                   np.full(n, -1, np.int64), np.zeros(n, np.uint64), np.zeros(n, bool))


def bulk_rows(lines: Lines, prefix: Prefix, source: str,
              vcpu_of: dict[int, int]) -> tuple[pa.RecordBatch, np.ndarray]:
    """(batch of the rows decoded in bulk, bool per prefix row: decoded here)."""
    d = Decoded.empty(len(prefix.rows))
    for name in ("kvm_exit", "kvm_entry", "kvm_page_fault"):
        if name not in prefix.names:
            continue
        sel = np.flatnonzero(prefix.name_id == prefix.names.index(name))
        rows, fields = prefix.rows[sel], prefix.fields[sel]
        if name == "kvm_exit":
            ok, vcpu, subfn = decode_exit(lines, rows, fields)
            d.subfn[sel[ok]] = subfn[ok]
        elif name == "kvm_entry":
            ok, vcpu = decode_entry(lines, rows, fields)
        else:
            ok, vcpu, gpa, write = decode_fault(lines, rows, fields)
            d.gpa[sel[ok]], d.write[sel[ok]] = gpa[ok], write[ok]
            name = "mem_access"
        d.done[sel[ok]] = True
        d.kind[sel[ok]] = name
        d.vcpu[sel[ok]] = vcpu[ok]
    return _batch(lines, prefix, d, source, vcpu_of), d.done


def _mapped(vcpu: np.ndarray, vcpu_of: dict[int, int]) -> np.ndarray:
    if all(k == v for k, v in vcpu_of.items()):
        return vcpu
    keys = np.array(sorted(vcpu_of), np.int64)
    index = np.clip(np.searchsorted(keys, vcpu), 0, len(keys) - 1)
    mapped = np.array([vcpu_of[k] for k in keys.tolist()], np.int64)[index]
    return np.where(keys[index] == vcpu, mapped, vcpu)


def _batch(lines: Lines, prefix: Prefix, d: Decoded, source: str,
           vcpu_of: dict[int, int]) -> pa.RecordBatch:
    sel = np.flatnonzero(d.done)
    n = len(sel)
    tdvm = d.subfn[sel] >= 0
    kind = np.where(tdvm, "tdvmcall", d.kind[sel].astype(str))
    access = kind == "mem_access"
    unmodeled = ~tdvm & ~access
    rows = prefix.rows[sel]
    extra = json_fields(lines.grid.buf, prefix.fields[sel][unmodeled], lines.ends[rows][unmodeled])
    place = np.full(n, -1, np.int64)
    place[unmodeled] = np.arange(int(unmodeled.sum()))
    arrays = {name: pa.nulls(n, EVENT_SCHEMA.field(name).type) for name in EVENT_SCHEMA.names}
    arrays.update({
        "seq": pa.array(np.zeros(n, np.uint64)),
        "ts_ns": pa.array(prefix.ts_ns[sel], pa.int64()),
        "vcpu": pa.array(_mapped(d.vcpu[sel], vcpu_of).astype(np.uint32)),
        "kind": pa.array(kind, pa.string()).dictionary_encode(),
        "subfn": pa.array(np.where(tdvm, d.subfn[sel], 0).astype(np.uint64), mask=~tdvm),
        "status": pa.array(np.zeros(n, np.uint64), mask=~tdvm),
        "gpa": pa.array(d.gpa[sel], mask=~access),
        "write": pa.array(d.write[sel], mask=~access),
        "extra": extra.take(pa.array(place, mask=place < 0)),
        "line": pa.array((rows + lines.chunk.first_line).astype(np.uint64)),
        "source": source_column(source, n),
    })
    return assemble(arrays)
