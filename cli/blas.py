"""numpy's BLAS on one thread: tdxray never multiplies matrices.

numpy's wheels bundle OpenBLAS, which starts a thread per core when numpy is imported: on this
2-core machine that cost 0.09 s of CPU on each command (numpy's import: 0.17 -> 0.08 s of CPU,
0.12 -> 0.09 s wall), more than the CPU a `tdxray --help` needs. The library reads the setting
once, as numpy loads it: `one_blas_thread` is called before anything imports numpy (the
console script's start). A value already in the environment is kept, and child processes
(fleet workers) inherit it.
"""

from __future__ import annotations

import os

BLAS_THREADS = "OPENBLAS_NUM_THREADS"


def one_blas_thread() -> None:
    """Ask OpenBLAS for one thread, unless the environment says otherwise (before numpy)."""
    os.environ.setdefault(BLAS_THREADS, "1")
