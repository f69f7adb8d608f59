"""The reference simulator and `tdxray simulate`."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tdxray.cli.simulate import command
from tdxray.model.catalogue import RULES
from tdxray.schema.constants import (
    LOG_SHUTDOWN_MARKER,
    TDVMCALL_RETRY,
    TDX_PAGE_SIZE_MISMATCH,
    Cr4,
    Subfn,
    cr4_bit,
    shared_bit,
    tdx_status_class,
)
from tdxray.schema.events import EVENT_SCHEMA, META_HEADER
from tdxray.schema.td import TraceHeader
from tdxray.simulator.config import SimConfig, parse_size
from tdxray.simulator.run import simulate
from tdxray.simulator.samples import SAMPLES_DIR, sample_name, write_samples
from tdxray.simulator.scenarios import DEFAULT_SCENARIO, SCENARIOS, get_scenario
from tdxray.simulator.writer import write_trace

SMALL = 400
STATE_KINDS = ("map_gpa", "accept", "convert")


def table_of(cfg: SimConfig) -> tuple[TraceHeader, pa.Table]:
    sim = simulate(cfg)
    return sim.header, pa.Table.from_batches(list(sim.batches()), schema=EVENT_SCHEMA)


def rows_of(table: pa.Table) -> list[dict]:
    return table.to_pylist()


# --- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "size"), [
    ("4G", 4 << 30), ("512M", 512 << 20), ("512m", 512 << 20), ("2GiB", 2 << 30),
    ("1T", 1 << 40), ("1048576", 1 << 20), (" 64K ", 64 << 10),
])
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "G", "4X", "-1G", "1.5G", "four"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def test_config_rejects_bad_memory_and_conflicts() -> None:
    with pytest.raises(ValueError):
        SimConfig("kdump", memory=100 << 20)
    with pytest.raises(ValueError, match="vcpus"):
        get_scenario("single-vcpu-kexec").config(vcpus=4)
    with pytest.raises(ValueError, match="mailbox"):
        get_scenario("smp-v0-kexec").config(mailbox_version=1)
    with pytest.raises(ValueError, match="at least 2"):
        get_scenario("mailbox-misuse").config(vcpus=1)


# --- every scenario -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_writes_a_valid_trace(name: str, tmp_path: Path) -> None:
    scenario = SCENARIOS[name]
    cfg = scenario.config(events=SMALL, seed=3)
    sim = simulate(cfg)
    path = tmp_path / "t.parquet"
    rows = write_trace(path, sim.header, sim.batches())
    table = pq.read_table(path)
    assert table.num_rows == rows == max(SMALL, sim.script_events)
    assert table.schema.remove_metadata() == EVENT_SCHEMA
    header = TraceHeader.from_json(json.loads(table.schema.metadata[META_HEADER]))
    assert header.expected_rules == scenario.expected_rules(cfg)
    assert header.provenance["tool"] == "tdxray simulate"
    assert header.provenance["scenario"] == name
    assert set(header.expected_rules or ()) <= set(RULES)
    assert all(RULES[r].severity != "info" for r in header.expected_rules or ())
    check_invariants(header, table)


def check_invariants(header: TraceHeader, table: pa.Table) -> None:
    seq = table.column("seq").to_pylist()
    assert seq == list(range(1, len(seq) + 1))
    last: dict[int, int] = {}
    for row in rows_of(table.select(["ts_ns", "vcpu"])):
        assert row["vcpu"] < header.td.vcpus
        assert row["ts_ns"] > last.get(row["vcpu"], -1), "per-vCPU time must increase"
        last[row["vcpu"]] = row["ts_ns"]
    subfns = set(table.filter(pa.compute.equal(table.column("kind"), "tdvmcall"))
                 .column("subfn").to_pylist())
    assert Subfn.MAP_GPA not in subfns


@pytest.mark.parametrize("name", sorted(SCENARIOS))
@pytest.mark.parametrize(("vcpus", "mailbox", "gpaw", "mode"), [
    (3, 1, 52, "lazy"), (4, 0, 48, "accepted"), (2, 0, 52, "lazy"),
])
def test_scenarios_across_configurations(name: str, vcpus: int, mailbox: int, gpaw: int,
                                         mode: str) -> None:
    scenario = SCENARIOS[name]
    options = {"vcpus": vcpus, "mailbox_version": mailbox, "gpaw": gpaw, "memory_mode": mode}
    options = {k: v for k, v in options.items() if scenario.required.get(k, v) == v}
    cfg = scenario.config(events=SMALL, memory=1 << 30, seed=vcpus, **options)
    header, table = table_of(cfg)
    check_invariants(header, table)
    expected = set(header.expected_rules or ())
    lost_aps = cfg.vcpus > 1 and (cfg.mailbox_version == 0 or scenario.aps_spin)
    assert ("M008" in expected) == (scenario.jumps and lost_aps)


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    cfg = get_scenario("kdump").config(events=3000, seed=11)
    for suffix in (".jsonl", ".parquet"):
        a, b = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
        for path in (a, b):
            sim = simulate(cfg)
            write_trace(path, sim.header, sim.batches())
        assert a.read_bytes() == b.read_bytes()
    other = simulate(get_scenario("kdump").config(events=3000, seed=12))
    write_trace(tmp_path / "c.jsonl", other.header, other.batches())
    assert (tmp_path / "c.jsonl").read_bytes() != (tmp_path / "a.jsonl").read_bytes()


def test_default_mix_is_noise_dominated() -> None:
    _, table = table_of(get_scenario(DEFAULT_SCENARIO).config())
    assert table.num_rows == 20_000
    kinds = Counter(table.column("kind").to_pylist())
    assert sum(kinds[k] for k in STATE_KINDS) < 0.02 * table.num_rows
    assert kinds["tdvmcall"] > 0.9 * table.num_rows
    assert kinds["log"] > 0


# --- the story follows TDX-KEXEC.md §3 ----------------------------------------------------------


def test_kexec_sequence_v1() -> None:
    header, table = table_of(get_scenario("smp-v1-kexec").config(vcpus=3, events=SMALL))
    rows = rows_of(table)
    phases = [r["phase"] for r in rows if r["kind"] == "kexec"]
    assert phases == ["boot", "load", "shutdown", "begin", "finish", "jump", "boot"]
    at = {p: next(i for i, r in enumerate(rows) if r["phase"] == p)
          for p in ("shutdown", "begin", "finish", "jump")}
    assert rows[at["shutdown"] - 1]["text"] == LOG_SHUTDOWN_MARKER
    parked = [r["apic_id"] for r in rows[at["begin"]:at["finish"]] if r["action"] == "parked"]
    assert parked == [1, 2]
    cr4 = rows[at["jump"] + 1]
    assert cr4["kind"] == "cr4_write" and cr4["site"] == "relocate_kernel"
    keep = cr4_bit(Cr4.PAE) | cr4_bit(Cr4.LA57)
    assert cr4["new"] == (cr4["old"] & keep) | cr4_bit(Cr4.MCE)
    woken = [r["apic_id"] for r in rows if r["action"] == "woken"]
    assert woken == [1, 2, 1, 2]
    # no MapGPA after begin except finish's own, and finish converts back what was shared
    assert all(r["vcpu"] == 0 for r in rows[at["begin"]:at["jump"]] if r["kind"] == "map_gpa")
    sbit = shared_bit(header.td.gpaw)
    finish_maps = [r for r in rows[at["finish"]:at["jump"]] if r["kind"] == "map_gpa"]
    assert finish_maps and not any(r["gpa"] & sbit for r in finish_maps)


def test_parked_and_stopped_aps_stay_quiet() -> None:
    for name in ("smp-v1-kexec", "smp-v0-kexec", "kdump"):
        _, table = table_of(get_scenario(name).config(vcpus=3, events=5000))
        asleep: dict[int, int] = {}
        for r in rows_of(table):
            if r["kind"] == "cpu" and r["action"] in ("parked", "stopped"):
                asleep[r["vcpu"]] = 0
            elif r["kind"] == "mailbox_write" and r["field"] == "command" and r["vcpu"]:
                asleep.pop(r["vcpu"], None)  # the AP answers WAKEUP: it runs again
            elif r["vcpu"] in asleep:
                asleep[r["vcpu"]] += 1
                assert r["kind"] == "tdvmcall" and r["subfn"] == Subfn.HLT
                assert asleep[r["vcpu"]] == 1, f"{name}: a stopped AP only halts once"


def test_v0_next_kernel_runs_on_one_cpu() -> None:
    _, table = table_of(get_scenario("smp-v0-kexec").config(events=SMALL))
    rows = rows_of(table)
    boot1 = [i for i, r in enumerate(rows) if r["phase"] == "boot"][1]
    assert any(r["text"] and r["text"].startswith("No MADT mailbox") for r in rows[boot1:])
    assert all(r["vcpu"] == 0 for r in rows[boot1:])


def test_mapgpa_retry_continues_at_r11() -> None:
    _, table = table_of(get_scenario("smp-v1-kexec").config(events=250_000, seed=5))
    open_ops: dict[int, int] = {}
    retries = 0
    for r in rows_of(table.filter(pa.compute.equal(table.column("kind"), "map_gpa"))):
        if r["vcpu"] in open_ops:
            assert r["gpa"] == open_ops.pop(r["vcpu"])
        if r["status"] == TDVMCALL_RETRY:
            open_ops[r["vcpu"]] = r["resume_gpa"]
            retries += 1
    assert retries > 0 and not open_ops


def test_big_traces_show_accept_fallbacks() -> None:
    cfg = get_scenario("lazy-accept-kexec").config(events=250_000, memory=4 << 30)
    _, table = table_of(cfg)
    accepts = rows_of(table.filter(pa.compute.equal(table.column("kind"), "accept")))
    mismatch_at = [i for i, r in enumerate(accepts)
                   if tdx_status_class(r["status"]) == TDX_PAGE_SIZE_MISMATCH]
    assert {accepts[i]["level"] for i in mismatch_at} == {1, 2}
    for i in mismatch_at:  # the same GPA is retried one level down
        assert accepts[i + 1]["gpa"] == accepts[i]["gpa"]
        assert accepts[i + 1]["level"] == accepts[i]["level"] - 1


# --- the command --------------------------------------------------------------------------------


def test_list_shows_every_scenario_and_its_rules() -> None:
    result = CliRunner().invoke(command, ["--list"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert len(lines) == len(SCENARIOS)
    for name, scenario in SCENARIOS.items():
        line = next(line for line in lines if line.split()[0] == name)
        assert all(rule in line for rule in scenario.rules)


def test_cli_writes_parquet_and_jsonl(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "t.parquet"
    result = runner.invoke(command, ["--scenario", "unfixed-kernel", "--events", "2000",
                                     "--memory", "1G", "--gpaw", "52", "-o", str(out),
                                     "--trace-id", "my-td"])
    assert result.exit_code == 0, result.output
    header = json.loads(pq.read_schema(out).metadata[META_HEADER])
    assert header["trace_id"] == "my-td"
    assert header["expected_rules"] == ["C001", "K001", "K004"]
    assert header["td"]["gpaw"] == 52
    jsonl = tmp_path / "t.jsonl"
    result = runner.invoke(command, ["--events", "500", "--seed", "4", "-o", str(jsonl)])
    assert result.exit_code == 0, result.output
    first, *events = jsonl.read_text().splitlines()
    assert TraceHeader.from_json(json.loads(first)).provenance["seed"] == 4
    assert len(events) == 500


@pytest.mark.parametrize("args", [
    ["--memory", "lots"], ["--scenario", "nope"], ["--scenario", "single-vcpu-kexec", "--vcpus",
                                                   "2"], ["--gpaw", "50"], [],
])
def test_cli_rejects_bad_options(args: list[str], tmp_path: Path) -> None:
    out = ["-o", str(tmp_path / "t.parquet")] if args else []
    result = CliRunner().invoke(command, [*args, *out])
    assert result.exit_code == 2


# --- the committed samples ----------------------------------------------------------------------


def test_sample_traces_regenerate_byte_for_byte(tmp_path: Path) -> None:
    written = write_samples(tmp_path)
    assert {p.name for p in written} == {sample_name(n) for n in SCENARIOS}
    committed = {p.name for p in SAMPLES_DIR.glob("*.jsonl")}
    assert committed == {p.name for p in written}
    for path in written:
        assert path.read_bytes() == (SAMPLES_DIR / path.name).read_bytes(), path.name
