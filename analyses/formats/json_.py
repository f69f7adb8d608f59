"""The machine contract (docs/report-format.md): one JSON document, or JSON Lines of
divergences."""

from __future__ import annotations

import json
from collections.abc import Sequence

from tdxray.analyses.formats.base import RenderOptions
from tdxray.analyses.report import CheckedTrace, build_report, divergence_json


def report(traces: Sequence[CheckedTrace], opts: RenderOptions) -> dict[str, object]:
    return build_report(traces, fail_on=opts.fail_on, stale=opts.stale, status=opts.status,
                        unreadable=opts.unreadable)


def records(traces: Sequence[CheckedTrace]) -> list[dict[str, object]]:
    """The JSON Lines records: trace_id, then the fields of the JSON report's divergences."""
    return [{"trace_id": t.result.trace_id, **divergence_json(t, d)}
            for t in traces for d in t.divergences]


def render_json(traces: Sequence[CheckedTrace], opts: RenderOptions) -> str:
    return json.dumps(report(traces, opts), indent=2) + "\n"


def render_jsonl(traces: Sequence[CheckedTrace], opts: RenderOptions) -> str:
    return "".join(json.dumps(record) + "\n" for record in records(traces))
