"""Markdown for merge-request comments and job summaries: a table per trace."""

from __future__ import annotations

from collections.abc import Sequence

from tdxray.analyses.escape import escape_control
from tdxray.analyses.formats import human
from tdxray.analyses.formats.base import RenderOptions
from tdxray.analyses.report import CheckedTrace, exit_status
from tdxray.model.divergence import Divergence

COLUMNS = ("Severity", "Rule", "Where", "Revealed by", "Caused by", "Message")


def cell(text: str) -> str:
    """Table-cell safe: control characters escaped; pipes, HTML and newlines neutralised."""
    text = escape_control(text)
    for raw, safe in (("&", "&amp;"), ("<", "&lt;"), ("|", "\\|")):
        text = text.replace(raw, safe)
    return text


def _row(div: Divergence) -> str:
    severity = f"~~{div.severity}~~ baselined" if div.baselined else f"**{div.severity}**"
    caused = ", ".join(str(s) for s in div.cause_seqs[:8])
    if len(div.cause_seqs) > 8:
        caused += ", …"
    cells = (severity, f"`{div.rule}` {div.name}", cell(human.place(div)),
             cell(human.revealed(div)), caused, cell(div.message))
    return "| " + " | ".join(cells) + " |"


def table(divs: Sequence[Divergence]) -> list[str]:
    head = "| " + " | ".join(COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
    return [head, rule, *(_row(d) for d in divs)]


def _info(trace: CheckedTrace) -> list[str]:
    out = []
    if trace.result.rules_skipped:
        skipped = "; ".join(f"`{r}` ({cell(why)})" for r, why in trace.result.rules_skipped)
        out.append(f"Not checked (coverage): {skipped}")
    unmodeled = [d for d in trace.divergences if d.rule == "T002"]
    if unmodeled:
        out.append(f"Unmodeled: {len(unmodeled)} ({'; '.join(cell(d.message) for d in unmodeled)})")
    return out


def _trace(trace: CheckedTrace) -> list[str]:
    result = trace.result
    gens = f"{result.generations} generation{'s' if result.generations != 1 else ''}"
    out = [f"### `{result.trace_id}`: {cell(trace.source)} ({result.events} events, {gens})", ""]
    divs = [d for d in trace.divergences if d.rule not in ("T002", "T003")]
    out.extend(table(divs) if divs else ["No divergences above info."])
    info = _info(trace)
    return out + ([""] + [f"- {line}" for line in info] if info else []) + [""]


def render(traces: Sequence[CheckedTrace], opts: RenderOptions) -> str:
    verdict = "FAIL" if exit_status(traces, opts.fail_on) else "PASS"
    lines = [f"## tdxray check: {verdict}", "",
             f"{human.counts_line(traces)}; fails on `{opts.fail_on}` and above.", ""]
    for trace in traces:
        lines.extend(_trace(trace))
    return "\n".join(lines)
