"""The diff as one JSON document (a versioned contract, like check's report)."""

from __future__ import annotations

from typing import Any

from tdxray.analyses.diff.compare import Diff, PhaseDiff, RangeDiff, Side
from tdxray.analyses.diff.ranges import Ranges

DIFF_VERSION = 1


def _ranges(ranges: Ranges) -> list[list[str]]:
    return [[hex(start), hex(end)] for start, end in ranges]


def _range_diff(r: RangeDiff) -> dict[str, Any]:
    return {"count": {"a": r.count_a, "b": r.count_b}, "pages": {"a": r.pages_a, "b": r.pages_b},
            "only_a": _ranges(r.only_a), "only_b": _ranges(r.only_b)}


def _side(side: Side) -> dict[str, Any]:
    return {"trace_id": side.result.trace_id, "source": side.source,
            "events": side.result.events, "generations": side.result.generations}


def _phase(p: PhaseDiff) -> dict[str, Any]:
    return {
        "generation": p.key[0], "phase": p.key[1], "present": p.present,
        "differs": p.differs, "ns": {"a": p.ns_a, "b": p.ns_b},
        "divergences": {"only_a": [d.to_json() for d in p.only_a],
                        "only_b": [d.to_json() for d in p.only_b]},
        "conversions": {name: _range_diff(r) for name, r in p.ranges.items()
                        if name != "accept"},
        "accepts": _range_diff(p.ranges["accept"]),
        "page_map": {state: {"only_a": _ranges(r.only_a), "only_b": _ranges(r.only_b)}
                     for state, r in p.page_map.items()},
        "mailbox": p.steps["mailbox"], "cpu": p.steps["cpu"],
    }


def diff_json(diff: Diff) -> dict[str, Any]:
    only_a = sum(len(p.only_a) for p in diff.phases) + len(diff.trace_only_a)
    only_b = sum(len(p.only_b) for p in diff.phases) + len(diff.trace_only_b)
    return {
        "tdxray_diff": DIFF_VERSION,
        "a": _side(diff.a), "b": _side(diff.b),
        "phases": [_phase(p) for p in diff.phases],
        "trace": {"only_a": [d.to_json() for d in diff.trace_only_a],
                  "only_b": [d.to_json() for d in diff.trace_only_b]},
        "summary": {"phases": len(diff.phases),
                    "phases_differing": sum(p.differs for p in diff.phases),
                    "only_a": only_a, "only_b": only_b, "new_in_b": len(diff.new_in_b)},
        "exit_status": diff.exit_status,
    }
