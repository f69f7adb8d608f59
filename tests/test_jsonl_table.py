"""The column-at-a-time JSONL path (ingest/jsonl/table.py) reads exactly what the line path reads.

Every case is read twice: with pyarrow's block reader (blocks of a few lines, so splitting and
block edges are exercised) and line by line only (block_bytes=0). The events, or the error
with file and line, must be the same.
"""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tdxray.ingest.jsonl import ahead as jsonl_ahead
from tdxray.ingest.jsonl import reader as jsonl_reader
from tdxray.ingest.jsonl import table as jsonl_table
from tdxray.ingest.jsonl.reader import JsonlReader
from tdxray.ingest.jsonl.table import block_batch, hex_column, plain_table
from tdxray.schema.errors import InputError
from tdxray.schema.events import EVENT_SCHEMA

EXAMPLES = sorted((Path(__file__).parent / "spec_examples").glob("*.jsonl"))
HEADER = {"tdxray": 1, "trace_id": "t-1", "td": {"gpaw": 48, "apic_ids": [0, 1],
                                                 "ram": [["0x0", "0x80000000"]],
                                                 "memory": "accepted"}}


def outcome(data: bytes, block_bytes: int) -> pa.Table | str:
    """The events read, or the error message (with file and line)."""
    try:
        reader = JsonlReader(io.BytesIO(data), "t.jsonl", print, batch_rows=3,
                             block_bytes=block_bytes)
        return pa.Table.from_batches(list(reader.batches()), schema=EVENT_SCHEMA)
    except InputError as exc:
        return str(exc)


def assert_same(data: bytes, monkeypatch: pytest.MonkeyPatch) -> pa.Table | str:
    monkeypatch.setattr(jsonl_reader, "SPLIT_BYTES", 200)
    by_line = outcome(data, 0)
    for block_bytes in (1 << 20, 700, 150, BIG):
        if block_bytes == BIG:  # a big block: parsed in chunks; not plain: read in pieces
            for module in (jsonl_reader, jsonl_table):
                monkeypatch.setattr(module, "SMALL_BYTES", 400)
                monkeypatch.setattr(module, "CHUNK_BYTES", 250)
        by_block = outcome(data, block_bytes)
        if isinstance(by_line, str):
            assert by_block == by_line
        else:
            assert isinstance(by_block, pa.Table)
            assert plain(by_block).to_pylist() == plain(by_line).to_pylist()
    return by_line


BIG = 1 << 21


