"""The check report and its formats, on a hand-built replay result."""

from __future__ import annotations

import dataclasses
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tdxray
from tdxray.analyses.baseline import (
    Baseline,
    BaselineEntry,
    apply_baseline,
    baseline_from,
    parse_baseline,
    read_baseline,
    write_baseline,
)
from tdxray.analyses.escape import escape_control
from tdxray.analyses.event_lines import source_lines
from tdxray.analyses.formats import FORMATS, render
from tdxray.analyses.formats.base import MAX_ANNOTATIONS, RenderOptions
from tdxray.analyses.report import CheckedTrace, build_report, exit_status, failing
from tdxray.model.catalogue import RULES
from tdxray.model.divergence import Divergence
from tdxray.model.result import ReplayResult
from tdxray.schema.errors import InputError

DIV_KEYS = ["rule", "name", "severity", "seq", "ts_ns", "vcpu", "gpa_start", "gpa_end", "pages",
            "apic_id", "cause_seqs", "fingerprint", "baselined", "message", "source"]


def sample_result() -> ReplayResult:
    """A fatal, three errors, a warning, a baselined error and two info findings."""
    divs = [
        Divergence("C001", "CR4 0x370ee0 -> 0x20 clears MCE in relocate_kernel", seq=17,
                   ts_ns=11_004_001_000, vcpu=0, location="vcpu:0"),
        Divergence("K001", "6 pages still shared at the jump", seq=16, ts_ns=11_004_000_000,
                   vcpu=0, gpa_start=0x1A0000, gpa_end=0x1A6000, pages=6, cause_seqs=[5]),
        Divergence("K001", "16384 pages still shared at the jump", seq=16,
                   ts_ns=11_004_000_000, vcpu=0, gpa_start=0x3C000000, gpa_end=0x40000000,
                   pages=16384, cause_seqs=[3, 4]),
        Divergence("K004", "jump with 16390 shared pages and no kexec_finish", seq=16,
                   ts_ns=11_004_000_000, vcpu=0, pages=16390, cause_seqs=[3, 4, 5]),
        Divergence("M008", "APIC id 1 is stopped in kernel code at the jump", seq=16,
                   ts_ns=11_004_000_000, vcpu=0, apic_id=1, cause_seqs=[13]),
        Divergence("A003", "console said \x1b[31mboom\x1b[0m", seq=9, ts_ns=2_000_000, vcpu=1,
                   gpa_start=0x5000, gpa_end=0x6000, pages=1, baselined=True),
        Divergence("T002", "unmodeled event kind 'foo' (12 events)", location="kind:foo"),
        Divergence("T003", "C002 skipped: no cr4_write events", location="rule:C002"),
    ]
    return ReplayResult(
        trace_id="td-42", events=17, rules_run=["K001", "K004", "C001", "M008", "A003"],
        rules_skipped=[("C002", "no cr4_write events")],
        divergences=sorted(divs, key=Divergence.sort_key), generations=2,
        kind_counts={"map_gpa": 5, "foo": 12})


def clean_result() -> ReplayResult:
    return ReplayResult(trace_id="td-clean", events=3, rules_run=["K001"])


@pytest.fixture
def traces() -> list[CheckedTrace]:
    return [CheckedTrace(sample_result(), "traces/td-42.jsonl", lines={17: ("dmesg.log", 120)}),
            CheckedTrace(clean_result(), "store")]


def rendered(name: str, traces: list[CheckedTrace], **kw: object) -> str:
    return render(name, traces, RenderOptions(**kw))  # type: ignore[arg-type]


# -- the JSON contract ------------------------------------------------------------------------

def test_report_document_shape(traces: list[CheckedTrace]) -> None:
    doc = build_report(traces)
    assert list(doc) == ["tdxray", "tool", "verdict", "exit_status", "fail_on", "traces",
                         "summary", "stale_baseline"]
    assert doc["tdxray"] == 1
    assert doc["tool"] == {"name": "tdxray", "version": tdxray.__version__}
    assert (doc["verdict"], doc["exit_status"], doc["fail_on"]) == ("fail", 1, "error")
    assert doc["stale_baseline"] == []
    first = doc["traces"][0]  # type: ignore[index]
    assert list(first) == ["trace_id", "source", "events", "rules_run", "rules_skipped",
                           "divergences"]
    assert first["source"] == "traces/td-42.jsonl"
    assert first["rules_skipped"] == [{"rule": "C002", "why": "no cr4_write events"}]
    for div in first["divergences"]:
        assert list(div) == DIV_KEYS
    assert [d["rule"] for d in first["divergences"]] == [
        "C001", "A003", "K001", "K001", "K004", "M008", "T002", "T003"]
    assert doc["summary"] == {"fatal": 1, "error": 3, "warning": 1, "info": 2, "baselined": 1,
                              "stale_baseline": 0}


