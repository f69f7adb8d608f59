"""Make trace-supplied text safe to print: control characters become visible escapes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO


def _escape_char(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def escape_control(text: str) -> str:
    """Escape every non-printable character (C0/C1 controls, DEL, bidi and other format
    characters, line separators) as \\xNN / \\uNNNN; printable Unicode is kept as it is.

    >>> escape_control("ok\\x1b[31m red")
    'ok\\\\x1b[31m red'
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape_char(c) for c in text)


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
