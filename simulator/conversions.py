"""MapGPA and TDG.MEM.PAGE.ACCEPT as the guest issues them and the host answers (TDX-KEXEC.md §2).

Each function emits the events and updates the page states with what the host did, which for
faulty steps is not what the kernel believed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tdxray.schema.constants import (
    ACCEPT_LEVEL_SIZES,
    KVM_MAPGPA_CHUNK,
    MAPGPA_MAX_NO_PROGRESS,
    TDVMCALL_RETRY,
    TDVMCALL_SUCCESS,
    TDX_PAGE_SIZE_MISMATCH,
    TDX_SUCCESS,
)
from tdxray.simulator.memory import Memory
from tdxray.simulator.script import Script

RETRY_PROBABILITY = 0.5  # a conversion longer than one KVM chunk is interrupted this often
NO_PROGRESS_PROBABILITY = 0.15  # a RETRY that converted nothing (legal; never 3 in a row here)
MAX_RETRIES = 3
CHUNK_NS = 15_000  # time KVM takes per 2 MiB chunk
ACCEPT_NS = {0: 0, 1: 40_000, 2: 15_000_000}  # time an ACCEPT takes beyond one tick, per level


@dataclass(frozen=True)
class MapStep:
    """One MapGPA call of an operation: where it starts, what the host answered, R11."""

    start: int
    status: int
    resume: int | None = None


def host_answers(rng: np.random.Generator, start: int, end: int) -> list[MapStep]:
    """A well-behaved KVM: converts in 2 MiB chunks and may stop between them (RETRY, R11)."""
    boundaries = -(-(end - start) // KVM_MAPGPA_CHUNK) - 1
    steps: list[MapStep] = []
    cur = start
    if boundaries > 0 and rng.random() < RETRY_PROBABILITY:
        count = int(rng.integers(1, min(MAX_RETRIES, boundaries) + 1))
        picks = sorted(int(k) for k in rng.choice(boundaries, size=count, replace=False) + 1)
        for k in picks:
            if rng.random() < NO_PROGRESS_PROBABILITY:
                steps.append(MapStep(cur, TDVMCALL_RETRY, cur))
            resume = start + k * KVM_MAPGPA_CHUNK
            steps.append(MapStep(cur, TDVMCALL_RETRY, resume))
            cur = resume
    steps.append(MapStep(cur, TDVMCALL_SUCCESS))
    return steps


def exhausted_answers(start: int) -> list[MapStep]:
    """Three no-progress RETRYs: the kernel gives up and the operation fails."""
    return [MapStep(start, TDVMCALL_RETRY, start)] * MAPGPA_MAX_NO_PROGRESS


def issue_map_gpa(s: Script, mem: Memory, shared_bit: int, vcpu: int, end: int, to_shared: bool,
                  steps: Sequence[MapStep]) -> bool:
    """Emit the MapGPA calls of one operation; True when the last one succeeded."""
    bit = shared_bit if to_shared else 0
    for step in steps:
        fields = {"gpa": step.start | bit, "size": end - step.start, "status": step.status}
        if step.status == TDVMCALL_RETRY:
            assert step.resume is not None
            fields["resume_gpa"] = step.resume | bit
        s.emit(vcpu, "map_gpa", **fields)
        done = end if step.status == TDVMCALL_SUCCESS else step.resume or step.start
        if step.status in (TDVMCALL_SUCCESS, TDVMCALL_RETRY) and done > step.start:
            mem.converted(step.start, done, to_shared)
            s.advance(CHUNK_NS * -(-(done - step.start) // KVM_MAPGPA_CHUNK))
    return bool(steps) and steps[-1].status == TDVMCALL_SUCCESS


def accept_range(s: Script, mem: Memory, vcpu: int, start: int, end: int,
                 mismatches: frozenset[tuple[int, int]] = frozenset()) -> bool:
    """Linux's accept loop: greedy 1G -> 2M -> 4K; a failure tries the next smaller level.

    `mismatches` holds (gpa, level) pairs the host mapped with smaller pages.
    """
    cur = start
    while cur < end:
        for level in (2, 1, 0):
            size = ACCEPT_LEVEL_SIZES[level]
            if cur % size or end - cur < size:
                continue
            status = TDX_PAGE_SIZE_MISMATCH | level if (cur, level) in mismatches else TDX_SUCCESS
            s.emit(vcpu, "accept", gpa=cur, level=level, status=status)
            s.advance(ACCEPT_NS[level])
            if status == TDX_SUCCESS:
                mem.accepted(cur, cur + size)
                cur += size
                break
            if level == 0:
                return False
    return True
