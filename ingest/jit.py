"""The one place numba is configured: compiled byte scanners for the readers (ftrace, JSONL).

A kernel is compiled on first use and cached next to its module (numba's on-disk cache), runs
without the GIL (the chunk workers of a reader run kernels side by side) and reads only inside the
byte ranges it is given: every index is checked against the end of its line before it is read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba

F = TypeVar("F", bound=Callable[..., Any])


def kernel(fn: F) -> F:
    """Compile `fn` as a kernel (no Python objects inside, arrays and scalars only)."""
    return cast(F, numba.njit(cache=True, nogil=True, boundscheck=False)(fn))


def step(fn: F) -> F:
    """A small kernel that is inlined into its callers (a loop over a few bytes)."""
    return cast(F, numba.njit(cache=True, nogil=True, boundscheck=False, inline="always")(fn))
