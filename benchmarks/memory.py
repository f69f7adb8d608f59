"""Stage 4: peak RSS of replaying each trace in a fresh process (Linux ru_maxrss, in KiB)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tdxray.benchmarks.figures import Figure

KIB_PER_MIB = 1024


def child_replay(path: Path) -> dict[str, float]:
    cmd = [sys.executable, "-m", "tdxray.benchmarks.rss_child", str(path)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"replay child failed on {path}: {done.stderr.strip()}")
    out: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def memory_figures(size: int, path: Path) -> list[Figure]:
    got = child_replay(path)
    return [
        Figure(f"rss.{size}.peak_mib", got["peak_kib"] / KIB_PER_MIB, "MiB",
               f"fresh process; {got['imports_kib'] / KIB_PER_MIB:.0f} MiB after imports"),
        Figure(f"rss.{size}.replay_seconds", got["seconds"], "s", "fresh process, one run"),
    ]
