"""JUnit XML for CI test panels (GitLab, Jenkins): a testsuite per trace.

Testcases: one per (rule, fingerprint) above info, named by rule, rule name and a short hash of
the fingerprint, so that a name survives re-recording and unrelated new divergences (the place,
time and counts are in the message); failed when it fails the check, skipped when baselined,
passed otherwise. Each rule that ran and found nothing passes; each rule skipped for lack of
coverage is skipped. A fleet check's unreadable traces are a suite "unreadable" of testcases in
error. `--format xunit` is the same without the `file`/`line` attributes, which
the Jenkins xunit plugin's schema does not allow.
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

INFO_RULES = ("T002", "T003")


def _xml_text(text: str) -> str:
    """XML 1.0 cannot carry most control characters at all: escape them."""
    return escape_control(text)


def _rule_title(rule: str) -> str:
    known = RULES.get(rule)
    return f"{rule} {known.name}" if known else rule


def case_name(div: Divergence) -> str:
    """Stable: rule, name and the fingerprint's first 8 hex digits (never a seq or a count)."""
    return f"{div.rule} {div.name} {div.fingerprint[:8]}"


def _case(suite: ET.Element, trace: CheckedTrace, name: str) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=f"tdxray.{trace.result.trace_id}",
                         name=_xml_text(name), time="0")


def _detail(trace: CheckedTrace, divs: list[Divergence]) -> str:
    out = []
    for div in divs:
        file, line = trace.location_of(div)
        where = f"{file}:{line}" if line is not None else file
        facts = [f for f in (human.place(div), human.revealed(div), human.causes(div)) if f]
        out.append(f"{human.message(div)}\n  {'; '.join(facts)}\n  at {_xml_text(where)}")
    out.append(f"fingerprint {divs[0].fingerprint}")
    return "\n".join(out)


def _summary(divs: list[Divergence]) -> str:
    """The message: the first occurrence's text, its place and time, and how many there are."""
    first = divs[0]
    facts = [f for f in (human.place(first), human.revealed(first)) if f]
    more = f" (×{len(divs)})" if len(divs) > 1 else ""
    return f"{human.message(first)}{more}: {'; '.join(facts)}"


def _divergence_case(suite: ET.Element, trace: CheckedTrace, divs: list[Divergence],
                     opts: RenderOptions, strict: bool) -> str:
    first = divs[0]
    case = _case(suite, trace, case_name(first))
    if not strict:
        file, line = trace.location_of(first)
        case.set("file", _xml_text(file))
        if line is not None:
            case.set("line", str(line))
    message = _summary(divs)
    if any(is_failing(d, opts.fail_on) for d in divs):
        failure = ET.SubElement(case, "failure", message=message, type=first.severity)
        failure.text = _detail(trace, divs)
        return "failure"
    if all(d.baselined for d in divs):
        ET.SubElement(case, "skipped", message=f"baselined: {message}")
        return "skipped"
    ET.SubElement(case, "system-out").text = f"{first.severity}: {_detail(trace, divs)}"
    return "pass"


def _by_fingerprint(divs: Sequence[Divergence]) -> list[list[Divergence]]:
    groups: dict[tuple[str, str], list[Divergence]] = {}
    for div in divs:
        if div.severity != "info":
            groups.setdefault((div.rule, div.fingerprint), []).append(div)
    return list(groups.values())


def _suite(root: ET.Element, trace: CheckedTrace, opts: RenderOptions, strict: bool) -> None:
    result = trace.result
    suite = ET.SubElement(root, "testsuite", name=result.trace_id)
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="source", value=_xml_text(trace.source))
    ET.SubElement(props, "property", name="events", value=str(result.events))
    outcomes = []
    groups = _by_fingerprint(trace.divergences)
    for divs in groups:
        outcomes.append(_divergence_case(suite, trace, divs, opts, strict))
    hit = {divs[0].rule for divs in groups}
    for rule in result.rules_run:
        if rule not in hit and rule not in INFO_RULES:
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


def _unreadable_suite(root: ET.Element, unreadable: Sequence[str]) -> None:
    """A fleet check's traces it could not use: a testcase in error each."""
    suite = ET.SubElement(root, "testsuite", name="unreadable", tests=str(len(unreadable)),
                          failures="0", errors=str(len(unreadable)), skipped="0")
    for line in unreadable:
        case = ET.SubElement(suite, "testcase", classname="tdxray.unreadable",
                             name=_xml_text(line), time="0")
        ET.SubElement(case, "error", message=_xml_text(line), type="unreadable")


def _render(traces: Sequence[CheckedTrace], opts: RenderOptions, strict: bool) -> str:
    root = ET.Element("testsuites", name="tdxray check")
    if opts.unreadable:
        _unreadable_suite(root, opts.unreadable)
    for trace in traces:
        _suite(root, trace, opts, strict)
    suites = root.findall("testsuite")
    for key in ("tests", "failures", "errors"):
        root.set(key, str(sum(int(s.get(key, "0")) for s in suites)))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def render(traces: Sequence[CheckedTrace], opts: RenderOptions) -> str:
    return _render(traces, opts, strict=False)


def render_xunit(traces: Sequence[CheckedTrace], opts: RenderOptions) -> str:
    return _render(traces, opts, strict=True)
