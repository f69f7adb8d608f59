"""The HTML of each part of one trace's report (every trace string escaped)."""

from __future__ import annotations

from html import escape

import numpy as np

from tdxray.analyses.diff.phases import PHASE_TITLES
from tdxray.analyses.diff.ranges import pages
from tdxray.analyses.rule_help import HELP
from tdxray.model.catalogue import RULES
from tdxray.model.divergence import Divergence
from tdxray.report import charts
from tdxray.report.data import TraceData

MAX_ROWS = 500  # divergences listed per trace; the rest counted
MAX_MARK_ROWS = 200


def _table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def _range(d: Divergence) -> str:
    if d.gpa_start is None:
        return ""
    return escape(f"[{d.gpa_start:#x}, {d.gpa_end or 0:#x})")


def _opt(value: object) -> str:
    return "" if value is None else escape(str(value))


def divergence_table(t: TraceData) -> str:
    found = [d for d in t.result.divergences if d.severity != "info"]
    if not found:
        return "<p>No divergence above info.</p>"
    rows = []
    for d in found[:MAX_ROWS]:
        rule = RULES[d.rule]
        causes = ", ".join(str(c) for c in d.cause_seqs[:20])
        explain = (f"{escape(rule.summary)}.<details><summary>fix</summary>"
                   f"{escape(HELP[d.rule].fix)}</details>")
        rows.append([f'<span class="sev {d.severity}">{d.severity}</span>',
                     escape(d.rule), escape(d.name), _opt(d.seq), _opt(d.vcpu), _range(d),
                     _opt(d.pages), escape(causes), escape(d.message), explain])
    more = len(found) - MAX_ROWS
    note = f"<p>… {more} more divergences (see tdxray check).</p>" if more > 0 else ""
    return _table(["severity", "rule", "name", "seq", "vCPU", "GPA range", "pages",
                   "caused by seqs", "message", "explanation"], rows, "divergences") + note


def around(t: TraceData) -> str:
    if not t.around:
        return ""
    parts = [f"<details><summary>seq {s}</summary><pre>{escape(chr(10).join(lines))}</pre>"
             "</details>" for s, lines in t.around.items()]
    return "<h3>Events around each divergence</h3>" + "".join(parts)


def memory(t: TraceData) -> str:
    if not t.jumps:
        return "<p>No jump in this trace.</p>"
    rows = [[str(m.generation), str(m.seq), escape(state), str(pages(ranges)),
             escape(", ".join(f"[{s:#x}, {e:#x})" for s, e in ranges[:20]))]
            for m in t.jumps for state, ranges in m.ranges.items() if ranges]
    table = _table(["generation", "jump seq", "state", "pages", "ranges"], rows) if rows else \
        "<p>At every jump all RAM is private and accepted.</p>"
    return charts.svg(charts.memory_map(t.jumps, t.td.ram)) + table


def phases(t: TraceData) -> str:
    rows = [[str(p.generation), escape(PHASE_TITLES[p.name]), str(p.start_seq),
             f"{p.ns / 1e6:.3f}"] for p in t.timeline.phases]
    return _table(["generation", "phase", "from seq", "ms"], rows)


def shared(t: TraceData) -> str:
    jumps = [m.seq for m in t.jumps]
    return charts.svg(charts.shared_pages(t.shared, jumps))


def latency(t: TraceData) -> str:
    ns = np.frombuffer(t.timeline.op_ns, dtype=np.int64) if len(t.timeline.op_ns) else \
        np.zeros(0, np.int64)
    to_shared = np.frombuffer(t.timeline.op_to_shared, dtype=np.int8).astype(bool)
    rows = []
    for label, pick in (("to shared", to_shared), ("to private", ~to_shared)):
        sel = ns[pick]
        if len(sel):
            rows.append([label, str(len(sel)), f"{np.median(sel) / 1000:.1f}",
                         f"{sel.max() / 1000:.1f}"])
    table = _table(["MapGPA", "operations", "median µs", "max µs"], rows) if rows else \
        "<p>No MapGPA in this trace.</p>"
    return charts.svg(charts.latency(t.timeline)) + table


def timelines(t: TraceData) -> str:
    marks = t.timeline.marks
    if not marks:
        return "<p>No mailbox or CPU events.</p>"
    rows = [[str(m.seq), str(m.ts), str(m.vcpu), escape(m.lane), escape(m.label)]
            for m in marks[:MAX_MARK_ROWS]]
    return (charts.svg(charts.vcpu_timelines(marks))
            + "<details><summary>the events</summary>"
            + _table(["seq", "ts_ns", "vCPU", "lane", "event"], rows) + "</details>")


def coverage(t: TraceData) -> str:
    run = ", ".join(t.result.rules_run) or "none"
    rows = [[escape(rule), escape(why)] for rule, why in t.result.rules_skipped]
    skipped = _table(["skipped rule", "why"], rows) if rows else "<p>No rule skipped.</p>"
    return f"<p>Rules run: {escape(run)}</p>{skipped}"
