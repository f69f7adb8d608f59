"""A console that prints the kernel's log twice: two consoles on one serial port.

With `earlyprintk=ttyS0,keep console=ttyS0` the early console stays a real console
(early_console_register() in arch/x86/kernel/early_printk.c clears CON_BOOT), so when ttyS0
registers, get_init_console_seq() (kernel/printk/printk.c) starts it at the first record
(CON_PRINTBUFFER): the whole log is printed again from the banner, interleaved with the new
records, and from then on each record comes out once per console. The capture reads as one
kernel: the second copy of each line is dropped.

The second copy starts at the banner of the kernel that is running, printed again with the same
stamp and text, with no shutdown, crash or reboot since that banner (else it is a new kernel's).
A line is the second copy when it is the next line of the first copy not yet seen twice: the
copies are two runs through the same records, so a line repeated on purpose (15 APs printing
the same `stop_cpu` line in one microsecond) is the next record's first copy whenever the
second copy is at another record, and dropping either of two identical lines keeps the same
events.

With `earlycon=… keep_bootcon` the boot console is kept, and ttyS0, registered while a boot
console is, starts at the next record (register_console() clears its CON_PRINTBUFFER): no
second banner, but each record from ttyS0's own "console [ttyS0] enabled" on comes twice, that
line first, back to back. That pair starts the copy.

A line the first copy has and the second lacks (not a record: the early setup code
writes to the port itself) is passed over, up to AHEAD lines. Each line is kept as its hash (8
bytes a line, for the running kernel only).
"""

from __future__ import annotations

import re
from array import array

# The first copy has lines that are no records of the log, so the second copy never prints them:
# the decompressor's and early setup's own lines ("Memory KASLR using RDRAND RDTSC...").
AHEAD = 16
# register_console() prints it once per console (con_printk(), kernel/printk/printk.c)
ENABLED = re.compile(r"printk: (?:legacy )?console \[[^\]]+\] enabled")


class Replay:
    def __init__(self) -> None:
        self.lines = array("q")    # the hash of each line first seen since the banner
        self.cursor: int | None = None  # the next line the second copy will print
        self.open = False          # a replay may start: the banner's kernel is still running

    def repeated(self, line: str) -> bool:
        """Whether the line is the second console's copy of a line already read."""
        key = hash(line)
        lines, cursor = self.lines, self.cursor
        if cursor is not None:
            for ahead in range(cursor, min(cursor + AHEAD, len(lines))):
                if lines[ahead] == key:
                    self.cursor = ahead + 1
                    return True
        elif self.open and len(lines) > 1 and lines[0] == key:
            self.cursor = 1
            return True
        elif len(lines) and lines[-1] == key and ENABLED.search(line) is not None:
            self.cursor = len(lines)  # a kept boot console: the copies start together
            return True
        lines.append(key)
        return False

    def boot(self, line: str) -> None:
        """A new kernel's banner (read once): the log starts again from it."""
        self.lines = array("q", [hash(line)])
        self.cursor = None
        self.open = True

    def stopped(self) -> None:
        """The kernel went down (shutdown, crash, reboot): a banner after this is the next one's."""
        self.open = False
