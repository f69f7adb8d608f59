"""The structure tried before single events: whole vCPUs, kexec phases, conversion ranges."""

from __future__ import annotations

from collections import defaultdict

from tdxray.analyses.shrink.trace import TextTrace

RANGE_KINDS = {"map_gpa", "accept", "convert", "mem_access"}
PAGE = 0x1000


def _gpa(event: dict[str, object]) -> int | None:
    value = event.get("gpa")
    if isinstance(value, str):
        try:
            return int(value, 16)
        except ValueError:
            return None
    return value if isinstance(value, int) else None


def by_vcpu(trace: TextTrace) -> list[list[int]]:
    groups: dict[object, list[int]] = defaultdict(list)
    for i, event in enumerate(trace.events):
        groups[event.get("vcpu")].append(i)
    return [groups[k] for k in sorted(groups, key=str)]


def by_phase(trace: TextTrace) -> list[list[int]]:
    """Runs of events between kexec phase markers (each marker starts a new run)."""
    runs: list[list[int]] = [[]]
    for i, event in enumerate(trace.events):
        if event.get("kind") == "kexec" and runs[-1]:
            runs.append([])
        runs[-1].append(i)
    return [r for r in runs if r]


def by_range(trace: TextTrace) -> list[list[int]]:
    """Conversion events grouped by the 2 MiB-aligned region their GPA falls in (shared bit off)."""
    groups: dict[int, list[int]] = defaultdict(list)
    for i, event in enumerate(trace.events):
        gpa = _gpa(event)
        if event.get("kind") in RANGE_KINDS and gpa is not None:
            groups[(gpa & ((1 << 47) - 1)) >> 21].append(i)
    return [groups[k] for k in sorted(groups)]
