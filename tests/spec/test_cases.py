"""The spec cases (tests/spec/cases, README.md): each trace's report from `tdxray check --format
json` is exactly what its `# expect` lines say, written from TDX-KEXEC.md and FORMATS.md alone."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tdxray.cli.main import cli
from tdxray.model import fastlane
from tdxray.tests.spec.catalogue import SPEC_RULES

CASES = Path(__file__).parent / "cases"
TEXT = Path(__file__).parent / "text"  # text traces, ingested with text/td.json (or `# td`)
NULLABLE = ("gpa_start", "gpa_end", "pages", "apic_id")
RANK = {"fatal": 0, "error": 1, "warning": 2, "info": 3}
FIELDS = ("rule", "name", "severity", "seq", "ts_ns", "vcpu", *NULLABLE, "cause_seqs",
          "baselined")


@dataclass
class Case:
    path: Path
    expect: list[dict[str, Any]] = field(default_factory=list)
    none: bool = False
    skipped: dict[str, str] | None = None
    exit: int | None = None
    count: int | None = None  # `# events N` (text traces: the events ingest makes)
    td: str = "td.json"  # `# td FILE` (text traces: the TD configuration they are ingested with)
    events: dict[int, dict[str, Any]] = field(default_factory=dict)

    def full(self, want: dict[str, Any]) -> dict[str, Any]:
        """An `# expect` line with its defaults filled in (README.md)."""
        name, severity = SPEC_RULES[want["rule"]]
        event = self.events.get(want.get("seq"), {}) if want.get("seq") is not None else {}
        out = {"name": name, "severity": severity, "ts_ns": event.get("ts_ns"),
               "vcpu": event.get("vcpu"), "cause_seqs": [], "baselined": False,
               **{key: None for key in NULLABLE}, **want}
        assert set(out) == set(FIELDS), f"{self.path.name}: unknown field in {want}"
        return out


def load(path: Path) -> Case:
    case = Case(path)
    header_seen = False
    for line in path.read_text().splitlines():
        if line.startswith("# expect none"):
            case.none = True
        elif line.startswith("# expect "):
            case.expect.append(json.loads(line.removeprefix("# expect ")))
        elif match := re.match(r"# skipped (\w+): (.+)$", line):
            case.skipped = {**(case.skipped or {}), match[1]: match[2]}
        elif match := re.match(r"# exit (\d)$", line):
            case.exit = int(match[1])
        elif match := re.match(r"# events (\d+)$", line):
            case.count = int(match[1])
        elif match := re.match(r"# td ([\w.-]+)$", line):
            case.td = match[1]
        elif path.suffix == ".jsonl" and line.strip() and not line.startswith("#"):
            obj = json.loads(line)
            if header_seen:
                case.events[_int(obj["seq"])] = {"ts_ns": _int(obj["ts_ns"]), "vcpu": obj["vcpu"]}
            header_seen = True
    assert case.none != bool(case.expect), f"{path.name}: `# expect none` or `# expect` lines"
    return case


def _int(value: int | str) -> int:
    return int(value, 16) if isinstance(value, str) else value


def comparable(div: dict[str, Any]) -> str:
    return json.dumps({key: div[key] for key in FIELDS}, sort_keys=True)


@pytest.mark.parametrize("name", sorted(p.name for p in CASES.glob("*.jsonl")))
def test_spec_case(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    case = load(CASES / name)
    monkeypatch.chdir(CASES)
    res = CliRunner().invoke(cli, ["check", name, "--format", "json"])
    assert res.exit_code in (0, 1), res.output
    report = json.loads(res.stdout)
    (trace,) = report["traces"]
    assert (trace["source"], trace["events"]) == (name, len(case.events))
    judge(case, report, res.exit_code)


@pytest.mark.parametrize("name", sorted(p.name for p in TEXT.glob("*.trace"))
                         + sorted(p.name for p in TEXT.glob("*.log")))
def test_spec_text_case(name: str, tmp_path: Path) -> None:
    """A text trace, ingested as a user would (`tdxray ingest FILE --td td.json`), then checked.
    A console capture (`*.log`) has no comment syntax: its `#` lines are dropped first."""
    case = load(TEXT / name)
    source = TEXT / name
    if source.suffix == ".log":
        source = tmp_path / name
        source.write_text("".join(line for line in (TEXT / name).read_text().splitlines(True)
                                  if not line.startswith("#")))
    store = tmp_path / "store"
    runner = CliRunner()
    res = runner.invoke(cli, ["ingest", str(source), "--td", str(TEXT / case.td),
                              "-o", str(store), "--trace-id", "t"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["check", str(store), "--format", "json"])
    assert res.exit_code in (0, 1), res.output
    report = json.loads(res.stdout)
    (trace,) = report["traces"]
    assert trace["events"] == case.count
    judge(case, report, res.exit_code)


def judge(case: Case, report: dict[str, Any], exit_code: int) -> None:
    """The report against the case's `# expect`, `# skipped` and `# exit` lines."""
    (trace,) = report["traces"]
    got = [d for d in trace["divergences"] if d["rule"] != "T003"]
    want = [case.full(d) for d in case.expect]
    assert sorted(map(comparable, got)) == sorted(map(comparable, want))
    for div in got:
        assert re.fullmatch(r"[0-9a-f]+", div["fingerprint"]) and div["message"]
        assert "\n" not in div["message"]
    # §5: "Divergences are listed by severity, then seq"
    order = [(RANK[d["severity"]], d["seq"] if d["seq"] is not None else 1 << 64)
             for d in trace["divergences"]]
    assert order == sorted(order)
    skipped = {s["rule"]: s["why"] for s in trace["rules_skipped"]}
    if case.skipped is not None:
        assert skipped == case.skipped
        assert set(trace["rules_run"]) == set(SPEC_RULES) - set(skipped)
    coverage = {d["message"] for d in trace["divergences"] if d["rule"] == "T003"}
    assert coverage == {f"{rule} skipped: {why}" for rule, why in skipped.items()}
    severities = [d["severity"] for d in want]
    status = 1 if {"fatal", "error"} & set(severities) else 0
    assert exit_code == (case.exit if case.exit is not None else status)
    counts = {s: severities.count(s) for s in ("fatal", "error", "warning")}
    counts["info"] = sum(d["severity"] == "info" for d in trace["divergences"])
    counts["baselined"] = 0
    assert {s: report["summary"][s] for s in counts} == counts


