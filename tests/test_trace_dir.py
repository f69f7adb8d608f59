"""A directory of JSON Lines / text traces is a TRACE: each file one trace, converted to a
temporary store; a directory with no trace says what would work."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from tdxray.cli.main import cli

SAMPLES = Path(__file__).resolve().parents[1] / "sample_traces"


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def traces(tmp_path: Path) -> Path:
    folder = tmp_path / "traces"
    folder.mkdir()
    shutil.copy(SAMPLES / "kdump.jsonl", folder / "kdump.jsonl")
    shutil.copy(SAMPLES / "unfixed-kernel.jsonl", folder / "unfixed-kernel.jsonl")
    (folder / "README.md").write_text("not a trace\n")
    return folder


def test_directory_of_jsonl_traces_is_checked_whole(traces: Path) -> None:
    res = run("check", str(traces), "--format", "json")
    assert res.exit_code == 1, res.stderr
    doc = json.loads(res.stdout)
    assert [(t["trace_id"], t["source"]) for t in doc["traces"]] == [
        ("sample-kdump", str(traces / "kdump.jsonl")),
        ("sample-unfixed-kernel", str(traces / "unfixed-kernel.jsonl"))]
    assert doc["summary"]["fatal"] == 1
    assert sorted(p.name for p in traces.iterdir()) == [
        "README.md", "kdump.jsonl", "unfixed-kernel.jsonl"]  # nothing written beside them


def test_directory_trace_picked_by_id(traces: Path) -> None:
    res = run("check", str(traces), "--trace", "sample-kdump", "--format", "json")
    assert res.exit_code == 0
    assert [t["trace_id"] for t in json.loads(res.stdout)["traces"]] == ["sample-kdump"]
    missing = run("check", str(traces), "--trace", "nope")
    assert missing.exit_code == 2
    assert missing.stderr == f"tdxray: error: {traces}: no trace 'nope' in its 2 files\n"


def test_directory_with_traces_only_below_suggests_a_glob(tmp_path: Path) -> None:
    (tmp_path / "td" / "run1").mkdir(parents=True)
    shutil.copy(SAMPLES / "kdump.jsonl", tmp_path / "td" / "run1" / "kdump.jsonl")
    res = run("check", str(tmp_path / "td"))
    assert res.exit_code == 2
    assert res.stderr == (f"tdxray: error: {tmp_path / 'td'}: holds no traces itself, but 1 in "
                          f"subdirectories (run1): name them, e.g. "
                          f"{tmp_path / 'td' / 'run1' / '*.jsonl'}\n")


def test_empty_directory_suggests_ingest(tmp_path: Path) -> None:
    res = run("check", str(tmp_path))
    assert res.exit_code == 2
    assert res.stderr.startswith(f"tdxray: error: {tmp_path}: holds no traces (no *.parquet")
    assert res.stderr.rstrip().endswith("to make a store: tdxray ingest FILE... -o STORE")
    assert "Traceback" not in res.output


def test_a_store_stays_a_store(traces: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert run("ingest", str(traces / "kdump.jsonl"), "-o", str(store)).exit_code == 0
    shutil.copy(SAMPLES / "retry-skip.jsonl", store / "ignored.jsonl")
    doc = json.loads(run("check", str(store), "--format", "json").stdout)
    assert [t["trace_id"] for t in doc["traces"]] == ["sample-kdump"]
