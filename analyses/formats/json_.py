"""The machine contract (FORMATS.md §5): one JSON document, or JSON Lines of divergences."""

from __future__ import annotations

import json
from collections.abc import Sequence

from tdxray.analyses.formats.base import RenderOptions
from tdxray.analyses.report import CheckedTrace, build_report


def render_json(traces: Sequence[CheckedTrace], opts: RenderOptions) -> str:
    return json.dumps(build_report(traces), indent=2) + "\n"


def render_jsonl(traces: Sequence[CheckedTrace], opts: RenderOptions) -> str:
    """One divergence per line: trace_id, then the fields of the JSON report's divergences."""
    lines = [json.dumps({"trace_id": t.result.trace_id, **d.to_json()})
             for t in traces for d in t.divergences]
    return "".join(line + "\n" for line in lines)
