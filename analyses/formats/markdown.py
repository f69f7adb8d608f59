"""Markdown for merge-request comments and job summaries: a table per trace."""

from __future__ import annotations

from collections.abc import Sequence

from tdxray.analyses.escape import escape_control
from tdxray.analyses.formats import human
from tdxray.analyses.formats.base import RenderOptions
from tdxray.analyses.report import CheckedTrace, exit_status
from tdxray.model.divergence import Divergence

COLUMNS = ("Severity", "Rule", "Where", "Revealed by", "Caused by", "Message")
RESERVE = 1024  # bytes kept for the "N more" line of a capped summary


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
    lost = [d for d in trace.divergences if d.rule == "T003" and d.location == "lost_events"]
    out.extend(f"Coverage: {cell(d.message)}" for d in lost)
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


def _head(traces: Sequence[CheckedTrace], opts: RenderOptions) -> list[str]:
    status = exit_status(traces, opts.fail_on) if opts.status is None else opts.status
    return [f"## tdxray check: {'FAIL' if status else 'PASS'}", "",
            f"{human.counts_line(traces)}; fails on `{opts.fail_on}` and above.", ""]


def _unreadable(opts: RenderOptions) -> list[str]:
    if not opts.unreadable:
        return []
    return ["### Not checked: unreadable traces", "",
            *(f"- {cell(line)}" for line in opts.unreadable), ""]


def render(traces: Sequence[CheckedTrace], opts: RenderOptions) -> str:
    lines = _head(traces, opts) + _unreadable(opts)
    for trace in traces:
        lines.extend(_trace(trace))
    return "\n".join(lines)


def _fits(lines: list[str], line: str, used: int, budget: int) -> tuple[bool, int]:
    size = len(line.encode()) + 1
    if used + size > budget:
        return False, used
    lines.append(line)
    return True, used + size


def render_capped(traces: Sequence[CheckedTrace], opts: RenderOptions, budget: int) -> str:
    """render(), cut to at most budget bytes (UTF-8): table rows stop when the next would not
    fit, and a last line says how many divergences were left out and where to see them."""
    full = render(traces, opts)
    if len(full.encode()) <= budget:
        return full
    budget -= RESERVE
    lines: list[str] = []
    used, left_out, full_up = 0, 0, False
    for line in _head(traces, opts) + _unreadable(opts):
        _, used = _fits(lines, line, used, budget)
    for trace in traces:
        block = _trace(trace)
        for line in block:
            if not full_up:
                ok, used = _fits(lines, line, used, budget)
                full_up = not ok
            if full_up and line.startswith("| ") and not line.startswith("| Sev"):
                left_out += 1
    lines += ["", f"**{left_out} more divergences not shown**: a job summary must stay under "
              "1 MiB. The whole report: `tdxray check --format json` (or `--format markdown "
              "-o FILE`, uploaded as an artifact)."]
    return "\n".join(lines)
