"""GitHub Actions: workflow-command annotations for the worst divergences, a job summary for all.

At most MAX_ANNOTATIONS annotations (the most severe non-baselined divergences above info);
the report is appended as Markdown to $GITHUB_STEP_SUMMARY when that is set, capped so that the
file stays under SUMMARY_LIMIT bytes, with a line that says how many divergences it left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tdxray.analyses.escape import escape_control
from tdxray.analyses.formats import human, markdown
from tdxray.analyses.formats.base import MAX_ANNOTATIONS, RenderOptions
from tdxray.analyses.report import CheckedTrace
from tdxray.model.divergence import Divergence

SUMMARY_LIMIT = 1_000_000  # bytes: below GitHub's 1 MiB (1,048,576) per step summary
COMMANDS = {"fatal": "error", "error": "error", "warning": "warning", "info": "notice"}


def _data(text: str) -> str:
    """Escape a workflow command's message (GitHub's escapeData)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    """Escape a workflow command's property value (GitHub's escapeProperty)."""
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def _annotation(trace: CheckedTrace, div: Divergence) -> str:
    file, line = trace.location_of(div)
    props = [f"file={_property(escape_control(file))}"]
    if line is not None:
        props.append(f"line={line}")
    props.append(f"title={_property(f'{div.rule} {div.name}')}")
    facts = [f for f in (human.place(div), human.revealed(div), human.causes(div)) if f]
    text = f"{trace.result.trace_id}: {human.message(div)} ({'; '.join(facts)})"
    return f"::{COMMANDS[div.severity]} {','.join(props)}::{_data(text)}"


def worst(traces: Sequence[CheckedTrace]) -> list[tuple[CheckedTrace, Divergence]]:
    pairs = [(t, d) for t in traces for d in t.divergences
             if not d.baselined and d.severity != "info"]
    return sorted(pairs, key=lambda pair: pair[1].sort_key())


def _append_summary(path: Path, traces: Sequence[CheckedTrace], opts: RenderOptions) -> None:
    """Append the Markdown report, capped so that the file stays under SUMMARY_LIMIT bytes
    (GitHub drops a step summary over 1 MiB whole)."""
    try:
        before = path.stat().st_size
    except FileNotFoundError:
        before = 0
    budget = max(SUMMARY_LIMIT - before - 1, 0)
    with path.open("a", encoding="utf-8") as summary:
        summary.write(markdown.render_capped(traces, opts, budget) + "\n")


def render(traces: Sequence[CheckedTrace], opts: RenderOptions) -> str:
    pairs = worst(traces)
    lines = [f"::error title=tdxray unreadable trace::{_data(escape_control(line))}"
             for line in opts.unreadable]
    lines += [_annotation(t, d) for t, d in pairs[:MAX_ANNOTATIONS]]
    if len(pairs) > MAX_ANNOTATIONS:
        where = "the job summary" if opts.step_summary else "the full report (--format text)"
        lines.append(f"::notice title=tdxray::{len(pairs) - MAX_ANNOTATIONS} more divergences "
                     f"not annotated; see {where}")
    if opts.step_summary is not None:
        _append_summary(opts.step_summary, traces, opts)
    lines.append(human.counts_line(traces))
    return "\n".join(lines) + "\n"
