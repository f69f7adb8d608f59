"""A profile's top functions by own time: where an in-process replay spends its time."""

from __future__ import annotations

import cProfile
import pstats
from pathlib import Path


def top_functions(path: Path, count: int) -> list[str]:
    """`count` lines `  NN.N%  function (file:line)`, the largest own time first."""
    from tdxray.model.replay import replay_trace

    profiler = cProfile.Profile()
    profiler.runcall(replay_trace, path)
    stats = pstats.Stats(profiler)
    total = sum(row[2] for row in stats.stats.values()) or 1.0
    ranked = sorted(stats.stats.items(), key=lambda item: -item[1][2])
    lines = []
    for (file, line, name), row in ranked[:count]:
        where = f"{Path(file).name}:{line}" if line else file
        lines.append(f"  {100 * row[2] / total:5.1f}%  {name} ({where})")
    return lines
