"""The diff for a person: text (a terminal) and Markdown (a pull request comment)."""

from __future__ import annotations

from collections.abc import Iterator

from tdxray.analyses.diff.compare import Diff, PhaseDiff, RangeDiff
from tdxray.analyses.diff.ranges import Ranges
from tdxray.model.divergence import Divergence

RANGE_NAMES = {"to_shared": "MapGPA to shared", "to_private": "MapGPA to private",
               "accept": "ACCEPT"}
MAX_RANGES = 8


def _ns(ns: int | None) -> str:
    return "-" if ns is None else f"{ns / 1e6:.3f} ms"


def _ranges(ranges: Ranges) -> str:
    shown = ", ".join(f"[{s:#x}, {e:#x})" for s, e in ranges[:MAX_RANGES])
    more = len(ranges) - MAX_RANGES
    return shown + (f", … {more} more" if more > 0 else "")


def _divergence(side: str, d: Divergence) -> str:
    return f"only in {side}: {d.severity.upper()} {d.rule} {d.name}: {d.message}"


def _range_lines(label: str, r: RangeDiff, counts: bool = True) -> Iterator[str]:
    if not r.differs:
        return
    if counts:
        yield (f"{label}: A {r.count_a} calls, {r.pages_a} pages; "
               f"B {r.count_b} calls, {r.pages_b} pages")
    if r.only_a:
        yield f"{label} only in A: {_ranges(r.only_a)}"
    if r.only_b:
        yield f"{label} only in B: {_ranges(r.only_b)}"


def phase_lines(p: PhaseDiff) -> Iterator[str]:
    """What differs in one phase, one line each (nothing when the phases agree)."""
    if p.present != "both":
        yield f"only in {p.present.upper()}"
    for d in p.only_a:
        yield _divergence("A", d)
    for d in p.only_b:
        yield _divergence("B", d)
    for name, r in p.ranges.items():
        yield from _range_lines(RANGE_NAMES[name], r)
    for state, r in p.page_map.items():
        yield from _range_lines(f"{state} at the start", r, counts=False)
    for name, lines in p.steps.items():
        if lines:
            yield f"{name} sequence:"
            yield from (f"  {line}" for line in lines)


def _heading(diff: Diff) -> str:
    a, b = diff.a.result, diff.b.result
    return (f"A {a.trace_id} ({diff.a.source}, {a.events} events) vs "
            f"B {b.trace_id} ({diff.b.source}, {b.events} events)")


def _verdict(diff: Diff) -> str:
    new = diff.new_in_b
    if not new:
        return "B has no divergence that A lacks"
    return f"B has {len(new)} divergence{'s' if len(new) != 1 else ''} that A lacks"


def render_text(diff: Diff) -> str:
    out = [_heading(diff), ""]
    for p in diff.phases:
        lines = list(phase_lines(p))
        state = "differs" if lines else "same"
        out.append(f"{p.title}: {state} (A {_ns(p.ns_a)}, B {_ns(p.ns_b)})")
        out += [f"  {line}" for line in lines]
    out += [f"whole trace: {_divergence('A', d)}" for d in diff.trace_only_a]
    out += [f"whole trace: {_divergence('B', d)}" for d in diff.trace_only_b]
    out += ["", _verdict(diff)]
    return "\n".join(out) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(diff: Diff) -> str:
    out = [f"## tdxray diff: {_cell(_heading(diff))}", "",
           "| phase | A | B | differences |", "|---|---|---|---|"]
    for p in diff.phases:
        lines = list(phase_lines(p))
        cell = "<br>".join(_cell(line) for line in lines) or "same"
        out.append(f"| {p.title} | {_ns(p.ns_a)} | {_ns(p.ns_b)} | {cell} |")
    for side, found in (("A", diff.trace_only_a), ("B", diff.trace_only_b)):
        out += [f"| whole trace | | | {_cell(_divergence(side, d))} |" for d in found]
    out += ["", f"**{_verdict(diff)}**"]
    return "\n".join(out) + "\n"
