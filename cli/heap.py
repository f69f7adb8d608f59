"""A command that churns through large arrays keeps the memory it frees, for its next ones.

glibc returns a freed block of more than its mmap threshold (128 KiB, raised as it sees larger
blocks freed, up to 32 MiB) to the kernel at once, and trims the top of its heap when more
than twice that lies free: a replay allocating arrays of a few MiB per page-map change then
takes a fresh zeroed page from the kernel for every 4 KiB it writes (85k page faults and a
third of its CPU in the kernel on a conversion-heavy 1e6 trace). `keep_freed_memory` raises
both limits for this process; memory stays bounded by the largest working set, not returned
between batches. Its helper threads (decoding, a batch's set-up, the history writer) would
each take a malloc arena of their own, with its own free memory kept: two arenas for the
process hold the same blocks with less (random pages 1e6: peak RSS 334 -> 303 MiB, minor
faults -17%, CPU the same; 6 alternated pairs). Set before the threads start. Nothing on a
libc without `mallopt`.
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -2, -3, -8  # glibc's malloc.h
MIB = 1 << 20
SETTINGS = ((M_MMAP_THRESHOLD, 256 * MIB), (M_TRIM_THRESHOLD, 512 * MIB), (M_TOP_PAD, 64 * MIB),
            (M_ARENA_MAX, 2))


def keep_freed_memory() -> bool:
    """Raise this process's malloc thresholds (glibc); whether every setting took."""
    if not sys.platform.startswith("linux"):
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all([mallopt(param, value) == 1 for param, value in SETTINGS])
