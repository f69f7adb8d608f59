"""Stage 3: core throughput on conversion-heavy traces (every event changes page state)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from tdxray.benchmarks import synthetic
from tdxray.benchmarks.figures import Figure, warm
from tdxray.benchmarks.ladder import Log, cached_build
from tdxray.model.replay import replay_trace
from tdxray.model.result import ReplayResult

NOTES = {
    "buffers": f"{synthetic.BUFFER_PAGES}-page buffers walked across RAM",
    "random_pages": "one random 4 KiB page per cycle",
}


def conversion_trace(variant: str, events: int, data_dir: Path, fresh: bool, log: Log) -> Path:
    params = {"kind": "conversions", "variant": variant, "events": events,
              "buffer_pages": synthetic.VARIANTS[variant], "ram": synthetic.RAM_END}
    built = cached_build(data_dir / f"conv-{variant}-n{events}.parquet", params,
                         lambda path: synthetic.write(path, variant, events), fresh, log)
    return built.path


def timed_replays(path: Path, repeat: int) -> tuple[ReplayResult, float]:
    """The replay's result and the median wall time of `repeat` runs."""
    seconds = []
    for _ in range(max(repeat, 1)):
        started = time.perf_counter()
        result = replay_trace(path)
        seconds.append(time.perf_counter() - started)
    return result, statistics.median(seconds)


def conversion_figures(events: int, data_dir: Path, repeat: int, fresh: bool,
                       log: Log) -> list[Figure]:
    figures = []
    for variant, note in NOTES.items():
        path = conversion_trace(variant, events, data_dir, fresh, log)
        warm(path)
        result, seconds = timed_replays(path, repeat)
        found = sum(result.summary()[sev] for sev in ("fatal", "error", "warning"))
        if found:  # the trace is meant to be clean: say so, the timing may not be typical
            log(f"warning: {path.name}: the replay found {found} divergences above info")
            note += f"; {found} divergences (meant to be 0)"
        name = f"conversions.{variant}"
        figures += [
            Figure(f"{name}.events_per_s", result.events / seconds, "events/s",
                   f"{note}; {result.events:,} events, median of {repeat}"),
            Figure(f"{name}.seconds", seconds, "s"),
        ]
    return figures
