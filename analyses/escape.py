"""Make trace-supplied text safe to print: control characters become visible escapes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO

from tdxray.schema.escape import escape_control

__all__ = ["EscapingWriter", "escape_control", "escape_lines"]


def escape_lines(text: str) -> str:
    """escape_control of each line: line breaks are kept, every other control is escaped."""
    return "\n".join(escape_control(line) for line in text.split("\n"))


class EscapingWriter:
    """A text stream that escapes what is written to it (line breaks kept): trace text in a
    data format (CSV, JSON Lines, a source's text) reaching a terminal."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def write(self, text: str) -> int:
        self.out.write(escape_lines(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self.out.flush()

    def isatty(self) -> bool:
        return False  # what it passes on is plain text, never terminal control
