"""The column-at-a-time JSONL path: one block of lines parsed by pyarrow's JSON reader.

pyarrow parses a whole block in C++ into typed columns; they are checked and converted with
the same rules as the per-line fast path (jsonl.fast). Only plain blocks take this path: one
JSON object per line (as many rows as newlines), no null, no \\u escape, valid UTF-8, every key
a column of its row's kind, no column mixing numbers and strings. Anything else (including every
invalid block) returns None and the reader reads the block line by line, which keeps the exact
messages with file and line.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from tdxray.ingest.columns import SPARSE, assemble, nulls, place, source_column
from tdxray.ingest.jsonl.event import COMMON_KEYS
from tdxray.ingest.jsonl.fast import (
    ARROW_TYPES,
    CONVERSION_ERRORS,
    ENUM_SETS,
    BulkInvalid,
    check_across_fields,
    check_seq,
    dense_column,
)
from tdxray.schema.events import KIND_FIELDS


def _kinds_of() -> dict[str, pa.Array]:
    """column -> the kinds that have it (a key outside its kind's fields goes to `extra`)."""
    kinds: dict[str, list[str]] = {}
    for kind, (required, optional) in KIND_FIELDS.items():
        for name in (*required, *optional):
            kinds.setdefault(name, []).append(kind)
    return {name: pa.array(names, pa.string()) for name, names in kinds.items()}


KINDS_OF = _kinds_of()
KIND_SETS = {name: frozenset(kinds.to_pylist()) for name, kinds in KINDS_OF.items()}
PLAIN_KEYS = frozenset(COMMON_KEYS) | frozenset(KINDS_OF)
# A null may be a key outside its kind (kept in `extra` by the line path, lost here); an escape
# may spell a lone surrogate. Blank lines need no scan (pyarrow skips them: the row count is short)
# and neither do comments (a parse error).
NOT_PLAIN = (b"null", b"\\u")
# An array or object as a value: never plain (every column is a scalar), and pyarrow's parser
# takes time quadratic in nesting depth (2 s for one line 2,000 deep; deeper ones crash it).
QUOTE, NEWLINE = ord('"'), ord("\n")
OPENS = (ord("["), ord("{"))
CHUNK_BYTES = 1 << 20  # a big block that is not plain is read in pieces of this size
SMALL_BYTES = 2 * CHUNK_BYTES  # a bigger block that is not plain is read in pieces


def _has(chars: np.ndarray, pattern: bytes) -> bool:
    """Whether `pattern` occurs in the bytes (numpy: no GIL held, faster than `in` on MBs)."""
    at = np.flatnonzero(chars[:len(chars) - len(pattern) + 1] == pattern[0])
    for k, byte in enumerate(pattern[1:], 1):
        if not len(at):
            return False
        at = at[chars[at + k] == byte]
    return bool(len(at))


def _nested(block: bytes, chars: np.ndarray, newlines: int) -> bool:
    """Whether an array or object may be a value: a `[`, or a `{` not opening its line,
    outside the strings (a log line's "[vda]" is text). A line with an odd number of unescaped
    quotes is not plain either (the strings cannot be told apart: the line path reads it).
    Only the lines holding such a bracket are looked at (any other line has no nesting)."""
    squares = np.count_nonzero(chars == OPENS[0])
    curlies = np.count_nonzero(chars == OPENS[1])
    if not squares and curlies == newlines:
        return False
    ends = np.flatnonzero(chars == NEWLINE)
    if curlies == newlines and np.all(chars[np.concatenate(([0], ends[:-1] + 1))] == OPENS[1]):
        opens = np.flatnonzero(chars == OPENS[0])  # every `{` opens its line: only the `[`s
    else:
        opens = np.flatnonzero((chars == OPENS[0]) | (chars == OPENS[1]))
        opens = opens[(chars[opens] == OPENS[0])
                      | ((opens > 0) & (chars[np.maximum(opens - 1, 0)] != NEWLINE))]
    if not len(opens):
        return False
    line = np.unique(np.searchsorted(ends, opens))  # the line of each bracket
    starts = np.concatenate(([0], ends + 1))[line]
    lines = b"".join(block[a:b] for a, b in zip(starts.tolist(), (ends[line] + 1).tolist(),
                                                   strict=True))
    return _nested_lines(lines)


def _nested_lines(block: bytes) -> bool:
    """_nested of whole lines, by the quotes: which brackets are outside the strings."""
    squeezed = block.translate(None, b" \t\r")
    if b"\\" in squeezed:  # escaped backslashes first, then escaped quotes: no longer quotes
        squeezed = squeezed.replace(b"\\\\", b"").replace(b'\\"', b"")
    chars = np.frombuffer(squeezed, np.uint8)
    quotes = np.flatnonzero(chars == QUOTE)
    ends = np.flatnonzero(chars == NEWLINE)
    if np.any(np.searchsorted(quotes, ends) % 2):  # parity carries over a line's end
        return True
    opens = np.flatnonzero((chars == OPENS[0]) | (chars == OPENS[1]))
    outside = opens[np.searchsorted(quotes, opens) % 2 == 0]
    if np.any(chars[outside] == OPENS[0]):
        return True
    starts = outside[outside > 0]
    return bool(np.any(chars[starts - 1] != NEWLINE))


def parse_block(block: bytes) -> pa.Table | None:
    """pyarrow's parse of whole lines; None if pyarrow cannot read it. Types are inferred: an
    explicit schema (the types of the blocks before) measured no faster (40 MiB: 0.32-0.47 s
    CPU against 0.35-0.48 s, pyarrow 26)."""
    # One chunk on the caller's thread: the reader parses ahead on a thread of its own, and
    # pyarrow's pool threads would each keep ~15 MB of memory (1e6 lines: 178 -> 143 MB peak).
    options = pj.ReadOptions(use_threads=False, block_size=len(block) + 1)
    try:
        return pj.read_json(io.BytesIO(block), read_options=options)
    except pa.ArrowInvalid:
        return None


def plain_table(block: bytes) -> pa.Table | None:
    """pyarrow's table of `block` (whole lines) if it is plain (see above), else None."""
    chars = np.frombuffer(block, np.uint8)
    if any(_has(chars, mark) for mark in NOT_PLAIN):
        return None
    newlines = int(np.count_nonzero(chars == NEWLINE))
    if _nested(block, chars, newlines):
        return None
    try:
        block.decode("utf-8")
    except UnicodeDecodeError:
        return None
    table = parse_block(block)
    if table is None or table.num_rows != newlines \
            or not set(table.column_names) <= PLAIN_KEYS:
        return None
    return table.combine_chunks()


# A block as parsed: pyarrow's table, the compiled scan's columns (jsonl.scanned), or None.
Parsed = pa.Table | dict[str, pa.Array] | None


def block_batch(block: bytes, first_line: int, source: str | None, last_seq: int | None,
                parsed: Callable[[bytes], Parsed] = plain_table) -> pa.RecordBatch | None:
    """The events of `block` (whole lines, the first numbered `first_line`), or None.
    `parsed` gives its plain_table or its scanned columns (the reader's may have parsed it
    ahead, on a thread)."""
    table = parsed(block)
    if table is None:
        return None
    try:
        if isinstance(table, dict):
            return _finish(table, first_line, source, last_seq)
        return _convert(table, first_line, source, last_seq)
    except (BulkInvalid, *CONVERSION_ERRORS):
        return None


def _finish(arrays: dict[str, pa.Array], first_line: int, source: str | None,
            last_seq: int | None) -> pa.RecordBatch:
    """The scanned columns with the ones that depend on the blocks before."""
    n = len(arrays["seq"])
    check_seq(arrays["seq"].slice(0, 1), last_seq)  # the scan checked the rest
    arrays = dict(arrays, line=pa.array(np.arange(first_line, first_line + n, dtype=np.uint64)),
                  source=source_column(source, n))
    return assemble(arrays)


def _convert(table: pa.Table, first_line: int, source: str | None,
             last_seq: int | None) -> pa.RecordBatch:
    n = table.num_rows
    for name in COMMON_KEYS:
        if name not in table.column_names or table.column(name).null_count:
            raise BulkInvalid(f"common field {name} missing")
    kind = table.column("kind").chunk(0)
    if kind.type != pa.string():
        raise BulkInvalid("kind is not a string")
    arrays = {name: _column(name, table.column(name).chunk(0)) for name in ("seq", "ts_ns",
                                                                            "vcpu")}
    if pc.min(arrays["ts_ns"]).as_py() < 0:
        raise BulkInvalid("negative ts_ns")
    check_seq(arrays["seq"], last_seq)
    present = set(table.column_names)
    kinds = kind.dictionary_encode()  # the few kinds of the block; per row, its kind's code
    codes = kinds.indices.to_numpy()
    names = kinds.dictionary.to_pylist()
    valid = {name: table.column(name).chunk(0).is_valid().to_numpy(zero_copy_only=False)
             for name in present if name in KINDS_OF}
    for code, name in enumerate(names):
        required = KIND_FIELDS[name][0] if name in KIND_FIELDS else ()
        if not required:
            continue
        of_kind = codes == code
        for field in required:
            if field not in present or np.any(of_kind & ~valid[field]):
                raise BulkInvalid(f"missing field {field}")
    for name in SPARSE:
        if name not in present:
            arrays[name] = nulls(n, ARROW_TYPES[name])
            continue
        allowed = np.array([kind_name in KIND_SETS[name] for kind_name in names], bool)
        if np.any(valid[name] & ~allowed[codes]):
            raise BulkInvalid(f"{name} on a kind without it")
        arrays[name] = _column(name, table.column(name).chunk(0))
    arrays["kind"] = kind
    check_across_fields(arrays)
    arrays["kind"] = kinds
    arrays["line"] = pa.array(np.arange(first_line, first_line + n, dtype=np.uint64))
    arrays["source"] = source_column(source, n)
    return assemble(arrays)


def _column(name: str, values: pa.Array) -> pa.Array:
    """One parsed column in its EVENT_SCHEMA type, by the per-line fast path's rules."""
    arrow_type = ARROW_TYPES[name]
    if pa.types.is_integer(arrow_type) and values.type == pa.int64():
        return pc.cast(values, arrow_type)  # a safe cast: out of range raises
    if pa.types.is_boolean(arrow_type) or arrow_type == pa.string():
        if values.type != arrow_type:
            raise BulkInvalid(f"{name} is not {arrow_type}")
        return values
    if not pa.types.is_integer(arrow_type) and values.type != pa.string():
        raise BulkInvalid(f"{name} is not a string")
    if name in ENUM_SETS and not pc.all(pc.is_in(values.drop_null(),
                                                  pa.array(sorted(ENUM_SETS[name])))).as_py():
        raise BulkInvalid(f"value outside the {name} vocabulary")
    if pa.types.is_integer(arrow_type) and values.type == pa.string():
        # each distinct "0x…" once (a status is "0x0" on most rows), then one take; the
        # indices are null where the values are
        encoded = values.dictionary_encode()
        distinct = pc.cast(hex_column(encoded.dictionary), arrow_type)  # safe: range checked
        return distinct.take(encoded.indices)
    valid = np.flatnonzero(values.is_valid().to_numpy(zero_copy_only=False))
    present = values.take(pa.array(valid))
    return place(valid.tolist(), dense_column(name, present.to_pylist()), len(values))


HEX_SLICE = 1 << 14  # values converted at a time: the grids stay in the cache


def hex_column(values: pa.Array) -> pa.Array:
    """"0x…" strings (no nulls) as uint64, HEX_SLICE at a time; BulkInvalid for anything else."""
    if len(values) <= HEX_SLICE:
        return _hex_slice(values)
    return pa.concat_arrays([_hex_slice(values.slice(start, HEX_SLICE))
                             for start in range(0, len(values), HEX_SLICE)])


def _hex_slice(values: pa.Array) -> pa.Array:
    """"0x…" strings (no nulls) as uint64, all at once; BulkInvalid for anything else.

    Accepts what the line path's HEX_RUN accepts, up to 16 digits (longer ones, even with
    leading zeros, are left to the line path's Python ints). The checks and the conversion are
    numpy over the string bytes: each string's last 16 nibbles, packed two a byte, read as one
    big-endian uint64.
    """
    if not len(values):
        return pa.array([], pa.uint64())
    buffers = values.buffers()
    offsets = np.frombuffer(buffers[1], np.int32)[values.offset:values.offset + len(values) + 1]
    base = int(offsets[0])
    nibbles = NIBBLE[np.frombuffer(buffers[2], np.uint8)[base:int(offsets[-1])]]
    starts, ends = offsets[:-1] - base, offsets[1:] - base
    digits = ends - starts - 2
    if digits.min() < 1:
        raise BulkInvalid("not a hex string")
    if digits.max() > HEX_DIGITS:
        raise BulkInvalid("more than 16 hex digits")
    if np.any(nibbles[starts] != 0) or np.any(nibbles[starts + 1] != X_NIBBLE):
        raise BulkInvalid("not a hex string")
    nibbles[starts] = nibbles[starts + 1] = 0
    if np.any(nibbles >= 16):
        raise BulkInvalid("not a hex string")
    column = np.arange(HEX_DIGITS, dtype=np.int32)
    at = ends[:, None] - HEX_DIGITS + column[None, :]
    used = column[None, :] >= HEX_DIGITS - digits[:, None]
    grid = np.where(used, nibbles[np.maximum(at, 0)], np.uint8(0))
    packed = np.ascontiguousarray((grid[:, 0::2] << 4) | grid[:, 1::2])
    return pa.array(packed.view(">u8").ravel().astype(np.uint64), pa.uint64())


HEX_DIGITS = 16
X_NIBBLE = 254  # "x" and "X" in NIBBLE: valid only as the prefix's second byte
NIBBLE = np.full(256, 255, np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    NIBBLE[_c] = _i
for _i, _c in enumerate(b"ABCDEF", 10):
    NIBBLE[_c] = _i
NIBBLE[ord("x")] = NIBBLE[ord("X")] = X_NIBBLE
