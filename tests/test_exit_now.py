"""cli/failures.exit_now: the command's status, its atexit hooks and its buffered output survive
ending the process without the C++ static destructors (pyarrow's abort at exit)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CHILD = """
import atexit, sys
from pathlib import Path
from tdxray.cli.failures import exit_now
atexit.register(lambda: Path({mark!r}).write_text("hook ran"))
sys.stdout.write("buffered, never flushed by hand")
exit_now({code!r})
"""


@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (1, 1), (2, 2), (130, 130)])
def test_status_hooks_and_output_survive(tmp_path: Path, code: int | None, status: int) -> None:
    mark = tmp_path / "mark"
    done = subprocess.run([sys.executable, "-c", CHILD.format(mark=str(mark), code=code)],
                          capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (
        status, "buffered, never flushed by hand", "")
    assert mark.read_text() == "hook ran"


def test_a_message_as_status_goes_to_stderr_with_status_1(tmp_path: Path) -> None:
    child = CHILD.format(mark=str(tmp_path / "mark"), code="tdxray: gone")
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                          check=False)
    assert (done.returncode, done.stderr) == (1, "tdxray: gone\n")


def test_a_running_non_daemon_thread_is_joined_first(tmp_path: Path) -> None:
    mark = tmp_path / "mark"
    child = f"""
import threading, time
from pathlib import Path
from tdxray.cli.failures import exit_now
def late() -> None:
    time.sleep(0.2)
    Path({str(mark)!r}).write_text("thread done")
threading.Thread(target=late).start()
exit_now(3)
"""
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                          check=False)
    assert (done.returncode, mark.read_text()) == (3, "thread done")
