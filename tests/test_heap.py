"""`tdxray replay` raises glibc's malloc thresholds for itself: each setting takes here."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest


@pytest.mark.skipif(sys.platform != "linux" or platform.libc_ver()[0] != "glibc",
                    reason="mallopt is glibc's")
def test_malloc_thresholds_take_on_glibc() -> None:
    # in a child: the settings are the whole process's, and the test runner's stays as it is
    code = "from tdxray.cli.heap import keep_freed_memory; print(keep_freed_memory())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout == "True\n"
