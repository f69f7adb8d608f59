"""The `tdxray` command asks numpy's OpenBLAS for one thread, and keeps a value the user set."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# in a child: the setting must come before numpy's import, and the runner's numpy is loaded
THREADS = "\n".join([
    "import os",
    "from tdxray.cli.main import prepare",
    "prepare()",
    "import numpy",
    "print(os.environ['OPENBLAS_NUM_THREADS'], len(os.listdir('/proc/self/task')))",
])


def _child(env: dict[str, str]) -> str:
    out = subprocess.run([sys.executable, "-c", THREADS], capture_output=True, text=True,
                         check=True, env=env)
    return out.stdout


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="threads are counted in /proc")
def test_numpy_starts_no_blas_threads() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    assert _child(env) == "1 1\n"  # the main thread alone (OpenBLAS: one per core before)


def test_a_value_in_the_environment_is_kept() -> None:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2")
    assert _child(env).split()[0] == "2"
