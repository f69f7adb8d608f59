"""Phrases shared by the formats people read: ranges, places, times, verdicts (all escaped)."""

from __future__ import annotations

from collections.abc import Sequence

from tdxray.analyses.escape import escape_control
from tdxray.analyses.report import CheckedTrace, summarize
from tdxray.model.divergence import Divergence

PLURAL = {"fatal": "fatal", "error": "errors", "warning": "warnings"}


def gpa_range(div: Divergence) -> str | None:
    if div.gpa_start is None:
        return None
    end = f"{div.gpa_end:#x}" if div.gpa_end is not None else "?"
    return f"[{div.gpa_start:#x}, {end})"


def pages(count: int | None) -> str | None:
    if count is None:
        return None
    return f"{count} page" if count == 1 else f"{count} pages"


def place(div: Divergence) -> str:
    """What the divergence is about: GPA range and page count, APIC id; '' when none applies."""
    parts = [p for p in (gpa_range(div), pages(div.pages)) if p]
    if div.apic_id is not None:
        parts.append(f"APIC id {div.apic_id}")
    return " ".join(parts)


def seconds(ts_ns: int) -> str:
    return f"{ts_ns // 1_000_000_000}.{ts_ns % 1_000_000_000:09d}s"


def revealed(div: Divergence) -> str:
    """The revealing event: seq, time and vCPU ('end of trace' when there is none)."""
    if div.seq is None:
        return "no event"
    parts = [f"seq {div.seq}"]
    if div.ts_ns is not None:
        parts.append(f"t={seconds(div.ts_ns)}")
    if div.vcpu is not None:
        parts.append(f"vCPU {div.vcpu}")
    return " ".join(parts)


def causes(div: Divergence, limit: int = 8) -> str | None:
    if not div.cause_seqs:
        return None
    shown = ", ".join(str(s) for s in div.cause_seqs[:limit])
    more = f", … (+{len(div.cause_seqs) - limit})" if len(div.cause_seqs) > limit else ""
    noun = "seq" if len(div.cause_seqs) == 1 else "seqs"
    return f"caused by {noun} {shown}{more}"


def message(div: Divergence) -> str:
    return escape_control(div.message)


def counts_line(traces: Sequence[CheckedTrace]) -> str:
    """'1 fatal, 3 errors, 0 warnings (2 info, 1 baselined)'."""
    counts = summarize(traces)
    main = ", ".join(f"{counts[s]} {PLURAL[s] if counts[s] != 1 else s}" for s in PLURAL)
    extra = f"{counts['info']} info"
    if counts["baselined"]:
        extra += f", {counts['baselined']} baselined"
    return f"{main} ({extra})"