def test_report_verdict_follows_fail_on_and_status(traces: list[CheckedTrace]) -> None:
    clean = build_report(traces[1:], fail_on="warning")
    assert (clean["verdict"], clean["exit_status"], clean["fail_on"]) == ("pass", 0, "warning")
    rewritten = build_report(traces, status=0)
    assert (rewritten["verdict"], rewritten["exit_status"]) == ("pass", 0)


def test_report_divergence_source(traces: list[CheckedTrace]) -> None:
    divs = build_report(traces)["traces"][0]["divergences"]  # type: ignore[index]
    assert divs[0]["source"] == {"file": "dmesg.log", "line": 120}  # C001, seq 17
    assert divs[1]["source"] == {"file": "traces/td-42.jsonl", "line": None}


def test_report_lists_stale_baseline_entries() -> None:
    result = sample_result()
    k004 = next(d for d in result.divergences if d.rule == "K004")
    gone = BaselineEntry("00000000deadbeef", "K001", "td-42", "fixed since")
    other = BaselineEntry("00000000cafef00d", "K001", "td-other", "not checked here")
    doc = build_report([(result, "x.parquet")],
                       Baseline((BaselineEntry(k004.fingerprint), gone, other)))
    assert doc["stale_baseline"] == [{"fingerprint": "00000000deadbeef", "rule": "K001",
                                      "trace_id": "td-42", "message": "fixed since"}]
    assert doc["summary"]["stale_baseline"] == 1  # type: ignore[index]


def test_report_divergence_values(traces: list[CheckedTrace]) -> None:
    k001 = build_report(traces)["traces"][0]["divergences"][2]  # type: ignore[index]
    assert k001 == {
        "rule": "K001", "name": "leaked-shared-memory", "severity": "error", "seq": 16,
        "ts_ns": 11_004_000_000, "vcpu": 0, "gpa_start": "0x1a0000", "gpa_end": "0x1a6000",
        "pages": 6, "apic_id": None, "cause_seqs": [5], "fingerprint": k001["fingerprint"],
        "baselined": False, "message": "6 pages still shared at the jump",
        "source": {"file": "traces/td-42.jsonl", "line": None}}
    t003 = build_report(traces)["traces"][0]["divergences"][-1]  # type: ignore[index]
    assert t003["seq"] is None and t003["gpa_start"] is None and t003["cause_seqs"] == []


def test_report_accepts_pairs_and_baseline() -> None:
    result = sample_result()
    k004 = next(d for d in result.divergences if d.rule == "K004")
    doc = build_report([(result, "x.parquet")], Baseline((BaselineEntry(k004.fingerprint),)))
    assert doc["summary"] == {"fatal": 1, "error": 2, "warning": 1, "info": 2, "baselined": 2,
                              "stale_baseline": 0}
    baselined = [d["rule"] for d in doc["traces"][0]["divergences"] if d["baselined"]]  # type: ignore[index]
    assert baselined == ["A003", "K004"]


def test_json_format_round_trips(traces: list[CheckedTrace]) -> None:
    assert json.loads(rendered("json", traces)) == build_report(traces)


def test_jsonl_format(traces: list[CheckedTrace]) -> None:
    rows = [json.loads(line) for line in rendered("jsonl", traces).splitlines()]
    assert len(rows) == 8
    assert list(rows[0]) == ["trace_id", *DIV_KEYS]
    assert {r["trace_id"] for r in rows} == {"td-42"}


# -- verdict ------------------------------------------------------------------------

@pytest.mark.parametrize(("fail_on", "count"), [("fatal", 1), ("error", 4), ("warning", 5)])
def test_failing_levels(traces: list[CheckedTrace], fail_on: str, count: int) -> None:
    assert len(failing(traces, fail_on)) == count
    assert exit_status(traces, fail_on) == 1
    assert exit_status(traces[1:], fail_on) == 0


# -- text ------------------------------------------------------------------------

