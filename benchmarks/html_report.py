"""HTML report benchmark: page size and time against trace size (the bound: < 5 MB at 1e8).

    python -m tdxray.benchmarks.html_report [--events N ...] [--scenario NAME]

Simulates each size into a Parquet trace (not timed), then times `report_html` (replay, the
phase pass, plots) and prints events, page bytes, bytes per million events and seconds.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from tdxray.ingest.materialize import trace_file_for
from tdxray.report.page import report_html
from tdxray.simulator.run import simulate
from tdxray.simulator.scenarios import SCENARIOS
from tdxray.simulator.writer import write_trace

LIMIT_BYTES = 5 << 20


def measure(events: int, scenario: str, workdir: Path) -> tuple[int, int, float]:
    path = workdir / f"{scenario}-{events}.parquet"
    sim = simulate(SCENARIOS[scenario].config(events=events, seed=1))
    write_trace(path, sim.header, sim.batches())
    started = time.perf_counter()
    page = report_html(trace_file_for(str(path)))
    return sim.total_events, len(page.encode()), time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--scenario", default="kdump-shared-read", choices=sorted(SCENARIOS))
    args = parser.parse_args(argv)
    print(f"{'EVENTS':>11} {'BYTES':>9} {'SECONDS':>8} UNDER 5 MB")
    with tempfile.TemporaryDirectory(prefix="tdxray-bench-") as tmp:
        for n in args.events:
            events, size, seconds = measure(n, args.scenario, Path(tmp))
            print(f"{events:>11} {size:>9} {seconds:>8.2f} {'yes' if size < LIMIT_BYTES else 'NO'}")


if __name__ == "__main__":
    main()
