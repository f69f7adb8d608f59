"""Write to a temporary name beside the target, then rename: no half file under the final name."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path in final's directory; rename it to final when the block succeeds."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.chmod(default_file_mode())
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def default_file_mode() -> int:
    """The mode open() would give a new file (mkstemp's temporaries are 0600)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask
