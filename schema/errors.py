"""Errors for input tdxray cannot use. The CLI turns them into one message and exit status 2."""

from __future__ import annotations


class InputError(Exception):
    """Unusable input: names the file and, where known, the line or row group."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None,
                 where: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.where = where

    def __str__(self) -> str:
        loc = ""
        if self.path is not None:
            loc = str(self.path)
            if self.line is not None:
                loc += f":{self.line}"
            if self.where:
                loc += f" ({self.where})"
            loc += ": "
        return loc + self.message


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C so that everything unwinds (the CLI
    installs it; it exits 143). Code that shrugs off a Ctrl-C must re-raise this one."""
