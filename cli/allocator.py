"""An ingest's Arrow memory from the C library's malloc, not pyarrow's default mimalloc.

With the compiled JSONL scan a 3e6-line ingest peaked at 325-369 MB with mimalloc, against
284-290 MB with the system allocator (Arrow's own peak was ~58 MB either way: mimalloc's
per-thread segments held the rest), for the same CPU within the spread. Arrow reads the
setting once, when pyarrow loads: `system_allocator` runs before the command's module is
imported, and keeps a value already in the environment.
"""

from __future__ import annotations

import os
import sys

ARROW_POOL = "ARROW_DEFAULT_MEMORY_POOL"


def system_allocator() -> None:
    """Ask Arrow for the system allocator, unless set or too late (pyarrow loaded)."""
    if "pyarrow" not in sys.modules:
        os.environ.setdefault(ARROW_POOL, "system")
