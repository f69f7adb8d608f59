"""What the CLI says when a command fails outside its own checks: one line, never a traceback.

The operating system (a full disk, an unwritable or missing directory), memory running out, and
damaged compressed input each get one line naming what failed, and exit status 2.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading

from tdxray.analyses.escape import escape_control
from tdxray.schema.errors import Terminated

EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a killed reader's writer
EXIT_TERMINATED = 143  # 128 + SIGTERM


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def handle_sigterm() -> None:
    """Make SIGTERM unwind the command like Ctrl-C (schema.errors.Terminated): every `finally`,
    context manager and atexit hook runs (temporary files and directories removed, DuckDB
    interrupted), then the command exits 143. The default action kills the process where it
    stands. Installed in the main thread only."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)


def _damage_kinds() -> tuple[type[BaseException], ...]:
    """The decompressors' own errors, of the modules already loaded (none is imported here)."""
    kinds: list[type[BaseException]] = [EOFError]
    lzma, zstd = sys.modules.get("lzma"), sys.modules.get("zstandard")
    if lzma is not None:
        kinds.append(lzma.LZMAError)
    if zstd is not None:
        kinds.append(zstd.ZstdError)
    return tuple(kinds)


def failure_line(exc: BaseException) -> str | None:
    """The one line for `exc`, or None when it is not one of these failures (a bug: re-raise)."""
    if isinstance(exc, MemoryError):  # ArrowMemoryError included
        return "out of memory: " + escape_control(str(exc) or "the operation needs more memory")
    if isinstance(exc, EOFError):
        return f"damaged compressed input: it ends early (truncated?): {escape_control(str(exc))}"
    if isinstance(exc, _damage_kinds()):
        return f"damaged compressed input: {escape_control(str(exc))}"
    if isinstance(exc, OSError):
        where = exc.filename if exc.filename is not None else None
        what = exc.strerror or str(exc) or type(exc).__name__
        text = f"{where}: {what}" if where is not None else what
        return escape_control(text)
    return None


def quiet_broken_pipe() -> None:
    """The reader of stdout went away (`| head`): stop quietly, as a killed writer would."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(EXIT_BROKEN_PIPE)


def exit_now(code: object) -> None:
    """End the process with `code` (a SystemExit's) once the command is done: the atexit hooks
    run (temporaries removed, child processes stopped), stdout and stderr are flushed, then
    os._exit skips the C++ static destructors. pyarrow 26's run at exit aborts the process now
    and then ("terminate called without an active exception", SIGABRT: 3 in 300 runs of
    `tdxray store check` here), which would turn a finished command's exit status into 134.
    With another non-daemon thread still running, the interpreter's own exit joins it."""
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    if any(not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(status)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # reader gone, or the stream closed by a hook
            status = status or EXIT_BROKEN_PIPE
    os._exit(status)
