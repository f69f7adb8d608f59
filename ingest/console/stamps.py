"""The stamps a kernel log line starts with, in the shapes the kernel and its tools print.

- printk (`kernel/printk/printk.c`, `print_time`/`print_caller`): `[%5lu.%06lu]`, and with
  CONFIG_PRINTK_CALLER a caller id right after it, `[    T1]` (a task) or `[    C0]` (a CPU in
  interrupt context); `/dev/kmsg` readers may keep a `<6>` level before it.
- util-linux `dmesg` prints the same, a space before the caller id; `dmesg -T` prints the wall
  clock instead (`[Sun Dec  6 17:12:33 2026]`, strftime `%a %b %e %H:%M:%S %Y`), read as UTC.
- `journalctl -k -o short-monotonic`: `[    3.148950] host kernel: text`.
- `console_msg_format=syslog` puts the syslog priority before the stamp on the console,
  `<4>[   16.909315] ` (`<12>` for a user's /dev/kmsg record), and before the text alone with
  printk.time=0: `<4>kexec_load: …` (info_print_prefix() in kernel/printk/printk.c).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

MONOTONIC = re.compile(r"(?:<\d{1,3}>)?\[\s*(?P<sec>\d{1,12})\.(?P<usec>\d{6})\]"
                       r"(?: ?\[\s*(?P<who>[TC])(?P<id>\d{1,10})\])? ?")
WALL = re.compile(r"(?:<\d{1,3}>)?\[(?P<wall>[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d "
                  r"\d\d:\d\d:\d\d \d{4})\](?: ?\[\s*(?P<who>[TC])(?P<id>\d{1,10})\])? ?")
JOURNAL = re.compile(r"\S+ kernel: ")
LEVEL = re.compile(r"<\d{1,3}>")


@dataclass(frozen=True)
class Stamp:
    ns: int                 # printk clock (monotonic) or the wall clock, in ns
    cpu: int | None         # the CPU of a `[ C1]` caller id
    end: int                # where the text starts
    wall: bool = False


def stamp_of(line: str) -> Stamp | None:
    m = MONOTONIC.match(line)
    if m is not None:
        return Stamp(int(m["sec"]) * 1_000_000_000 + int(m["usec"]) * 1000, _cpu(m), m.end())
    m = WALL.match(line)
    if m is None:
        return None
    try:
        when = datetime.strptime(m["wall"].replace("  ", " "), "%a %b %d %H:%M:%S %Y")
    except ValueError:
        return None
    seconds = int(when.replace(tzinfo=UTC).timestamp())
    return Stamp(seconds * 1_000_000_000, _cpu(m), m.end(), wall=True)


def _cpu(m: re.Match[str]) -> int | None:
    return int(m["id"]) if m["who"] == "C" else None
