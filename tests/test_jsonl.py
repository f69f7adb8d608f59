"""The JSONL v1 reader and writer: line rules, field checks, the lossless round trip."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tdxray.export.jsonl import EXPORT_ORDER, event_lines, write_jsonl
from tdxray.ingest.columns import ColumnBuilder
from tdxray.ingest.jsonl.event import add_event_exact, check_lines
from tdxray.ingest.jsonl.reader import JsonlReader
from tdxray.schema.constants import CPU_ACTIONS, KEXEC_PHASES, MAILBOX_FIELDS
from tdxray.schema.errors import InputError
from tdxray.schema.events import EVENT_SCHEMA, KIND_FIELDS
from tdxray.schema.td import TraceHeader
from tdxray.store.read import open_trace
from tdxray.store.write import TraceWriter

EXAMPLES = sorted((Path(__file__).parent / "spec_examples").glob("*.jsonl"))
HEADER = {"tdxray": 1, "trace_id": "t-1", "td": {"gpaw": 48, "apic_ids": [0, 1],
                                                 "ram": [["0x0", "0x80000000"]],
                                                 "memory": "accepted"}}
U64 = (1 << 64) - 1


def read_all(text: str | bytes, batch_rows: int = 1 << 16,
             warnings: list[str] | None = None) -> tuple[TraceHeader, pa.Table]:
    data = text.encode() if isinstance(text, str) else text
    sink = warnings if warnings is not None else []
    reader = JsonlReader(io.BytesIO(data), "t.jsonl", sink.append, batch_rows=batch_rows)
    batches = list(reader.batches())
    return reader.header, pa.Table.from_batches(batches, schema=EVENT_SCHEMA)


def lines(*objs: Any) -> str:
    return "".join(json.dumps(o) + "\n" for o in objs)


def event(seq: int, kind: str, **fields: Any) -> dict[str, Any]:
    return {"seq": seq, "ts_ns": 100 * seq, "vcpu": 0, "kind": kind, **fields}


def error_of(text: str) -> InputError:
    with pytest.raises(InputError) as info:
        read_all(text)
    return info.value


def without_provenance_columns(table: pa.Table) -> pa.Table:
    return comparable(table.drop_columns(["source", "line"]))


def comparable(table: pa.Table) -> pa.Table:
    """Dictionary columns decoded and chunks combined: equal content compares equal."""
    columns = [pa.chunked_array([chunk.dictionary_decode() if pa.types.is_dictionary(chunk.type)
                                 else chunk for chunk in column.chunks],
                                pa.string() if pa.types.is_dictionary(column.type) else column.type)
               for column in table.columns]
    return pa.table(columns, names=table.column_names).combine_chunks()


def export_text(header: TraceHeader, table: pa.Table) -> str:
    out = io.StringIO()
    write_jsonl(header, table.to_batches(), out)
    return out.getvalue()


# --- line rules -----------------------------------------------------------------------------


def test_blank_and_comment_lines_are_ignored_and_lines_are_numbered() -> None:
    text = "# a comment\n\n" + json.dumps(HEADER) + "\n  \n# x\n" + lines(event(1, "kexec",
                                                                               phase="boot"))
    header, table = read_all(text)
    assert header.trace_id == "t-1"
    assert table.column("line").to_pylist() == [6]
    assert table.column("source").to_pylist() == ["t.jsonl"]


def test_missing_header_names_the_line() -> None:
    err = error_of(lines(event(1, "kexec", phase="boot")))
    assert (err.path, err.line) == ("t.jsonl", 1)
    assert "missing header" in err.message


def test_empty_input_is_a_missing_header() -> None:
    assert "missing header" in error_of("# only a comment\n").message


def test_malformed_line_is_an_error_with_its_line() -> None:
    err = error_of(lines(HEADER, event(1, "kexec", phase="boot")) + "{not json\n")
    assert (err.line, "malformed JSON" in err.message) == (3, True)


def test_earlier_bad_field_is_reported_before_a_later_malformed_line() -> None:
    text = lines(HEADER, event(1, "kexec", phase="nope")) + "{not json\n"
    assert error_of(text).line == 2


def test_incomplete_last_line_is_skipped_with_a_warning() -> None:
    warnings: list[str] = []
    text = lines(HEADER, event(1, "kexec", phase="boot")) + '{"seq": 2, "ts_'
    _, table = read_all(text, warnings=warnings)
    assert table.num_rows == 1
    assert len(warnings) == 1 and "t.jsonl:3" in warnings[0]


def test_complete_last_line_without_newline_is_read() -> None:
    text = lines(HEADER) + json.dumps(event(1, "kexec", phase="boot"))
    assert read_all(text)[1].num_rows == 1


@pytest.mark.parametrize("seqs", [(1, 1), (2, 1)])
def test_seq_must_increase(seqs: tuple[int, int]) -> None:
    err = error_of(lines(HEADER, *(event(s, "kexec", phase="boot") for s in seqs)))
    assert err.line == 3 and "does not increase" in err.message


def test_seq_must_increase_across_batches() -> None:
    text = lines(HEADER, *(event(s, "kexec", phase="boot") for s in (1, 2, 3, 3)))
    with pytest.raises(InputError) as info:
        read_all(text, batch_rows=2)
    assert info.value.line == 5


# --- fields ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fields", "field_name"), [
    ({"kind": "map_gpa", "gpa": "0x1000", "size": "0x1000"}, "status"),
    ({"kind": "map_gpa", "gpa": "0x1000", "size": "0x1000", "status": 1}, "resume_gpa"),
    ({"kind": "accept", "gpa": "0x1000", "level": 256, "status": 0}, "level"),
    ({"kind": "accept", "gpa": "0x10000000000000000", "level": 0, "status": 0}, "gpa"),
    ({"kind": "accept", "gpa": 18446744073709551616, "level": 0, "status": 0}, "gpa"),
    ({"kind": "accept", "gpa": -1, "level": 0, "status": 0}, "gpa"),
    ({"kind": "accept", "gpa": "0x_1", "level": 0, "status": 0}, "gpa"),
    ({"kind": "accept", "gpa": "1000", "level": 0, "status": 0}, "gpa"),
    ({"kind": "accept", "gpa": 1.5, "level": 0, "status": 0}, "gpa"),
    ({"kind": "accept", "gpa": True, "level": 0, "status": 0}, "gpa"),
    ({"kind": "mailbox_write", "field": "vector", "value": 1}, "field"),
    ({"kind": "cpu", "apic_id": 1, "action": "sleeping"}, "action"),
    ({"kind": "kexec", "phase": "reboot"}, "phase"),
    ({"kind": "convert", "gpa": 0, "size": 4096, "to_private": 1}, "to_private"),
    ({"kind": "log", "text": 5}, "text"),
    ({"kind": "tdvmcall", "status": 0}, "subfn"),
    ({"kind": "tdvmcall", "status": 0, "r10": 0}, "subfn"),
    ({"kind": 7}, "kind"),
    ({"kind": "kexec", "phase": "boot", "vcpu": 1 << 32}, "vcpu"),
    ({"kind": "kexec", "phase": "boot", "ts_ns": -1}, "ts_ns"),
    ({"kind": "kexec", "phase": "boot", "seq": U64 + 1}, "seq"),
])
def test_bad_field_names_line_and_field(fields: dict[str, Any], field_name: str) -> None:
    obj = {"seq": 1, "ts_ns": 5, "vcpu": 0, **fields}
    err = error_of(lines(HEADER, event(0, "kexec", phase="boot"), obj))
    assert (err.path, err.line) == ("t.jsonl", 3)
    assert repr(field_name) in err.message


def test_event_must_be_an_object() -> None:
    err = error_of(lines(HEADER, [1, 2]))
    assert err.line == 2 and "object" in err.message


def test_kvm_hypercall_tdvmcall_needs_no_subfn() -> None:
    _, table = read_all(lines(HEADER, event(1, "tdvmcall", r10=9, status=0)))
    assert table.column("subfn").to_pylist() == [None]


def test_unknown_kinds_and_fields_go_to_extra() -> None:
    text = lines(HEADER, event(1, "kvm_exit", reason="HLT", rip="0x1", big=1 << 70),
                 event(2, "kexec", phase="boot", note=[1.5, None]))
    _, table = read_all(text)
    extras = [json.loads(x) for x in table.column("extra").to_pylist()]
    assert extras == [{"reason": "HLT", "rip": "0x1", "big": 1 << 70}, {"note": [1.5, None]}]
    assert table.column("kind").to_pylist() == ["kvm_exit", "kexec"]


def test_both_spellings_of_mapgpa_and_accept_are_kept() -> None:
    text = lines(HEADER,
                 event(1, "tdvmcall", subfn=0x10001, r12="0x800000001000", r13="0x1000",
                       status="0x0"),
                 event(2, "tdcall", leaf=6, rcx="0x1000", status="0x0"),
                 event(3, "map_gpa", gpa="0x800000001000", size="0x1000", status="0x0"),
                 event(4, "accept", gpa="0x1000", level=0, status="0x0"))
    _, table = read_all(text)
    assert table.column("kind").to_pylist() == ["tdvmcall", "tdcall", "map_gpa", "accept"]
    assert table.column("subfn").to_pylist()[0] == 0x10001
    assert table.column("gpa").to_pylist()[2:] == [0x800000001000, 0x1000]


def test_64_bit_values_are_exact() -> None:
    _, table = read_all(lines(HEADER, event(1, "tdcall", leaf=U64, status=hex(U64))))
    assert table.column("leaf").to_pylist() == [U64]
    assert table.column("status").to_pylist() == [U64]


# --- writer ----------------------------------------------------------------------------------


def test_export_order_covers_every_field_of_every_kind() -> None:
    for kind, (required, optional) in KIND_FIELDS.items():
        assert sorted(EXPORT_ORDER[kind]) == sorted(required + optional)


def test_writer_spelling() -> None:
    text = lines(HEADER, event(1, "mailbox_write", field="wakeup_vector", value=4096),
                 event(2, "mailbox_write", field="command", value="0x1"))
    _, table = read_all(text)
    out = [json.loads(line) for line in event_lines(table.to_batches()[0])]
    assert out[0]["value"] == "0x1000" and out[1]["value"] == 1
    assert "source" not in out[0] and "line" not in out[0]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_spec_examples_export_byte_for_byte(path: Path) -> None:
    header, table = read_all(path.read_bytes())
    assert export_text(header, table) == path.read_text()


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_spec_examples_round_trip_through_parquet(path: Path, tmp_path: Path) -> None:
    header, table = read_all(path.read_bytes())
    assert_round_trip(header, table, tmp_path)


def assert_round_trip(header: TraceHeader, table: pa.Table, tmp_path: Path) -> None:
    """JSONL table -> Parquet -> export -> ingest again: same header, same events."""
    target = tmp_path / "t.parquet"
    with TraceWriter(target, header) as writer:
        for batch in table.to_batches():
            writer.write_batch(batch)
    stored = open_trace(target)
    assert stored.header == header
    out = io.StringIO()
    write_jsonl(stored.header, stored.iter_batches(), out)
    header2, table2 = read_all(out.getvalue())
    assert header2 == header
    assert without_provenance_columns(table2).equals(without_provenance_columns(table))


# --- property: random valid traces round-trip ------------------------------------------------

u64 = st.integers(0, U64)
u32 = st.integers(0, (1 << 32) - 1)
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)


def spelled(values: st.SearchStrategy[int]) -> st.SearchStrategy[Any]:
    """An integer written as a JSON integer or as a "0x…" string."""
    return st.one_of(values, values.map(hex))


def kind_fields(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    required, optional = KIND_FIELDS[kind]
    value_of = {"level": spelled(st.integers(0, 255)), "apic_id": spelled(u32),
                "field": st.sampled_from(MAILBOX_FIELDS), "action": st.sampled_from(CPU_ACTIONS),
                "phase": st.sampled_from(KEXEC_PHASES), "to_private": st.booleans(),
                "write": st.booleans(), "text": text, "site": text}

    def strategy(name: str) -> st.SearchStrategy[Any]:
        return value_of.get(name, spelled(u64))

    req = st.fixed_dictionaries({name: strategy(name) for name in required})
    opt = st.fixed_dictionaries({}, optional={name: strategy(name) for name in optional})
    return st.tuples(req, opt).map(lambda pair: {**pair[0], **pair[1]}).filter(
        lambda f: _valid_combination(kind, f))


def _valid_combination(kind: str, fields: dict[str, Any]) -> bool:
    def number(v: Any) -> int:
        return int(v, 16) if isinstance(v, str) else int(v)

    if kind == "map_gpa" and number(fields["status"]) == 1:
        return "resume_gpa" in fields
    if kind == "tdvmcall" and "subfn" not in fields:
        return number(fields.get("r10", 0)) != 0
    return True


json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-(1 << 80), 1 << 80) | text
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=6)
extra_key = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8).map(lambda k: "x_" + k)
unknown_kind = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=10).filter(
    lambda k: k not in KIND_FIELDS)


@st.composite
def event_body(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.integers(0, 9)) == 0:
        kind = draw(unknown_kind)
        fields = draw(st.dictionaries(extra_key, json_value, max_size=4))
    else:
        kind = draw(st.sampled_from(sorted(KIND_FIELDS)))
        fields = draw(kind_fields(kind))
        if draw(st.integers(0, 4)) == 0:
            fields.update(draw(st.dictionaries(extra_key, json_value, min_size=1, max_size=3)))
    return {"ts_ns": draw(spelled(st.integers(0, (1 << 63) - 1))),
            "vcpu": draw(spelled(u32)), "kind": kind, **fields}


@st.composite
def trace_text(draw: st.DrawFn) -> tuple[list[dict[str, Any]], str]:
    bodies = draw(st.lists(event_body(), max_size=30))
    seq = draw(st.integers(0, 1 << 40))
    events = []
    for body in bodies:
        events.append({"seq": seq, **body})
        seq += draw(st.integers(1, 1 << 20))
    header = {**HEADER, "trace_id": draw(st.from_regex(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,20}",
                                                        fullmatch=True)),
              "expected_rules": draw(st.lists(st.sampled_from(["K001", "G001"]), max_size=2)),
              "provenance": {"tool": draw(text)}}
    return events, lines(header, *events)


def normalise(obj: dict[str, Any]) -> dict[str, Any]:
    """An event with integer fields of known kinds as ints (hex and decimal are the same)."""
    known = KIND_FIELDS.get(obj["kind"], ((), ()))
    ints = {"seq", "ts_ns", "vcpu", *known[0], *known[1]} - {
        "field", "action", "phase", "to_private", "write", "text", "site"}
    return {k: (int(v, 16) if k in ints and isinstance(v, str) else v) for k, v in obj.items()}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(trace=trace_text(), batch_rows=st.sampled_from([1, 3, 1 << 16]))
def test_random_traces_round_trip(trace: tuple[list[dict[str, Any]], str], batch_rows: int,
                                  tmp_path: Path) -> None:
    events, text_in = trace
    header, table = read_all(text_in, batch_rows=batch_rows)
    exported = [json.loads(line) for line in export_text(header, table).split("\n")[1:-1]]
    assert [normalise(e) for e in exported] == [normalise(e) for e in events]
    assert_round_trip(header, table, tmp_path)
    assert comparable(table).equals(comparable(strict_table(text_in)))


def strict_table(text_in: str) -> pa.Table:
    """The reference reading: every event line through the strict per-line reader."""
    builder = ColumnBuilder("t.jsonl")
    for number, raw in enumerate(text_in.encode().splitlines(), 1):
        if number > 1:
            add_event_exact(builder, raw, json.loads(raw), number)
    return pa.Table.from_batches([builder.take()], schema=EVENT_SCHEMA)


# --- property: the fast path and the strict reader agree on bad input ------------------------

BAD_VALUES = [-1, U64 + 1, "0x", "0x_1", "1f", " 0x1", "0x1 ", 1.5, True, None, "x", [1], {}]


@st.composite
def damaged_trace(draw: st.DrawFn) -> str:
    events, _ = draw(trace_text())
    if not events:
        return lines(HEADER)
    victim = draw(st.integers(0, len(events) - 1))
    damaged = dict(events[victim])
    key = draw(st.sampled_from(sorted(damaged)))
    if draw(st.booleans()):
        del damaged[key]
    else:
        damaged[key] = draw(st.sampled_from(BAD_VALUES))
    events[victim] = damaged
    return lines(HEADER, *events)


@settings(max_examples=200, deadline=None)
@given(text_in=damaged_trace(), batch_rows=st.sampled_from([2, 1 << 16]))
def test_fast_and_strict_readers_agree(text_in: str, batch_rows: int) -> None:
    raw_lines = [(n, raw) for n, raw in enumerate(text_in.encode().splitlines(), 1) if n > 1]
    try:
        check_lines(raw_lines, "t.jsonl", None)
        strict_error = None
    except InputError as exc:
        strict_error = str(exc)
    try:
        read_all(text_in, batch_rows=batch_rows)
        fast_error = None
    except InputError as exc:
        fast_error = str(exc)
    assert fast_error == strict_error


@pytest.mark.parametrize("td_change", [{"gpaw": "0x_30"}, {"gpaw": "0x 30"}, {"gpaw": True}])
def test_header_integers_are_strict(td_change: dict[str, Any]) -> None:
    err = error_of(lines({**HEADER, "td": {**HEADER["td"], **td_change}}))
    assert err.line == 1 and "td.gpaw" in err.message


def test_header_version_must_be_the_integer_1() -> None:
    assert error_of(lines({**HEADER, "tdxray": True})).line == 1
