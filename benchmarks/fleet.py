"""Fleet benchmark: replay on Dask workers, per-trace overhead, an S3 store against a local one.

    python -m tdxray.benchmarks fleet [--traces N] [--events E]

Prints the figures as ratios measured side by side in one run (docs/fleet.md):
  workers 2 vs 1     events/s of replay on 2 workers over 1 worker     (target >= 1.8)
  per-trace overhead time per trace beyond its replay, scheduling incl. (target <= 20 ms)
  S3 / local         a sequential check of the store on moto's S3 server (loopback) over
                     the same check of the local directory              (target <= 1.5)
  fleet SQL / DuckDB divergences per kernel version x rule over the store (tdxray sql
                     --run divergences-by-kernel) over DuckDB reading the same Parquet
                     files directly (benchmarks/fleet_sql.py)           (target <= 2)
Cluster start-up is not counted (a fleet keeps its cluster); results are removed before each
timed run, so every run replays every trace.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tdxray.benchmarks.fleet_sql import TARGET as SQL_TARGET
from tdxray.benchmarks.fleet_sql import build_store as build_sql_store
from tdxray.benchmarks.fleet_sql import sql_ratio
from tdxray.model.replay import replay_trace
from tdxray.simulator.run import simulate
from tdxray.simulator.scenarios import SCENARIOS
from tdxray.simulator.writer import write_trace
from tdxray.store.layout import results_dir_for

SCENARIO = "smp-v1-kexec"
TARGETS = {"workers_2_vs_1": 1.8, "per_trace_overhead_ms": 20.0, "s3_vs_local": 1.5,
           "fleet_sql_vs_duckdb": SQL_TARGET}


def build_store(root: Path, traces: int, events: int) -> list[Path]:
    """`traces` copies of one simulated trace of `events` events (the store names them)."""
    root.mkdir(parents=True, exist_ok=True)
    sim = simulate(SCENARIOS[SCENARIO].config(events=events, seed=1))
    first = root / "td-0000.parquet"
    write_trace(first, sim.header, sim.batches())
    return [first] + [Path(shutil.copy(first, root / f"td-{i:04d}.parquet"))
                      for i in range(1, traces)]


def _clear(paths: Sequence[Path]) -> None:
    for path in paths:
        shutil.rmtree(results_dir_for(path), ignore_errors=True)


def _timed(run: Callable[[], object], before: Callable[[], None], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        before()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fleet_seconds(paths: Sequence[Path], workers: int, repeat: int) -> float:
    from tdxray.fleet.cluster import client_for
    from tdxray.fleet.replay import replay_all

    pairs = [(p, results_dir_for(p)) for p in paths]
    with client_for(workers, None) as client:
        client.run(lambda: __import__("tdxray.model.replay"))  # warm the workers' imports
        replay_all(client, pairs[:workers])
        return _timed(lambda: replay_all(client, pairs), lambda: _clear(paths), repeat)


def s3_ratio(store: Path, paths: Sequence[Path], repeat: int) -> float | None:
    """A sequential check of the store on a local S3 server over the same check on disk."""
    try:
        from click.testing import CliRunner

        from tdxray.cli.main import cli
        from tdxray.tests.s3server import s3_server
    except ImportError:
        return None
    with s3_server() as server:
        os.environ.update(server.env())
        url = server.bucket("tdxray-bench") + "/fleet"
        runner = CliRunner()
        for path in paths:
            runner.invoke(cli, ["ingest", "-q", str(path), "-o", url, "--trace-id", path.stem])

        def clear_s3() -> None:
            fs = server.client()
            keys = fs.list_objects_v2(Bucket="tdxray-bench").get("Contents", [])
            for key in keys:
                if ".replay/" in key["Key"]:
                    fs.delete_object(Bucket="tdxray-bench", Key=key["Key"])

        remote = _timed(lambda: runner.invoke(cli, ["check", url]), clear_s3, repeat)
        local = _timed(lambda: runner.invoke(cli, ["check", str(store)]),
                       lambda: _clear(paths), repeat)
    return remote / local


def fleet_sql(store: Path, traces: int, events: int, repeat: int,
              log: Callable[[str], None]) -> float:
    """The fleet SQL figure on a store of its own (traces with findings), which gets its
    manifest first (`tdxray store compact`)."""
    from click.testing import CliRunner

    from tdxray.cli.main import cli

    build_sql_store(store, traces, events)
    log(f"SQL store: {traces} traces of {events:,} events in {store}")
    res = CliRunner().invoke(cli, ["store", "compact", str(store)])
    if res.exit_code != 0:
        raise RuntimeError(f"tdxray store compact failed: {res.output}")
    return sql_ratio(store, repeat, log)


def measure(traces: int, events: int, repeat: int, log: Callable[[str], None],
            sql_only: bool = False) -> dict[str, float | None]:
    with tempfile.TemporaryDirectory(prefix="tdxray-bench-fleet-") as scratch:
        sql = fleet_sql(Path(scratch) / "sql-store", traces, events, repeat, log)
        if sql_only:
            return {"fleet_sql_vs_duckdb": sql}
        store = Path(scratch) / "store"
        paths = build_store(store, traces, events)
        log(f"{traces} traces of {events:,} events in {store}")
        replay_trace(paths[0])  # warm: imports and compiled kernels, as a worker's are
        one = _timed(lambda: replay_trace(paths[0], results_dir_for(paths[0])),
                     lambda: _clear(paths[:1]), repeat)
        log(f"one trace in-process: {one * 1e3:.1f} ms")
        w1 = fleet_seconds(paths, 1, repeat)
        log(f"1 worker: {w1:.2f} s")
        w2 = fleet_seconds(paths, 2, repeat)
        log(f"2 workers: {w2:.2f} s")
        s3 = s3_ratio(store, paths, repeat)
        return {"workers_2_vs_1": w1 / w2,
                "per_trace_overhead_ms": (w1 - traces * one) / traces * 1e3,
                "replay_ms_per_trace": one * 1e3,
                "s3_vs_local": s3,
                "fleet_sql_vs_duckdb": sql}


def report(figures: dict[str, float | None]) -> str:
    rows = []
    for name, value in figures.items():
        target = TARGETS.get(name)
        if value is None:
            rows.append(f"{name:24} not measured (install moto[server] and boto3)")
            continue
        verdict = ""
        if target is not None:
            ok = value <= target if name != "workers_2_vs_1" else value >= target
            verdict = f"  target {'>=' if name == 'workers_2_vs_1' else '<='} {target:g}: " \
                      f"{'PASS' if ok else 'MISS'}"
        rows.append(f"{name:24} {value:8.2f}{verdict}")
    return "\n".join(rows)


def main(argv: Sequence[str], log: Callable[[str], None]) -> None:
    p = argparse.ArgumentParser(prog="python -m tdxray.benchmarks fleet", description=__doc__)
    p.add_argument("--traces", type=int, default=40, help="traces in the store [default: 40]")
    p.add_argument("--events", type=int, default=10_000, help="events per trace [default: 1e4]")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per figure (median)")
    p.add_argument("--sql-only", action="store_true",
                   help="only the fleet SQL figure (no Dask cluster, no S3 server)")
    args = p.parse_args(list(argv))
    figures = measure(args.traces, args.events, max(args.repeat, 1), log, args.sql_only)
    print(report(figures))
    sys.stdout.flush()
