"""Stage 5: JSON Lines. Export a ladder trace (in process), then `tdxray ingest` it (CLI)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tdxray.benchmarks.figures import Figure, timed, warm
from tdxray.benchmarks.ladder import Log, cached_build
from tdxray.benchmarks.tools import tdxray_command
from tdxray.export.jsonl import write_jsonl
from tdxray.store.read import open_trace

MB = 1e6


def export_jsonl(trace: Path, data_dir: Path, fresh: bool, log: Log) -> tuple[Path, float, bool]:
    """The trace as JSONL (cached beside it): path, export seconds, whether it was cached."""
    st = trace.stat()
    params = {"kind": "jsonl", "source": trace.name, "size": st.st_size,
              "mtime_ns": st.st_mtime_ns}

    def build(path: Path) -> int:
        source = open_trace(trace)
        with path.open("w", encoding="utf-8", newline="\n") as out:
            return write_jsonl(source.header, source.iter_batches(), out)

    built = cached_build(data_dir / f"{trace.stem}.jsonl", params, build, fresh, log)
    return built.path, built.seconds, built.cached


def ingest_seconds(jsonl: Path, data_dir: Path) -> float:
    """One `tdxray ingest FILE -o STORE` into a fresh store (start-up included)."""
    store = data_dir / "ingest-store"
    shutil.rmtree(store, ignore_errors=True)
    cmd = [*tdxray_command(), "ingest", str(jsonl), "-o", str(store)]
    seconds = timed(lambda: subprocess.run(cmd, capture_output=True, check=True))
    shutil.rmtree(store, ignore_errors=True)
    return seconds


def ingest_figures(size: int, trace: Path, rows: int, data_dir: Path, fresh: bool,
                   log: Log) -> list[Figure]:
    jsonl, export, cached = export_jsonl(trace, data_dir, fresh, log)
    warm(jsonl)
    seconds = ingest_seconds(jsonl, data_dir)
    lines = rows + 1  # the header line
    mb = jsonl.stat().st_size / MB
    note = "tdxray ingest CLI, 1 run, start-up included"
    export_note = "export.jsonl in process" + (" (cached)" if cached else "")
    return [
        Figure(f"ingest.{size}.seconds", seconds, "s", f"{note}; {mb:.0f} MB JSONL"),
        Figure(f"ingest.{size}.lines_per_s", lines / seconds, "lines/s", note),
        Figure(f"ingest.{size}.mb_per_s", mb / seconds, "MB/s", note),
        Figure(f"export_jsonl.{size}.seconds", export, "s", export_note),
        Figure(f"export_jsonl.{size}.lines_per_s", lines / export, "lines/s", export_note),
    ]
