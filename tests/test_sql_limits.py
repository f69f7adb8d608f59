"""tdxray sql under attack: errors while streaming, huge results, runaway queries, Ctrl-C.

Every way a query can end early leaves an existing -o file as it was, prints one line on
stderr and no traceback, and leaves no temporary file beside the output.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tdxray.cli.main import cli

OLD = "the old result\n"
BOOM = ("SELECT CASE WHEN i < 150000 THEN i ELSE error('boom') END AS x "
        "FROM range(200000) t(i)")
BIG = "SELECT * FROM range(1000000000000)"  # a trillion rows: never finishes
CROSS3 = "SELECT count(*) FROM range(100000) a, range(100000) b, range(100000) c"
PATIENCE = 120.0  # seconds a subprocess may take before the test calls it hung


def sql(store: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["sql", "--store", str(store), *args],
                              catch_exceptions=False)


@pytest.fixture()
def old(tmp_path: Path) -> Path:
    out = tmp_path / "out" / "result.csv"
    out.parent.mkdir()
    out.write_text(OLD)
    return out


def assert_one_line_error(result: Result, words: str) -> None:
    assert result.exit_code == 2
    assert result.stderr.startswith("tdxray: error: ") and words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def assert_untouched(out: Path) -> None:
    assert out.read_text() == OLD
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temporary file left


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet", "arrow"])
def test_an_error_while_streaming_keeps_the_old_output(tmp_path: Path, old: Path,
                                                       fmt: str) -> None:
    result = sql(tmp_path, BOOM, "--format", fmt, "-o", str(old))
    assert_one_line_error(result, "boom")
    assert_untouched(old)


def test_an_error_while_streaming_to_stdout_is_one_line(tmp_path: Path) -> None:
    result = sql(tmp_path, BOOM, "--format", "csv")
    assert_one_line_error(result, "boom")


def test_max_rows_stops_a_large_result(tmp_path: Path, old: Path) -> None:
    result = sql(tmp_path, BIG, "--format", "csv", "--max-rows", "1000", "-o", str(old))
    assert_one_line_error(result, "more than 1,000 rows: stopped (--max-rows)")
    assert_untouched(old)
    within = sql(tmp_path, "FROM range(1000)", "--format", "csv", "--max-rows", "1000")
    assert within.exit_code == 0 and len(within.stdout.splitlines()) == 1001


def test_max_rows_applies_to_a_limited_table(tmp_path: Path) -> None:
    result = sql(tmp_path, BIG, "--limit", "2000", "--max-rows", "1000")
    assert_one_line_error(result, "more than 1,000 rows")
    shown = sql(tmp_path, "FROM range(1000)", "--limit", "10", "--max-rows", "100")
    assert shown.exit_code == 0 and "showing 10 of 1,000 rows" in shown.stderr


def test_timeout_stops_a_runaway_query(tmp_path: Path, old: Path) -> None:
    result = sql(tmp_path, CROSS3, "--format", "csv", "--timeout", "0.5", "-o", str(old))
    assert_one_line_error(result, "the query ran out of time: stopped after 0.5 s (--timeout)")
    assert_untouched(old)


def test_first_screen_does_not_wait_for_the_count(tmp_path: Path) -> None:
    result = sql(tmp_path, "SELECT a.range AS a FROM range(100000) a, range(100000) b, "
                           "range(100000) c")  # 10^15 rows: counting them takes days
    assert result.exit_code == 0
    assert len([line for line in result.stdout.splitlines() if line.startswith("│")]) == 500
    assert result.stderr == ("showing 500 of more than 500 rows "
                             "(--limit N to change, --limit 0 for all)\n")


def test_memory_limit(tmp_path: Path) -> None:
    result = sql(tmp_path, "SELECT list(i) FROM range(20000000) t(i)", "--format", "csv",
                 "--memory-limit", "20MB")
    assert_one_line_error(result, "(--memory-limit SIZE raises the limit)")
    assert "Out of Memory" in result.stderr
    assert_one_line_error(sql(tmp_path, "SELECT 1", "--memory-limit", "lots"),
                          "bad memory limit 'lots'")


def _tdxray(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "tdxray", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def _interrupt(proc: subprocess.Popen[bytes]) -> tuple[int, str]:
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=PATIENCE)
    return proc.returncode, err.decode()


def test_ctrl_c_stops_a_streaming_query(tmp_path: Path) -> None:
    proc = _tdxray("sql", "--store", str(tmp_path), BIG, "--format", "csv")
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"range\n"  # the query is running
    code, err = _interrupt(proc)
    assert (code, err) == (130, "tdxray: interrupted\n")


def test_ctrl_c_keeps_the_old_output(tmp_path: Path, old: Path) -> None:
    proc = _tdxray("sql", "--store", str(tmp_path), BIG, "--format", "csv", "-o", str(old))
    waited = 0.0
    while len(list(old.parent.iterdir())) == 1 and proc.poll() is None and waited < PATIENCE:
        time.sleep(0.05)  # until the temporary output exists: the query is streaming
        waited += 0.05
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    code, err = _interrupt(proc)
    assert (code, err) == (130, "tdxray: interrupted\n")
    assert_untouched(old)
