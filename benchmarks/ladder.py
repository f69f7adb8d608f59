"""The size ladder: simulated traces cached under bench-data/, rebuilt when parameters change.

Each cached file has a sidecar `<name>.json` with the parameters it was built from and how long
building took, so a later run can reuse the file and still report its build time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tdxray import __version__
from tdxray.simulator.run import simulate
from tdxray.simulator.scenarios import DEFAULT_SCENARIO, SCENARIOS
from tdxray.simulator.writer import write_parquet

DEFAULT_SIZES = (10**5, 10**6, 10**7)
LARGE_SIZE = 10**8
Log = Callable[[str], None]


@dataclass(frozen=True)
class Built:
    path: Path
    rows: int
    seconds: float  # how long building took (when it was built)
    cached: bool
    built_at: str


def parse_sizes(text: str) -> tuple[int, ...]:
    """`1e5,1e6` or `100000,2_000` → sorted, distinct event counts."""
    sizes = set()
    for part in text.split(","):
        value = float(part.strip())
        if value < 1 or value != int(value):
            raise ValueError(f"{part.strip()!r} is not a positive whole number of events")
        sizes.add(int(value))
    return tuple(sorted(sizes))


def event_count(text: str) -> int:
    """An argparse type: one event count such as `1e6` or `300_000`."""
    try:
        sizes = parse_sizes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if len(sizes) != 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give one number of events")
    return sizes[0]


def cached_build(path: Path, params: dict[str, Any], build: Callable[[Path], int], fresh: bool,
                 log: Log) -> Built:
    """Reuse `path` if its sidecar holds the same parameters; otherwise build and time it."""
    sidecar = path.with_suffix(".json")
    if not fresh and path.exists() and sidecar.exists():
        try:
            meta = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            meta = {}
        if meta.get("params") == params:
            return Built(path, meta["rows"], meta["seconds"], True, meta["built_at"])
    log(f"building {path.name} ...")
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows = build(path)
    seconds = time.perf_counter() - started
    built_at = datetime.now(UTC).isoformat(timespec="seconds")
    sidecar.write_text(json.dumps({"params": params, "rows": rows, "seconds": seconds,
                                   "built_at": built_at}, indent=1))
    log(f"built {path.name}: {rows:,} events in {seconds:.2f} s")
    return Built(path, rows, seconds, False, built_at)


def sim_trace(size: int, data_dir: Path, fresh: bool, log: Log,
              scenario: str = DEFAULT_SCENARIO, seed: int = 0) -> Built:
    """The simulated trace of `size` events (scenario's default mix), built or reused."""
    cfg = SCENARIOS[scenario].config(events=size, seed=seed)
    params = {"kind": "simulate", "tdxray": __version__, **dataclasses.asdict(cfg)}

    def build(path: Path) -> int:
        sim = simulate(cfg)
        return write_parquet(path, sim.header, sim.batches())

    return cached_build(data_dir / f"sim-{scenario}-s{seed}-n{size}.parquet", params, build,
                        fresh, log)
