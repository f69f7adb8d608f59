"""The structure tried before single events: event kinds, whole vCPUs, conversion ranges (the
model's phases come from the model itself: analyses/shrink/session.py)."""

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


def by_vcpu(trace: TextTrace, keep: list[int]) -> list[list[int]]:
    """The kept events of each vCPU."""
    groups: dict[object, list[int]] = defaultdict(list)
    for i in keep:
        groups[trace.events[i].get("vcpu")].append(i)
    return [groups[k] for k in sorted(groups, key=str)]


def by_kind(trace: TextTrace, keep: list[int]) -> list[list[int]]:
    """The kept events of each kind (most of a long trace is background TDVMCALLs)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i in keep:
        groups[str(trace.events[i].get("kind"))].append(i)
    return [groups[k] for k in sorted(groups)]


def by_range(trace: TextTrace, keep: list[int]) -> list[list[int]]:
    """Kept conversion events grouped by the 2 MiB-aligned region of their GPA (shared bit off)."""
    groups: dict[int, list[int]] = defaultdict(list)
    for i in keep:
        event = trace.events[i]
        gpa = _gpa(event)
        if event.get("kind") in RANGE_KINDS and gpa is not None:
            groups[(gpa & ((1 << 47) - 1)) >> 21].append(i)
    return [groups[k] for k in sorted(groups)]
