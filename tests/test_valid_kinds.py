"""A Parquet trace is held to the JSONL reader's rules for each kind (schema/rules.py): the
fields a kind requires, the vocabularies, the checks across fields, ts_ns not negative. What
one refuses the other refuses with the same words; what one accepts, the other accepts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tdxray.ingest.jsonl.reader import JsonlReader
from tdxray.schema.errors import InputError
from tdxray.schema.events import KIND_FIELDS
from tdxray.schema.rules import ACROSS_RULES
from tdxray.store.read import open_trace
from tdxray.store.valid_kinds import rows_by_kind
from tdxray.tests.support import Events, number, td_config, write_trace

RETRY = 1

# name -> (events, the message after "FILE (row N): "; None: a valid trace)
CASES: dict[str, tuple[Events, str | None]] = {
    "retry-without-resume": (
        [{"kind": "log", "text": "a"},
         {"kind": "map_gpa", "gpa": 0, "size": 4096, "status": RETRY}],
        "(row 1): field 'resume_gpa': status is RETRY (1) but resume_gpa is missing"),
    "retry-with-resume": (
        [{"kind": "map_gpa", "gpa": 0, "size": 4096, "status": RETRY, "resume_gpa": 4096}], None),
    "tdvmcall-no-subfn": (
        [{"kind": "tdvmcall", "status": 0, "r10": 0}],
        "(row 0): field 'subfn': missing field (required unless r10 names a KVM hypercall)"),
    "kvm-hypercall": ([{"kind": "tdvmcall", "status": 0, "r10": 12}], None),
    "map-gpa-no-size": (
        [{"kind": "log", "text": "a"}] * 3 + [{"kind": "map_gpa", "gpa": 0, "status": 0}],
        "(row 3): field 'size': missing field (kind map_gpa needs it)"),
    "log-no-text": ([{"kind": "log"}], "(row 0): field 'text': missing field (kind log needs it)"),
    "first-field-first": (  # both missing: the kind's first field is named, as JSONL does
        [{"kind": "accept", "status": 0}],
        "(row 0): field 'gpa': missing field (kind accept needs it)"),
    "mailbox-field": (
        [{"kind": "mailbox_write", "field": "doorbell", "value": 1}],
        "(row 0): field 'field': expected one of command, apic_id, wakeup_vector, got "
        "'doorbell'"),
    "cpu-action": (
        [{"kind": "cpu", "apic_id": 0, "action": "online"},
         {"kind": "cpu", "apic_id": 1, "action": "flying"}],
        "(row 1): field 'action': expected one of woken, parked, stopped, online, got 'flying'"),
    "vocabulary-field-missing": (  # a null is missing, not outside the vocabulary
        [{"kind": "mailbox_read", "value": 0}, {"kind": "mailbox_read", "field": "doorbell"}],
        "(row 0): field 'field': missing field (kind mailbox_read needs it)"),
    "ts-negative": ([{"kind": "log", "text": "a", "ts_ns": -5}],
                    "(row 0): field 'ts_ns': -5 is out of range [0, 0x7fffffffffffffff]"),
    "unknown-kind": ([{"kind": "vendor_event"}], None),
}


def _jsonl(path: Path, events: Events) -> Path:
    header = open_trace(write_trace(path.with_suffix(".seed"), [])).header.dumps()
    lines = [json.dumps({k: v for k, v in e.items() if v is not None}) for e in number(events)]
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


def _jsonl_verdict(path: Path) -> str | None:
    with path.open("rb") as stream:
        reader = JsonlReader(stream, str(path), lambda _: None)
        try:
            for _ in reader.batches():
                pass
        except InputError as exc:
            return exc.message
    return None


def _parquet_verdict(path: Path) -> str | None:
    try:
        open_trace(path)
    except InputError as exc:
        return exc.message
    return None


@pytest.mark.parametrize("case", sorted(CASES))
def test_parquet_and_jsonl_refuse_the_same_event_alike(tmp_path: Path, case: str) -> None:
    events, expected = CASES[case]
    trace = write_trace(tmp_path / "t.parquet", number(events))
    if expected is None:
        assert _parquet_verdict(trace) is None
    else:
        with pytest.raises(InputError) as caught:
            open_trace(trace)
        assert str(caught.value) == f"{trace} {expected}"
    assert _jsonl_verdict(_jsonl(tmp_path / "t.jsonl", events)) == _parquet_verdict(trace)


def test_the_command_line_says_it_in_one_line(tmp_path: Path) -> None:
    events, expected = CASES["retry-without-resume"]
    trace = write_trace(tmp_path / "t.parquet", number(events))
    done = subprocess.run([sys.executable, "-m", "tdxray", "check", str(trace)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert done.stderr == f"tdxray: error: {trace} {expected}\n"


VALUES: dict[str, st.SearchStrategy[Any]] = {
    "status": st.sampled_from([0, RETRY, 5]),
    "r10": st.sampled_from([0, 12]),
    "field": st.sampled_from(["command", "apic_id", "doorbell"]),
    "action": st.sampled_from(["woken", "online", "flying"]),
    "phase": st.sampled_from(["load", "jump", "teleport"]),
    "to_private": st.booleans(),
    "write": st.booleans(),
    "text": st.sampled_from(["boot", ""]),
    "site": st.sampled_from(["a", "b"]),
    "level": st.sampled_from([0, 1, 2]),
    "apic_id": st.sampled_from([0, 1]),
}


@st.composite
def _event(draw: st.DrawFn) -> dict[str, Any]:
    """An event of any kind with any subset of its fields (valid or not)."""
    kind = draw(st.sampled_from(sorted(KIND_FIELDS)))
    required, optional = KIND_FIELDS[kind]
    event: dict[str, Any] = {"kind": kind}
    for name in (*required, *optional):
        if draw(st.integers(0, 5)):  # most events have their fields
            event[name] = draw(VALUES.get(name, st.sampled_from([0, 4096, 1 << 63])))
    return event


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(_event(), min_size=1, max_size=6))
def test_any_event_gets_one_verdict_from_both_readers(tmp_path: Path, events: Events) -> None:
    trace = write_trace(tmp_path / "t.parquet", number(events))
    assert _parquet_verdict(trace) == _jsonl_verdict(_jsonl(tmp_path / "t.jsonl", events))
    trace.unlink()


@pytest.mark.parametrize("rule", ACROSS_RULES, ids=lambda r: r.field)
def test_each_rule_is_one_rule_in_both_spellings(rule: Any) -> None:
    """The per-event and the per-column spelling agree on every combination of its fields."""
    samples: list[dict[str, Any]] = [{}]
    for name in rule.columns:
        samples = [{**s, name: v} for s in samples for v in (None, 0, RETRY, 12)]
    columns = {name: pa.array([s[name] for s in samples], pa.uint64()) for name in rule.columns}
    by_rows = rule.broken_rows(columns).fill_null(False).to_pylist()
    by_event = [rule.broken_by({k: v for k, v in s.items() if v is not None}) for s in samples]
    assert by_rows == by_event
    assert any(by_event) and not all(by_event)


def test_a_trace_of_no_event_is_valid(tmp_path: Path) -> None:
    assert open_trace(write_trace(tmp_path / "t.parquet", [], td=td_config())).num_rows == 0


def test_a_dictionary_naming_a_kind_many_times_is_read_once_per_kind() -> None:
    """A hostile kind dictionary (a name repeated, unknown names): each row goes to its kind."""
    names = ["log", "vendor", "log", "map_gpa"] * 1000
    codes = np.arange(len(names) * 3) % len(names)
    rows = rows_by_kind(codes, names)
    assert sorted(rows) == ["log", "map_gpa"]
    assert rows["log"].tolist() == [i for i, c in enumerate(codes) if names[c] == "log"]
    assert rows["map_gpa"].tolist() == [i for i, c in enumerate(codes) if names[c] == "map_gpa"]
