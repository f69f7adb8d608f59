"""What a text export cannot hold: the events one source never records, counted by what they
are (`kind`, or `kind phase`/`kind action` where one format keeps some and not others).

A text format is one source's view (FORMATS.md §2/§3): the host sees exits, conversions and
faults, the guest probes see calls, the console sees printk lines, the QEMU log sees
conversions. `tdxray export` refuses a trace that holds events its format cannot write, and
with `--partial` writes the rest and names what it dropped.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

SOURCE_OF = {"ftrace-host": "host ftrace", "ftrace-guest": "guest ftrace",
             "qemu": "QEMU log", "console": "console log",
             "console --tp-printk": "console log with tp_printk"}
NEXT_KERNEL = "kexec boot of a next kernel"
ONE_KERNEL = ("; a guest's ftrace buffer holds one kernel: --format console --tp-printk holds "
              "every kernel's probe events")


def what(e: dict[str, Any]) -> str:
    """The name a dropped event is counted under."""
    if e["kind"] == "kexec":
        return f"kexec {e['phase']}"
    if e["kind"] == "cpu":
        return f"cpu {e['action']}"
    return str(e["kind"])


def listed(dropped: Counter[str]) -> str:
    """`26 map_gpa, 23 accept, 2 kexec boot`: most first, then by name."""
    return ", ".join(f"{n} {name}" for name, n in
                     sorted(dropped.items(), key=lambda item: (-item[1], item[0])))


def refusal(trace_id: str, fmt: str, dropped: Counter[str], total: int) -> str:
    return (f"{trace_id}: a {SOURCE_OF[fmt]} cannot hold {sum(dropped.values())} of its {total} "
            f"events ({listed(dropped)}){ONE_KERNEL if dropped[NEXT_KERNEL] else ''}; --format "
            "jsonl keeps them all, --partial writes the rest")


def nothing(trace_id: str, fmt: str, total: int) -> str:
    return (f"{trace_id}: a {SOURCE_OF[fmt]} holds none of its {total} events; --format jsonl "
            "keeps them all")


def dropped_line(trace_id: str, fmt: str, dropped: Counter[str], total: int) -> str:
    return (f"{trace_id}: dropped {sum(dropped.values())} of {total} events a {SOURCE_OF[fmt]} "
            f"cannot hold ({listed(dropped)})"
            f"{ONE_KERNEL + ', or read it with the console' if dropped[NEXT_KERNEL] else ''}")
