"""Make trace-supplied text safe to print: control characters become visible escapes (here, at
the bottom, so that every layer can escape what it prints; analyses/escape.py builds on it)."""

from __future__ import annotations


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
