"""Fleet benchmark: replay on Dask workers, per-trace overhead, an S3 store against a local one.

    python -m tdxray.benchmarks fleet [--traces N] [--events E] [--s3-traces M] [--sql-traces K]
                                      [--pairs P] [--sql-only]

Prints the issue's figures as ratios of runs made side by side, pair by pair (the host's speed
drifts between two runs minutes apart, not between two moments apart: benchmarks/pairs.py), each
row as min/median over P pairs with the load average, as soon as it is measured (about 8
minutes with the defaults on an idle 2-core machine):
  fleet SQL / DuckDB divergences per kernel version x rule over K traces of 1,000 events
                     (tdxray sql --run divergences-by-kernel) over DuckDB reading the same
                     Parquet files directly (benchmarks/fleet_sql.py)   (target <= 2)
  replay per trace   one trace of E events replayed in-process on one thread, as a worker
                     replays it (the unit of the others), taken in each round
  per-trace overhead time per trace on one worker beyond its replay, scheduling included, each
                     round's one-worker run against that round's in-process replay
                                                                        (target <= 20 ms)
  workers 2 vs 1     events/s of N traces on 2 workers over 1 worker, the two runs side by side
                     in each round (target >= 1.8), with the load average before and after and
                     the cores the workers kept busy: two busy cores cannot scale
  S3 / local         a sequential check of M of the traces on moto's S3 server (loopback) over
                     the same check of a local directory of them, alternated (target <= 1.5)
A verdict is the median's. Cluster start-up is not counted (a fleet keeps its cluster: each
run starts its own cluster, warms it, then is timed), nor the imports of a first S3 check;
results are removed before each timed run, so every run replays every trace.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tdxray.benchmarks.fleet_sql import TARGET as SQL_TARGET
from tdxray.benchmarks.fleet_sql import build_store as build_sql_store
from tdxray.benchmarks.fleet_sql import sql_ratios
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


def _timed(run: Callable[[], object], before: Callable[[], None]) -> float:
    before()
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


@dataclass(frozen=True)
class FleetRun:
    """One timed replay of the traces on a cluster: wall seconds, the cores the workers kept
    busy meanwhile (their CPU time over the wall time: a worker's Arrow and writer threads can
    make one worker use more than one core, which caps what a second one can add), and the
    cores this process kept busy (the client, and a LocalCluster's scheduler and nannies: it
    takes its share of the same cores). `others`: the cores every other process of the host
    kept busy meanwhile, `steal`: the cores the hypervisor gave to other guests (/proc/stat:
    a shared host's load the load average does not show)."""

    seconds: float
    cores: float
    client: float
    others: float = 0.0
    steal: float = 0.0


def fleet_run(paths: Sequence[Path], workers: int) -> FleetRun:
    """A fresh cluster of `workers`, warmed (imports, one trace each), then one timed run."""
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

        _clear(paths)
        client.run(_forget_checked)  # the workers check each trace again, as a new cluster
        cpu, own, host, start = busy(), mine(), psutil.cpu_times(), time.perf_counter()
        replay_all(client, pairs)
        wall = time.perf_counter() - start
        cores, client_cores = (busy() - cpu) / wall, (mine() - own) / wall
        after = psutil.cpu_times()
        everyone = sum(getattr(after, k) - getattr(host, k) for k in _BUSY) / wall
        return FleetRun(wall, cores, client_cores, everyone - cores - client_cores,
                        (after.steal - host.steal) / wall)


_BUSY = ("user", "nice", "system", "irq", "softirq")  # /proc/stat's busy columns (not steal)


def _cpu_s(proc: object) -> float:
    times = proc.cpu_times()  # type: ignore[attr-defined]
    return float(times.user + times.system)


def s3_ratios(paths: Sequence[Path], workdir: Path, count: int,
              log: Callable[[str], None]) -> list[float] | None:
    """A sequential check of the traces as a store on a local S3 server over the same check of
    a local store of them (each store with a compacted manifest, as a kept fleet's is), the two
    alternated, pair by pair; the CPU each side costs (this process; the server's) logged."""
    try:
        import psutil
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
        moto = [c for c in psutil.Process().children() if "s3serve" in " ".join(c.cmdline())]

        def clear_s3() -> None:
            fs = server.client()
            keys = fs.list_objects_v2(Bucket="tdxray-bench").get("Contents", [])
            for key in keys:
                if ".replay/" in key["Key"]:
                    fs.delete_object(Bucket="tdxray-bench", Key=key["Key"])
            _forget_checked()

        def remote() -> None:
            runner.invoke(cli, ["check", url])

        def here() -> None:
            runner.invoke(cli, ["check", str(local)])

        cold = _timed(remote, clear_s3)  # the first S3 check imports s3fs and its clients
        _timed(here, lambda: _clear(copies))
        log(f"S3 store: a first check {cold:.2f} s (imports included; not counted)")
        ratios = []
        cpu = {"s3": 0.0, "local": 0.0, "server": 0.0}
        for _ in range(max(count, 1)):
            me, srv = time.process_time(), sum(_cpu_s(p) for p in moto)
            s3_s = _timed(remote, clear_s3)
            cpu["s3"] += time.process_time() - me
            cpu["server"] += sum(_cpu_s(p) for p in moto) - srv
            me = time.process_time()
            ratios.append(s3_s / _timed(here, lambda: _clear(copies)))
            cpu["local"] += time.process_time() - me
        per = {k: v / max(count, 1) / len(paths) * 1e3 for k, v in cpu.items()}
        log(f"S3 / local: {per['s3']:.1f} vs {per['local']:.1f} ms of this process's CPU per "
            f"trace, the S3 server {per['server']:.1f} ms")
    return ratios


def fleet_sql(store: Path, traces: int, events: int, count: int,
              log: Callable[[str], None]) -> list[float]:
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
    return sql_ratios(store, count, log)


Row = tuple[str, "list[float] | None", str]  # figure, a value per pair (None: not measured), note


def _load() -> str:
    one, _, _ = os.getloadavg()
    return f"{one:.2f}"


def measure(args: argparse.Namespace, log: Callable[[str], None]) -> Iterator[Row]:
    """The figures, each as soon as it is measured."""
    count = max(args.pairs, 1)
    with tempfile.TemporaryDirectory(prefix="tdxray-bench-fleet-") as scratch:
        before = _load()
        sql = fleet_sql(Path(scratch) / "sql-store", args.sql_traces, 1_000, count, log)
        yield "fleet_sql_vs_duckdb", sql, _pairs_note(count, before)
        if args.sql_only:
            return
        store = Path(scratch) / "store"
        paths = build_store(store, args.traces, args.events)
        log(f"{args.traces} traces of {args.events:,} events in {store}")
        replay_trace(paths[0])  # warm: imports and compiled kernels, as a worker's are
        sample = paths[:IN_PROCESS_SAMPLE]  # in-process, one after the other, as a worker does
        ahead = _timed(lambda: [replay_trace(p, results_dir_for(p)) for p in sample],
                       lambda: _clear(sample)) / len(sample)
        log(f"in-process with the decoding thread (a sequential check): {ahead * 1e3:.1f} ms "
            "per trace")
        before = _load()
        rounds = [_round(paths, sample, log) for _ in range(count)]
        one = [r[0] for r in rounds]
        yield ("replay_ms_per_trace", [s * 1e3 for s in one],
               f"in-process on one thread as a worker replays, mean of {len(sample)} traces")
        yield ("per_trace_overhead_ms",
               [(w1.seconds - args.traces * s) / args.traces * 1e3 for s, w1, _ in rounds], "")
        cores = [statistics.median(r[1].cores for r in rounds),
                 statistics.median(r[2].cores for r in rounds)]
        others = [statistics.median(r[1].others + r[1].steal for r in rounds),
                  statistics.median(r[2].others + r[2].steal for r in rounds)]
        yield ("workers_2_vs_1", [w1.seconds / w2.seconds for _, w1, w2 in rounds],
               f"{_pairs_note(count, before)}, {os.cpu_count()} cores; workers kept "
               f"{cores[0]:.2f} then {cores[1]:.2f} cores busy, the host's other processes "
               f"and steal {others[0]:.2f} then {others[1]:.2f} (medians)")
        subset = paths[: args.s3_traces]
        before = _load()
        s3 = s3_ratios(subset, Path(scratch), count, log)
        yield "s3_vs_local", s3, f"{len(subset)} traces; {_pairs_note(count, before)}"


def _pairs_note(count: int, before: str) -> str:
    return (f"{count} pair{'s' if count != 1 else ''}, load average {before} before, "
            f"{_load()} after")


def _round(paths: Sequence[Path], sample: Sequence[Path],
           log: Callable[[str], None]) -> tuple[float, FleetRun, FleetRun]:
    """One round, side by side: the in-process replay (seconds per trace), 1 worker, 2."""
    cpu = time.process_time()
    one = _timed(lambda: [replay_trace(p, results_dir_for(p), read_ahead=False) for p in sample],
                 lambda: _clear(sample)) / len(sample)
    cpu_ms = (time.process_time() - cpu) / len(sample) * 1e3
    log(f"in-process on one thread: {one * 1e3:.1f} ms, {cpu_ms:.1f} ms of CPU per trace")
    runs = []
    for workers in (1, 2):
        runs.append(fleet_run(paths, workers))
        log(_cluster_cpu(f"{workers} worker{'s' if workers > 1 else ''}", runs[-1],
                         len(paths), cpu_ms))
    return one, runs[0], runs[1]


def _cluster_cpu(what: str, run: FleetRun, traces: int, in_process_ms: float) -> str:
    """A cluster run's log line: wall time, cores busy, CPU per trace (the workers', and this
    process's), the CPU per trace beyond the in-process replay: the overhead, by CPU time (it
    does not depend on the load as the wall-time figure does), and what the rest of the host
    took of its cores meanwhile (other processes; the hypervisor's steal)."""
    workers_ms = run.seconds * run.cores / traces * 1e3
    client_ms = run.seconds * run.client / traces * 1e3
    return (f"{what}: {run.seconds:.2f} s, {run.cores:.2f} cores busy ({workers_ms:.1f} ms of "
            f"CPU per trace; the client process {client_ms:.1f} ms; "
            f"{workers_ms + client_ms - in_process_ms:+.1f} ms over in-process); the host's "
            f"other processes {run.others:.2f} cores, steal {run.steal:.2f}")


def _min_median(values: Sequence[float]) -> tuple[float, float]:
    return min(values), statistics.median(values)


def row(name: str, values: Sequence[float] | None, note: str = "") -> str:
    """One line of the report: the figure's min/median over the pairs, its target and the
    median's verdict, the note."""
    if values is None:
        return f"{name:24} not measured (install moto[server] and boto3)"
    lo, mid = _min_median(values)
    target = TARGETS.get(name)
    verdict = ""
    if target is not None:
        at_least = name == "workers_2_vs_1"
        ok = mid >= target if at_least else mid <= target
        verdict = f"  target {'>=' if at_least else '<='} {target:g}: " \
                  f"{'PASS' if ok else 'MISS'}"
    line = f"{name:24} {lo:7.2f}/{mid:<7.2f}{verdict}" + (f"  ({note})" if note else "")
    return line.rstrip()


def report(figures: dict[str, list[float] | None]) -> str:
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
    p.add_argument("--pairs", "--repeat", dest="pairs", type=int, default=3,
                   help="side-by-side pairs per figure (min/median) [default: 3]")
    p.add_argument("--sql-only", action="store_true",
                   help="only the fleet SQL figure (no Dask cluster, no S3 server)")
    args = p.parse_args(list(argv))
    print(f"{'figure':24} {'min/median':15}", flush=True)
    for name, values, note in measure(args, log):
        print(row(name, values, note), flush=True)
