"""`python benchmarks/run.py` from the repo root: the same as `python -m tdxray.benchmarks`."""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    # Running a file puts its folder first on sys.path; drop it so the stage modules here
    # (replay.py, ingest.py, ...) cannot shadow other top-level names.
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        del sys.path[0]
    from tdxray.benchmarks.__main__ import main

    main()
