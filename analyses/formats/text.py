"""The report for people: per trace, divergences grouped by rule, most severe first."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import click

from tdxray.analyses.baseline import BaselineEntry
from tdxray.analyses.escape import escape_control
from tdxray.analyses.formats import human
from tdxray.analyses.formats.base import RenderOptions
from tdxray.analyses.report import CheckedTrace, exit_status
from tdxray.model.catalogue import RULES, SEVERITY_RANK
from tdxray.model.divergence import Divergence

Style = Callable[..., str]
COLOURS: dict[str, dict[str, Any]] = {"fatal": {"fg": "red", "bold": True}, "error": {"fg": "red"},
           "warning": {"fg": "yellow"}, "info": {"fg": "cyan"}}
MAX_LISTED = 5
PER_RULE = 20  # divergences listed per rule; the rest are counted on one line


def _plain(text: str, **_: object) -> str:
    return text


def _header(trace: CheckedTrace, style: Style) -> str:
    result = trace.result
    gens = f"{result.generations} generation{'s' if result.generations != 1 else ''}"
    return (f"{style(result.trace_id, bold=True)}  {escape_control(trace.source)}  "
            f"{result.events} events, {gens}")


def _groups(divs: Sequence[Divergence]) -> list[list[Divergence]]:
    by_rule: dict[str, list[Divergence]] = defaultdict(list)
    for div in divs:
        by_rule[div.rule].append(div)
    return sorted(by_rule.values(), key=lambda g: (SEVERITY_RANK[g[0].severity], g[0].sort_key()))


def _source_line(trace: CheckedTrace, div: Divergence) -> str | None:
    file, line = trace.location_of(div)
    return f"{escape_control(file)}:{line}" if line is not None else None


def _group(trace: CheckedTrace, divs: list[Divergence], style: Style) -> list[str]:
    rule = RULES[divs[0].rule]
    label = style(rule.severity.upper(), **COLOURS[rule.severity]) + " " * (7 - len(rule.severity))
    count = f" ×{len(divs)}" if len(divs) > 1 else ""
    out = [f"  {label} {style(rule.id, bold=True)} {rule.name}{count}: {rule.summary}"]
    for div in divs[:PER_RULE]:
        facts = [f for f in (human.place(div), human.revealed(div), _source_line(trace, div),
                             human.causes(div)) if f]
        out.append("    " + " · ".join(facts))
        out.append("      " + human.message(div))
    if len(divs) > PER_RULE:
        out.append(f"    … {len(divs) - PER_RULE} more {rule.id} (--format jsonl lists every one)")
    return out


def _condensed(trace: CheckedTrace, style: Style) -> list[str]:
    """Baselined divergences and info findings, one line per kind of thing."""
    out = []
    baselined = [d for d in trace.divergences if d.baselined]
    if baselined:
        tally: dict[str, int] = defaultdict(int)
        for div in baselined:
            tally[div.rule] += 1
        out.append("  baselined: " + ", ".join(f"{r} ×{n}" for r, n in tally.items()))
    by_why: dict[str, list[str]] = defaultdict(list)
    for rule, why in trace.result.rules_skipped:
        by_why[why].append(rule)
    for why, rules in by_why.items():
        line = f"  coverage: {', '.join(rules)} skipped ({escape_control(why)})"
        out.append(style(line, **COLOURS["info"]))
    for d in trace.divergences:
        if d.rule == "T003" and d.location == "lost_events":
            out.append(style(f"  coverage: {escape_control(d.message)}", **COLOURS["info"]))
    unmodeled = [d for d in trace.divergences if d.rule == "T002" and not d.baselined]
    if unmodeled:
        listed = "; ".join(human.message(d) for d in unmodeled[:MAX_LISTED])
        more = f"; … (+{len(unmodeled) - MAX_LISTED})" if len(unmodeled) > MAX_LISTED else ""
        out.append(style(f"  unmodeled: {len(unmodeled)} ({listed}{more})", **COLOURS["info"]))
    return out


def _trace(trace: CheckedTrace, style: Style) -> list[str]:
    shown = [d for d in trace.divergences if not d.baselined
             and (d.severity != "info" or d.rule not in ("T002", "T003"))]
    lines = [_header(trace, style)]
    for group in _groups(shown):
        lines.extend(_group(trace, group, style))
    if not shown:
        lines.append("  no divergences above info")
    return lines + _condensed(trace, style)


def stale_lines(stale: Sequence[BaselineEntry]) -> list[str]:
    """The baseline entries nothing matched, one line each (fixed, or the range moved)."""
    if not stale:
        return []
    noun = "entry matches" if len(stale) == 1 else "entries match"
    out = [f"stale baseline: {len(stale)} {noun} no divergence (drop them: --write-baseline)"]
    for entry in stale:
        about = " ".join(escape_control(x) for x in (entry.rule, entry.trace_id) if x)
        text = f": {escape_control(entry.message)}" if entry.message else ""
        out.append(f"  {entry.fingerprint} {about}{text}")
    return out


def unreadable_lines(unreadable: Sequence[str]) -> list[str]:
    """The inputs a fleet check could not use, one line each (already escaped)."""
    if not unreadable:
        return []
    noun = "trace" if len(unreadable) == 1 else "traces"
    return [f"unreadable: {len(unreadable)} {noun} not checked",
            *(f"  {escape_control(line)}" for line in unreadable)]


def verdict(traces: Sequence[CheckedTrace], fail_on: str, style: Style = _plain,
            status: int | None = None) -> str:
    failed = (exit_status(traces, fail_on) if status is None else status) != 0
    word = style("FAIL", fg="red", bold=True) if failed else style("PASS", fg="green", bold=True)
    many = f"{len(traces)} traces: " if len(traces) != 1 else ""
    return f"{many}{human.counts_line(traces)}  {word} (--fail-on {fail_on})"


def render(traces: Sequence[CheckedTrace], opts: RenderOptions) -> str:
    style: Style = click.style if opts.color else _plain
    lines: list[str] = []
    for trace in traces:
        lines.extend(_trace(trace, style))
        lines.append("")
    stale = stale_lines(opts.stale)
    lines.extend([*stale, ""] if stale else [])
    lost = unreadable_lines(opts.unreadable)
    lines.extend([*lost, ""] if lost else [])
    lines.append(verdict(traces, opts.fail_on, style, opts.status))
    return "\n".join(lines) + "\n"
