"""A trace with 30,000 findings through every CI format: an uploadable SARIF (schema-valid,
at most 25,000 results, rules with help), a step summary under 1 MiB, JUnit names that stay the
same when an unrelated divergence is added, a JSON report valid against the shipped schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from junitparser import JUnitXml

from tdxray.analyses.formats.github import SUMMARY_LIMIT
from tdxray.analyses.formats.sarif import MAX_RESULTS
from tdxray.analyses.formats.text import PER_RULE
from tdxray.cli.main import cli
from tdxray.tests.big_report import LEAKS, write_leaky_trace


def tdxray(*args: str, env: dict[str, str] | None = None) -> str:
    res = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert res.exit_code in (0, 1), res.output
    return res.stdout


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two stores of the leaky trace: as recorded, and with one more (unrelated) leak."""
    root = tmp_path_factory.mktemp("big")
    out = []
    for name, extra in (("before", False), ("after", True)):
        trace = write_leaky_trace(root / f"{name}.jsonl", extra_leak=extra)
        tdxray("ingest", str(trace), "-o", str(root / name))
        tdxray("replay", str(root / name))
        out.append(root / name)
    return out[0], out[1]


def test_json_report_counts_every_finding(stores: tuple[Path, Path]) -> None:
    doc = json.loads(tdxray("check", str(stores[0]), "--format", "json"))  # schema: conftest
    assert doc["summary"]["error"] == LEAKS + 1  # every K001 range and the K004
    assert (doc["verdict"], doc["exit_status"]) == ("fail", 1)


def test_sarif_is_uploadable(stores: tuple[Path, Path]) -> None:
    log = json.loads(tdxray("check", str(stores[0]), "--format", "sarif"))  # schema: conftest
    run = log["runs"][0]
    assert len(run["results"]) == MAX_RESULTS
    assert run["results"][0]["ruleId"] == "K001"
    (note,) = run["invocations"][0]["toolExecutionNotifications"]
    assert note["message"]["text"].startswith(
        f"{LEAKS + 1 - MAX_RESULTS} results not included: a run holds at most {MAX_RESULTS}")
    assert all(rule["help"]["markdown"] for rule in run["tool"]["driver"]["rules"])


def test_step_summary_stays_under_1_mib(stores: tuple[Path, Path], tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step output\n")
    out = tdxray("check", str(stores[0]), "--format", "github",
                 env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert len([line for line in out.splitlines() if line.startswith("::error")]) == 10
    size = summary.stat().st_size
    assert SUMMARY_LIMIT - 2000 < size <= SUMMARY_LIMIT < 1 << 20
    text = summary.read_text()
    assert text.startswith("earlier step output\n## tdxray check: FAIL")
    shown = text.count("| **error** |")
    assert f"**{LEAKS + 1 - shown} more divergences not shown**" in text


def test_junit_names_survive_an_unrelated_new_divergence(stores: tuple[Path, Path]) -> None:
    def names(store: Path) -> set[str]:
        xml = JUnitXml.fromstring(tdxray("check", str(store), "--format", "junit"))
        cases = [case.name for suite in xml for case in suite]
        assert len(cases) == len(set(cases))
        return set(cases)

    before, after = names(stores[0]), names(stores[1])
    assert len(before) > LEAKS
    assert before < after and len(after - before) == 1


def test_text_report_lists_a_few_per_rule(stores: tuple[Path, Path]) -> None:
    lines = tdxray("check", str(stores[0])).splitlines()
    assert f"    … {LEAKS - PER_RULE} more K001 (--format jsonl lists every one)" in lines
    assert len([line for line in lines if line.startswith("    [0x")]) == PER_RULE
    assert len(lines) < 3 * PER_RULE + 20
