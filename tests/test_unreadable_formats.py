"""A fleet check's unreadable traces appear in every report format, not only on stderr and in
the JSON report (the run exits 2; the others' results are reported)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from tdxray.analyses.formats import render
from tdxray.analyses.formats.base import RenderOptions
from tdxray.analyses.report import CheckedTrace
from tdxray.tests.schemas import check_junit, check_report
from tdxray.tests.test_report import clean_result

LINE = "store/zz-corrupt.parquet: not a readable Parquet file: Parquet magic bytes not found"
HOSTILE = "store/a\x1b]52;c;aGk=\x07\nb.parquet: not a readable Parquet file"
OPTS = RenderOptions(status=2, unreadable=(LINE, HOSTILE))


def _traces() -> list[CheckedTrace]:
    return [CheckedTrace(clean_result(), "store/td-clean.parquet")]


def test_text_lists_them_before_the_verdict() -> None:
    out = render("text", _traces(), OPTS)
    tail = out.splitlines()[-5:]
    assert tail == ["unreadable: 2 traces not checked",
                    f"  {LINE}",
                    "  store/a\\x1b]52;c;aGk=\\x07\\x0ab.parquet: not a readable Parquet file",
                    "",
                    "0 fatal, 0 errors, 0 warnings (0 info)  FAIL (--fail-on error)"]


def test_text_says_nothing_when_all_were_read() -> None:
    assert "unreadable" not in render("text", _traces(), RenderOptions())


def test_markdown_has_a_section() -> None:
    out = render("markdown", _traces(), OPTS)
    assert out.startswith("## tdxray check: FAIL\n")
    assert f"### Not checked: unreadable traces\n\n- {LINE}\n" in out
    assert "\x1b" not in out and "\x07" not in out


def test_github_annotates_each_as_an_error_on_one_line() -> None:
    lines = render("github", _traces(), OPTS).splitlines()
    assert lines[0] == f"::error title=tdxray unreadable trace::{LINE}"
    assert lines[1] == ("::error title=tdxray unreadable trace::"
                        "store/a\\x1b]52;c;aGk=\\x07\\x0ab.parquet: not a readable Parquet file")


def test_junit_counts_them_as_errors() -> None:
    for name in ("junit", "xunit"):
        xml = render(name, _traces(), OPTS)
        root = ET.fromstring(xml)
        assert root.get("errors") == "2"
        suite = root.find("testsuite[@name='unreadable']")
        assert suite is not None and suite.get("errors") == "2"
        errors = [(c.get("name"), c.find("error").get("message"))  # type: ignore[union-attr]
                  for c in suite.findall("testcase")]
        assert errors[0] == (LINE, LINE)
        assert len(errors) == 2
        if name == "xunit":
            check_junit(xml)


def test_sarif_says_the_run_was_not_successful() -> None:
    log = json.loads(render("sarif", _traces(), OPTS))  # validated by conftest
    invocation = log["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    notes = invocation["toolExecutionNotifications"]
    assert [(n["level"], n["descriptor"]["id"]) for n in notes] == \
        [("error", "tdxray/unreadable-trace")] * 2
    assert notes[0]["message"]["text"] == LINE
    assert "\x1b" not in notes[1]["message"]["text"]
    clean = json.loads(render("sarif", _traces(), RenderOptions()))
    assert clean["runs"][0]["invocations"][0] == {"executionSuccessful": True}


def test_json_lists_them_and_validates() -> None:
    doc = json.loads(render("json", _traces(), OPTS))
    check_report(doc)
    assert (doc["verdict"], doc["exit_status"]) == ("error", 2)
    assert doc["unreadable"] == [LINE, HOSTILE]
