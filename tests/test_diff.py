"""`tdxray diff A B`: the unfixed kernel against the fixed one, phase by phase, exactly."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from tdxray.analyses.diff.compare import Diff
from tdxray.analyses.diff.ranges import coalesce, subtract
from tdxray.analyses.diff.run import diff
from tdxray.analyses.diff.to_json import diff_json
from tdxray.cli.main import cli
from tdxray.model.replay import replay_trace

SAMPLES = Path(__file__).resolve().parent.parent / "sample_traces"
PAGE = 0x1000


def _k001_ranges(path: Path) -> list[tuple[int, int]]:
    found = replay_trace(path).divergences
    return sorted((d.gpa_start, d.gpa_end) for d in found if d.rule == "K001")


def _phase(doc: dict, generation: int, name: str) -> dict:
    return next(p for p in doc["phases"] if (p["generation"], p["phase"]) == (generation, name))


def _hex(ranges: list[tuple[int, int]]) -> list[list[str]]:
    return [[hex(s), hex(e)] for s, e in ranges]


def test_unfixed_vs_fixed_shows_the_leak_and_the_cr4_fix_and_nothing_else(
        kernel_pair: tuple[Path, Path]) -> None:
    a, b = kernel_pair
    leaked = _k001_ranges(a)
    assert len(leaked) == 2
    doc = diff_json(diff(a, b))
    assert [(p["generation"], p["phase"], p["present"]) for p in doc["phases"]] == [
        (0, "boot", "both"), (0, "io", "both"), (0, "shutdown", "both"), (0, "jump", "both"),
        (1, "boot", "b"), (1, "io", "b")]
    assert not _phase(doc, 0, "boot")["differs"]
    assert not _phase(doc, 0, "io")["differs"]
    # the shutdown: only the fixed kernel's kexec_finish converts the shared ranges back
    shutdown = _phase(doc, 0, "shutdown")
    assert shutdown["divergences"] == {"only_a": [], "only_b": []}
    assert shutdown["conversions"]["to_private"]["only_b"] == _hex(leaked)
    assert shutdown["conversions"]["to_private"]["only_a"] == []
    assert shutdown["accepts"]["only_b"] == _hex(leaked)
    assert shutdown["conversions"]["to_shared"]["only_a"] == []
    assert shutdown["conversions"]["to_shared"]["only_b"] == []
    assert all(not m["only_a"] and not m["only_b"] for m in shutdown["page_map"].values())
    assert shutdown["mailbox"] == [] and shutdown["cpu"] == []
    # the jump: the leak (K001 per range, K004) and the CR4 write that cleared MCE (C001)
    jump = _phase(doc, 0, "jump")
    only_a = jump["divergences"]["only_a"]
    assert sorted((d["rule"], d["gpa_start"] or "") for d in only_a) == sorted([
        ("C001", ""), ("K001", hex(leaked[0][0])), ("K001", hex(leaked[1][0])), ("K004", "")])
    assert jump["divergences"]["only_b"] == []
    assert jump["page_map"]["shared"] == {"only_a": _hex(leaked), "only_b": []}
    assert jump["page_map"]["pending"] == {"only_a": [], "only_b": []}
    assert jump["cpu"] == ["-vCPU 0 CR4 0x370ee0 -> 0x20 in relocate_kernel",
                           "+vCPU 0 CR4 0x370ee0 -> 0x60 in relocate_kernel"]
    assert [d["rule"] for d in doc["trace"]["only_b"]] == []
    assert doc["summary"]["new_in_b"] == 0 and doc["exit_status"] == 0


def test_b_worse_than_a_exits_1_naming_what_b_added(kernel_pair: tuple[Path, Path]) -> None:
    a, b = kernel_pair
    result = CliRunner().invoke(cli, ["diff", str(b), str(a), "--format", "json"])
    assert result.exit_code == 1, result.output
    doc = json.loads(result.output)
    assert sorted(d["rule"] for p in doc["phases"] for d in p["divergences"]["only_b"]) == [
        "C001", "K001", "K001", "K004"]
    assert doc["summary"]["new_in_b"] == 4


def test_a_trace_against_itself_is_the_same_in_every_phase() -> None:
    trace = SAMPLES / "smp-v1-kexec.jsonl"
    result: Diff = diff(trace, trace)
    assert [p.title for p in result.phases] == [
        "generation 0 boot", "generation 0 I/O", "generation 0 kexec shutdown",
        "generation 0 jump", "generation 1 boot", "generation 1 I/O"]
    assert not any(p.differs for p in result.phases)
    assert result.exit_status == 0
    # the phases saw the SMP story: APs woken at boot, parked at the shutdown
    cpu = {p.key: p for p in result.a.timeline.phases}
    assert cpu[(0, "boot")].cpu.steps == ["APIC id 1 woken"]
    assert cpu[(0, "shutdown")].cpu.steps == ["APIC id 1 parked"]


def test_text_and_markdown_name_the_differences(kernel_pair: tuple[Path, Path]) -> None:
    a, b = kernel_pair
    runner = CliRunner()
    text = runner.invoke(cli, ["diff", str(a), str(b)])
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert "generation 0 I/O: same (A 3642.993 ms, B 3642.993 ms)" in lines
    assert sum("only in A: ERROR K001 leaked-shared-memory" in line for line in lines) == 2
    assert lines[-1] == "B has no divergence that A lacks"
    md = runner.invoke(cli, ["diff", str(a), str(b), "--format", "markdown"])
    assert md.exit_code == 0
    assert "| phase | A | B | differences |" in md.output
    assert "| generation 1 boot | - | 84.813 ms | only in B |" in md.output


def test_an_unreadable_trace_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"tdxray": 1}\n')
    result = CliRunner().invoke(cli, ["diff", str(bad), str(SAMPLES / "kdump.jsonl")])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and str(bad) in result.output


_ranges = st.lists(st.tuples(st.integers(0, 40), st.integers(1, 8)), max_size=8).map(
    lambda xs: coalesce((s * PAGE, (s + n) * PAGE) for s, n in xs))


def _pages(ranges: list[tuple[int, int]]) -> set[int]:
    return {p for s, e in ranges for p in range(s // PAGE, e // PAGE)}


@given(_ranges, _ranges)
def test_subtract_is_set_difference_of_pages(a: list[tuple[int, int]],
                                              b: list[tuple[int, int]]) -> None:
    out = subtract(a, b)
    assert _pages(out) == _pages(a) - _pages(b)
    assert out == coalesce(out)