def plain(table: pa.Table) -> pa.Table:
    """Values only: dictionaries decoded (each batch has its own), one chunk."""
    return pa.table({name: pc.cast(column, pa.string())
                     if pa.types.is_dictionary(column.type) else column
                     for name, column in zip(table.column_names, table.columns, strict=True)})


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_spec_examples_read_the_same(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(assert_same(path.read_bytes(), monkeypatch), pa.Table)


def event(seq: int, kind: str = "map_gpa", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"gpa": "0x1000", "size": "0x1000", "status": "0x0"}
    if kind != "map_gpa":
        base = {}
    return {"seq": seq, "ts_ns": 100 * seq, "vcpu": 0, "kind": kind, **base, **fields}


def trace(*odd: str) -> bytes:
    """A header, ten plain events, the odd lines, ten more plain events."""
    head = [json.dumps(HEADER)] + [json.dumps(event(i)) for i in range(1, 11)]
    tail = [json.dumps(event(i)) for i in range(100, 110)]
    return ("\n".join([*head, *odd, *tail]) + "\n").encode()


VALID_ODD = {
    "mixed int and hex": [json.dumps(event(20, "mailbox_write", field="command", value=1)),
                          json.dumps(event(21, "mailbox_write", field="wakeup_vector",
                                           value="0x9a000"))],
    "u64 beyond int64": [json.dumps(event(20, gpa=(1 << 64) - 4096))],
    "null field": [json.dumps(event(20, resume_gpa=None))],
    "null key of another kind": [json.dumps(event(20, "log", text="x", gpa=None))],
    "unknown key": [json.dumps(event(20, note=1.5))],
    "key of another kind": [json.dumps(event(20, "log", text="x", gpa="0x1"))],
    "blank and comment": ["", "# a comment", "   "],
    "blank lines": ["", "   ", "\t"],
    "comment": ["# a comment"],
    "escaped text": [json.dumps(event(20, "log", text="caf\u00e9 \\u0041"), ensure_ascii=True)],
    "spaces and CR": ["  " + json.dumps(event(20)) + " \r"],
    "long hex with leading zeros": [json.dumps(event(20, gpa="0x" + "0" * 30 + "1000"))],
    "upper-case hex": [json.dumps(event(20, gpa="0XABCDEF000", size="0x1000"))],
    "unknown kind": [json.dumps(event(20, "vmexit", reason=7))],
    "brackets in text": [json.dumps(event(20, "log", text='virtio2: [vda] {x}, [[ "q" \\ '))],
    "array value": [json.dumps(event(20, note=[1, {"a": [2]}]))],
    "array after an escaped quote": [json.dumps(event(20, "log", text='say \\"[', note=[1]))],
    "brace value after text": [json.dumps(event(20, "log", text="a{", note={"b": 1}))],
}

INVALID_ODD = {
    "two objects on a line": [json.dumps(event(20)) + " " + json.dumps(event(21))],
    "seq goes back": [json.dumps(event(5))],
    "negative gpa": [json.dumps(event(20, gpa=-1))],
    "float gpa": [json.dumps(event(20, gpa=4096.0))],
    "u64 overflow": [json.dumps(event(20, gpa=1 << 64))],
    "bool gpa": [json.dumps(event(20, gpa=True))],
    "missing status": [json.dumps({k: v for k, v in event(20).items() if k != "status"})],
    "phase outside the vocabulary": [json.dumps(event(20, "kexec", phase="later"))],
    "text not a string": [json.dumps(event(20, "log", text=5))],
    "write not a bool": [json.dumps(event(20, "mem_access", gpa="0x0", write=1))],
    "level too big": [json.dumps(event(20, "accept", gpa="0x0", level=300, status="0x0"))],
    "hex level too big": [json.dumps(event(20, "accept", gpa="0x0", level="0x100",
                                           status="0x0"))],
    "hex beyond u64": [json.dumps(event(20, gpa="0x1" + "0" * 16))],
    "empty hex": [json.dumps(event(20, gpa="0x"))],
    "not an object": ["[1, 2]"],
    "malformed": ['{"seq": 20,'],
    "bad hex": [json.dumps(event(20, gpa="0x12g"))],
    "invalid UTF-8": ['{"seq": 20, "ts_ns": 1, "vcpu": 0, "kind": "log", "text": "\xff"}'],
    "negative ts_ns": [json.dumps({**event(20), "ts_ns": -1})],
    "retry without resume_gpa": [json.dumps(event(20, status="0x1"))],
}


@pytest.mark.parametrize("name", sorted(VALID_ODD))
def test_odd_but_valid_lines_read_the_same(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(assert_same(trace(*VALID_ODD[name]), monkeypatch), pa.Table)


@pytest.mark.parametrize("name", sorted(INVALID_ODD))
def test_bad_lines_give_the_same_error(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    data = trace(*INVALID_ODD[name]).replace(b"\xc3\xbf", b"\xff")
    message = assert_same(data, monkeypatch)
    assert isinstance(message, str) and message.startswith("t.jsonl:12: ")


def test_a_plain_block_takes_the_column_path() -> None:
    lines = [json.dumps(event(i)) for i in range(1, 5)]
    batch = block_batch(("\n".join(lines) + "\n").encode(), 7, "t.jsonl", None)
    assert batch is not None
    assert batch.column("line").to_pylist() == [7, 8, 9, 10]
    assert batch.column("gpa").to_pylist() == [4096] * 4
    text = [json.dumps(event(i, "log", text=f"virtio2: [vda] {{{i}}} \\\" [")) for i in (5, 6)]
    assert block_batch(("\n".join([*lines, *text]) + "\n").encode(), 7, None, None) is not None
    for name in ("null key of another kind", "mixed int and hex", "key of another kind",
                 "array value", "array after an escaped quote", "brace value after text"):
        assert block_batch(("\n".join([*lines, *VALID_ODD[name]]) + "\n").encode(), 7,
                           None, None) is None, name


@given(st.lists(st.from_regex(r"\A0[xX][0-9a-fA-F]{1,16}\Z"), min_size=1, max_size=20),
       st.integers(0, 5))
def test_hex_column_reads_what_python_reads(texts: list[str], skip: int) -> None:
    values = pa.array(["0x0"] * skip + texts).slice(skip)
    assert hex_column(values).to_pylist() == [int(t, 16) for t in texts]


def test_blocks_are_parsed_ahead_on_a_thread_that_ends_with_the_read(
        monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []

    def recorded(block: bytes) -> pa.Table | None:
        threads.append(threading.current_thread().name)
        return plain_table(block)

    monkeypatch.setattr(jsonl_ahead, "plain_table", recorded)
    monkeypatch.setattr(jsonl_reader, "SCAN_AFTER_BLOCKS", 1 << 30)  # pyarrow's parse only
    data = trace()
    assert isinstance(outcome(data, 150), pa.Table)
    assert len(threads) >= 10  # 20 lines of about 80 bytes, in blocks of 150
    assert {name.rsplit("_", 1)[0] for name in threads} == {"tdxray-jsonl"}
    assert outcome(trace(*INVALID_ODD["seq goes back"]), 150) == (
        "t.jsonl:12: seq 5 does not increase (previous 10)")
    assert not [t for t in threading.enumerate() if t.name.startswith("tdxray-jsonl")]


def test_columns_a_block_lacks_share_one_null_buffer() -> None:
    """A row group pending in the writer holds the columns a kind lacks once, not per batch
    (they were fresh zeroed buffers: 221 instead of 94 bytes a row of a simulator export)."""
    reader = JsonlReader(io.BytesIO(trace()), "t.jsonl", print, block_bytes=150)
    batches = list(reader.batches())
    assert len(batches) > 5
    for name in ("leaf", "r15", "value", "text"):
        buffers = {batch.column(name).buffers()[-1].address for batch in batches}
        assert len(buffers) == 1, name
