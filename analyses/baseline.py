"""Baselines: known divergences that `check` reports but does not fail on (FORMATS.md §5).

    {"tdxray_baseline": 1, "entries": [{"fingerprint": …, "rule": …, "trace_id": …, "message": …}]}

Matching is by fingerprint alone: it hashes rule, generation and location (never a seq or a time),
so a baseline written from one recording also covers a re-recording under another trace id.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tdxray.model.result import ReplayResult
from tdxray.schema.errors import InputError
from tdxray.store.atomic import atomic_path

BASELINE_VERSION = 1
ENTRY_KEYS = ("fingerprint", "rule", "trace_id", "message")


@dataclass(frozen=True)
class BaselineEntry:
    fingerprint: str
    rule: str | None = None
    trace_id: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class Baseline:
    entries: tuple[BaselineEntry, ...] = ()

    @property
    def fingerprints(self) -> frozenset[str]:
        return frozenset(e.fingerprint for e in self.entries)

    def covers(self, fingerprint: str) -> bool:
        return fingerprint in self.fingerprints


def _entry(raw: Any, index: int, path: str) -> BaselineEntry:
    where = f"entries[{index}]"
    if not isinstance(raw, dict):
        raise InputError("malformed baseline: an entry is not an object", path, where=where)
    if not isinstance(raw.get("fingerprint"), str) or not raw["fingerprint"]:
        raise InputError("malformed baseline: entry has no \"fingerprint\" string", path,
                         where=where)
    for key in ENTRY_KEYS[1:]:
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise InputError(f"malformed baseline: {key!r} is not a string", path, where=where)
    return BaselineEntry(raw["fingerprint"], raw.get("rule"), raw.get("trace_id"),
                         raw.get("message"))


def parse_baseline(text: str, path: str) -> Baseline:
    """A baseline from its JSON text; anything malformed is an InputError naming path (and line)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed baseline: {exc.msg} (column {exc.colno})", path,
                         line=exc.lineno) from None
    if not isinstance(doc, dict) or "tdxray_baseline" not in doc:
        raise InputError("not a tdxray baseline (no \"tdxray_baseline\" key)", path)
    if doc["tdxray_baseline"] != BASELINE_VERSION:
        raise InputError(f"unsupported baseline version {doc['tdxray_baseline']!r} "
                         f"(this tdxray reads version {BASELINE_VERSION})", path)
    entries = doc.get("entries")
    if not isinstance(entries, list):
        raise InputError("malformed baseline: \"entries\" is not a list", path)
    return Baseline(tuple(_entry(raw, i, path) for i, raw in enumerate(entries)))


def read_baseline(path: Path | str) -> Baseline:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("no such baseline file", str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read baseline: {exc}", str(path)) from None
    return parse_baseline(text, str(path))


def baseline_from(results: Iterable[ReplayResult]) -> Baseline:
    """Every current divergence above info (baselined or not), one entry per trace and
    fingerprint."""
    seen: dict[tuple[str, str], BaselineEntry] = {}
    for result in results:
        for div in result.divergences:
            if div.severity == "info":
                continue
            key = (result.trace_id, div.fingerprint)
            seen.setdefault(key, BaselineEntry(div.fingerprint, div.rule, result.trace_id,
                                               div.message))
    entries = sorted(seen.values(), key=lambda e: (e.trace_id or "", e.rule or "", e.fingerprint))
    return Baseline(tuple(entries))


def dump_baseline(baseline: Baseline) -> str:
    doc = {"tdxray_baseline": BASELINE_VERSION,
           "entries": [dataclasses.asdict(entry) for entry in baseline.entries]}
    return json.dumps(doc, indent=2) + "\n"


def write_baseline(path: Path | str, baseline: Baseline) -> None:
    """Write atomically: a reader never sees half a baseline."""
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(dump_baseline(baseline), encoding="utf-8")


def stale_entries(baseline: Baseline, results: Iterable[ReplayResult]) -> list[BaselineEntry]:
    """The entries no divergence of results matches: fixed, or their range moved.

    An entry naming a trace that results do not include is not judged (checking one trace of
    a store must not call the others' entries stale)."""
    results = list(results)
    seen = {d.fingerprint for r in results for d in r.divergences}
    checked = {r.trace_id for r in results}
    return [e for e in baseline.entries if e.fingerprint not in seen
            and (e.trace_id is None or e.trace_id in checked)]


def apply_baseline(result: ReplayResult, baseline: Baseline) -> ReplayResult:
    """A copy of result whose divergences covered by the baseline are marked baselined."""
    known = baseline.fingerprints
    divergences = [dataclasses.replace(d, baselined=d.baselined or d.fingerprint in known)
                   for d in result.divergences]
    return dataclasses.replace(result, divergences=divergences)
