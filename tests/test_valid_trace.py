"""One notion of a valid trace for every command: each bad Parquet shape is one line naming the
file and row, exit 2, in check, replay, info, export, sql and ingest alike; a decoding bomb is
"too large" before it is decoded; a FIFO is read once, as a stream."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tdxray.schema.events import EVENT_SCHEMA
from tdxray.store.read import open_trace
from tdxray.store.write import trace_metadata
from tdxray.tests.support import write_trace

SAMPLE = Path(__file__).resolve().parents[1] / "sample_traces" / "accept-misuse.jsonl"
PATIENCE = 120.0


def tdxray(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tdxray", *args], capture_output=True,
                          text=True, timeout=PATIENCE, check=False, cwd=cwd)


def assert_one_line(done: subprocess.CompletedProcess[str], expected: str) -> None:
    assert done.returncode == 2, done.stderr
    assert done.stderr == f"tdxray: error: {expected}\n"


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> pa.Table:
    events = [{"kind": "log", "text": f"line {i}"} for i in range(20)]
    path = write_trace(tmp_path_factory.mktemp("good") / "t.parquet", events)
    return pq.read_table(path)


def _column(table: pa.Table, name: str, values: list[object], type_: pa.DataType) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), pa.field(name, type_),
                            pa.array(values, type_))


def _seq_as_strings(t: pa.Table) -> pa.Table:
    return _column(t, "seq", [str(s) for s in t["seq"].to_pylist()], pa.string())


def _null_ts(t: pa.Table) -> pa.Table:
    ts = t["ts_ns"].to_pylist()
    ts[5] = None
    return _column(t, "ts_ns", ts, pa.int64())


def _seq_backwards(t: pa.Table) -> pa.Table:
    seq = t["seq"].to_pylist()
    seq[10], seq[11] = seq[11], seq[10]
    return _column(t, "seq", seq, pa.uint64())


def _no_gpa(t: pa.Table) -> pa.Table:
    return t.drop_columns(["gpa"])


def _huge_cell(t: pa.Table) -> pa.Table:
    text = t["text"].to_pylist()
    text[3] = "x" * ((1 << 20) + 1)
    return _column(t, "text", text, pa.string())


def _text_not_utf8(t: pa.Table) -> pa.Table:
    text = [v.encode() if v is not None else None for v in t["text"].to_pylist()]
    text[4] = b"\xff\xfe not UTF-8"
    return t.set_column(t.schema.get_field_index("text"), t.schema.field("text"),
                        pa.array(text, pa.binary()).view(pa.string()))


def _kind_not_utf8(t: pa.Table) -> pa.Table:
    kinds = pa.array([b"log", b"\xc3("], pa.binary()).view(pa.string())
    column = pa.DictionaryArray.from_arrays(pa.array([0] * 7 + [1] + [0] * 12, pa.int32()), kinds)
    return t.set_column(t.schema.get_field_index("kind"), t.schema.field("kind"), column)


# shape -> (how to make it from a good trace, the error line after "tdxray: error: {path}")
BAD: dict[str, tuple[Callable[[pa.Table], pa.Table], str]] = {
    "seq-strings": (_seq_as_strings, ": column seq holds string, a trace's seq is uint64"),
    "ts-null": (_null_ts, " (row 5): ts_ns is null (every event has one)"),
    "seq-backwards": (_seq_backwards, " (row 11): seq 11 does not increase (previous 12)"),
    "missing-column": (_no_gpa, ": not a tdxray trace: missing columns gpa"),
    "text-not-utf8": (_text_not_utf8, " (row 4): field 'text': not valid UTF-8"),
    "kind-not-utf8": (_kind_not_utf8, " (row 7): field 'kind': not valid UTF-8"),
    "huge-cell": (_huge_cell, " (row 3): too large: a text cell of 1048577 bytes (at most "
                  "1048576)"),
}


def _write_bad(good: pa.Table, path: Path, shape: str) -> Path:
    table = BAD[shape][0](good).replace_schema_metadata(good.schema.metadata)
    pq.write_table(table, path)  # pyarrow's defaults: text dictionary-encoded
    return path


@pytest.mark.parametrize("shape", sorted(BAD))
def test_each_bad_shape_is_one_line_in_every_command(good: pa.Table, tmp_path: Path,
                                                     shape: str) -> None:
    bad = _write_bad(good, tmp_path / "bad.parquet", shape)
    expected = f"{bad}{BAD[shape][1]}"
    store = tmp_path / "store"
    runs = [("check", str(bad)), ("replay", str(bad)), ("info", str(bad)),
            ("export", str(bad), "-o", str(tmp_path / "out.jsonl")),
            ("ingest", str(bad), "-o", str(store))]
    for args in runs:
        assert_one_line(tdxray(*args), expected)
    assert not (tmp_path / "out.jsonl").exists()
    assert not store.exists() or list(store.iterdir()) == []


def test_sql_refuses_a_bad_trace_in_the_store(good: pa.Table, tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    bad = _write_bad(good, store / "t.parquet", "seq-backwards")
    done = tdxray("sql", "--store", str(store), "SELECT count(*) FROM events")
    assert_one_line(done, f"{bad} (row 11): seq 11 does not increase (previous 12)")


def _text_bomb(path: Path, rows_per_chunk: int, chunks: int) -> None:
    """One row group of 4 KiB texts, dictionary-encoded: a few MB on disk, GBs decoded. The
    chunks share one buffer, so writing it costs little memory."""
    header = open_trace(write_trace(path.with_suffix(".seed"), [])).header
    n = rows_per_chunk * chunks

    def column(field: pa.Field) -> pa.Array | pa.ChunkedArray:
        if field.name in ("seq", "ts_ns"):
            return pa.array(range(1, n + 1), field.type)
        if field.name == "vcpu":
            return pa.nulls(n, pa.uint32()).fill_null(0)
        if field.name == "kind":
            return pa.array(["log"] * n).dictionary_encode()
        if field.name == "text":
            return pa.chunked_array([pa.array(["x" * 4096] * rows_per_chunk)] * chunks)
        return pa.nulls(n, field.type)

    table = pa.table([column(f) for f in EVENT_SCHEMA],
                     schema=EVENT_SCHEMA.with_metadata(trace_metadata(header)))
    pq.write_table(table, path, row_group_size=n)


def test_a_decoding_bomb_is_too_large_before_it_is_decoded(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.parquet"
    _text_bomb(bomb, 8192, 33)  # 1.1 GB of text decoded, 1.4 MB on disk
    assert bomb.stat().st_size < 4 << 20
    done = tdxray("check", str(bomb))
    assert_one_line(done, f"{bomb} (row group 0): too large: its text is 1107296256 bytes "
                    "decoded (at most 1073741824 per row group)")


def test_a_fifo_is_read_once_as_a_stream(tmp_path: Path) -> None:
    fifo = tmp_path / "trace.fifo"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f'cat "{SAMPLE}" > "{fifo}"'])
    try:
        done = tdxray("ingest", str(fifo), "-o", str(tmp_path / "store"), "--trace-id", "piped")
    finally:
        writer.wait(timeout=PATIENCE)
    assert done.returncode == 0, done.stderr
    events = tdxray("export", str(tmp_path / "store" / "piped.parquet")).stdout.splitlines()
    assert events[1:] == SAMPLE.read_text().splitlines()[1:]
