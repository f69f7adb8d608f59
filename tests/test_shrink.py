"""`tdxray shrink`: ddmin over a sample trace, replayed for real."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tdxray.analyses.shrink.ddmin import ddmin, flatten
from tdxray.analyses.shrink.oracle import replay_lines
from tdxray.analyses.shrink.rows import Candidates
from tdxray.analyses.shrink.run import shrink
from tdxray.analyses.shrink.session import Session
from tdxray.analyses.shrink.trace import read_text_trace
from tdxray.cli.main import cli
from tdxray.model.replay import replay_trace
from tdxray.simulator.run import simulate
from tdxray.simulator.scenarios import SCENARIOS
from tdxray.simulator.writer import write_trace

SAMPLES = Path(__file__).resolve().parent.parent / "sample_traces"
UNFIXED = SAMPLES / "unfixed-kernel.jsonl"


def test_ddmin_finds_the_two_needed_units() -> None:
    calls: list[list[int]] = []

    def test(keep: list[int]) -> bool:
        calls.append(keep)
        return {3, 11}.issubset(keep)

    units = ddmin([[i] for i in range(16)], [], test)
    assert flatten(units) == [3, 11]
    assert all(c == sorted(c) for c in calls)


def test_ddmin_keeps_fixed_events_in_every_candidate() -> None:
    seen: list[list[int]] = []

    def test(keep: list[int]) -> bool:
        seen.append(keep)
        return 5 in keep and 0 in keep

    assert flatten(ddmin([[i] for i in range(1, 9)], [0], test)) == [5]
    assert all(0 in keep for keep in seen)


def test_shrinks_the_unfixed_kernel_leak_to_the_leaking_conversions_and_the_jump(
        tmp_path: Path) -> None:
    trace = read_text_trace(UNFIXED)
    first = shrink(trace, "K001", max_replays=500)
    again = shrink(trace, "K001", max_replays=500)
    assert first.keep == again.keep and first.replays == again.replays  # deterministic
    assert first.complete and (first.before, first.after) == (150, 3)
    # the model's causes and the jump revealing the leak, tried first: 1 replay, then ddmin
    assert first.replays == 7
    lines = [json.loads(line) for line in trace.lines(first.keep)[1:]]
    assert [(e["seq"], e["kind"], e.get("gpa") or e.get("phase")) for e in lines] == [
        (1, "map_gpa", "0x800004000000"), (2, "map_gpa", "0x800004003000"),
        (3, "kexec", "jump")]
    found = replay_lines(trace, first.keep, tmp_path) or []
    k001 = [d for d in found if d.rule == "K001"]
    assert [d.fingerprint for d in k001] == [first.fingerprint]
    assert k001[0].cause_seqs == [1, 2]


def test_budget_stops_with_the_best_result_so_far() -> None:
    trace = read_text_trace(UNFIXED)
    result = shrink(trace, "K001", max_replays=1)
    assert not result.complete and result.replays == 1
    assert "budget reached" in result.summary()
    assert result.keep == shrink(trace, "K001").keep  # the causes cut, not yet shown 1-minimal
    assert shrink(trace, "K001", max_replays=0).after == 150


def test_cli_writes_a_trace_check_reports_with_that_divergence(tmp_path: Path) -> None:
    out = tmp_path / "min.jsonl"
    run = CliRunner().invoke(cli, ["shrink", str(UNFIXED), "--rule", "k004", "-o", str(out)])
    assert run.exit_code == 0, run.output
    assert run.stdout.startswith("K004 ") and ": 150 -> " in run.stdout
    assert "after vcpus" in run.stderr and "after events" in run.stderr
    check = CliRunner().invoke(cli, ["check", str(out), "--format", "json"])
    rules = {d["rule"] for t in json.loads(check.stdout)["traces"] for d in t["divergences"]}
    assert "K004" in rules


def test_cli_rule_absent_is_one_line_exit_2(tmp_path: Path) -> None:
    out = tmp_path / "min.jsonl"
    run = CliRunner().invoke(cli, ["shrink", str(UNFIXED), "--rule", "M001", "-o", str(out)])
    assert run.exit_code == 2
    assert run.stderr == ("tdxray: error: sample-unfixed-kernel: "
                          "the trace does not reveal M001\n")
    assert not out.exists()


def test_benchmark_table_for_one_sample() -> None:
    from tdxray.benchmarks.shrink import shrink_rows, table

    rows = shrink_rows(SAMPLES / "cr4-mce-cleared.jsonl", 500)
    assert [r.rule for r in rows] == ["C001"]
    assert rows[0].before == 150 and rows[0].meets_target
    text = table(rows).splitlines()
    assert text[0].split() == ["TRACE", "RULE", "FINGERPRINT", "BEFORE", "AFTER", "KEPT",
                               "REPLAYS", "SECONDS", "TARGET"]
    assert text[1].split()[:2] == ["cr4-mce-cleared", "C001"] and text[1].endswith(" ok")


@pytest.fixture(scope="module")
def unshare_5k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated 5,000-event trace whose K001 needs more than the model's named causes."""
    path = tmp_path_factory.mktemp("shrink") / "unshare-failure.jsonl"
    sim = simulate(SCENARIOS["unshare-failure"].config(events=5000, seed=1))
    write_trace(path, sim.header, sim.batches())
    return path


def test_candidates_replayed_in_memory_find_what_the_stored_trace_does(tmp_path: Path) -> None:
    for path in sorted(SAMPLES.glob("*.jsonl")):
        trace = read_text_trace(path)
        candidates = Candidates(trace, tmp_path, path)
        assert candidates.path is not None, path
        everything = np.arange(len(trace.events))
        assert candidates.replay(everything) == replay_trace(candidates.path).divergences, path


