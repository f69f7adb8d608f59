"""How the benchmarks start tdxray and Python in a child process."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from tdxray.benchmarks.figures import timed


def tdxray_command() -> list[str]:
    """The `tdxray` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "tdxray"
    if script.exists():
        return [str(script)]
    found = shutil.which("tdxray")
    if found is None:
        raise RuntimeError("the tdxray command is not installed (pip install -e .)")
    return [found]


def startup_seconds() -> float:
    """Wall time of `tdxray --version`: the interpreter start-up every CLI figure includes."""
    import subprocess

    cmd = [*tdxray_command(), "--version"]
    return timed(lambda: subprocess.run(cmd, capture_output=True, check=True))
