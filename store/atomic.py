"""Write to a temporary name beside the target, then rename: no half file under the final name.

Every temporary file made here is tracked from the instant it exists (signals are held while
it is created and registered) until it is renamed or removed; what is still tracked when the
process exits (a SIGTERM, a Ctrl-C anywhere, an error) is removed by an atexit hook.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tdxray.schema.errors import InputError
from tdxray.store.scratch import signals_held

_live: set[Path] = set()
_hooked = False


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path in final's directory; rename it to final when the block succeeds."""
    tmp = temp_beside(final)
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
        release(tmp)


def temp_beside(final: Path) -> Path:
    """A new empty file `.NAME.<pid>.*.tmp` beside `final`, removed at exit unless released."""
    global _hooked
    if final.is_dir():
        raise InputError("is a directory: name a file to write", str(final))
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise InputError(f"cannot make this directory for {final.name}: a file is in the way",
                         str(exc.filename or final.parent)) from None
    with signals_held():  # named with this pid: store check tells a live writer's
        fd, name = tempfile.mkstemp(prefix=f".{final.name}.{os.getpid()}.", suffix=".tmp",
                                    dir=final.parent)
        os.close(fd)
        tmp = Path(name)
        _live.add(tmp)
        if not _hooked:
            atexit.register(_remove_live)
            _hooked = True
    tmp.chmod(default_file_mode())
    return tmp


def release(tmp: Path) -> None:
    """`tmp` was renamed or removed: nothing to do for it at exit."""
    _live.discard(tmp)


def _remove_live() -> None:
    for tmp in list(_live):
        tmp.unlink(missing_ok=True)
        _live.discard(tmp)


def default_file_mode() -> int:
    """The mode open() would give a new file (mkstemp's temporaries are 0600)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask
