"""JUnit XML for CI test panels (GitLab, Jenkins): a testsuite per trace.

Testcases: each divergence above info (failed when it fails the check, skipped when baselined,
passed otherwise), each rule that ran and found nothing (passed), each rule skipped for lack
of coverage (skipped).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from tdxray.analyses.escape import escape_control
from tdxray.analyses.formats import human
from tdxray.analyses.formats.base import RenderOptions
from tdxray.analyses.report import CheckedTrace, is_failing
from tdxray.model.catalogue import RULES
from tdxray.model.divergence import Divergence


def _xml_text(text: str) -> str:
    """XML 1.0 cannot carry most control characters at all: escape them."""
    return escape_control(text)


def _rule_title(rule: str) -> str:
    known = RULES.get(rule)
    return f"{rule} {known.name}" if known else rule


def _case(suite: ET.Element, trace: CheckedTrace, name: str) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=f"tdxray.{trace.result.trace_id}",
                         name=_xml_text(name), time="0")


def _divergence_case(suite: ET.Element, trace: CheckedTrace, div: Divergence,
                     fail_on: str) -> str:
    where = human.place(div) or human.revealed(div)
    case = _case(suite, trace, f"{div.rule} {div.name} {where}")
    file, line = trace.location_of(div)
    case.set("file", _xml_text(file))
    if line is not None:
        case.set("line", str(line))
    detail = "\n".join(f for f in (human.message(div), human.revealed(div), human.causes(div),
                                    f"fingerprint {div.fingerprint}") if f)
    if is_failing(div, fail_on):
        failure = ET.SubElement(case, "failure", message=human.message(div), type=div.severity)
        failure.text = detail
        return "failure"
    if div.baselined:
        ET.SubElement(case, "skipped", message=f"baselined: {human.message(div)}")
        return "skipped"
    ET.SubElement(case, "system-out").text = f"{div.severity}: {detail}"
    return "pass"


def _suite(root: ET.Element, trace: CheckedTrace, fail_on: str) -> None:
    result = trace.result
    suite = ET.SubElement(root, "testsuite", name=result.trace_id)
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="source", value=_xml_text(trace.source))
    ET.SubElement(props, "property", name="events", value=str(result.events))
    outcomes = []
    hit = set()
    for div in trace.divergences:
        if div.severity != "info":
            hit.add(div.rule)
            outcomes.append(_divergence_case(suite, trace, div, fail_on))
    for rule in result.rules_run:
        if rule not in hit and rule not in ("T002", "T003"):
            _case(suite, trace, _rule_title(rule))
            outcomes.append("pass")
    for rule, why in result.rules_skipped:
        case = _case(suite, trace, _rule_title(rule))
        ET.SubElement(case, "skipped", message=f"not checked: {_xml_text(why)}")
        outcomes.append("skipped")
    suite.set("tests", str(len(outcomes)))
    suite.set("failures", str(outcomes.count("failure")))
    suite.set("errors", "0")
    suite.set("skipped", str(outcomes.count("skipped")))


def render(traces: Sequence[CheckedTrace], opts: RenderOptions) -> str:
    root = ET.Element("testsuites", name="tdxray check")
    for trace in traces:
        _suite(root, trace, opts.fail_on)
    suites = root.findall("testsuite")
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(sum(int(s.get(key, "0")) for s in suites)))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
