"""A trace with 30,000 findings, made in a blink: an unfixed kernel that jumps with every other
page of 240 MiB shared (30,000 K001 ranges and one K004)."""

from __future__ import annotations

import json
from pathlib import Path

LEAKS = 30_000
SHARED = 1 << 47  # the shared bit at GPAW 48


def write_leaky_trace(path: Path, leaks: int = LEAKS, extra_leak: bool = False) -> Path:
    """JSON Lines: `leaks` one-page MapGPAs to shared, two pages apart, then the jump.
    extra_leak: one more leaked page above the others (an unrelated new divergence)."""
    header = {"tdxray": 1, "trace_id": "leaky", "td": {
        "gpaw": 48, "apic_ids": [0], "ram": [["0x0", "0x40000000"]], "memory": "accepted"}}
    lines = [json.dumps(header)]
    pages = [0x100000 + 0x2000 * i for i in range(leaks)]
    if extra_leak:
        pages.append(0x100000 + 0x2000 * leaks)
    for seq, gpa in enumerate(pages, start=1):
        lines.append(f'{{"seq": {seq}, "ts_ns": {seq * 1000}, "vcpu": 0, "kind": "map_gpa", '
                     f'"gpa": "{gpa | SHARED:#x}", "size": 4096, "status": "0x0"}}')
    seq = len(pages) + 1
    lines.append(f'{{"seq": {seq}, "ts_ns": {seq * 1000}, "vcpu": 0, "kind": "kexec", '
                 '"phase": "jump"}')
    path.write_text("\n".join(lines) + "\n")
    return path
