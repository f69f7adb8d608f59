"""The whole benchmark: the ladder's stages in order, and the figures they yield."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tdxray.benchmarks.conversions import conversion_figures
from tdxray.benchmarks.figures import Figure, size_label
from tdxray.benchmarks.ftrace_ingest import FTRACE_LINES, ftrace_figures
from tdxray.benchmarks.ingest import ingest_figures
from tdxray.benchmarks.ladder import DEFAULT_SIZES, Built, Log, sim_trace
from tdxray.benchmarks.memory import memory_figures
from tdxray.benchmarks.replay import replay_figures
from tdxray.benchmarks.simulate import simulate_figures
from tdxray.benchmarks.sql import sql_figures
from tdxray.benchmarks.startup import startup_figures
from tdxray.benchmarks.tools import startup_seconds

DATA_DIR = Path("bench-data")


@dataclass(frozen=True)
class Options:
    sizes: tuple[int, ...] = DEFAULT_SIZES
    data_dir: Path = DATA_DIR
    repeat: int = 3  # timed runs per in-process figure (the median is reported)
    conversion_events: int = 300_000
    ingest_size: int = 10**6  # JSONL export/ingest of the largest ladder size up to this
    ftrace_lines: int = FTRACE_LINES  # generated host ftrace text, ingested plain and gzip'd
    fresh: bool = False  # rebuild cached traces (and so re-time the simulator)
    compile_kernels: bool = True  # time the numba kernels' first compile into an empty cache


def machine_figures(when: str) -> list[Figure]:
    load = os.getloadavg()[0]
    figures = [Figure(f"machine.load_1m.{when}", load, "load", "1-minute load average")]
    if when == "start":
        figures.insert(0, Figure("machine.cpus", float(os.cpu_count() or 0), "cpus"))
    return figures


def ingest_size(opts: Options) -> int:
    fitting = [s for s in opts.sizes if s <= opts.ingest_size]
    return max(fitting) if fitting else min(opts.sizes)


def run_suite(opts: Options, log: Log) -> list[Figure]:
    figures = machine_figures("start")
    figures.append(Figure("cli.startup.seconds", startup_seconds(), "s", "tdxray --version"))
    log("start-up: --help, a small check, the numba kernels' first compile")
    figures += startup_figures(opts.data_dir / "startup", opts.compile_kernels)
    built: dict[int, Built] = {}
    for size in opts.sizes:
        log(f"[{size_label(size)}] simulate")
        built[size] = sim_trace(size, opts.data_dir, opts.fresh, log)
        figures += simulate_figures(size, built[size])
        log(f"[{size_label(size)}] replay, DuckDB, check CLI")
        figures += replay_figures(size, built[size].path, built[size].rows, opts.repeat)
        log(f"[{size_label(size)}] peak RSS")
        figures += memory_figures(size, built[size].path)
    log(f"conversion-heavy replay ({opts.conversion_events:,} events)")
    figures += conversion_figures(opts.conversion_events, opts.data_dir, opts.repeat,
                                  opts.fresh, log)
    size = ingest_size(opts)
    log(f"[{size_label(size)}] JSONL export and ingest")
    figures += ingest_figures(size, built[size].path, built[size].rows, opts.data_dir,
                              opts.fresh, log)
    log(f"ftrace host ingest ({opts.ftrace_lines:,} lines)")
    figures += ftrace_figures(opts.ftrace_lines, opts.data_dir / "ftrace")
    largest = max(opts.sizes)
    log(f"[{size_label(largest)}] SQL: views against the raw Parquet")
    figures += sql_figures(largest, built[largest].path, opts.data_dir, log)
    return figures + machine_figures("end")
