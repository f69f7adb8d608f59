"""`tdxray.check()` in Python, py.typed, and "did you mean" for a mistyped command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import tdxray
from tdxray.analyses.baseline import Baseline, BaselineEntry
from tdxray.cli.main import cli
from tdxray.schema.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
UNFIXED = ROOT / "sample_traces" / "unfixed-kernel.jsonl"
CLEAN = ROOT / "sample_traces" / "single-vcpu-kexec.jsonl"


def test_check_returns_the_report_object() -> None:
    report = tdxray.check(UNFIXED)
    assert (report.exit_status, report.verdict) == (1, "fail")
    assert report.summary["fatal"] == 1 and report.summary["error"] == 3
    rules = {d.rule for _, d in report.divergences if d.severity != "info"}
    assert rules == {"C001", "K001", "K004"}
    doc = report.to_json()
    assert doc["verdict"] == "fail" and doc["traces"][0]["source"] == str(UNFIXED)  # type: ignore[index]
    cli_doc = json.loads(CliRunner().invoke(cli, ["check", str(UNFIXED), "--format",
                                                  "json"]).stdout)
    assert doc == cli_doc
    assert report.render("text").rstrip().endswith("FAIL (--fail-on error)")


def test_check_with_baseline_and_fail_on() -> None:
    first = tdxray.check([UNFIXED, CLEAN])
    found = [BaselineEntry(d.fingerprint) for _, d in first.divergences if d.severity != "info"]
    known = Baseline((*found, BaselineEntry("00000000deadbeef")))
    again = tdxray.check([UNFIXED, CLEAN], baseline=known)
    assert again.exit_status == 0 and len(again.stale) == 1
    assert tdxray.check(UNFIXED, baseline=known, fail_on_stale=True).exit_status == 1
    assert tdxray.check(CLEAN, fail_on="warning").verdict == "pass"


def test_check_refuses_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        tdxray.check(tmp_path / "missing.jsonl")
    with pytest.raises(InputError, match="fail_on must be one of"):
        tdxray.check(CLEAN, fail_on="info")
    with pytest.raises(InputError, match="no report format 'xml'"):
        tdxray.check(CLEAN).render("xml")


def test_package_is_typed() -> None:
    assert (ROOT / "py.typed").is_file()
    assert '"py.typed"' in (ROOT / "pyproject.toml").read_text()


@pytest.mark.parametrize(("typo", "hint"), [("chek", "Did you mean 'check'?"),
                                            ("simulte", "Did you mean 'simulate'?"),
                                            ("zzzz", "")])
def test_mistyped_command_suggests(typo: str, hint: str) -> None:
    res = CliRunner().invoke(cli, [typo, "x"])
    assert res.exit_code == 2
    said = f" {hint}" if hint else ""
    want = f"Error: No such command '{typo}'.{said} (tdxray --help lists them)"
    assert want in res.stderr
