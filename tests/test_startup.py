"""Start-up: `tdxray --help` and a small check import none of Textual, numba, Polars, DuckDB."""

from __future__ import annotations

from pathlib import Path

from tdxray.benchmarks.ftrace_ingest import generate
from tdxray.benchmarks.startup import SAMPLE, heavy_imports
from tdxray.tests.support import write_trace


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


# what a replay of a local Parquet file has no use for: rich (no bar is drawn off a
# terminal), object storage's asyncio (store/mirror.py), and the heavy ones
REPLAY_UNUSED = ("textual", "numba", "polars", "duckdb", "rich", "asyncio",
                 "tdxray.store.mirror", "s3fs")


def test_a_replay_of_a_parquet_file_imports_only_what_it_uses(tmp_path: Path) -> None:
    trace = write_trace(tmp_path / "t.parquet", [{"kind": "log", "text": "hello"}])
    out = tmp_path / "out"
    assert heavy_imports(["replay", str(trace), "-o", str(out)], REPLAY_UNUSED) == []
    assert (out / "divergences.parquet").exists()



# what a JSONL ingest has no use for: the text sources' readers and their merge
JSONL_INGEST_UNUSED = ("textual", "numba", "polars", "tdxray.ingest.ftrace.reader",
                       "tdxray.ingest.console.reader", "tdxray.ingest.qemu.reader",
                       "tdxray.ingest.dedupe", "tdxray.ingest.merge")


def test_a_jsonl_ingest_imports_no_text_reader(tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert heavy_imports(["ingest", str(SAMPLE), "-o", str(store), "-q"],
                         JSONL_INGEST_UNUSED) == []
    assert len(list(store.glob("*.parquet"))) == 1
