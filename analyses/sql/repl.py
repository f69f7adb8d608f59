"""A small interactive SQL prompt with history (readline, kept in the XDG state directory)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from tdxray.schema.errors import InputError, Terminated

HELP = """Statements end with ';'. Commands:
  .schema         views, their columns, macros
  .list           the query library
  .run NAME       run a library query
  .help           this text
  .quit           leave (or Ctrl-D)"""

PROMPT = "tdxray> "
MORE = "   ...> "
HISTORY_LENGTH = 1000


def history_path() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "tdxray" / "sql_history"


class History:
    """readline history in a file; a no-op where readline is missing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            import readline
        except ImportError:
            self.readline = None
            return
        self.readline = readline
        readline.set_history_length(HISTORY_LENGTH)
        if path.exists():
            # an unreadable history is not worth refusing to start for
            with contextlib.suppress(OSError):
                readline.read_history_file(str(path))

    def save(self) -> None:
        if self.readline is None:
            return
        with contextlib.suppress(OSError):  # best effort: the session itself worked
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.readline.write_history_file(str(self.path))


Handler = Callable[[str], None]


def repl(run_sql: Handler, run_command: Handler, read: Callable[[str], str] = input,
         say: Callable[[str], None] = print) -> None:
    """Read statements until EOF or .quit; errors are printed, never fatal."""
    buffer: list[str] = []
    while True:
        try:
            line = read(MORE if buffer else PROMPT)
        except EOFError:
            say("")
            return
        except Terminated:
            raise
        except KeyboardInterrupt:
            say("")
            buffer = []
            continue
        if not buffer and line.strip().startswith("."):
            if line.strip() in (".quit", ".exit"):
                return
            _guarded(run_command, line.strip(), say)
            continue
        buffer.append(line)
        text = "\n".join(buffer).strip()
        if not text:
            buffer = []
        elif text.endswith(";"):
            buffer = []
            _guarded(run_sql, text, say)


def _guarded(handler: Handler, text: str, say: Callable[[str], None]) -> None:
    try:
        handler(text)
    except InputError as exc:
        say(f"error: {exc}")
    except Terminated:
        raise
    except KeyboardInterrupt:
        say("interrupted")
