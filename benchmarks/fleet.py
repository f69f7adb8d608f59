"""Fleet benchmark: replay on Dask workers, per-trace overhead, an S3 store against a local one.

    python -m tdxray.benchmarks fleet [--traces N] [--events E] [--s3-traces M] [--sql-traces K]

Prints the issue's figures as ratios measured side by side in one run (docs/fleet.md), each row
as soon as it is measured (about 6 minutes with the defaults on an idle 2-core machine):
  fleet SQL / DuckDB divergences per kernel version x rule over K traces of 1,000 events
                     (tdxray sql --run divergences-by-kernel) over DuckDB reading the same
                     Parquet files directly (benchmarks/fleet_sql.py)   (target <= 2)
  replay per trace   one trace of E events replayed in-process on one thread, as a worker
                     replays it (the unit of the others)
  per-trace overhead time per trace on one worker beyond its replay, scheduling included
                                                                        (target <= 20 ms)
  workers 2 vs 1     events/s of N traces on 2 workers over 1 worker    (target >= 1.8), with
                     the load average before and after: two busy cores cannot scale
  S3 / local         a sequential check of M of the traces on moto's S3 server (loopback) over
                     the same check of a local directory of them       (target <= 1.5)
Cluster start-up is not counted (a fleet keeps its cluster); results are removed before each
timed run, so every run replays every trace.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from tdxray.benchmarks.fleet_sql import TARGET as SQL_TARGET
from tdxray.benchmarks.fleet_sql import build_store as build_sql_store
from tdxray.benchmarks.fleet_sql import sql_ratio
from tdxray.benchmarks.ladder import event_count
from tdxray.model.replay import replay_trace
from tdxray.simulator.run import simulate
from tdxray.simulator.scenarios import SCENARIOS
from tdxray.simulator.writer import write_trace
from tdxray.store.layout import results_dir_for

SCENARIO = "smp-v1-kexec"
IN_PROCESS_SAMPLE = 20  # traces replayed in-process for the unit figure
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
    """Before a timed run: no results, and no trace known valid, as in a new `tdxray check`
    process (a process checks a trace file once: store/read.py; without this, a local store's
    traces would be checked only in the first run, an S3 mirror's fresh copies in every one)."""
    _forget_checked()
    for path in paths:
        shutil.rmtree(results_dir_for(path), ignore_errors=True)


def _forget_checked() -> None:
    from tdxray.store import read

    read._checked.clear()


def _timed(run: Callable[[], object], before: Callable[[], None], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        before()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fleet_seconds(paths: Sequence[Path], workers: int,
                  repeat: int) -> tuple[float, float, float]:
    """Median seconds to replay the traces on `workers` workers, the cores the workers kept
    busy meanwhile (their CPU time over the wall time: a worker's Arrow and writer threads can
    make one worker use more than one core, which caps what a second one can add), and the
    cores this process kept busy (the client, and a LocalCluster's scheduler and nannies: it
    takes its share of the same cores)."""
    import psutil

    from tdxray.fleet.cluster import client_for
    from tdxray.fleet.replay import replay_all

    pairs = [(p, results_dir_for(p)) for p in paths]
    with client_for(workers, None) as client:
        client.run(lambda: __import__("tdxray.model.replay"))  # warm the workers' imports
        replay_all(client, pairs[:workers])
        procs = [psutil.Process(pid) for pid in client.run(os.getpid).values()]

        here = psutil.Process()

        def busy() -> float:
            return sum(sum(proc.cpu_times()[:2]) for proc in procs)

        def mine() -> float:
            return float(sum(here.cpu_times()[:2]))

        def before() -> None:
            _clear(paths)
            client.run(_forget_checked)  # the workers check each trace again, as a new cluster

        cpu, own, start = busy(), mine(), time.perf_counter()
        seconds = _timed(lambda: replay_all(client, pairs), before, repeat)
        wall = time.perf_counter() - start
        return seconds, (busy() - cpu) / wall, (mine() - own) / wall


def s3_ratio(paths: Sequence[Path], workdir: Path, repeat: int) -> float | None:
    """A sequential check of the traces as a store on a local S3 server over the same check of
    a local store of them (each store with a compacted manifest, as a kept fleet's is)."""
    try:
        from click.testing import CliRunner

        from tdxray.cli.main import cli
        from tdxray.tests.s3server import s3_server
    except ImportError:
        return None
    local = workdir / "s3-local"
    local.mkdir()
    copies = [Path(shutil.copy(p, local / p.name)) for p in paths]
    with s3_server() as server:
        os.environ.update(server.env())
        url = server.bucket("tdxray-bench") + "/fleet"
        runner = CliRunner()
        for path in paths:
            runner.invoke(cli, ["ingest", "-q", str(path), "-o", url, "--trace-id", path.stem])
        runner.invoke(cli, ["store", "compact", url])
        runner.invoke(cli, ["store", "compact", str(local)])

        def clear_s3() -> None:
            fs = server.client()
            keys = fs.list_objects_v2(Bucket="tdxray-bench").get("Contents", [])
            for key in keys:
                if ".replay/" in key["Key"]:
                    fs.delete_object(Bucket="tdxray-bench", Key=key["Key"])
            _forget_checked()

        remote = _timed(lambda: runner.invoke(cli, ["check", url]), clear_s3, repeat)
        here = _timed(lambda: runner.invoke(cli, ["check", str(local)]),
                      lambda: _clear(copies), repeat)
    return remote / here


def fleet_sql(store: Path, traces: int, events: int, repeat: int,
              log: Callable[[str], None]) -> float:
    """The fleet SQL figure on a store of its own (traces with findings), as a fleet's is
    when it is asked: a manifest (`tdxray store compact`), then checked (`tdxray check`: the
    results and their replay stamps in the manifest)."""
    from click.testing import CliRunner

    from tdxray.cli.main import cli

    build_sql_store(store, traces, events)
    log(f"SQL store: {traces} traces of {events:,} events in {store}")
    res = CliRunner().invoke(cli, ["store", "compact", str(store)])
    if res.exit_code != 0:
        raise RuntimeError(f"tdxray store compact failed: {res.output}")
    res = CliRunner().invoke(cli, ["check", "-q", str(store)])
    if res.exit_code not in (0, 1):
        raise RuntimeError(f"tdxray check failed: {res.output}")
    return sql_ratio(store, repeat, log)


Row = tuple[str, float | None, str]  # figure, value (None: not measured), a note


def _load() -> str:
    one, _, _ = os.getloadavg()
    return f"{one:.2f}"


def measure(args: argparse.Namespace, log: Callable[[str], None]) -> Iterator[Row]:
    """The figures, each as soon as it is measured."""
    repeat = max(args.repeat, 1)
    with tempfile.TemporaryDirectory(prefix="tdxray-bench-fleet-") as scratch:
        yield ("fleet_sql_vs_duckdb",
               fleet_sql(Path(scratch) / "sql-store", args.sql_traces, 1_000, repeat, log), "")
        if args.sql_only:
            return
        store = Path(scratch) / "store"
        paths = build_store(store, args.traces, args.events)
        log(f"{args.traces} traces of {args.events:,} events in {store}")
        replay_trace(paths[0])  # warm: imports and compiled kernels, as a worker's are
        sample = paths[:IN_PROCESS_SAMPLE]  # in-process, one after the other, as a worker does
        ahead = _timed(lambda: [replay_trace(p, results_dir_for(p)) for p in sample],
                       lambda: _clear(sample), repeat) / len(sample)
        log(f"in-process with the decoding thread (a sequential check): {ahead * 1e3:.1f} ms "
            "per trace")
        cpu = time.process_time()
        one = _timed(lambda: [replay_trace(p, results_dir_for(p), read_ahead=False)
                              for p in sample], lambda: _clear(sample), repeat) / len(sample)
        cpu_ms = (time.process_time() - cpu) / repeat / len(sample) * 1e3
        log(f"in-process on one thread: {cpu_ms:.1f} ms of CPU per trace")
        yield ("replay_ms_per_trace", one * 1e3,
               f"in-process on one thread as a worker replays, mean of {len(sample)} traces")
        before = _load()
        w1, cores1, client1 = fleet_seconds(paths, 1, repeat)
        log(_cluster_cpu("1 worker", w1, cores1, client1, args.traces, cpu_ms))
        yield "per_trace_overhead_ms", (w1 - args.traces * one) / args.traces * 1e3, ""
        w2, cores2, client2 = fleet_seconds(paths, 2, repeat)
        log(_cluster_cpu("2 workers", w2, cores2, client2, args.traces, cpu_ms))
        yield ("workers_2_vs_1", w1 / w2,
               f"load average {before} before, {_load()} after, {os.cpu_count()} cores; "
               f"workers kept {cores1:.2f} then {cores2:.2f} cores busy")
        subset = paths[: args.s3_traces]
        yield ("s3_vs_local", s3_ratio(subset, Path(scratch), repeat),
               f"{len(subset)} traces")


def _cluster_cpu(what: str, seconds: float, cores: float, client: float, traces: int,
                 in_process_ms: float) -> str:
    """A cluster run's log line: wall time, cores busy, CPU per trace (the workers', and this
    process's), and the CPU per trace beyond the in-process replay: the overhead, by CPU time
    (it does not depend on the load as the wall-time figure does)."""
    workers_ms = seconds * cores / traces * 1e3
    client_ms = seconds * client / traces * 1e3
    return (f"{what}: {seconds:.2f} s, {cores:.2f} cores busy ({workers_ms:.1f} ms of CPU per "
            f"trace; the client process {client_ms:.1f} ms; "
            f"{workers_ms + client_ms - in_process_ms:+.1f} ms over in-process)")


def row(name: str, value: float | None, note: str = "") -> str:
    """One line of the report: the figure, its target and verdict, the note."""
    if value is None:
        return f"{name:24} not measured (install moto[server] and boto3)"
    target = TARGETS.get(name)
    verdict = ""
    if target is not None:
        ok = value <= target if name != "workers_2_vs_1" else value >= target
        verdict = f"  target {'>=' if name == 'workers_2_vs_1' else '<='} {target:g}: " \
                  f"{'PASS' if ok else 'MISS'}"
    return f"{name:24} {value:8.2f}{verdict}" + (f"  ({note})" if note else "")


def report(figures: dict[str, float | None]) -> str:
    return "\n".join(row(name, value) for name, value in figures.items())


def main(argv: Sequence[str], log: Callable[[str], None]) -> None:
    p = argparse.ArgumentParser(prog="python -m tdxray.benchmarks fleet", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--traces", type=int, default=1_000,
                   help="traces for the worker figures [default: 1000]")
    p.add_argument("--events", type=event_count, default=100_000,
                   help="events per trace [default: 1e5]")
    p.add_argument("--s3-traces", type=int, default=100,
                   help="of those, traces for the S3 figure [default: 100]")
    p.add_argument("--sql-traces", type=int, default=1_000,
                   help="traces of 1,000 events for the SQL figure [default: 1000]")
    p.add_argument("--repeat", type=int, default=2, help="timed runs per figure (median)")
    p.add_argument("--sql-only", action="store_true",
                   help="only the fleet SQL figure (no Dask cluster, no S3 server)")
    args = p.parse_args(list(argv))
    for name, value, note in measure(args, log):
        print(row(name, value, note), flush=True)
