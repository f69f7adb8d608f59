"""SARIF 2.1.0 for code-scanning UIs (GitHub code scanning, IDE viewers)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import PurePath, PurePosixPath, PureWindowsPath

from tdxray import __version__
from tdxray.analyses.formats import human
from tdxray.analyses.formats.base import RenderOptions
from tdxray.analyses.report import CheckedTrace
from tdxray.model.catalogue import RULE_IDS, RULES
from tdxray.model.divergence import Divergence

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"fatal": "error", "error": "error", "warning": "warning", "info": "note"}
FINGERPRINT_KEY = "tdxray/v1"


def _uri(path: str) -> str:
    """A relative path stays relative (code scanning resolves it against the repository)."""
    pure: PurePath = PureWindowsPath(path) if "\\" in path else PurePosixPath(path)
    if pure.is_absolute():
        return pure.as_uri()
    return pure.as_posix()


def _rules() -> list[dict[str, object]]:
    return [{"id": rule.id, "name": rule.name,
             "shortDescription": {"text": rule.summary},
             "fullDescription": {"text": f"{rule.id} {rule.name} ({rule.severity}): "
                                         f"{rule.summary}"},
             "defaultConfiguration": {"level": LEVELS[rule.severity]},
             "properties": {"severity": rule.severity}}
            for rule in RULES.values()]


def _location(trace: CheckedTrace, div: Divergence) -> dict[str, object]:
    file, line = trace.location_of(div)
    physical: dict[str, object] = {"artifactLocation": {"uri": _uri(file)}}
    if line is not None:
        physical["region"] = {"startLine": line}
    return {"physicalLocation": physical}


def _result(trace: CheckedTrace, div: Divergence) -> dict[str, object]:
    text = human.message(div)
    facts = [f for f in (human.place(div), human.revealed(div), human.causes(div)) if f]
    out: dict[str, object] = {
        "ruleId": div.rule,
        "ruleIndex": RULE_IDS.index(div.rule),
        "level": LEVELS[div.severity],
        "message": {"text": f"{trace.result.trace_id}: {text} ({'; '.join(facts)})"},
        "locations": [_location(trace, div)],
        "partialFingerprints": {FINGERPRINT_KEY: div.fingerprint},
        "properties": {"trace_id": trace.result.trace_id, **div.to_json()},
    }
    if div.baselined:
        out["suppressions"] = [{"kind": "external", "justification": "in the tdxray baseline"}]
    return out


def sarif_log(traces: Sequence[CheckedTrace]) -> dict[str, object]:
    driver = {"name": "tdxray", "version": __version__, "rules": _rules()}
    results = [_result(t, d) for t in traces for d in t.divergences]
    return {"$schema": SCHEMA, "version": "2.1.0",
            "runs": [{"tool": {"driver": driver}, "results": results,
                      "columnKind": "unicodeCodePoints"}]}


def render(traces: Sequence[CheckedTrace], opts: RenderOptions) -> str:
    return json.dumps(sarif_log(traces), indent=2) + "\n"
