"""What a text reader does with a line it cannot read: an error naming file and line, or (with
--skip-bad-lines) a count reported at the end. An incomplete last line is only a warning."""

from __future__ import annotations

from collections.abc import Callable

from tdxray.schema.errors import InputError
from tdxray.schema.events import TS_NS_MAX

Warn = Callable[[str], None]
SHOWN = 5
TS_TOO_LARGE = (f"timestamp past the int64 nanosecond range (at most {TS_NS_MAX} ns, "
                f"{TS_NS_MAX / 1e9:.0f} s)")


class BadLines:
    def __init__(self, source: str, warn: Warn, skip: bool = False) -> None:
        self.source = source
        self.warn = warn
        self.skip = skip
        self.count = 0
        self.first: list[int] = []

    def bad(self, line: int, why: str, tail: bool = False) -> None:
        """Line `line` cannot be read because `why`; `tail` marks the input's unfinished end."""
        if tail:
            self.warn(f"{self.source}:{line}: incomplete last line skipped ({why})")
            return
        if not self.skip:
            raise InputError(why, self.source, line)
        self.count += 1
        if len(self.first) < SHOWN:
            self.first.append(line)

    def finish(self) -> None:
        if self.count:
            shown = ", ".join(map(str, self.first)) + (", …" if self.count > SHOWN else "")
            self.warn(f"{self.source}: skipped {self.count} bad line"
                      f"{'s' if self.count > 1 else ''} (line {shown})")