@pytest.mark.parametrize("extra", [0, 1, 7])
def test_text_lists_at_most_per_rule_then_counts(extra: int) -> None:
    from tdxray.analyses.formats.text import PER_RULE

    leaks = [Divergence("K001", f"page {i} still shared at the jump", seq=i, vcpu=0,
                        gpa_start=0x1000 * i, gpa_end=0x1000 * (i + 1), pages=1)
             for i in range(1, PER_RULE + extra + 1)]
    result = ReplayResult(trace_id="leaky", events=99, rules_run=["K001"], divergences=leaks)
    lines = rendered("text", [CheckedTrace(result, "leaky.jsonl")]).splitlines()
    listed = [line for line in lines if line.startswith("      page ")]
    assert listed == [f"      page {i} still shared at the jump" for i in range(1, PER_RULE + 1)]
    more = [line for line in lines if "more K001" in line]
    assert more == ([f"    … {extra} more K001 (--format jsonl lists every one)"] if extra else [])


def test_text_format(traces: list[CheckedTrace]) -> None:
    out = rendered("text", traces)
    assert out.splitlines()[0] == "td-42  traces/td-42.jsonl  17 events, 2 generations"
    assert out.index("C001") < out.index("K001") < out.index("K004") < out.index("M008")
    assert "[0x1a0000, 0x1a6000) 6 pages · seq 16 t=11.004000000s vCPU 0 · caused by seq 5" in out
    assert "APIC id 1" in out and "caused by seqs 3, 4, 5" in out
    assert "dmesg.log:120" in out
    assert "K001 leaked-shared-memory ×2: " + RULES["K001"].summary in out
    assert "  baselined: A003 ×1" in out
    assert "  coverage: C002 skipped (no cr4_write events)" in out
    assert "  unmodeled: 1 (unmodeled event kind 'foo' (12 events))" in out
    assert "td-clean  store  3 events, 1 generation\n  no divergences above info" in out
    assert out.rstrip().endswith(
        "2 traces: 1 fatal, 3 errors, 1 warning (2 info, 1 baselined)  FAIL (--fail-on error)")
    assert "\x1b" not in out


def test_text_escapes_control_characters() -> None:
    result = ReplayResult("td-1", 2, divergences=[
        Divergence("K003", "tdx: Failed to unshare \x1b]0;pwned\x07 range", seq=1)])
    out = rendered("text", [CheckedTrace(result, "a\x1bb.parquet")])
    assert "\x1b" not in out and "\x07" not in out
    assert "Failed to unshare \\x1b]0;pwned\\x07 range" in out
    assert "a\\x1bb.parquet" in out


def test_text_colour_only_when_asked(traces: list[CheckedTrace]) -> None:
    assert "\x1b[" in rendered("text", traces, color=True)
    assert "\x1b[" not in rendered("text", traces, color=False)


def test_text_pass_verdict() -> None:
    out = rendered("text", [CheckedTrace(clean_result(), "c.parquet")], fail_on="warning")
    assert out.rstrip().endswith("0 fatal, 0 errors, 0 warnings (0 info)  PASS (--fail-on warning)")


def test_escape_control_keeps_printable_unicode() -> None:
    assert escape_control("café → ok") == "café → ok"
    assert escape_control("a\x1bb\tc\x9bd\u202ee") == "a\\x1bb\\x09c\\x9bd\\u202ee"


# -- junit, sarif, github, markdown -------------------------------------------------------------

def test_junit_format(traces: list[CheckedTrace]) -> None:
    root = ET.fromstring(rendered("junit", traces))
    assert root.tag == "testsuites"
    suite = root.find("testsuite[@name='td-42']")
    assert suite is not None
    failures = suite.findall("testcase/failure")
    assert len(failures) == 4 == int(suite.get("failures", "-1"))
    assert {f.get("type") for f in failures} == {"fatal", "error"}
    assert int(suite.get("tests", "0")) == len(suite.findall("testcase"))
    skipped = [c.find("skipped").get("message") for c in suite.findall("testcase")  # type: ignore[union-attr]
               if c.find("skipped") is not None]
    assert any(m.startswith("baselined") for m in skipped)
    assert "not checked: no cr4_write events" in skipped
    clean = root.find("testsuite[@name='td-clean']")
    assert clean is not None and clean.get("failures") == "0" and clean.get("tests") == "1"
    warning_only = rendered("junit", traces, fail_on="warning")
    assert len(ET.fromstring(warning_only).findall(".//failure")) == 5


