"""A trace as the shrinker handles it: the header line and the event objects, in seq order."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tdxray.schema.errors import InputError

COUNT_LINES = 10_000


@dataclass(frozen=True)
class TextTrace:
    header: dict[str, object]
    events: list[dict[str, object]]

    def lines(self, keep: list[int]) -> list[str]:
        """The JSONL lines of the events at indices `keep`: seq renumbered 1..n, ts kept."""
        out = [json.dumps(self.header)]
        for seq, index in enumerate(keep, start=1):
            event = dict(self.events[index])
            event["seq"] = seq
            out.append(json.dumps(event))
        return out

    def write(self, keep: list[int], path: Path) -> None:
        path.write_text("\n".join(self.lines(keep)) + "\n")


def read_text_trace(path: Path, count: Callable[[int], None] | None = None) -> TextTrace:
    """Read a JSONL trace (FORMATS.md §1); any line that is not a JSON object is an InputError.
    `count` hears of the events read, COUNT_LINES at a time."""
    header: dict[str, object] | None = None
    events: list[dict[str, object]] = []
    try:
        handle = path.open()
    except OSError as err:
        raise InputError(err.strerror or "cannot read", str(path)) from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as err:
                raise InputError(f"line {number}: not JSON ({err.msg})", str(path)) from None
            if not isinstance(value, dict):
                raise InputError(f"line {number}: not a JSON object", str(path))
            if header is None:
                if "tdxray" not in value:
                    raise InputError("line 1: no trace header (a 'tdxray' key)", str(path))
                header = value
            else:
                events.append(value)
                if count is not None and len(events) % COUNT_LINES == 0:
                    count(COUNT_LINES)
    if header is None:
        raise InputError("empty trace", str(path))
    if count is not None:
        count(len(events) % COUNT_LINES)
    events.sort(key=lambda e: e.get("seq", 0) if isinstance(e.get("seq"), int) else 0)
    return TextTrace(header, events)
