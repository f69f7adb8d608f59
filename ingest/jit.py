"""The one place numba is configured: compiled byte scanners for the text readers.

A kernel is compiled on first use and cached next to its module (numba's on-disk cache), runs
without the GIL (the chunk workers of a reader run kernels side by side) and reads only inside the
byte ranges it is given: every index is checked against the end of its line before it is read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numba

F = TypeVar("F", bound=Callable[..., Any])


def kernel(fn: F) -> F:
    """Compile `fn` as a kernel (no Python objects inside, arrays and scalars only)."""
    return numba.njit(cache=True, nogil=True, boundscheck=False)(fn)  # type: ignore[no-any-return]


def step(fn: F) -> F:
    """A small kernel that is inlined into its callers (a loop over a few bytes)."""
    return numba.njit(cache=True, nogil=True, boundscheck=False,  # type: ignore[no-any-return]
                      inline="always")(fn)
