"""Temporary directories of this process (converted text traces, fetched objects, stand-in
results, a replay's page history, DuckDB's spill): named with the owner's pid
(`tdxray-replay-<pid>-<random>`), so that `tdxray store check` can tell a live owner's from a
killed run's leftover, and tracked from the instant they exist: SIGTERM and SIGINT wait while
one is made and registered, and what is still registered when the process exits is removed.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

HELD = {signal.SIGTERM, signal.SIGINT}
# the pid a name carries: tdxray-<purpose>-<pid>-<random> (mkdtemp's random part has no "-")
OWNER = re.compile(r"-(\d+)-[a-z0-9_]+$")

_dirs: dict[str, Path] = {}
_live: set[Path] = set()
_hooked = False


def owned_prefix(prefix: str) -> str:
    """`prefix` with this process's pid: what OWNER reads back."""
    return f"{prefix}{os.getpid()}-"


def owner(name: str) -> int | None:
    """The pid a temporary's name carries, or None (a name from before pids were kept)."""
    found = OWNER.search(name)
    return int(found.group(1)) if found else None


def make_dir(prefix: str, parent: Path | None = None) -> Path:
    """A new directory `<prefix><pid>-<random>` (in the temporary directory, or `parent`),
    removed when the process exits unless `remove_dir` removed it before."""
    global _hooked
    with signals_held():
        path = Path(tempfile.mkdtemp(prefix=owned_prefix(prefix), dir=parent))
        _live.add(path)
        if not _hooked:
            atexit.register(_remove_live)
            _hooked = True
    return path


def remove_dir(path: Path) -> None:
    """Remove a directory make_dir made (whole: a signal waits until it is gone)."""
    with signals_held():
        shutil.rmtree(path, ignore_errors=True)
        _live.discard(path)


@contextlib.contextmanager
def scratch_dir(prefix: str, parent: Path | None = None) -> Iterator[Path]:
    """A directory for the block (tempfile.TemporaryDirectory, without its window: a SIGTERM
    between the directory's creation and its registration leaked it)."""
    path = make_dir(prefix, parent)
    try:
        yield path
    finally:
        remove_dir(path)


def process_dir(prefix: str) -> Path:
    """This process's directory for `prefix` (e.g. "tdxray-"), made the first time it is asked."""
    if prefix not in _dirs:
        _dirs[prefix] = make_dir(prefix)
    return _dirs[prefix]


def _remove_live() -> None:
    for path in list(_live):
        shutil.rmtree(path, ignore_errors=True)
        _live.discard(path)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """SIGTERM and SIGINT wait until the block ends (then act as they would have): nothing is
    made without being tracked, nothing half removed. Their Python handlers are swapped for
    one that notes them: masking the signal would not do, another thread (pyarrow's, say)
    would take it and the main thread would still run the handler mid-block."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {held: signal.signal(held, lambda signum, _frame: pending.append(signum))
                for held in HELD}
    try:
        yield
    finally:
        for held, handler in previous.items():
            signal.signal(held, handler)
        for signum in pending:
            signal.raise_signal(signum)
