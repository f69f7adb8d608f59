"""Deeply nested JSON in a trace is one line and exit 2, never a crash, a hang or a traceback:
pyarrow's JSON parser crashed (SIGSEGV) on a line 20,000 deep and took seconds per line 2,000
deep; Python's recursion ended on fields kept in `extra` 1,000 deep, in the header too. At most
100 levels are kept (and read back as they were)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tdxray.tests.processes import SAMPLE, run

HEADER = SAMPLE.read_text().splitlines()[0]


def _nested(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


def _trace(path: Path, *events: str, header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *events]) + "\n")
    return path


def _event(seq: int, value: str) -> str:
    return f'{{"seq": {seq}, "ts_ns": {seq}, "vcpu": 0, "kind": "vendor", "x": {value}}}'


@pytest.mark.parametrize(("depth", "leaf", "line", "message"), [
    (100_000, "1", 3, "malformed JSON: depth limit exceeded: line 1 column 1082 (char 1081)"),
    (1_010, "1", 3, "nested deeper than 100 levels"),
    (1_010, "1.5", 3, "nested deeper than 100 levels"),
    (101, "1", 3, "nested deeper than 100 levels"),
])
def test_a_deep_event_is_one_line(tmp_path: Path, depth: int, leaf: str, line: int,
                                  message: str) -> None:
    trace = _trace(tmp_path / "t.jsonl", _event(1, "1"), _event(2, _nested(depth, leaf)))
    done = run("ingest", str(trace), "-o", str(tmp_path / "store"), "-q")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"tdxray: error: {trace}:{line}: {message}\n"
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").glob("*.parquet"))


def test_many_deep_lines_take_the_line_path(tmp_path: Path) -> None:
    """Lines 1,000 deep (within orjson's limit): each cost pyarrow a third of a second."""
    events = [_event(i, _nested(1_000)) for i in range(1, 400)]
    trace = _trace(tmp_path / "t.jsonl", *events)
    done = run("ingest", str(trace), "-o", str(tmp_path / "store"), "-q")
    assert done.stderr == f"tdxray: error: {trace}:2: nested deeper than 100 levels\n"


def test_a_deep_header_is_one_line(tmp_path: Path) -> None:
    header = HEADER[:-1] + f', "deep": {_nested(150)}}}'
    trace = _trace(tmp_path / "t.jsonl", _event(1, "1"), header=header)
    done = run("info", str(trace))
    assert (done.returncode, done.stderr) == (2, f"tdxray: error: {trace}:1: nested deeper "
                                                 "than 100 levels\n")


def test_one_hundred_levels_are_kept(tmp_path: Path) -> None:
    value = _nested(99, "[1.5]")
    trace = _trace(tmp_path / "t.jsonl", _event(1, value))
    store = tmp_path / "store"
    assert run("ingest", str(trace), "-o", str(store), "-q").returncode == 0
    [parquet] = store.glob("*.parquet")
    exported = run("export", str(parquet)).stdout.splitlines()
    assert json.loads(exported[1])["x"] == json.loads(value)
