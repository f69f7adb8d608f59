"""A profile's top functions by own CPU time: where an in-process replay spends its time.

The replay runs without its reading thread for it (`read_ahead=False`: the caller's thread
asks for each batch and waits while pyarrow's threads decode it), timed by the process's CPU
clock, so a decoding counts where it was asked for. With the reading thread, a wall-clock
profile of the main thread shows the waits for the decoder (and, on a loaded machine, for the
CPU) as its top entries instead of the work."""

from __future__ import annotations

import cProfile
import pstats
import time
from pathlib import Path

HEADING = "profile's top {count} (own CPU time, without the reading thread)"


def top_functions(path: Path, count: int) -> list[str]:
    """`count` lines `  NN.N%  function (file:line)`, the largest own time first."""
    from tdxray.model.replay import replay_trace

    profiler = cProfile.Profile(time.process_time)
    profiler.runcall(replay_trace, path, read_ahead=False)
    stats = pstats.Stats(profiler)
    total = sum(row[2] for row in stats.stats.values()) or 1.0
    ranked = sorted(stats.stats.items(), key=lambda item: -item[1][2])
    lines = []
    for (file, line, name), row in ranked[:count]:
        where = f"{Path(file).name}:{line}" if line else file
        lines.append(f"  {100 * row[2] / total:5.1f}%  {name} ({where})")
    return lines
