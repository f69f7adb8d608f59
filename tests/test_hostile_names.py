"""A file name an attacker chose reaches the CI formats and the HTML report escaped.

A name may hold a newline, a GitHub workflow command ('::error'), an escape sequence and
HTML: each format keeps it inert (one annotation line, JUnit and SARIF parse, no raw ESC,
no markup in the report).
"""

from __future__ import annotations

import json
import shutil
import xml.dom.minidom
from pathlib import Path

import pytest
from click.testing import CliRunner

from tdxray.cli.main import cli

SAMPLE = Path(__file__).resolve().parents[1] / "sample_traces" / "cr4-mce-cleared.jsonl"
HOSTILE = "b\n::error file=x::pwned\x1b]52;c;AA\x07<x>&%0A.jsonl"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("names") / HOSTILE
    shutil.copy(SAMPLE, path)
    return path


def check(path: Path, fmt: str) -> str:
    result = CliRunner().invoke(cli, ["check", str(path), "--format", fmt],
                                catch_exceptions=False)
    assert result.exit_code == 1  # the sample's C001
    assert "\x1b" not in result.stdout and "\n::error file=x" not in result.stdout
    return result.stdout


def test_github_keeps_the_name_on_one_annotation_line(hostile: Path) -> None:
    lines = check(hostile, "github").splitlines()
    assert lines[0].startswith(f"::error file={hostile.parent}/b\\x0a%3A%3Aerror "
                               "file=x%3A%3Apwned\\x1b]52;c;AA\\x07<x>&%250A.jsonl,line=151,")
    assert lines[1:] == ["1 fatal, 0 errors, 0 warnings (0 info)"]


def test_junit_and_sarif_parse(hostile: Path) -> None:
    junit = xml.dom.minidom.parseString(check(hostile, "junit"))
    source = junit.getElementsByTagName("property")[0].getAttribute("value")
    assert source == f"{hostile.parent}/b\\x0a::error file=x::pwned\\x1b]52;c;AA\\x07<x>&%0A.jsonl"
    sarif = json.loads(check(hostile, "sarif"))
    assert sarif["runs"][0]["results"][0]["ruleId"] == "C001"


def test_the_html_report_shows_a_path_as_text(tmp_path: Path) -> None:
    where = tmp_path / "x<" / "script><script>alert(1)<!--"
    where.mkdir(parents=True)
    shutil.copy(SAMPLE, where / "t.jsonl")
    out = tmp_path / "r.html"
    result = CliRunner().invoke(cli, ["report", str(where / "t.jsonl"), "-o", str(out)],
                                catch_exceptions=False)
    assert result.exit_code == 0
    html = out.read_text()
    assert "<script>alert(1)" not in html
    assert html.count("x&lt;/script&gt;&lt;script&gt;alert(1)&lt;!--/t.jsonl") == 1
