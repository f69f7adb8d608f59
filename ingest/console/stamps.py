"""The stamps a kernel log line starts with, in the shapes the kernel and its tools print.

- printk (`kernel/printk/printk.c`, `print_time`/`print_caller`): `[%5lu.%06lu]`, and with
  CONFIG_PRINTK_CALLER a caller id right after it, `[    T1]` (a task) or `[    C0]` (a CPU in
  interrupt context); `/dev/kmsg` readers may keep a `<6>` level before it.
- util-linux `dmesg` prints the same, a space before the caller id; `dmesg -T` prints the wall
  clock instead (`[Sun Dec  6 17:12:33 2026]`, strftime `%a %b %e %H:%M:%S %Y`), read as UTC.
- `dmesg -d` adds the delta to the stamp, `[   16.909315 <    1.968425>]`; `dmesg --time-format
  iso` prints `2026-12-06T23:04:40,909315+00:00 `; `dmesg -x` puts the facility and level,
  `%-6s:%-6s: ` (`kern  :warn  : `), before everything (util-linux sys-utils/dmesg.c).
- `journalctl -k` (systemd's output_short()), `host kernel: ` after the stamp:
  `-o short-monotonic` `[    3.148950]`, `short-delta` `[   16.909315 <    1.968425 >]`,
  `short-iso(-precise)` `2026-12-06T23:04:40(.909315)+0000`, `short-unix` `1796598280.909315`,
  `short-full` `Sun 2026-12-06 23:04:40 UTC` (UTC only). The default `short` and
  `short-precise` (`Dec 06 23:04:40`) have no year: YEARLESS, refused by the reader.
- `console_msg_format=syslog` puts the syslog priority before the stamp on the console,
  `<4>[   16.909315] ` (`<12>` for a user's /dev/kmsg record), and before the text alone with
  printk.time=0: `<4>kexec_load: …` (info_print_prefix() in kernel/printk/printk.c).
- printk.time=0 on a CONFIG_PRINTK_CALLER kernel (Debian's) keeps the caller id, and its
  space: `[  T145] kexec_load: …`, `<4>[    C1] …` (CALLER; the line has no time of its own).

A console captured through a terminal tool may carry the tool's own stamp before the kernel's
line (CAPTURE; measured on Debian 12's tools): moreutils `ts` (`Dec 07 08:20:57 `, with `%.S`
`Dec 07 08:20:57.599245 `, `-s`/`-i` `00:00:01 `, or a `%Y-%m-%d %H:%M:%S` format), tio `-t`
(`[08:23:07.985] `, `--timestamp-format iso8601` `[2026-12-07T08:24:30.367] `; bold on its screen,
`\x1b[1m…\x1b[0m`) and grabserial `-t`/`-T` (`[0.000294 0.000294] `,
`[08:25:37.010557 0.000335] `). The kernel's stamp after it is the line's time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

MONOTONIC = re.compile(r"(?:<\d{1,3}>)?\[\s*(?P<sec>\d{1,12})\.(?P<usec>\d{6})"
                       r"(?: <\s*\d{1,12}\.\d{6} ?>| +)?\]"
                       r"(?: ?\[\s*(?P<who>[TC])(?P<id>\d{1,10})\])? ?")
WALL = re.compile(r"(?:<\d{1,3}>)?\[(?P<wall>[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d "
                  r"\d\d:\d\d:\d\d \d{4})\](?: ?\[\s*(?P<who>[TC])(?P<id>\d{1,10})\])? ?")
ISO = re.compile(r"(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:[,.](?P<usec>\d{6}))?"
                 r"(?P<tz>Z|[+-]\d\d:?\d\d) ")
JOURNAL = re.compile(r"\S+ kernel: ")
UNIX = re.compile(r"(?P<sec>\d{1,12})\.(?P<usec>\d{6}) (?=\S+ kernel: )")
FULL = re.compile(r"[A-Z][a-z]{2} (?P<day>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?:\.(?P<usec>\d{6}))?"
                  r" (?:UTC|GMT) (?=\S+ kernel: )")
SGR = r"(?:\x1b\[[\d;]*m)?"
CAPTURE = re.compile(
    r"(?:(?:[A-Z][a-z]{2} [ 0-3]\d |\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d(?:[.,]\d{1,9})? "  # ts
    rf"|{SGR}\[(?:\d{{4}}-\d\d-\d\dT)?\d\d:\d\d:\d\d\.\d{{3}}\] {SGR}"  # tio
    r"|\[(?:\d\d:\d\d:\d\d\.\d{6}|\d{1,12}\.\d{6}) \d{1,12}\.\d{6}\] )")  # grabserial
CALLER = re.compile(r"\[\s*(?P<who>[TC])(?P<id>\d{1,10})\] ?")
YEARLESS = re.compile(r"[A-Z][a-z]{2} [ 0-3]\d \d\d:\d\d:\d\d(?:\.\d{6})? \S+ kernel: ")
# before the stamp, or alone: a syslog priority (`<4>`), or dmesg -x's facility and level
LEVEL = re.compile(r"<\d{1,3}>|(?:kern|user|mail|daemon|auth|syslog|lpr|news|uucp|cron|"
                   r"authpriv|ftp|res[0-3]|local[0-7]) *:(?:emerg|alert|crit|err|warn|notice|"
                   r"info|debug) *: ")


@dataclass(frozen=True)
class Stamp:
    ns: int                 # printk clock (monotonic) or the wall clock, in ns
    cpu: int | None         # the CPU of a `[ C1]` caller id
    end: int                # where the text starts
    wall: bool = False


def stamp_of(line: str) -> Stamp | None:
    decoded = LEVEL.match(line) if line[:1] != "<" else None  # dmesg -x
    at = decoded.end() if decoded is not None else 0
    m = MONOTONIC.match(line, at)
    if m is not None:
        return Stamp(int(m["sec"]) * 1_000_000_000 + int(m["usec"]) * 1000, _cpu(m), m.end())
    m = ISO.match(line, at) or FULL.match(line, at)
    if m is not None:
        day = m["iso"] if "iso" in m.groupdict() else m["day"].replace(" ", "T")
        tz = m["tz"] if "tz" in m.groupdict() else "+00:00"
        seconds = int(datetime.fromisoformat(day + ("+00:00" if tz == "Z" else tz)).timestamp())
        return Stamp(seconds * 1_000_000_000 + int(m["usec"] or 0) * 1000, None, m.end(),
                     wall=True)
    m = UNIX.match(line, at)
    if m is not None:
        return Stamp(int(m["sec"]) * 1_000_000_000 + int(m["usec"]) * 1000, None, m.end(),
                     wall=True)
    m = WALL.match(line, at)
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