def test_junit_names_are_stable(traces: list[CheckedTrace]) -> None:
    from junitparser import JUnitXml

    def names(xml: str) -> list[str]:
        return [case.name for suite in JUnitXml.fromstring(xml) for case in suite]

    before = names(rendered("junit", traces))
    k001 = [n for n in before if re.fullmatch(r"K001 leaked-shared-memory [0-9a-f]{8}", n)]
    assert len(k001) == 2  # two ranges; the clean trace's passing "K001 leaked-shared-memory"
    assert not any(re.search(r"\bseq\b|pages|\d+\.\d+s", n) for n in before)
    # a re-recording (other seqs and times) plus an unrelated new leak: old names all stay
    moved = [dataclasses.replace(d, seq=(d.seq or 0) + 100, ts_ns=(d.ts_ns or 0) + 5)
             for d in sample_result().divergences]
    moved.append(Divergence("K001", "new leak", seq=200, gpa_start=0x900000, gpa_end=0x901000,
                            pages=1))
    again = dataclasses.replace(sample_result(), divergences=sorted(moved,
                                                                    key=Divergence.sort_key))
    after = names(rendered("junit", [CheckedTrace(again, "traces/td-42.jsonl"), traces[1]]))
    assert set(before) < set(after) and len(set(after) - set(before)) == 1


def test_junit_message_carries_place_time_and_count(traces: list[CheckedTrace]) -> None:
    from junitparser import Failure, JUnitXml

    xml = JUnitXml.fromstring(rendered("junit", traces))
    k001 = next(c for s in xml for c in s if c.name.startswith("K001")
                and "6 pages" in (c.result[0].message or ""))
    (failure,) = k001.result
    assert isinstance(failure, Failure)
    assert failure.message == ("6 pages still shared at the jump: [0x1a0000, 0x1a6000) 6 pages; "
                               "seq 16 t=11.004000000s vCPU 0")
    assert "fingerprint " in (failure.text or "")


def test_junit_groups_one_fingerprint_into_one_case() -> None:
    from junitparser import JUnitXml

    divs = [Divergence("G006", f"double accept {i}", seq=i, gpa_start=0x5000, gpa_end=0x6000,
                       pages=1) for i in (3, 9)]
    trace = CheckedTrace(ReplayResult("td-g", 9, rules_run=["G006"], divergences=divs), "g.jsonl")
    (suite,) = JUnitXml.fromstring(rendered("junit", [trace], fail_on="warning"))
    (case,) = list(suite)
    assert case.result[0].message.startswith("double accept 3 (×2): ")


def test_junit_validates_against_the_jenkins_xunit_schema(traces: list[CheckedTrace]) -> None:
    from xmlschema import XMLSchemaValidationError

    from tdxray.tests.schemas import check_junit

    check_junit(rendered("xunit", traces))
    junit = rendered("junit", traces)
    with pytest.raises(XMLSchemaValidationError, match="file"):
        check_junit(junit)  # the file/line attributes GitLab reads are all the xunit XSD refuses
    root = ET.fromstring(junit)
    assert root.find(".//testcase[@file='dmesg.log'][@line='120']") is not None
    for case in root.iter("testcase"):
        case.attrib.pop("file", None)
        case.attrib.pop("line", None)
    check_junit(ET.tostring(root, encoding="unicode"))


