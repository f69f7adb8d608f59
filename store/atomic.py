"""Write to a temporary name beside the target, then rename: no half file under the final name.

Every temporary file made here is tracked from the instant it exists (signals are held while
it is created and registered) until it is renamed or removed; what is still tracked when the
process exits (a SIGTERM, a Ctrl-C anywhere, an error) is removed by an atexit hook.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from tdxray.schema.errors import InputError

HELD = {signal.SIGTERM, signal.SIGINT}
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
    """A new empty file named `.NAME.*.tmp` beside `final`, removed at exit unless released."""
    global _hooked
    if final.is_dir():
        raise InputError("is a directory: name a file to write", str(final))
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise InputError(f"cannot make this directory for {final.name}: a file is in the way",
                         str(exc.filename or final.parent)) from None
    with _signals_held():
        fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
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


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGTERM and SIGINT wait (in the main thread, where Python handles them) until the block
    ends: a file is never made without being tracked."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def default_file_mode() -> int:
    """The mode open() would give a new file (mkstemp's temporaries are 0600)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask
