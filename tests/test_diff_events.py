"""A phase of two traces at event level: the unfixed kernel (A) against the fixed one (B)."""

from __future__ import annotations

from pathlib import Path

from tdxray.analyses.diff.events import Step, align, phase_events
from tdxray.analyses.diff.run import diff

LEAKED = [(0x4000000 + 0x1000 * i, 0x1000, 0) for i in range(6)]
LEAKED += [(0x1F600000 + 0x200000 * i, 0x200000, 1) for i in range(4)]


def test_the_fixed_kernels_shutdown_converts_back_what_the_unfixed_one_leaks(
        kernel_pair: tuple[Path, Path]) -> None:
    d = diff(*kernel_pair)
    shutdown = phase_events(d.a, d.b, (0, "shutdown"))
    assert (shutdown.total_a, shutdown.total_b) == (1, 23)
    first = shutdown.rows[0]
    assert first.same and first.a is not None and first.b is not None
    assert (first.a.seq, first.b.seq, first.a.says) == (298, 166, "kexec vCPU 0 phase=shutdown")
    only_b = [r.b.says for r in shutdown.rows[1:] if r.a is None and r.b is not None]
    assert len(only_b) == len(shutdown.rows) - 1
    assert only_b == ["kexec vCPU 0 phase=begin", "kexec vCPU 0 phase=finish", *(
        line for gpa, size, level in LEAKED for line in (
            f"map_gpa vCPU 0 gpa={gpa:#x} size={size:#x} status=0x0",
            f"accept vCPU 0 gpa={gpa:#x} status=0x0 level={level}"))]


def test_the_jump_differs_by_the_cr4_write_only(kernel_pair: tuple[Path, Path]) -> None:
    d = diff(*kernel_pair)
    jump = phase_events(d.a, d.b, (0, "jump"))
    assert [r.same for r in jump.rows] == [True, False]
    changed = jump.rows[1]
    assert changed.a is not None and changed.b is not None
    assert (changed.a.says, changed.b.says) == (
        "cr4_write vCPU 0 old=0x370ee0 new=0x20 site=relocate_kernel",
        "cr4_write vCPU 0 old=0x370ee0 new=0x60 site=relocate_kernel")
    for key in ((0, "boot"), (0, "io")):
        assert all(r.same for r in phase_events(d.a, d.b, key).rows)
    gen1 = phase_events(d.a, d.b, (1, "io"))  # only the fixed kernel boots again
    assert gen1.total_a == 0 and gen1.rows and all(r.a is None for r in gen1.rows)


def test_align_pairs_equal_runs_and_same_length_replacements() -> None:
    a = [Step(1, "x"), Step(2, "y"), Step(3, "z")]
    b = [Step(7, "x"), Step(8, "Y"), Step(9, "z"), Step(10, "w")]
    rows = align(a, b)
    assert [(r.a and r.a.seq, r.b and r.b.seq, r.same) for r in rows] == [
        (1, 7, True), (2, 8, False), (3, 9, True), (None, 10, False)]
