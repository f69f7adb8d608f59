"""One temporary directory per process and purpose, made on first use and removed when the
process exits: where converted text traces, fetched objects and stand-in results live."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

_dirs: dict[str, Path] = {}


def process_dir(prefix: str) -> Path:
    """This process's directory for `prefix` (e.g. "tdxray-"), made the first time it is asked."""
    if prefix not in _dirs:
        path = Path(tempfile.mkdtemp(prefix=prefix))
        atexit.register(shutil.rmtree, path, ignore_errors=True)
        _dirs[prefix] = path
    return _dirs[prefix]
