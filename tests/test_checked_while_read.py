"""A replay checks a trace's rows as it decodes them (open_trace(rows_later=True)): the same
first defect, in the same words, as the check at open; the model never sees a bad row; a
trace whose results are fresh is still checked."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tdxray.model import replay
from tdxray.model.outputs import STAMP_FILE
from tdxray.model.replay import MAPGPA_OPERANDS, READ_COLUMNS, load_or_replay, replay_trace
from tdxray.schema.errors import InputError
from tdxray.store import read
from tdxray.store.read import check_unchecked, open_trace
from tdxray.tests.support import write_trace

LOGS = [{"kind": "log", "text": f"line {i}"} for i in range(20)]


def _rewrite(path: Path, out: Path, name: str, values: list[object]) -> Path:
    """`path`'s trace with one column's values replaced (the file metadata kept)."""
    table = pq.read_table(path)
    i = table.schema.get_field_index(name)
    field = table.schema.field(name)
    column = pa.array(values, pa.binary()).view(pa.string()) if field.type == pa.string() \
        else pa.array(values, field.type)
    pq.write_table(table.set_column(i, field, column), out, row_group_size=8)
    return out


@pytest.fixture
def two_defects(tmp_path: Path) -> Path:
    """seq steps back at row 11 and the text of row 15 is not UTF-8: the strings' check comes
    first at open, so that is the defect named, though the other comes first in the file."""
    good = write_trace(tmp_path / "good.parquet", LOGS)
    seq = list(range(1, 21))
    seq[10], seq[11] = seq[11], seq[10]
    step_back = _rewrite(good, tmp_path / "seq.parquet", "seq", seq)
    text = [f"line {i}".encode() for i in range(20)]
    text[15] = b"\xff not UTF-8"
    return _rewrite(step_back, tmp_path / "bad.parquet", "text", text)


WANT = " (row 15): field 'text': not valid UTF-8"


def test_two_defects_are_named_as_the_check_at_open_names_them(two_defects: Path) -> None:
    with pytest.raises(InputError) as at_open:
        open_trace(two_defects)
    assert str(at_open.value) == f"{two_defects}{WANT}"
    read._checked.clear()
    for read_ahead in (True, False):
        with pytest.raises(InputError) as replayed:
            replay_trace(two_defects, read_ahead=read_ahead)
        assert str(replayed.value) == str(at_open.value)


@pytest.mark.parametrize("event, field, message", [
    ({"kind": "map_gpa", "gpa": 0x1000, "status": 0}, "size", "missing field (kind map_gpa "
     "needs it)"),
    ({"kind": "kexec", "phase": "sideways"}, "phase", "expected one of load, shutdown, begin, "
     "finish, jump, boot, crash, got 'sideways'"),
])
def test_a_row_the_model_would_read_is_checked_before_it_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, event: dict, field: str,
        message: str) -> None:
    monkeypatch.setattr("tdxray.store.write.ROW_GROUP_ROWS", 8)
    path = write_trace(tmp_path / "t.parquet", [*LOGS, event, *LOGS])
    seen: list[int] = []
    real = replay.replay_batch
    monkeypatch.setattr(replay, "replay_batch",
                        lambda model, view, *a: (seen.append(int(view.seq[-1])),
                                                 real(model, view, *a)))
    with pytest.raises(InputError) as replayed:
        replay_trace(path)
    assert str(replayed.value) == f"{path} (row 20): field {field!r}: {message}"
    assert max(seen, default=0) <= 16  # the row groups before the bad row's, no further
    trace = open_trace(path, rows_later=True)
    with pytest.raises(InputError):
        list(trace.iter_batches(READ_COLUMNS, 4, prefetch=True, deferred=MAPGPA_OPERANDS))


def test_a_trace_read_whole_is_checked_once(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "t.parquet", LOGS)
    trace = open_trace(path, rows_later=True)
    assert trace.unchecked
    list(trace.iter_batches(READ_COLUMNS, 4, prefetch=True))
    assert not open_trace(path, rows_later=True).unchecked  # checked by that read


def test_fresh_results_do_not_skip_the_check(two_defects: Path, tmp_path: Path) -> None:
    """check opens a trace with its rows left to the replay; when its results are fresh there
    is no replay, and load_or_replay checks the rows itself."""
    good = write_trace(tmp_path / "good.parquet", LOGS)
    results = tmp_path / "results"
    replay_trace(good, results)
    # results that look fresh for the bad trace (its stamp), as if it had been replayed
    (results / STAMP_FILE).write_text(json.dumps(replay._stamp(two_defects)))
    read._checked.clear()
    assert open_trace(two_defects, rows_later=True).unchecked
    with pytest.raises(InputError) as fresh:
        load_or_replay(two_defects, results)
    assert str(fresh.value) == f"{two_defects}{WANT}"
    check_unchecked(good)  # never opened unchecked: nothing to do, nothing read
    assert load_or_replay(good, results).events == len(LOGS)  # its stamp no longer matches


def test_a_field_missing_where_its_column_is_all_null_is_found_without_decoding_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Row 13 is a MapGPA without gpa, and no row has a gpa: the column is not decoded (its
    statistics say it is all null), and the defect is named as at open."""
    good = write_trace(tmp_path / "good.parquet", LOGS)
    kinds = ["log"] * 20
    kinds[13] = "map_gpa"
    bad = _rewrite(good, tmp_path / "bad.parquet", "kind", kinds)
    with pytest.raises(InputError) as at_open:
        open_trace(bad)
    assert str(at_open.value).startswith(f"{bad} (row 13): field 'gpa': ")
    decoded: list[str] = []
    iter_batches = pq.ParquetFile.iter_batches

    def spy(self: pq.ParquetFile, *args: object, **kwargs: object) -> object:
        decoded.extend(kwargs["columns"])  # type: ignore[arg-type]
        return iter_batches(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", spy)
    read._checked.clear()
    trace = open_trace(bad, rows_later=True)
    assert trace.unchecked
    with pytest.raises(InputError) as replayed:
        for _ in trace.iter_batches(READ_COLUMNS, 8, prefetch=True, deferred=MAPGPA_OPERANDS):
            pass
    assert str(replayed.value) == str(at_open.value)
    assert "gpa" not in decoded and "text" in decoded
    read._checked.clear()
    with pytest.raises(InputError) as whole:
        replay_trace(bad)
    assert str(whole.value) == str(at_open.value)