def test_phases_are_the_models_and_cut_a_long_trace_before_ddmin(unshare_5k: Path) -> None:
    trace = read_text_trace(unshare_5k)
    with Session(trace, unshare_5k) as session:
        assert [(u[0], u[-1]) for u in session.model_phases()] == [
            (0, 57), (58, 2776), (2777, 2822), (2823, 2824), (2825, 2892), (2893, 4999)]
    stages: list[tuple[str, int]] = []
    result = shrink(trace, "K001", source=unshare_5k,
                    report=lambda stage, events: stages.append((stage, events)))
    assert stages == [("causes", 5000), ("tail", 2824), ("phases", 2766), ("kinds", 31),
                      ("vcpus", 31), ("ranges", 14), ("events", 3)]
    assert result.complete and result.fingerprint == "033648fd6f90ae81"
    lines = [json.loads(line) for line in trace.lines(result.keep)[1:]]
    assert [(e["kind"], e.get("gpa") or e.get("phase")) for e in lines] == [
        ("map_gpa", "0x800004000000"), ("map_gpa", "0x4001000"), ("kexec", "jump")]


def test_cli_reproducer_of_a_long_trace_is_checked_with_that_divergence(
        unshare_5k: Path, tmp_path: Path) -> None:
    out = tmp_path / "min.jsonl"
    run = CliRunner().invoke(cli, ["shrink", str(unshare_5k), "--rule", "K003", "-o", str(out)])
    assert run.exit_code == 0, run.output
    check = CliRunner().invoke(cli, ["check", str(out), "--format", "json"])
    found = {(d["rule"], d["fingerprint"]) for t in json.loads(check.stdout)["traces"]
             for d in t["divergences"]}
    assert ("K003", "de499980daecc215") in found
    assert run.stdout.startswith("K003 de499980daecc215: 5000 -> ")


def test_progress_on_a_terminal_converting_replaying_then_stages(tmp_path: Path) -> None:
    from tdxray.tests.test_progress import stderr_on

    args = ["shrink", str(UNFIXED), "--rule", "K004", "-o", str(tmp_path / "min.jsonl")]
    code, out, err = stderr_on(True, *args, cwd=tmp_path)
    assert code == 0 and out.startswith("K004 3141cba4413b2289: 150 -> 2 events")
    name = str(UNFIXED)
    at = [err.index(f"reading {name}"), err.index(f"replaying {name}"),
          err.index("tdxray: shrink: after causes: 4 events")]
    assert at == sorted(at) and f"replaying {name} 150 events" in err[at[1]:at[2]]
    code, quiet_out, err = stderr_on(True, *args, "-q", cwd=tmp_path)
    assert (code, quiet_out.rsplit(", ", 1)[0], err) == (0, out.rsplit(", ", 1)[0], "")


def test_the_rows_as_check_reads_them_shrink_as_the_json_objects_do(unshare_5k: Path) -> None:
    from tdxray.analyses.shrink.stored import open_stored_trace

    whole = shrink(read_text_trace(unshare_5k), "K001", source=unshare_5k)
    stored = shrink(open_stored_trace(str(unshare_5k)), "K001")
    assert len(stored.trace) == 5000 and stored.complete
    assert (stored.keep, stored.replays) == (whole.keep, whole.replays)
    assert stored.trace.lines(stored.keep) == whole.trace.lines(whole.keep)


def _refused_as_check_refuses(path: Path, out: Path) -> str:
    """shrink's one line for a TRACE check cannot read: check's own, exit 2, nothing written."""
    run = CliRunner().invoke(cli, ["shrink", str(path), "--rule", "K001", "-o", str(out)])
    check = CliRunner().invoke(cli, ["check", str(path), "-q"])
    assert (run.exit_code, check.exit_code) == (2, 2) and not out.exists()
    assert run.stderr == check.stderr
    return run.stderr


def test_lines_out_of_seq_order_are_refused_as_check_refuses_them(tmp_path: Path) -> None:
    lines = UNFIXED.read_text().splitlines()
    lines[5], lines[6] = lines[6], lines[5]
    swapped = tmp_path / "swapped.jsonl"
    swapped.write_text("\n".join(lines) + "\n")
    assert _refused_as_check_refuses(swapped, tmp_path / "min.jsonl") == (
        f"tdxray: error: {swapped}:7: seq 5 does not increase (previous 6)\n")


def test_a_line_that_is_not_json_is_check_s_one_line_exit_2(tmp_path: Path) -> None:
    lines = UNFIXED.read_text().splitlines()
    lines[3] = '{"seq": 3, "kind'
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    assert _refused_as_check_refuses(bad, tmp_path / "min.jsonl") == (
        f"tdxray: error: {bad}:4: malformed JSON: unexpected end of data: line 1 column 17 "
        "(char 16)\n")


def test_benchmark_simulates_sizes_and_prints_rows_as_it_goes(
        capsys: pytest.CaptureFixture[str]) -> None:
    from tdxray.benchmarks.shrink import main, size_label

    assert [size_label(n) for n in (1_000_000, 30_000, 2_500, 150)] == ["1e6", "3e4", "2500",
                                                                        "150"]
    main(["--events", "3000", "--scenario", "mailbox-misuse"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("load average ") and lines[-1].startswith("load average ")
    assert lines[1].split()[:2] == ["TRACE", "RULE"]
    assert lines[2].startswith("# mailbox-misuse@3e3: 3000 events read, ingested and replayed")
    assert [line.split()[:2] for line in lines[3:5]] == [["mailbox-misuse@3e3", "M001"],
                                                         ["mailbox-misuse@3e3", "M004"]]
    assert all(line.endswith(" ok") for line in lines[3:5])
    assert lines[5] == "2/2 divergences meet the target"
