"""Where a trace's replay results go: beside the trace in its store (never where a symbolic link
there points), or, when the store cannot be written (a read-only mount, no permission), a
stand-in under one temporary directory of this process, removed when it exits. The stand-in
starts as a copy of the results already there, so fresh results are still reused; stderr says
where results went, once per store."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path

from tdxray.schema.errors import InputError
from tdxray.schema.escape import escape_control
from tdxray.store.layout import RESULTS_SUFFIX
from tdxray.store.scratch import process_dir

_said: set[Path] = set()


def results_place(results_dir: Path) -> Path:
    """`results_dir` when this process can write it, else its stand-in. A results dir that is a
    symbolic link is refused: results would be written wherever it points."""
    if results_dir.is_symlink():
        raise InputError("is a symbolic link: replay results are written only into the store "
                         "itself (remove the link)", str(results_dir))
    if _writable(results_dir):
        return results_dir
    stand_in = _stand_in_root() / f"{len(list(_stand_in_root().iterdir()))}-{results_dir.name}"
    if results_dir.is_dir():
        shutil.copytree(results_dir, stand_in)
    store = results_dir.parent
    if store not in _said:
        _said.add(store)
        print(escape_control(f"tdxray: note: {store} is read-only: replay results go to "
                             f"{_stand_in_root()} (removed when tdxray exits)"), file=sys.stderr)
    return stand_in


def _writable(results_dir: Path) -> bool:
    where = str(results_dir)  # os.path, not pathlib: called for every trace of a store
    if os.path.isdir(where):
        return os.access(where, os.W_OK | os.X_OK)
    # a bare name (a trace named from its own directory) lies in the current directory
    return os.access(os.path.dirname(where) or ".", os.W_OK | os.X_OK)


def _stand_in_root() -> Path:
    return process_dir("tdxray-results-")


def results_places(root: Path, trace_ids: Iterable[str]) -> dict[str, str]:
    """trace id -> where its results go (results_place), for every trace of the local store at
    `root`: one listing of the store tells a plain results directory (not a link) from the
    rest, then one access() each; results_place decides for any other."""
    with os.scandir(root) as entries:
        plain = {e.name for e in entries
                 if e.name.endswith(RESULTS_SUFFIX) and not e.is_symlink() and e.is_dir()}
    out = {}
    for tid in trace_ids:
        name = f"{tid}{RESULTS_SUFFIX}"
        where = f"{root}/{name}"
        if name in plain and os.access(where, os.W_OK | os.X_OK):
            out[tid] = where
        else:
            out[tid] = str(results_place(Path(where)))
    return out
