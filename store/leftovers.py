"""What killed runs leave behind, told apart from what live ones are writing.

Temporaries are named with their owner's pid: in a store `.NAME.<pid>.<random>.tmp` (a trace or
result being written) and `.replay-<pid>-<random>` (results being staged); in this machine's
temporary directory `tdxray-<purpose>-<pid>-<random>` (store/scratch.py). A temporary is a
leftover when its owner no longer runs here (a pid since reused by a process started after
the temporary was last written does not count as its owner); a temporary whose owner cannot be
checked (a name without a pid, an s3:// store written from anywhere) when it is older than a
threshold. A live writer's temporary is never one.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISDIR

from tdxray.store.fs import backend_errors, is_url
from tdxray.store.manifest import store_fs

# pid of a store temporary: .NAME.<pid>.<random>.tmp or .replay-<pid>-<random>
STORE_OWNER = re.compile(r"(?:\.(\d+)\.[a-z0-9_]+\.tmp|^\.replay-(\d+)-[a-z0-9_]+)$")
# tdxray's temporary directories: tdxray-[<purpose>-][<pid>-]<mkdtemp's 8 random characters>
# (nothing else of the temporary directory, however it is named, is ever touched)
SCRATCH_NAME = re.compile(r"^tdxray-(?:[a-z]+(?:-[a-z]+)*-)??(?:(\d+)-)?[a-z0-9_]{8}$")
DEFAULT_AGE = 15 * 60  # seconds: for temporaries whose owner cannot be checked


@dataclass(frozen=True)
class Temporary:
    path: str
    owner: int | None  # the pid its name carries, when it can be checked on this machine
    mtime: float  # seconds since the epoch
    in_store: bool  # else in this machine's temporary directory

    def leftover(self, older_than: float, now: float) -> bool:
        if self.owner is not None:
            return not runs_since(self.owner, self.mtime)
        return now - self.mtime >= older_than

    def why(self, now: float) -> str:
        if self.owner is not None:
            return f"its process {self.owner} is gone"
        return f"{_duration(now - self.mtime)} old, no owner known"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{max(0, int(seconds))} s"
    if seconds < 7200:
        return f"{int(seconds // 60)} min"
    return f"{int(seconds // 3600)} h"


def runs_since(pid: int, mtime: float) -> bool:
    """Whether process `pid` runs and started before `mtime` (so it may have written then)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it runs, as another user
    started = _start_time(pid)
    return started is None or started <= mtime + 1  # procfs start times tick at 1/HZ


def _start_time(pid: int) -> float | None:
    """When `pid` started (seconds since the epoch), from /proc; None where /proc cannot say."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text()
                    .splitlines() if line.startswith("btime "))
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # after the command name, which may hold spaces
    try:
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime
    except (IndexError, ValueError):
        return None


def store_temporaries(store: str) -> list[Temporary]:
    """The temporaries in STORE (.NAME.*.tmp files, .replay-* directories), sorted by path."""
    fs, root = store_fs(store)
    local = not is_url(store)
    with backend_errors(store):
        found = fs.find(root, withdirs=True, detail=True)
    out = []
    for name, info in sorted(found.items()):
        base = name.rsplit("/", 1)[-1]
        if not base.startswith(".") or not (base.endswith(".tmp") or base.startswith(".replay-")):
            continue
        owner = STORE_OWNER.search(base)
        pid = next((int(g) for g in owner.groups() if g), None) if owner and local else None
        out.append(Temporary(str(name), pid, _mtime(info), True))
    return out


def _mtime(info: dict[str, object]) -> float:
    for key in ("mtime", "LastModified", "last_modified", "created"):
        value = info.get(key)
        if isinstance(value, (int, float)):
            return float(value)
        if hasattr(value, "timestamp"):
            return float(value.timestamp())  # type: ignore[union-attr]
    return time.time()  # unknown: as if just written (kept until it is known)


def scratch_temporaries() -> list[Temporary]:
    """tdxray's temporary directories in this machine's temporary directory."""
    root = Path(tempfile.gettempdir())
    out = []
    for path in sorted(root.glob("tdxray-*")):
        name = SCRATCH_NAME.match(path.name)
        try:
            stat = path.lstat()
        except FileNotFoundError:
            continue  # removed meanwhile by its owner
        if name is None or not S_ISDIR(stat.st_mode):
            continue
        owner, mtime = name.group(1), stat.st_mtime
        out.append(Temporary(str(path), int(owner) if owner else None, mtime, False))
    return out


def remove(temporary: Temporary, store: str) -> None:
    """Remove a leftover (a directory with what it holds)."""
    if temporary.in_store:
        fs, _ = store_fs(store)
        with backend_errors(store):
            fs.rm(temporary.path, recursive=True)
        return
    path = Path(temporary.path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
