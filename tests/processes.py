"""Test support for tests that run tdxray as real processes and stop them at a state they are
seen to reach (a file appearing), never after a guessed time."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[1] / "sample_traces" / "accept-misuse.jsonl"
PATIENCE = 120.0  # a safety net for a loaded machine, not a timing


def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tdxray", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tdxray", *args], capture_output=True,
                          text=True, timeout=PATIENCE, check=False, env=env)


def wait_until(what: str, ready: Callable[[], bool]) -> None:
    """Poll `ready()`, a state another process reaches."""
    deadline = time.monotonic() + PATIENCE
    while not ready():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.005)