def fingerprints(path: Path) -> list[tuple[str, str]]:
    res = CliRunner().invoke(cli, ["check", str(path), "--format", "json"])
    assert res.exit_code in (0, 1), res.output
    (trace,) = json.loads(res.stdout)["traces"]
    return sorted((d["rule"], d["fingerprint"]) for d in trace["divergences"])


@pytest.mark.parametrize("name", ["k001-coalesced-runs.jsonl", "gen-three-generations.jsonl",
                                  "m007-v0-stale-wakeup.jsonl", "g002-r11-outside.jsonl",
                                  "k007-mismatch.jsonl", "t004-config-mismatch.jsonl",
                                  "k001-leak-in-two-generations.jsonl"])
def test_fingerprints_ignore_seq_and_time(name: str, tmp_path: Path) -> None:
    """FORMATS §5: a fingerprint hashes rule, generation and location, "never a seq or a
    timestamp": the same trace re-recorded later, with other seqs, fingerprints the same."""
    lines = (CASES / name).read_text().splitlines()
    moved = []
    for line in lines:
        obj = json.loads(line) if line.strip() and not line.startswith("#") else None
        if obj is not None and "seq" in obj:
            obj["seq"] = _int(obj["seq"]) * 3 + 1000
            obj["ts_ns"] = _int(obj["ts_ns"]) + 123_456_789
            line = json.dumps(obj)
        moved.append(line)
    again = tmp_path / name
    again.write_text("\n".join(moved) + "\n")
    assert fingerprints(again) == fingerprints(CASES / name)


def test_fingerprints_differ_by_generation() -> None:
    """The same leaked range at two generations' jumps: two K001, two fingerprints."""
    k001 = [f for rule, f in fingerprints(CASES / "k001-leak-in-two-generations.jsonl")
            if rule == "K001"]
    assert len(k001) == len(set(k001)) == 2


def test_rules_lists_the_spec_catalogue() -> None:
    """`tdxray rules` names every rule of TDX-KEXEC §5 with the spec's name and severity, and no
    other (the order is not the spec's: the table lists T003 last)."""
    res = CliRunner().invoke(cli, ["rules", "--format", "json"])
    assert res.exit_code == 0, res.output
    listed = json.loads(res.stdout)
    rules = listed["rules"] if isinstance(listed, dict) else listed
    assert sorted((r["id"], r["name"], r["severity"]) for r in rules) == sorted(
        (rule, name, severity) for rule, (name, severity) in SPEC_RULES.items())


def test_lazy_fast_lane_case_runs_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    """k002-lazy-fast-lane.jsonl: its plain conversions go through the fast lane (rows applied
    there), and the core alone reports the same (the pages accepted since boot are kept by both
    the core's ACCEPTs and the fast lane's ACCEPT layers)."""
    name = "k002-lazy-fast-lane.jsonl"
    case = load(CASES / name)
    monkeypatch.chdir(CASES)
    applied: list[int] = []
    run = fastlane.FastLane.run

    def counted(lane: fastlane.FastLane, j: int) -> int:
        applied.append(run(lane, j))
        return applied[-1]

    monkeypatch.setattr(fastlane.FastLane, "run", counted)
    fast = fastlane.MIN_RUN
    for min_run in (fast, 10**9):  # the fast lane, then the core takes every event
        monkeypatch.setattr(fastlane, "MIN_RUN", min_run)
        applied.clear()
        res = CliRunner().invoke(cli, ["check", name, "--format", "json"])
        judge(case, json.loads(res.stdout), res.exit_code)
        assert sum(applied) == (89 if min_run == fast else 0)
