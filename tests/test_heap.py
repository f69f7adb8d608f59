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


# four threads each holding a malloc'd block at once, then glibc's count of its arenas
ARENAS = """
import ctypes, os, sys, tempfile, threading
from tdxray.cli.heap import keep_freed_memory
if sys.argv[1] == "kept":
    keep_freed_memory()
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.fopen.restype = ctypes.c_void_p, ctypes.c_void_p
libc.fopen.argtypes, libc.fclose.argtypes = [ctypes.c_char_p, ctypes.c_char_p], [ctypes.c_void_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
together = threading.Barrier(4)
def hold():
    together.wait()
    block = libc.malloc(1 << 20)
    together.wait()
    libc.free(ctypes.c_void_p(block))
threads = [threading.Thread(target=hold) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
with tempfile.TemporaryDirectory() as d:
    name = os.path.join(d, "info.xml")
    f = libc.fopen(name.encode(), b"w")
    libc.malloc_info(0, f)
    libc.fclose(f)
    print(open(name).read().count("<heap nr="))
"""


@pytest.mark.skipif(sys.platform != "linux" or platform.libc_ver()[0] != "glibc",
                    reason="malloc arenas are glibc's")
def test_threads_share_two_malloc_arenas() -> None:
    def arenas(how: str) -> int:
        out = subprocess.run([sys.executable, "-c", ARENAS, how], capture_output=True,
                             text=True, check=True)
        return int(out.stdout)

    assert arenas("kept") == 2
    assert arenas("default") == 5  # the main thread's and one per thread: the test tells
