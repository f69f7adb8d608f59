"""Stage 2: in-process replay against a DuckDB full scan, and the `tdxray check` CLI end to end."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tdxray.benchmarks.figures import Figure, median_seconds, timed, warm
from tdxray.benchmarks.tools import tdxray_command
from tdxray.model.replay import replay_trace
from tdxray.store.layout import results_dir_for

DUCKDB_SCAN = "SELECT sum(hash(t)) FROM read_parquet('{path}') t"


def duckdb_seconds(path: Path, repeat: int) -> float:
    """Median wall time of a DuckDB scan that touches every column of every row."""
    import duckdb

    sql = DUCKDB_SCAN.format(path=str(path).replace("'", "''"))
    with duckdb.connect() as con:
        return median_seconds(lambda: con.execute(sql).fetchall(), repeat)


def check_cli_seconds(path: Path) -> float:
    """One `tdxray check FILE --format json` run (start-up included), stored results removed
    first so it replays. Exit 1 (divergences found) is a result, not a failure."""
    shutil.rmtree(results_dir_for(path), ignore_errors=True)
    cmd = [*tdxray_command(), "check", str(path), "--format", "json"]
    seconds = timed(lambda: _run(cmd))
    shutil.rmtree(results_dir_for(path), ignore_errors=True)
    return seconds


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr.strip()}")


def replay_figures(size: int, path: Path, rows: int, repeat: int) -> list[Figure]:
    warm(path)
    replay = median_seconds(lambda: replay_trace(path), repeat)
    duck = duckdb_seconds(path, repeat)
    prefix = f"{size}"
    how = f"median of {repeat}, warm"
    return [
        Figure(f"replay.{prefix}.seconds", replay, "s", how),
        Figure(f"replay.{prefix}.events_per_s", rows / replay, "events/s"),
        Figure(f"duckdb_scan.{prefix}.seconds", duck, "s", f"sum(hash(t)), {how}"),
        Figure(f"replay_vs_duckdb.{prefix}.ratio", replay / duck, "x"),
        Figure(f"check_cli.{prefix}.seconds", check_cli_seconds(path), "s",
               "tdxray check --format json, 1 run, start-up included"),
    ]
