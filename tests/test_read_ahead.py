"""Replay's reading: the decoding thread (order, errors, early stop) and the deferred columns
(R12/R13 decoded only in the row groups that may hold a MapGPA in the generic spelling)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tdxray.model.replay import MAPGPA_OPERANDS, READ_COLUMNS, replay_trace
from tdxray.schema.constants import Subfn
from tdxray.schema.errors import InputError
from tdxray.store.read import open_trace
from tdxray.store.read_ahead import ReadAhead
from tdxray.tests.support import SHARED, found, write_trace


def _batches(*sizes: int) -> Iterator[pa.RecordBatch]:
    start = 0
    for n in sizes:
        yield pa.record_batch({"seq": pa.array(range(start, start + n), pa.uint64())})
        start += n


def _reading_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "tdxray-read"]


def test_batches_come_in_order_cut_to_the_callers_size() -> None:
    got = list(ReadAhead(lambda: _batches(5, 5, 3), 2))
    assert [b.num_rows for b in got] == [2, 2, 1, 2, 2, 1, 2, 1]
    assert [v for b in got for v in b.column("seq").to_pylist()] == list(range(13))
    assert not _reading_threads()


def test_an_error_of_the_decoding_is_raised_where_its_batch_would_come() -> None:
    def failing() -> Iterator[pa.RecordBatch]:
        yield from _batches(3)
        raise InputError("corrupt Parquet: bad page", "t.parquet", where="row group 1")

    got = []
    with pytest.raises(InputError, match=r"^t.parquet \(row group 1\): corrupt Parquet: bad page$"):
        for batch in ReadAhead(failing, 10):
            got.append(batch.num_rows)
    assert got == [3]
    assert not _reading_threads()


def test_a_consumer_that_stops_early_stops_the_thread() -> None:
    decoded = []

    def endless() -> Iterator[pa.RecordBatch]:
        while True:
            decoded.append(1)
            yield from _batches(4)

    reader = ReadAhead(endless, 4)
    assert next(reader).num_rows == 4
    reader.close()
    assert not _reading_threads()
    assert len(decoded) <= 2  # the batch taken and at most one decoded ahead


# Row group 0: TDVMCALLs of another sub-function with R12/R13 set; row group 1: a MapGPA in
# the generic spelling, then an access to the page it made shared and an ACCEPT of it.
OTHER = {"kind": "tdvmcall", "status": 0, "subfn": 12, "r12": 7, "r13": 9}
GENERIC = {"kind": "tdvmcall", "status": 0, "subfn": int(Subfn.MAP_GPA),
           "r12": 0x1A2000 | SHARED, "r13": 0x1000}
LATER = [{"kind": "mem_access", "gpa": 0x1A2000, "write": True},
         {"kind": "accept", "gpa": 0x1A2000, "level": 0, "status": 0}]


def _two_groups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mapgpa: dict | None) -> Path:
    monkeypatch.setattr("tdxray.store.write.ROW_GROUP_ROWS", 4)
    events = [OTHER] * 4 + ([mapgpa] if mapgpa else []) + LATER
    path = write_trace(tmp_path / "t.parquet", events)
    assert open_trace(path).num_row_groups == 2
    return path


def test_r12_r13_are_decoded_only_where_a_mapgpa_may_be(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    trace = open_trace(_two_groups(tmp_path, monkeypatch, GENERIC))
    for prefetch in (False, True):
        got = pa.Table.from_batches(list(trace.iter_batches(
            READ_COLUMNS, 64, prefetch=prefetch, deferred=MAPGPA_OPERANDS)))
        assert got.column_names == READ_COLUMNS
        assert got.column("r12").to_pylist() == [None] * 4 + [0x1A2000 | SHARED, None, None]
        assert got.column("r13").to_pylist() == [None] * 4 + [0x1000, None, None]
        assert got.column("subfn").to_pylist() == [12] * 4 + [int(Subfn.MAP_GPA), None, None]
    whole = pa.Table.from_batches(list(trace.iter_batches(READ_COLUMNS, 64)))
    assert whole.column("r12").to_pylist() == [7] * 4 + [0x1A2000 | SHARED, None, None]


@pytest.mark.parametrize("read_ahead", [True, False])
def test_a_generic_mapgpa_after_a_group_without_one_is_replayed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read_ahead: bool) -> None:
    generic = _two_groups(tmp_path, monkeypatch, GENERIC)
    assert found(replay_trace(generic, read_ahead=read_ahead)) == {("A001", 6)}
    other = tmp_path / "other"
    other.mkdir()
    without = _two_groups(other, monkeypatch, None)  # without the MapGPA: another finding
    assert found(replay_trace(without, read_ahead=read_ahead)) == {("G004", 6)}


def test_a_column_all_null_in_a_row_group_is_not_decoded_there(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trace = open_trace(_two_groups(tmp_path, monkeypatch, GENERIC))
    decoded: dict[int, list[str]] = {}
    iter_batches = pq.ParquetFile.iter_batches

    def spy(self: pq.ParquetFile, *args: object, **kwargs: object) -> Iterator[pa.RecordBatch]:
        groups, columns = kwargs["row_groups"], kwargs["columns"]
        assert isinstance(groups, list) and isinstance(columns, list)
        decoded[groups[0]] = columns
        return iter_batches(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", spy)
    for prefetch in (False, True):
        decoded.clear()
        got = pa.Table.from_batches(list(trace.iter_batches(
            READ_COLUMNS, 64, prefetch=prefetch, deferred=MAPGPA_OPERANDS)))
        # row group 0 (TDVMCALLs only) has no gpa, write, level; row group 1 has them
        assert {"gpa", "write", "level", "r12"}.isdisjoint(decoded[0])
        assert {"gpa", "write", "level", "r12"} <= set(decoded[1])
        assert {"rcx", "leaf", "phase"}.isdisjoint(decoded[0] + decoded[1])
        assert "text" in decoded[0]  # written without statistics: nothing says it is empty
        assert got.column_names == READ_COLUMNS
        assert got.schema.field("gpa").type == pa.uint64()
        assert got.column("gpa").to_pylist() == [None] * 5 + [0x1A2000] * 2
        assert got.column("write").to_pylist() == [None] * 5 + [True, None]
        assert got.column("level").to_pylist() == [None] * 6 + [0]
        assert got.column("phase").to_pylist() == [None] * 7
        assert got.column("status").to_pylist() == [0] * 5 + [None, 0]


def test_a_whole_group_read_leaves_out_its_all_null_columns_too(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trace = open_trace(_two_groups(tmp_path, monkeypatch, GENERIC))
    decoded: dict[int, list[str]] = {}
    read_row_group = pq.ParquetFile.read_row_group

    def spy(self: pq.ParquetFile, i: int, columns: list[str] | None = None,
            **kwargs: object) -> pa.Table:
        decoded[i] = list(columns or [])
        return read_row_group(self, i, columns=columns, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", spy)
    got = pa.Table.from_batches(list(trace.iter_batches(["seq", "gpa", "phase"])))
    assert decoded == {0: ["seq"], 1: ["seq", "gpa"]}
    assert got.column_names == ["seq", "gpa", "phase"]
    assert got.column("gpa").to_pylist() == [None] * 5 + [0x1A2000] * 2
    assert got.column("phase").to_pylist() == [None] * 7
