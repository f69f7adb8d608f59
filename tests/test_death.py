"""The TD's death seen by the host (model/death.py): kvm_exit TRIPLE_FAULT, KVM_EXIT_SHUTDOWN.

The host lines are the kernel's TP_printk formats: kvm_exit (arch/x86/kvm/trace.h, 6.14+ with
its `requests` tail), kvm_userspace_exit `reason %s (%d)` (include/trace/events/kvm.h) with
KVM_EXIT_SHUTDOWN = 8 (include/uapi/linux/kvm.h).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from tdxray.cli.main import cli
from tdxray.model.replay import replay_trace
from tdxray.model.result import ReplayResult
from tdxray.schema.build import events_to_batch
from tdxray.schema.td import TraceHeader
from tdxray.store.write import TraceWriter
from tdxray.tests.support import found, number, td_config
from tdxray.tests.test_ftrace import line
from tdxray.tests.test_host_shapes import EXIT_614
from tdxray.tests.test_rules import BUF, Replay, boot, ev, phase, relocate_cr4, share

PAGE = 0x1000
TRIPLE = EXIT_614.format(v=0, r="TRIPLE_FAULT")
SHUTDOWN = "reason KVM_EXIT_SHUTDOWN (8)"


def triple_fault(vcpu: int = 0) -> dict[str, Any]:
    fields = EXIT_614.format(v=vcpu, r="TRIPLE_FAULT")
    return ev("kvm_exit", vcpu=vcpu, extra=json.dumps({"fields": fields}))


def shutdown() -> dict[str, Any]:
    return ev("kvm_userspace_exit", extra=json.dumps({"fields": SHUTDOWN}))


def kexec_story() -> list[dict[str, Any]]:
    """A fixed kernel's kexec up to the jump (seq 1-5), nothing shared at the jump."""
    return [boot(), phase("load"), phase("begin"), phase("finish"), phase("jump")]


def guest_trace(path: Path, events: list[dict[str, Any]], observes: list[str]) -> ReplayResult:
    header = TraceHeader(path.stem, td_config(), provenance={"sources": [
        {"path": "guest.trace", "format": "ftrace-guest", "observes": observes},
        {"path": "host.trace", "format": "ftrace-host",
         "observes": ["tdvmcall", "convert", "mem_access"]}]})
    with TraceWriter(path, header) as writer:
        writer.write_batch(events_to_batch(number(events)))
    return replay_trace(path)


GUEST = ["map_gpa", "accept", "mailbox_write", "mailbox_read", "cpu", "kexec"]


def test_death_after_the_jump_is_c001_caused_by_the_jump(tmp_path: Path) -> None:
    r = guest_trace(tmp_path / "t.parquet", [*kexec_story(), triple_fault(), shutdown()], GUEST)
    assert found(r) == {("C001", 6)}
    [c001] = [d for d in r.divergences if d.rule == "C001"]
    assert (c001.cause_seqs, c001.message) == ([5], (
        "the TD dies (kvm_exit reason TRIPLE_FAULT) after the kexec jump, before the next "
        "kernel's boot: relocate_kernel cleared CR4.MCE (a #VE with no IDT), seen only as its "
        "effect"))
    assert "C001" in r.rules_run  # judged from its effect: not reported as skipped
    assert [d.message for d in r.divergences if d.rule == "T003" and "C0" in d.message] == [
        "C002 skipped: no cr4_write events"]


def test_the_second_death_event_changes_nothing(tmp_path: Path) -> None:
    r = guest_trace(tmp_path / "t.parquet", [*kexec_story(), shutdown(), triple_fault()], GUEST)
    assert found(r) == {("C001", 6)}
    assert "KVM_EXIT_SHUTDOWN" in next(d.message for d in r.divergences if d.rule == "C001")


def test_near_miss_the_next_kernel_boots_then_dies_is_no_c001(tmp_path: Path) -> None:
    r = guest_trace(tmp_path / "t.parquet", [*kexec_story(), boot(), triple_fault()], GUEST)
    assert found(r) == set()
    assert "C001" not in r.rules_run


def test_near_miss_death_before_any_kexec_is_no_divergence(tmp_path: Path) -> None:
    r = guest_trace(tmp_path / "t.parquet", [boot(), triple_fault(), phase("begin"),
                                              share(BUF, PAGE), phase("jump")], GUEST)
    assert found(r) == set()  # dead at seq 2: the later events are not judged


def test_death_during_a_kexec_gets_the_jump_time_checks(tmp_path: Path) -> None:
    r = guest_trace(tmp_path / "t.parquet", [boot(), share(BUF, PAGE), phase("begin"),
                                              triple_fault(), phase("finish"), phase("jump")],
                    GUEST)
    assert found(r) == {("K001", 4), ("K004", 4)}


def test_a_trace_that_shows_cr4_blames_the_write_itself(replay: Replay) -> None:
    # a JSONL trace declares no sources: cr4_write is a kind it can show, so the
    # relocate_kernel write is the C001 and the death after it is no second one
    r = replay([*kexec_story(), relocate_cr4(new=0x20), triple_fault()])
    assert found(r) == {("C001", 6)}
    r = replay([*kexec_story(), relocate_cr4(), triple_fault()])
    assert found(r) == set()  # a death after a good write is something else


def test_host_and_guest_text_traces_show_the_death_after_machine_kexec(tmp_path: Path) -> None:
    """What the host sees of relocate_kernel clearing CR4.MCE: machine_kexec, then the TD's
    triple fault and the VMM's shutdown exit; the next kernel never prints its banner."""
    guest = tmp_path / "guest.trace"
    probe = "kexec-145 [000] ....."
    guest.write_text(
        f"{probe} 10.000001: kexec_load: (machine_kexec_prepare+0x4/0x740) image=0x1\n"
        f"{probe} 10.000002: kernel_kexec: (kernel_kexec+0x4/0x90)\n"
        f"{probe} 10.000003: kexec_begin: (tdx_kexec_begin+0x4/0x80)\n"
        f"{probe} 10.000004: kexec_finish: (tdx_kexec_finish+0x4/0x1b0)\n"
        f"{probe} 10.000005: machine_kexec: (machine_kexec+0x4/0x210) image=0x1\n")
    host = tmp_path / "host.trace"
    host.write_text(line("kvm_exit", TRIPLE, ts="10.000006")
                    + line("kvm_userspace_exit", SHUTDOWN, ts="10.000007"))
    report = tmp_path / "r.json"
    store = tmp_path / "store"
    runner = CliRunner()
    res = runner.invoke(cli, ["ingest", str(guest), str(host), "-o", str(store), "-q",
                              "--trace-id", "t"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["check", str(store), "--format", "json", "-o", str(report)])
    assert res.exit_code == 1, res.output
    [checked] = json.loads(report.read_text())["traces"]
    assert [(d["rule"], d["seq"], d["cause_seqs"]) for d in checked["divergences"]
            if d["severity"] != "info"] == [("C001", 6, [5])]
