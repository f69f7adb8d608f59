"""SARIF 2.1.0 for code-scanning UIs (GitHub code scanning, IDE viewers).

Rules carry their help (text, Markdown, a link to docs/rules.md) and tags; info findings are
left out unless asked for; paths can be made relative to a base (`originalUriBaseIds`); a run
holds at most MAX_RESULTS results (GitHub refuses more), the most severe, and says how many it
dropped in a notification.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath

from tdxray import __version__
from tdxray.analyses.escape import escape_control
from tdxray.analyses.formats import human
from tdxray.analyses.formats.base import RenderOptions
from tdxray.analyses.report import CheckedTrace
from tdxray.analyses.rule_help import DOCS_URL, help_markdown, help_text, help_uri, tags
from tdxray.model.catalogue import RULE_IDS, RULES
from tdxray.model.divergence import Divergence

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"fatal": "error", "error": "error", "warning": "warning", "info": "note"}
FINGERPRINT_KEY = "tdxray/v1"
MAX_RESULTS = 25_000  # GitHub code scanning rejects a run with more
BASE_ID = "SRCROOT"


def _uri(path: str) -> str:
    """A relative path stays relative (code scanning resolves it against the repository)."""
    pure: PurePath = PureWindowsPath(path) if "\\" in path else PurePosixPath(path)
    if pure.is_absolute():
        return pure.as_uri()
    return pure.as_posix()


def _artifact(path: str, base: Path | None) -> dict[str, str]:
    """The artifactLocation of path: relative to base (with its uriBaseId) when under it."""
    if base is None:
        return {"uri": _uri(path)}
    try:
        rel = Path(path).resolve().relative_to(base)
    except ValueError:
        return {"uri": _uri(str(Path(path).resolve()))}
    return {"uri": rel.as_posix(), "uriBaseId": BASE_ID}


def _rules() -> list[dict[str, object]]:
    return [{"id": rule.id, "name": rule.name,
             "shortDescription": {"text": rule.summary},
             "fullDescription": {"text": f"{rule.id} {rule.name} ({rule.severity}): "
                                         f"{rule.summary}"},
             "help": {"text": help_text(rule), "markdown": help_markdown(rule)},
             "helpUri": help_uri(rule),
             "defaultConfiguration": {"level": LEVELS[rule.severity]},
             "properties": {"severity": rule.severity, "tags": tags(rule)}}
            for rule in RULES.values()]


def _location(trace: CheckedTrace, div: Divergence, base: Path | None) -> dict[str, object]:
    file, line = trace.location_of(div)
    physical: dict[str, object] = {"artifactLocation": _artifact(file, base)}
    if line is not None:
        physical["region"] = {"startLine": line}
    return {"physicalLocation": physical}


def _result(trace: CheckedTrace, div: Divergence, base: Path | None) -> dict[str, object]:
    text = human.message(div)
    facts = [f for f in (human.place(div), human.revealed(div), human.causes(div)) if f]
    out: dict[str, object] = {
        "ruleId": div.rule,
        "ruleIndex": RULE_IDS.index(div.rule),
        "level": LEVELS[div.severity],
        "message": {"text": f"{trace.result.trace_id}: {text} ({'; '.join(facts)})"},
        "locations": [_location(trace, div, base)],
        "partialFingerprints": {FINGERPRINT_KEY: div.fingerprint},
        "properties": {"trace_id": trace.result.trace_id, **div.to_json()},
    }
    if div.baselined:
        out["suppressions"] = [{"kind": "external", "justification": "in the tdxray baseline"}]
    return out


def selected(traces: Sequence[CheckedTrace], include_info: bool,
             limit: int = MAX_RESULTS) -> tuple[list[tuple[CheckedTrace, Divergence]], int]:
    """The (trace, divergence) pairs a run carries, most severe first, and how many were
    dropped for the limit (info findings left out unless include_info)."""
    pairs = [(t, d) for t in traces for d in t.divergences
             if include_info or d.severity != "info"]
    if len(pairs) <= limit:
        return pairs, 0
    ranked = sorted(pairs, key=lambda pair: (pair[1].baselined, pair[1].sort_key()))
    return ranked[:limit], len(pairs) - limit


def _invocation(dropped: int, limit: int, unreadable: Sequence[str] = ()) -> dict[str, object]:
    """executionSuccessful is false when a fleet check could not use some traces: each is an
    error notification (the results are those of the others)."""
    out: dict[str, object] = {"executionSuccessful": not unreadable}
    notes: list[dict[str, object]] = [
        {"level": "error", "descriptor": {"id": "tdxray/unreadable-trace"},
         "message": {"text": escape_control(line)}} for line in unreadable]
    if dropped:
        notes.append({
            "level": "warning",
            "descriptor": {"id": "tdxray/results-capped"},
            "message": {"text": f"{dropped} results not included: a run holds at most {limit} "
                                "(the most severe are kept); see tdxray check --format json "
                                "for all of them"}})
    if notes:
        out["toolExecutionNotifications"] = notes
    return out


def sarif_log(traces: Sequence[CheckedTrace], opts: RenderOptions | None = None,
              limit: int = MAX_RESULTS) -> dict[str, object]:
    opts = opts or RenderOptions()
    base = Path(opts.uri_base).resolve() if opts.uri_base is not None else None
    driver = {"name": "tdxray", "version": __version__, "informationUri": DOCS_URL,
              "rules": _rules()}
    pairs, dropped = selected(traces, opts.include_info, limit)
    run: dict[str, object] = {
        "tool": {"driver": driver},
        "invocations": [_invocation(dropped, limit, opts.unreadable)],
        "results": [_result(t, d, base) for t, d in pairs],
        "columnKind": "unicodeCodePoints",
    }
    if base is not None:
        root = base.as_uri()
        run["originalUriBaseIds"] = {BASE_ID: {"uri": root if root.endswith("/") else root + "/"}}
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}


def render(traces: Sequence[CheckedTrace], opts: RenderOptions) -> str:
    return json.dumps(sarif_log(traces, opts), indent=2) + "\n"
