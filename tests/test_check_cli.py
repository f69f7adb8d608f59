"""`tdxray check` and `tdxray rules` through click, with replay stubbed out."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from tdxray.analyses import check_run
from tdxray.cli.main import cli
from tdxray.model.catalogue import RULES
from tdxray.model.divergence import Divergence
from tdxray.model.result import ReplayResult
from tdxray.schema.build import events_to_batch
from tdxray.schema.td import TdConfig, TraceHeader
from tdxray.store.write import TraceWriter

Progress = Callable[[int, int], None]


def result_for(trace_id: str) -> ReplayResult:
    """'bad': a fatal, an error and a warning; 'warn': a warning only; anything else: clean."""
    divs: list[Divergence] = []
    if trace_id == "bad":
        divs = [Divergence("C001", "CR4 write clears MCE \x1b[2J", seq=1, ts_ns=70, vcpu=0),
                Divergence("K001", "4 pages shared at jump", seq=2, ts_ns=60, vcpu=0,
                           gpa_start=0x1000, gpa_end=0x5000, pages=4, cause_seqs=[1])]
    if trace_id in ("bad", "warn"):
        divs.append(Divergence("M008", "APIC 1 lost", seq=2, ts_ns=60, vcpu=0, apic_id=1))
    divs.append(Divergence("T003", "C002 skipped: no cr4_write events", location="rule:C002"))
    return ReplayResult(trace_id, 2, rules_run=["C001", "K001", "M008"],
                        rules_skipped=[("C002", "no cr4_write events")],
                        divergences=sorted(divs, key=Divergence.sort_key))


@pytest.fixture
def replayed(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Path, Path | None]]:
    """Replay stubbed: the result is chosen by the trace file's stem; calls are recorded."""
    calls: list[tuple[Path, Path | None]] = []

    def fake_replay(path: Path, results_dir: Path | None, progress: Progress) -> ReplayResult:
        calls.append((path, results_dir))
        progress(1, 2)
        progress(2, 2)
        return result_for(path.stem)

    monkeypatch.setattr(check_run, "replay_file", fake_replay)  # cli/check imports it per call
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return calls


@pytest.fixture
def traces(tmp_path: Path) -> Path:
    """A store with three real two-event traces (their replay is stubbed by `replayed`)."""
    store = tmp_path / "store"
    for name in ("bad", "warn", "clean"):
        events = [{"seq": 1, "ts_ns": 0, "vcpu": 0, "kind": "log", "text": "hello",
                   "source": "dmesg.log", "line": 42},
                  {"seq": 2, "ts_ns": 1, "vcpu": 0, "kind": "kexec", "phase": "jump"}]
        with TraceWriter(store / f"{name}.parquet", TraceHeader(name, TdConfig())) as writer:
            writer.write_batch(events_to_batch(events))
    return store


def run(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["check", *args], env=env)


# -- exit status ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "fail_on", "status"), [
    ("bad", "fatal", 1), ("bad", "error", 1), ("bad", "warning", 1),
    ("warn", "fatal", 0), ("warn", "error", 0), ("warn", "warning", 1),
    ("clean", "warning", 0),
])
def test_exit_status_follows_fail_on(replayed: list, traces: Path, name: str, fail_on: str,
                                     status: int) -> None:
    res = run(str(traces / f"{name}.parquet"), "--fail-on", fail_on)
    assert res.exit_code == status, res.output


def test_default_fail_on_is_error(replayed: list, traces: Path) -> None:
    assert run(str(traces / "warn.parquet")).exit_code == 0
    assert run(str(traces / "bad.parquet")).exit_code == 1


def test_unusable_input_exits_2(replayed: list, tmp_path: Path) -> None:
    res = run(str(tmp_path / "missing.parquet"))
    assert res.exit_code == 2
    assert "missing.parquet: no such file or directory" in res.stderr
    assert res.stdout == ""


def test_bad_option_exits_2(replayed: list, traces: Path) -> None:
    assert run(str(traces / "bad.parquet"), "--fail-on", "info").exit_code == 2
    assert run(str(traces / "bad.parquet"), "--format", "xml").exit_code == 2
    assert run().exit_code == 2


# -- inputs ------------------------------------------------------------------------

def test_store_dir_checks_all_traces(replayed: list, traces: Path) -> None:
    res = run(str(traces), "--format", "json")
    doc = json.loads(res.stdout)
    assert [t["trace_id"] for t in doc["traces"]] == ["bad", "clean", "warn"]
    assert [t["source"] for t in doc["traces"]] == [
        str(traces / f"{name}.parquet") for name in ("bad", "clean", "warn")]
    assert [results for _, results in replayed] == [
        traces / "bad.replay", traces / "clean.replay", traces / "warn.replay"]
    assert res.exit_code == 1


