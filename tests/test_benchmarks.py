"""Smoke test of the benchmark machinery on a tiny ladder (no timing assertions)."""

from __future__ import annotations

import json
from pathlib import Path

from tdxray.benchmarks.figures import json_lines
from tdxray.benchmarks.report import human_report
from tdxray.benchmarks.suite import Options, run_suite

SIZE = 2_000


def test_tiny_ladder_yields_every_figure_as_json(tmp_path: Path) -> None:
    opts = Options(sizes=(SIZE,), data_dir=tmp_path, repeat=1, conversion_events=SIZE,
                   ftrace_lines=SIZE, compile_kernels=False)
    figures = run_suite(opts, log=lambda message: None)

    records = [json.loads(line) for line in json_lines(figures).splitlines()]
    assert all(set(r) == {"name", "value", "unit"} for r in records)
    names = {r["name"] for r in records}
    for stage, metric in [("simulate", "seconds"), ("simulate", "bytes_per_event"),
                          ("simulate", "core_fraction"), ("replay", "seconds"),
                          ("duckdb_scan", "seconds"), ("replay_vs_duckdb", "ratio"),
                          ("check_cli", "seconds"), ("rss", "peak_mib"),
                          ("ingest", "lines_per_s"), ("ingest", "mb_per_s")]:
        assert f"{stage}.{SIZE}.{metric}" in names
    assert {"conversions.buffers.events_per_s", "conversions.random_pages.events_per_s"} <= names
    for key in ("kinds", "shared_at", "divergence_summary"):
        for metric in ("view_seconds", "raw_seconds", "ratio"):
            assert f"sql.{SIZE}.{key}.{metric}" in names
    assert f"sql.{SIZE}.open_seconds" in names
    assert {"startup.help.seconds", "startup.check_small.seconds",
            "startup.replay_small.seconds"} <= names
    for label in ("plain", "gzip"):
        for metric in ("lines_per_s", "mb_per_s", "cpu_s_per_million"):
            assert f"ftrace_ingest.{label}.{SIZE}.{metric}" in names
    assert all(r["value"] > 0 for r in records if not r["name"].startswith("machine.load"))

    # the ladder's trace is cached with the parameters it was built from
    assert (tmp_path / f"sim-smp-v1-kexec-s0-n{SIZE}.json").exists()
    report = human_report(figures)
    assert "targets" in report
    assert "PASS" in report or "MISS" in report
    assert "divergence summary" in report  # the SQL side-by-side table
    # the SQL store holds the ladder's trace (linked or copied) and its replay results
    store = tmp_path / f"sql-store-n{SIZE}"
    assert [p.suffix for p in sorted(store.iterdir())] == [".parquet", ".replay"]


def test_speed_table_has_every_row_of_the_issue(tmp_path: Path) -> None:
    from tdxray.benchmarks.speed import Options as SpeedOptions
    from tdxray.benchmarks.speed import run

    seen: list[tuple[str, str]] = []  # what was shown and logged, in order
    out = run(SpeedOptions(events=SIZE, conversion_events=SIZE, jsonl_events=SIZE, pairs=1,
                           data_dir=tmp_path, fragmented_events=SIZE),
              log=lambda message: seen.append(("log", message)),
              show=lambda line: seen.append(("show", line)))
    assert [line for what, line in seen if what == "show"] == out.splitlines()
    table, _, profile = out.partition("\n\n")
    rows = table.splitlines()[1:]
    assert [r.split("  ")[0] for r in rows] == [
        "replay 2e3 in process vs scan", "check 2e3 end to end vs scan",
        "replay 2e3 peak RSS vs scan", "conversions buffers 1998 (tdxray replay)",
        "conversions random_pages 1998 (tdxray replay)",
        "core only, fragmented map: random_retry 2e3 vs 2e2 (per event)",
        "JSONL ingest 2e3 vs DuckDB read_json",
        "JSONL ingest 2e3 vs Polars read_ndjson", "JSONL ingest 2e3 peak RSS"]
    goals = ["<= 1.5x", "<= 2x", "<= 2x", ">= 1M ev/s", ">= 1M ev/s", "<= 1.5x",
             ">= 1M lines/s", ">= 1M lines/s", "<= 300 MB"]
    for row, goal in zip(rows, goals, strict=True):
        assert f"  {goal}  " in row and row.split()[-1] in ("PASS", "MISS")
    # each row is shown as soon as it is measured: the replay rows before the conversions start
    order = [line if what == "show" else what for what, line in seen]
    first_conversion_log = next(i for i, (what, line) in enumerate(seen)
                                if what == "log" and line.startswith("conversion-heavy"))
    assert order.index(rows[2]) < first_conversion_log
    assert profile.splitlines()[0] == ("replay 2e3: profile's top 5 (own CPU time, without the "
                                       "reading thread)")
    assert len(profile.splitlines()) == 6
    # the scratch results and stores of the runs are gone
    assert not list(tmp_path.glob("speed-*"))


CHILD = """
import atexit, pathlib, sys
from tdxray.benchmarks import peak_child
out = pathlib.Path(sys.argv[1])
atexit.register(lambda: (out / "atexit").touch())
class Teardown:
    def __del__(self):  # runs when the interpreter tears its modules down
        (out / "teardown").touch()
kept = Teardown()
peak_child.main(sys.argv[2:])
"""


def test_the_commands_child_ends_as_the_console_script_does(tmp_path: Path) -> None:
    """peak_child's `tdxray` job ends as `tdxray` itself does (cli/failures.exit_now): the
    atexit hooks run and the streams are flushed (its figures reach the pipe), and the
    interpreter's teardown is skipped, which the command never pays."""
    import os
    import subprocess
    import sys

    from tdxray.tests.support import write_trace

    trace = write_trace(tmp_path / "t.parquet", [{"kind": "map_gpa", "gpa": 0x1000,
                                                  "size": 0x1000, "status": 0}])
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path), "tdxray", "replay",
                           str(trace), "-o", str(tmp_path / "results"), "-q"],
                          capture_output=True, text=True, check=False, env=env)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(figures) == {"seconds", "peak_kib"}
    assert (tmp_path / "results" / "divergences.parquet").exists()
    assert (tmp_path / "atexit").exists()
    assert not (tmp_path / "teardown").exists()


def test_the_bytecode_of_tdxray_is_written_beside_its_modules() -> None:
    """The speed table writes it first (as an install does), so that its child processes do
    not compile every module on every run under PYTHONDONTWRITEBYTECODE."""
    import importlib.util

    import tdxray.model.replay as replay
    from tdxray.benchmarks.pairs import write_bytecode

    cached = Path(importlib.util.cache_from_source(replay.__file__))
    cached.unlink(missing_ok=True)
    assert write_bytecode() == []
    assert cached.exists()
