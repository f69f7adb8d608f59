"""Start-up: `tdxray --help` and a small check import none of Textual, numba, Polars, DuckDB."""

from __future__ import annotations

from pathlib import Path

from tdxray.benchmarks.ftrace_ingest import generate
from tdxray.benchmarks.startup import SAMPLE, heavy_imports


def test_help_imports_no_heavy_module() -> None:
    assert heavy_imports(["--help"]) == []


def test_small_check_imports_no_heavy_module() -> None:
    assert SAMPLE.exists()
    assert heavy_imports(["check", str(SAMPLE)]) == []


def test_the_probe_sees_numba_when_an_ftrace_ingest_loads_it(tmp_path: Path) -> None:
    trace = tmp_path / "host.trace"
    generate(trace, 20)
    args = ["ingest", str(trace), "-o", str(tmp_path / "store"), "--trace-id", "t"]
    assert heavy_imports(args) == ["numba"]
    assert (tmp_path / "store").exists()
