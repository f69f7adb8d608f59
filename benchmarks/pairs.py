"""Side-by-side samples: tdxray and its baseline run one after the other, pair by pair.

A ratio of two runs made moments apart holds on a loaded machine where absolute times do not;
the speed table reports the min and the median ratio over the pairs.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tdxray.benchmarks.figures import timed


@dataclass(frozen=True)
class Sample:
    seconds: float
    peak_kib: int = 0  # peak RSS of a child process; 0 for a run in this process


Run = Callable[[], Sample]


def write_bytecode() -> list[str]:
    """Write the bytecode of tdxray's modules beside them, as installing a package does (pip
    compiles what it installs): a child then imports them as an installed `tdxray` does. An
    editable checkout under PYTHONDONTWRITEBYTECODE has none, and every run compiled every
    module it imports (0.06 s of a replay's main thread at load 8). The directories that
    could not be written, if any."""
    import compileall

    import tdxray

    root = Path(tdxray.__file__).parent
    packages = [p for p in sorted(root.iterdir())
                if (p / "__init__.py").exists() and p.name != "tests"]
    failed = []
    for where, depth in [(root, 0), *((p, 10) for p in packages)]:
        if not compileall.compile_dir(where, maxlevels=depth, quiet=2):
            failed.append(str(where))
    return failed


def in_process(fn: Callable[[], object]) -> Run:
    """A run of `fn` in this process (wall seconds, no memory figure)."""
    return lambda: Sample(timed(fn))


def child(*argv: str, before: Callable[[], object] | None = None) -> Run:
    """A run of `python -m tdxray.benchmarks.peak_child ARGV`: wall seconds seen from here
    (interpreter start-up included, as a user sees it) and the child's peak RSS."""
    cmd = [sys.executable, "-m", "tdxray.benchmarks.peak_child", *argv]

    def run() -> Sample:
        if before is not None:
            before()
        done: list[subprocess.CompletedProcess[str]] = []
        seconds = timed(lambda: done.append(
            subprocess.run(cmd, capture_output=True, text=True, check=False)))
        out = done[0]
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {out.returncode}: {out.stderr.strip()}")
        return Sample(seconds, int(json.loads(out.stdout.strip().splitlines()[-1])["peak_kib"]))

    return run


@dataclass(frozen=True)
class Pairs:
    ours: list[Sample]
    theirs: list[Sample]

    def ratios(self, key: Callable[[Sample], float]) -> list[float]:
        return [key(a) / key(b) for a, b in zip(self.ours, self.theirs, strict=True)]

    def median(self, key: Callable[[Sample], float], baseline: bool = False) -> float:
        return statistics.median(key(s) for s in (self.theirs if baseline else self.ours))


def pairs(ours: Run, theirs: Run, count: int) -> Pairs:
    a, b = [], []
    for _ in range(max(count, 1)):
        a.append(ours())
        b.append(theirs())
    return Pairs(a, b)
