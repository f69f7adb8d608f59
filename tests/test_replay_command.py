"""`tdxray replay FILE` checks a Parquet trace's rows as the replay decodes them (one decoding):
a good file is never checked whole at open, a bad one is still one line, exit 2, no results."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tdxray.cli.main import cli
from tdxray.store import read
from tdxray.tests.support import write_trace

LOGS = [{"kind": "log", "text": f"line {i}"} for i in range(20)]


@pytest.fixture
def whole_checks(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The files store/read checks whole (what a check at open reads)."""
    seen: list[Path] = []
    real = read.check_trace
    monkeypatch.setattr(read, "check_trace", lambda path, *a: (seen.append(path),
                                                               real(path, *a))[1])
    read._checked.clear()
    read._unchecked.clear()
    return seen


def test_a_good_file_is_checked_by_its_replay_not_at_open(tmp_path: Path,
                                                          whole_checks: list[Path]) -> None:
    path = write_trace(tmp_path / "t.parquet", LOGS)
    done = CliRunner().invoke(cli, ["replay", str(path), "-o", str(tmp_path / "out"), "-q"])
    assert done.exit_code == 0, done.output
    assert whole_checks == []
    assert pq.read_table(tmp_path / "out" / "divergences.parquet").num_rows > 0


def test_a_bad_row_found_during_the_replay_is_one_line_and_no_results(
        tmp_path: Path, whole_checks: list[Path]) -> None:
    good = pq.read_table(write_trace(tmp_path / "good.parquet", LOGS))
    seq = good["seq"].to_pylist()
    seq[10], seq[11] = seq[11], seq[10]
    field = good.schema.field("seq")
    bad = tmp_path / "bad.parquet"
    pq.write_table(good.set_column(good.schema.get_field_index("seq"), field,
                                   pa.array(seq, field.type)), bad)
    done = CliRunner().invoke(cli, ["replay", str(bad)])
    assert done.exit_code == 2
    assert done.stderr == f"tdxray: error: {bad} (row 11): seq 11 does not increase " \
                          "(previous 12)\n"
    assert whole_checks == [bad]  # the reader met the defect, then named it as at open
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.parquet", "good.parquet"]
