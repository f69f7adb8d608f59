"""The compiled scan of plain JSONL blocks (jsonl.scan) gives pyarrow's path's columns exactly.

Generated blocks of plain lines: every kind with its required fields and a random choice of its
optional ones, integers as decimals or "0x…" strings (one spelling per column and block, as
pyarrow's path needs), booleans, strings of printable ASCII, random key order and separators.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from tdxray.ingest.columns import source_column
from tdxray.ingest.jsonl.scanned import scanned_columns
from tdxray.ingest.jsonl.table import block_batch
from tdxray.schema.events import BOOL_COLUMNS, INT_BOUNDS, KIND_FIELDS
from tdxray.schema.rules import ENUMS

PLAIN = st.text(st.characters(min_codepoint=32, max_codepoint=126,
                              blacklist_characters='"\\'), max_size=12)
# escapes after the first five characters (the scan leaves a string with one nearer its start
# to pyarrow's path: a date there may be typed as a timestamp)
ESCAPED = st.text(st.sampled_from('ab"\\/\n\t\r\b\f'), max_size=6)
TEXT = st.one_of(PLAIN, st.tuples(st.text("abcde ", min_size=5, max_size=5), ESCAPED, PLAIN
                                  ).map("".join))
KINDS = sorted(KIND_FIELDS)


@st.composite
def events(draw: Any, hex_columns: frozenset[str]) -> dict[str, Any]:
    kind = draw(st.sampled_from([*KINDS, "other_kind"]))
    required, optional = KIND_FIELDS.get(kind, ((), ()))
    names = [*required, *(name for name in optional if draw(st.booleans()))]
    event: dict[str, Any] = {"vcpu": draw(st.integers(0, 3)), "kind": kind}
    for name in names:
        event[name] = draw(_value(name, name in hex_columns))
    if kind == "tdvmcall" and "subfn" not in event:
        event["subfn"] = draw(_value("subfn", "subfn" in hex_columns))
    if kind == "map_gpa" and "resume_gpa" not in event:
        event["resume_gpa"] = draw(_value("resume_gpa", "resume_gpa" in hex_columns))
    return event


def _value(name: str, spelled_hex: bool) -> st.SearchStrategy[Any]:
    if name in ENUMS:
        return st.sampled_from(ENUMS[name])
    if name in BOOL_COLUMNS:
        return st.booleans()
    if name in INT_BOUNDS:
        top = min(INT_BOUNDS[name][1], 10**18 - 1 if not spelled_hex else INT_BOUNDS[name][1])
        numbers = st.one_of(st.integers(0, 9), st.integers(0, top))
        return numbers.map(hex) if spelled_hex else numbers
    return TEXT


@st.composite
def blocks(draw: Any) -> bytes:
    hex_columns = frozenset(draw(st.sets(st.sampled_from(sorted(INT_BOUNDS)))))
    rows = draw(st.lists(events(hex_columns), min_size=1, max_size=30))
    compact = draw(st.booleans())
    lines = []
    for seq, event in enumerate(rows, 1):
        event = {"seq": hex(seq) if "seq" in hex_columns else seq,
                 "ts_ns": hex(seq * 10) if "ts_ns" in hex_columns else seq * 10, **event}
        keys = draw(st.permutations(sorted(event)))
        separators = (",", ":") if compact else (", ", ": ")
        lines.append(json.dumps({k: event[k] for k in keys}, separators=separators))
    return ("\n".join(lines) + "\n").encode()


@settings(max_examples=150, deadline=None)
@given(blocks())
def test_the_scan_gives_pyarrows_columns(block: bytes) -> None:
    expected = block_batch(block, 2, "t.jsonl", None)
    columns = scanned_columns(block)
    if b"null" in block or re.search(rb'"([-+]|\d{4}-)', block):
        return  # text the scan leaves to pyarrow's path: "null", a sign, a date
    assert expected is not None
    assert columns is not None
    n = expected.num_rows
    columns = dict(columns, line=pa.array(np.arange(2, 2 + n, dtype=np.uint64)),
                   source=source_column("t.jsonl", n))
    for name in expected.schema.names:
        assert columns[name].equals(expected.column(name)), name


def test_a_block_mixing_decimal_and_hex_in_a_column_is_declined() -> None:
    block = (b'{"seq": 1, "ts_ns": 0, "vcpu": 0, "kind": "x"}\n'
             b'{"seq": 2, "ts_ns": 0, "vcpu": "0x0", "kind": "x"}\n')
    assert block_batch(block, 1, None, None) is None
    assert scanned_columns(block) is None


def test_seq_that_does_not_increase_is_declined() -> None:
    block = (b'{"seq": 2, "ts_ns": 0, "vcpu": 0, "kind": "x"}\n'
             b'{"seq": 2, "ts_ns": 0, "vcpu": 0, "kind": "x"}\n')
    assert scanned_columns(block) is None
    assert scanned_columns(block.replace(b'"seq": 2, "ts_ns": 0, "vcpu": 0, "kind": "x"}\n{',
                                         b'"seq": 1, "ts_ns": 0, "vcpu": 0, "kind": "x"}\n{',
                                         1)) is not None