def test_sarif_format(traces: list[CheckedTrace]) -> None:
    log = json.loads(rendered("sarif", traces))
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(RULES)
    c001 = next(r for r in rules if r["id"] == "C001")
    assert c001["name"] == "cr4-mce-cleared"
    assert c001["defaultConfiguration"]["level"] == "error"
    assert c001["shortDescription"]["text"] == RULES["C001"].summary
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels == {"C001": "error", "K001": "error", "K004": "error", "M008": "warning",
                      "A003": "error"}  # info findings only with include_info
    with_info = json.loads(rendered("sarif", traces, include_info=True))["runs"][0]["results"]
    assert {r["ruleId"]: r["level"] for r in with_info} == {**levels, "T002": "note",
                                                             "T003": "note"}
    assert "invocations" in run and "toolExecutionNotifications" not in run["invocations"][0]
    by_rule = {r["ruleId"]: r for r in run["results"]}
    assert by_rule["C001"]["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "dmesg.log"}, "region": {"startLine": 120}}
    assert by_rule["K004"]["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "traces/td-42.jsonl"}}
    k004 = next(d for d in traces[0].divergences if d.rule == "K004")
    assert by_rule["K004"]["partialFingerprints"] == {"tdxray/v1": k004.fingerprint}
    assert "suppressions" in by_rule["A003"] and "suppressions" not in by_rule["K004"]


def test_sarif_rules_carry_help_and_tags(traces: list[CheckedTrace]) -> None:
    rules = json.loads(rendered("sarif", traces))["runs"][0]["tool"]["driver"]["rules"]
    k001 = next(r for r in rules if r["id"] == "K001")
    assert k001["helpUri"].endswith("docs/rules.md#k001-leaked-shared-memory")
    assert k001["properties"]["tags"] == ["tdx", "kexec", "error"]
    assert k001["help"]["text"].startswith("K001 leaked-shared-memory (error): at the kexec jump")
    assert "tdx_kexec_finish" in k001["help"]["text"]
    assert k001["help"]["markdown"].startswith("## K001 leaked-shared-memory\n")
    assert "```\n{\"kind\": \"map_gpa\"" in k001["help"]["markdown"]
    assert all(r["help"]["text"] and r["help"]["markdown"] and r["helpUri"] for r in rules)


def test_sarif_uri_base(traces: list[CheckedTrace], tmp_path: Path,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "traces").mkdir()
    divs = [Divergence("K001", "leak", seq=3, gpa_start=0x1000, gpa_end=0x2000, pages=1)]
    outside = CheckedTrace(ReplayResult("td-out", 3, divergences=divs), "/elsewhere/x.parquet")
    log = json.loads(rendered("sarif", [*traces, outside], uri_base="traces/.."))
    run = log["runs"][0]
    assert run["originalUriBaseIds"] == {"SRCROOT": {"uri": tmp_path.resolve().as_uri() + "/"}}
    where = {r["properties"]["trace_id"] + r["ruleId"]:
             r["locations"][0]["physicalLocation"]["artifactLocation"] for r in run["results"]}
    assert where["td-42K004"] == {"uri": "traces/td-42.jsonl", "uriBaseId": "SRCROOT"}
    assert where["td-42C001"] == {"uri": "dmesg.log", "uriBaseId": "SRCROOT"}
    assert where["td-outK001"] == {"uri": "file:///elsewhere/x.parquet"}  # not under the base


def test_sarif_caps_results_keeping_the_most_severe() -> None:
    from tdxray.analyses.formats.sarif import sarif_log

    trace = many_errors(30)  # 30 G004 errors (seq 1..30), then a fatal C001 at seq 31
    run = sarif_log([trace], RenderOptions(), limit=10)["runs"][0]
    results = run["results"]  # type: ignore[index]
    assert len(results) == 10
    assert [r["ruleId"] for r in results] == ["C001"] + ["G004"] * 9
    assert [r["properties"]["seq"] for r in results[1:]] == list(range(1, 10))
    (note,) = run["invocations"][0]["toolExecutionNotifications"]  # type: ignore[index]
    assert note["level"] == "warning"
    assert note["message"]["text"].startswith("21 results not included: a run holds at most 10")


def many_errors(n: int) -> CheckedTrace:
    divs = [Divergence("G004", f"accept {i}", seq=i, gpa_start=i << 12, gpa_end=(i + 1) << 12,
                       pages=1) for i in range(1, n + 1)]
    divs.append(Divergence("C001", "mce", seq=n + 1))
    return CheckedTrace(ReplayResult("td-many", n + 1, divergences=divs), "t/many.parquet")


def test_github_format_limits_annotations(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("before\n")
    out = rendered("github", [many_errors(14)], step_summary=summary)
    annotations = [line for line in out.splitlines() if line.startswith("::error")]
    assert len(annotations) == MAX_ANNOTATIONS
    assert annotations[0].startswith("::error file=t/many.parquet,title=C001 cr4-mce-cleared::")
    assert "::notice title=tdxray::5 more divergences not annotated; see the job summary" in out
    text = summary.read_text()
    assert text.startswith("before\n## tdxray check: FAIL")
    assert text.count("| **error** |") == 14


def test_github_format_escapes_and_lines(traces: list[CheckedTrace]) -> None:
    out = rendered("github", traces)
    assert "::error file=dmesg.log,line=120,title=C001 cr4-mce-cleared::td-42: CR4" in out
    assert "::warning file=traces/td-42.jsonl,title=M008 cpu-not-parked::" in out
    assert "A003" not in out  # baselined: not annotated
    assert "\x1b" not in out


def test_markdown_format(traces: list[CheckedTrace]) -> None:
    out = rendered("markdown", traces)
    assert out.startswith("## tdxray check: FAIL")
    assert "| Severity | Rule | Where | Revealed by | Caused by | Message |" in out
    assert "| **fatal** | `C001` cr4-mce-cleared |" in out
    assert "~~error~~ baselined" in out
    assert "No divergences above info." in out
    assert "\x1b" not in out and "\\x1b[31mboom" in out


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_handles_no_traces_with_findings(name: str, tmp_path: Path) -> None:
    out = render(name, [CheckedTrace(clean_result(), "c.parquet")],
                 RenderOptions(step_summary=tmp_path / "s.md"))
    assert isinstance(out, str)


# -- baselines ------------------------------------------------------------------------

def test_baseline_round_trip(tmp_path: Path) -> None:
    result = sample_result()
    baseline = baseline_from([result])
    assert {e.rule for e in baseline.entries} == {"C001", "K001", "K004", "M008", "A003"}
    assert all(e.trace_id == "td-42" for e in baseline.entries)
    path = tmp_path / "base.json"
    write_baseline(path, baseline)
    doc = json.loads(path.read_text())
    assert doc["tdxray_baseline"] == 1
    assert list(doc["entries"][0]) == ["fingerprint", "rule", "trace_id", "message"]
    again = apply_baseline(result, read_baseline(path))
    assert all(d.baselined for d in again.divergences if d.severity != "info")
    assert exit_status([CheckedTrace(again, "x")], "warning") == 0
    assert not any(d.baselined for d in result.divergences if d.rule != "A003")  # not mutated


@pytest.mark.parametrize(("text", "needle"), [
    ('{"tdxray_baseline": 1,\n "entries": [,]}', "base.json:2: malformed baseline"),
    ("[]", "not a tdxray baseline"),
    ('{"tdxray_baseline": 2, "entries": []}', "unsupported baseline version 2"),
    ('{"tdxray_baseline": 1}', "\"entries\" is not a list"),
    ('{"tdxray_baseline": 1, "entries": [{"rule": "K001"}]}', "entries[0]"),
    ('{"tdxray_baseline": 1, "entries": [{"fingerprint": "ab", "rule": 3}]}', "'rule'"),
])
def test_malformed_baseline(text: str, needle: str) -> None:
    with pytest.raises(InputError) as info:
        parse_baseline(text, "base.json")
    assert str(info.value).startswith("base.json")
    assert needle in str(info.value)


def test_missing_baseline_names_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.json"):
        read_baseline(tmp_path / "nope.json")


# -- source lines -------------------------------------------------------------------------------

def test_source_lines(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"seq": pa.array([1, 2, 3], pa.uint64()),
                             "source": ["a.log", None, "a.log"],
                             "line": pa.array([10, None, 30], pa.uint64())}), path)
    assert source_lines(path, {1, 2, 3, 9}) == {1: ("a.log", 10), 3: ("a.log", 30)}
    assert source_lines(path, set()) == {}


# -- the shipped JSON Schema ------------------------------------------------------------------

def test_reports_validate_against_the_shipped_schema(traces: list[CheckedTrace]) -> None:
    from tdxray.tests.schemas import check_jsonl_record, check_report

    check_report(build_report(traces, Baseline((BaselineEntry("00000000deadbeef", "K001"),))))
    for line in rendered("jsonl", traces).splitlines():
        check_jsonl_record(json.loads(line))


@pytest.mark.parametrize("spoil", [
    lambda doc: doc.pop("verdict"),
    lambda doc: doc.update(exit_status=3),
    lambda doc: doc["traces"][0]["divergences"][0].pop("source"),
    lambda doc: doc["traces"][0]["divergences"][0].update(gpa_start="1a0000"),
    lambda doc: doc["summary"].update(extra=1),
])
def test_the_schema_rejects_what_the_contract_excludes(traces: list[CheckedTrace],
                                                       spoil: object) -> None:
    from jsonschema import ValidationError

    from tdxray.tests.schemas import check_report

    doc = json.loads(json.dumps(build_report(traces)))
    spoil(doc)  # type: ignore[operator]
    with pytest.raises(ValidationError):
        check_report(doc)