def test_store_dir_with_trace_id(replayed: list, traces: Path) -> None:
    res = run(str(traces), "--trace", "warn", "--format", "json")
    assert [t["trace_id"] for t in json.loads(res.stdout)["traces"]] == ["warn"]
    assert res.exit_code == 0
    missing = run(str(traces), "--trace", "nope")
    assert missing.exit_code == 2 and "no trace 'nope'" in missing.stderr


def test_source_is_the_argument_as_given(replayed: list, traces: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(traces)
    doc = json.loads(run("bad.parquet", "--format", "json").stdout)
    assert doc["traces"][0]["source"] == "bad.parquet"
    assert doc["summary"] == {"fatal": 1, "error": 1, "warning": 1, "info": 1, "baselined": 0,
                              "stale_baseline": 0}


# -- formats ------------------------------------------------------------------------

def test_text_report_is_plain_and_escaped(replayed: list, traces: Path) -> None:
    res = run(str(traces / "bad.parquet"))
    assert res.exit_code == 1
    assert "\x1b" not in res.stdout
    assert "CR4 write clears MCE \\x1b[2J" in res.stdout
    assert "dmesg.log:42" in res.stdout
    assert res.stdout.rstrip().endswith(
        "1 fatal, 1 error, 1 warning (1 info)  FAIL (--fail-on error)")
    assert res.stderr == ""  # no progress bar when stderr is not a terminal


def test_text_report_colour_override(replayed: list, traces: Path) -> None:
    res = CliRunner().invoke(cli, ["check", str(traces / "bad.parquet"), "--color"], color=True)
    assert "\x1b[" in res.stdout
    assert "\x1b[2J" not in res.stdout  # the trace's own escape stays escaped


def test_jsonl_report(replayed: list, traces: Path) -> None:
    rows = [json.loads(line) for line in run(str(traces), "--format", "jsonl").stdout.splitlines()]
    assert {r["trace_id"] for r in rows} == {"bad", "warn", "clean"}
    assert all(list(r)[:2] == ["trace_id", "rule"] for r in rows)


def test_junit_report(replayed: list, traces: Path) -> None:
    root = ET.fromstring(run(str(traces), "--format", "junit").stdout)
    assert len(root.findall(".//failure")) == 2  # C001 and K001 at --fail-on error
    assert root.get("failures") == "2"


def test_sarif_report(replayed: list, traces: Path) -> None:
    log = json.loads(run(str(traces / "bad.parquet"), "--format", "sarif").stdout)
    assert log["version"] == "2.1.0"
    results = {r["ruleId"]: r for r in log["runs"][0]["results"]}
    assert {k: r["level"] for k, r in results.items()} == {
        "C001": "error", "K001": "error", "M008": "warning"}
    with_info = json.loads(run(str(traces / "bad.parquet"), "--format", "sarif",
                               "--include-info").stdout)
    assert "T003" in {r["ruleId"] for r in with_info["runs"][0]["results"]}
    assert results["C001"]["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "dmesg.log"}, "region": {"startLine": 42}}
    assert results["K001"]["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": (traces / "bad.parquet").as_uri()}}


def test_sarif_uri_base_option(replayed: list, traces: Path) -> None:
    log = json.loads(run(str(traces / "bad.parquet"), "--format", "sarif",
                         "--uri-base", str(traces)).stdout)
    run_ = log["runs"][0]
    assert run_["originalUriBaseIds"]["SRCROOT"]["uri"] == traces.resolve().as_uri() + "/"
    k001 = next(r for r in run_["results"] if r["ruleId"] == "K001")
    assert k001["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "bad.parquet", "uriBaseId": "SRCROOT"}


def test_github_report_writes_step_summary(replayed: list, traces: Path, tmp_path: Path) -> None:
    summary = tmp_path / "step-summary.md"
    res = run(str(traces), "--format", "github", env={"GITHUB_STEP_SUMMARY": str(summary)})
    annotations = [line for line in res.stdout.splitlines() if line.startswith("::")]
    assert 0 < len(annotations) <= 10
    assert annotations[0].startswith("::error file=dmesg.log,line=42,title=C001 cr4-mce-cleared::")
    assert "| Severity |" in summary.read_text()
    assert res.exit_code == 1


def test_markdown_report(replayed: list, traces: Path) -> None:
    out = run(str(traces), "--format", "markdown").stdout
    assert out.startswith("## tdxray check: FAIL")
    assert "|---|" in out


def test_output_file(replayed: list, traces: Path, tmp_path: Path) -> None:
    report = tmp_path / "out" / "report.json"
    res = run(str(traces / "bad.parquet"), "--format", "json", "-o", str(report))
    assert res.exit_code == 1 and res.stdout == ""
    assert json.loads(report.read_text())["tdxray"] == 1
    assert "report written to" in res.stderr and "FAIL" in res.stderr


# -- baselines ------------------------------------------------------------------------

def test_write_then_use_baseline(replayed: list, traces: Path, tmp_path: Path) -> None:
    base = tmp_path / "baseline.json"
    written = run(str(traces), "--write-baseline", str(base), "--format", "json")
    assert written.exit_code == 0
    assert "wrote 4 baseline entries" in written.stderr
    doc = json.loads(base.read_text())
    assert doc["tdxray_baseline"] == 1
    assert sorted(e["rule"] for e in doc["entries"]) == ["C001", "K001", "M008", "M008"]
    assert {e["trace_id"] for e in doc["entries"]} == {"bad", "warn"}

    res = run(str(traces), "--baseline", str(base), "--fail-on", "warning", "--format", "json")
    assert res.exit_code == 0
    report = json.loads(res.stdout)
    assert report["summary"] == {"fatal": 0, "error": 0, "warning": 0, "info": 3, "baselined": 4,
                                 "stale_baseline": 0}
    flags = {d["rule"]: d["baselined"] for t in report["traces"] for d in t["divergences"]}
    assert flags == {"C001": True, "K001": True, "M008": True, "T003": False}


def test_baseline_matches_by_fingerprint_only(replayed: list, traces: Path,
                                              tmp_path: Path) -> None:
    base = tmp_path / "b.json"
    run(str(traces / "warn.parquet"), "--write-baseline", str(base))
    res = run(str(traces / "bad.parquet"), "--baseline", str(base), "--format", "json")
    flags = {d["rule"]: d["baselined"] for d in json.loads(res.stdout)["traces"][0]["divergences"]}
    assert flags["M008"] is True and flags["C001"] is False
    assert res.exit_code == 1


@pytest.mark.parametrize("content", ["{not json", '{"entries": []}', "[1, 2]",
                                     '{"tdxray_baseline": 1, "entries": [{}]}'])
def test_malformed_baseline_exits_2(replayed: list, traces: Path, tmp_path: Path,
                                    content: str) -> None:
    base = tmp_path / "broken.json"
    base.write_text(content)
    res = run(str(traces / "bad.parquet"), "--baseline", str(base))
    assert res.exit_code == 2
    assert res.stderr.startswith(f"tdxray: error: {base}")
    assert replayed == []  # refused before any replay


# -- rules ------------------------------------------------------------------------

def test_rules_text() -> None:
    res = CliRunner().invoke(cli, ["rules"])
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["ID", "SEVERITY", "NAME", "SUMMARY"]
    assert len(lines) == 1 + len(RULES)
    assert lines[1].split()[:3] == ["K001", "error", "leaked-shared-memory"]


def test_rules_json() -> None:
    doc = json.loads(CliRunner().invoke(cli, ["rules", "--format", "json"]).stdout)
    assert doc["rules"][0] == {"id": "K001", "name": "leaked-shared-memory", "severity": "error",
                               "summary": RULES["K001"].summary}
    assert [r["id"] for r in doc["rules"]] == list(RULES)


def test_check_help() -> None:
    res = CliRunner().invoke(cli, ["check", "--help"])
    assert res.exit_code == 0 and "--fail-on" in res.stdout and "Exit status" in res.stdout


# -- end to end: the worked examples (tests/spec_examples, real ingest and replay) ---------------

EXAMPLES = Path(__file__).parent / "spec_examples"
PLACEHOLDERS = {"fingerprint", "message", "source"}  # source: newer than the examples


def _comparable(div: dict[str, object]) -> str:
    return json.dumps({k: v for k, v in div.items()
                       if not k.startswith("_") and k not in PLACEHOLDERS}, sort_keys=True)


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.report.json")))
def test_spec_example_reports(example: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`tdxray check --format json X.jsonl`, run from the examples' directory, prints X.report.json
    (compared as the examples' README says: `_` keys, fingerprints, messages and info aside)."""
    expected = json.loads((EXAMPLES / example).read_text())
    monkeypatch.chdir(EXAMPLES)
    source = expected["traces"][0]["source"]
    res = run(source, "--format", "json")
    got = json.loads(res.stdout)
    assert got["tdxray"] == 1
    trace, want = got["traces"][0], expected["traces"][0]
    assert (trace["trace_id"], trace["source"], trace["events"]) == (
        want["trace_id"], want["source"], want["events"])
    above_info = [d for d in trace["divergences"] if d["severity"] != "info"]
    assert sorted(map(_comparable, above_info)) == sorted(map(_comparable, want["divergences"]))
    summary = {k: v for k, v in got["summary"].items() if k not in ("info", "stale_baseline")}
    assert summary == {k: v for k, v in expected["summary"].items() if k != "info"}
    fails = expected["summary"]["fatal"] + expected["summary"]["error"] > 0
    assert res.exit_code == (1 if fails else 0)


# -- stale baseline entries, the schema ---------------------------------------------------------

def _baseline_with_stale(path: Path, traces: Path) -> None:
    run(str(traces), "--write-baseline", str(path))
    doc = json.loads(path.read_text())
    doc["entries"].append({"fingerprint": "00000000deadbeef", "rule": "K001", "trace_id": "warn",
                           "message": "fixed since"})
    path.write_text(json.dumps(doc))


def test_stale_baseline_entries_are_counted_and_listed(replayed: list, traces: Path,
                                                       tmp_path: Path) -> None:
    base = tmp_path / "b.json"
    _baseline_with_stale(base, traces)
    res = run(str(traces), "--baseline", str(base), "--format", "json")
    doc = json.loads(res.stdout)
    assert doc["summary"]["stale_baseline"] == 1
    assert doc["stale_baseline"] == [{"fingerprint": "00000000deadbeef", "rule": "K001",
                                      "trace_id": "warn", "message": "fixed since"}]
    assert (res.exit_code, doc["exit_status"], doc["verdict"]) == (0, 0, "pass")
    text = run(str(traces), "--baseline", str(base)).stdout
    assert ("stale baseline: 1 entry matches no divergence (drop them: --write-baseline)\n"
            "  00000000deadbeef K001 warn: fixed since\n") in text


def test_fail_on_stale(replayed: list, traces: Path, tmp_path: Path) -> None:
    base = tmp_path / "b.json"
    _baseline_with_stale(base, traces)
    res = run(str(traces), "--baseline", str(base), "--fail-on-stale", "--format", "json")
    doc = json.loads(res.stdout)
    assert (res.exit_code, doc["exit_status"], doc["verdict"]) == (1, 1, "fail")
    text = run(str(traces), "--baseline", str(base), "--fail-on-stale")
    assert text.exit_code == 1 and text.stdout.rstrip().endswith("FAIL (--fail-on error)")
    # checking one trace does not judge the entries of the others
    one = run(str(traces / "bad.parquet"), "--baseline", str(base), "--fail-on-stale")
    assert one.exit_code == 0, one.stdout


def test_write_baseline_report_says_exit_0(replayed: list, traces: Path, tmp_path: Path) -> None:
    res = run(str(traces), "--write-baseline", str(tmp_path / "b.json"), "--format", "json")
    doc = json.loads(res.stdout)
    assert (res.exit_code, doc["exit_status"], doc["verdict"]) == (0, 0, "pass")


def test_json_divergences_name_their_source_line(replayed: list, traces: Path) -> None:
    doc = json.loads(run(str(traces / "bad.parquet"), "--format", "json").stdout)
    sources = {d["rule"]: d["source"] for d in doc["traces"][0]["divergences"]}
    assert sources["C001"] == {"file": "dmesg.log", "line": 42}  # seq 1 carries source/line
    assert sources["T003"] == {"file": str(traces / "bad.parquet"), "line": None}


def test_check_schema_prints_the_shipped_schema() -> None:
    from tdxray.analyses.formats.schema import report_schema

    res = CliRunner().invoke(cli, ["check", "--schema"])
    assert res.exit_code == 0
    assert json.loads(res.stdout) == report_schema()
    assert report_schema()["properties"]["tdxray"] == {
        "const": 1, "description": "The report format's version."}


def test_rules_one_rule_help() -> None:
    res = CliRunner().invoke(cli, ["rules", "K001"])
    assert res.exit_code == 0
    assert res.stdout.startswith("K001 leaked-shared-memory (error): at the kexec jump")
    assert "Fix: Before the jump, enc_kexec_finish" in res.stdout
    assert res.stdout.rstrip().endswith("docs/rules.md#k001-leaked-shared-memory")
    by_name = CliRunner().invoke(cli, ["rules", "leaked-shared-memory"])
    assert by_name.stdout == res.stdout


@pytest.mark.parametrize(("typo", "hint"), [("k01", "did you mean K001?"),
                                            ("double-acept", "did you mean double-accept?"),
                                            ("zzz", "(tdxray rules lists them)")])
def test_rules_unknown_rule(typo: str, hint: str) -> None:
    res = CliRunner().invoke(cli, ["rules", typo])
    assert res.exit_code == 2
    assert res.stderr == f"tdxray: error: no rule {typo!r}; {hint}\n".replace("; (", " (")


def test_docs_rules_md_is_the_catalogue_help() -> None:
    doc = Path(__file__).resolve().parent.parent / "docs" / "rules.md"
    res = CliRunner().invoke(cli, ["rules", "--format", "markdown"])
    assert res.stdout == doc.read_text(), "tdxray rules --format markdown > docs/rules.md"
    assert res.stdout.count("\n## ") == len(RULES)
