"""Edge cases of TDX-KEXEC.md and FORMATS.md found by a spec audit: each asserts the exact
divergence set a trace written from the spec alone expects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tdxray.model.divergence import Divergence
from tdxray.model.replay import replay_trace
from tdxray.model.result import ReplayResult
from tdxray.schema.build import events_to_batch
from tdxray.schema.constants import TDVMCALL_INVALID_OPERAND, TDVMCALL_RETRY, TDX_OPERAND_INVALID
from tdxray.schema.td import TdConfig, TraceHeader
from tdxray.store.write import TraceWriter
from tdxray.tests.support import SHARED, found, number, td_config
from tdxray.tests.test_rules import (
    BUF,
    MB2,
    Replay,
    accept,
    boot,
    ev,
    mb,
    phase,
    relocate_cr4,
    share,
    unshare,
    wakeup,
    woken,
)

PAGE = 0x1000


def only(r: ReplayResult, rule: str) -> Divergence:
    (d,) = [d for d in r.divergences if d.rule == rule]
    return d


# --- RAM: ranges that touch are one RAM (T004) ----------------------------------------------

def test_mapgpa_across_two_touching_ram_ranges_is_inside_ram(replay: Replay) -> None:
    td = TdConfig(gpaw=48, apic_ids=(0,), ram=((0, 0x40000000), (0x40000000, 0x80000000)))
    edge = 0x40000000 - PAGE
    r = replay([boot(), share(edge, 2 * PAGE), phase("begin"), phase("finish"), phase("jump")],
               td)
    assert found(r) == {("K001", 5)}
    k001 = only(r, "K001")
    assert (k001.gpa_start, k001.gpa_end, k001.pages, k001.cause_seqs) == (
        edge, edge + 2 * PAGE, 2, [2])


def test_near_miss_mapgpa_into_a_ram_hole_is_still_t004(replay: Replay) -> None:
    td = TdConfig(gpaw=48, apic_ids=(0,), ram=((0, 0x40000000), (0x40001000, 0x80000000)))
    r = replay([boot(), share(0x40000000 - PAGE, 2 * PAGE, TDVMCALL_INVALID_OPERAND)], td)
    assert found(r) == {("T004", 2)}


# --- ACCEPT: the RAM check of T004 -----------------------------------------------------------

def test_accept_of_a_shared_bit_gpa_is_g004_not_outside_ram(replay: Replay) -> None:
    # the shared bit is not part of the RAM address; the module refuses the GPA (G004 only)
    r = replay([boot(), share(BUF, PAGE), unshare(BUF, PAGE), accept(BUF | SHARED)])
    assert found(r) == {("G004", 4)}


def test_unaligned_accept_near_ram_end_is_g004_not_outside_ram(replay: Replay) -> None:
    # a 1 GiB ACCEPT at a 2 MiB-aligned GPA names no 1 GiB range: only its page is judged
    r = replay([boot(), accept(0x80000000 - MB2, level=2)], td_config(memory="lazy"))
    assert found(r) == {("G004", 2)}


def test_near_miss_accept_outside_ram_is_t004(replay: Replay) -> None:
    r = replay([boot(), accept(0x90000000, status=TDX_OPERAND_INVALID)])
    assert found(r) == {("T004", 2)}
    t004 = only(r, "T004")
    assert (t004.gpa_start, t004.gpa_end) == (0x90000000, 0x90000000 + PAGE)


# --- K005: finish's own conversions are on finish's one CPU; the begin that stopped them -------

def test_k005_mapgpa_to_private_on_another_vcpu_after_finish(replay: Replay) -> None:
    td = td_config(2, mailbox=1)
    r = replay([boot(), *wakeup(1), *woken(1), share(BUF, PAGE, vcpu=1), phase("begin"),
                ev("cpu", apic_id=1, action="parked", vcpu=1), phase("finish"),
                ev("map_gpa", gpa=BUF, size=PAGE, status=0, vcpu=1),
                ev("accept", gpa=BUF, level=0, status=0, vcpu=1), phase("jump")], td)
    assert found(r) == {("K005", 11)}
    k005 = only(r, "K005")
    assert (k005.vcpu, k005.gpa_start, k005.pages, k005.cause_seqs) == (1, BUF, 1, [8])


def test_near_miss_finish_converts_on_its_own_vcpu(replay: Replay) -> None:
    td = td_config(2, mailbox=1)
    r = replay([boot(), *wakeup(1), *woken(1), share(BUF, PAGE, vcpu=1), phase("begin"),
                ev("cpu", apic_id=1, action="parked", vcpu=1), phase("finish", vcpu=1),
                ev("map_gpa", gpa=BUF, size=PAGE, status=0, vcpu=1),
                ev("accept", gpa=BUF, level=0, status=0, vcpu=1), phase("jump", vcpu=1)], td)
    assert found(r) == {("M008", 13)}  # the boot CPU, online, is lost (the jump is on vCPU 1)


def test_k005_cause_is_the_begin_that_stopped_conversions(replay: Replay) -> None:
    r = replay([boot(), phase("begin"), phase("crash"), phase("begin"), share(BUF, PAGE)])
    assert found(r) == {("K005", 5)}
    assert only(r, "K005").cause_seqs == [2]


# --- K007: the accounting message of a TD that dies before any jump ---------------------------

def test_k007_accounting_off_alone_then_a_fatal_event(replay: Replay) -> None:
    r = replay([boot(), share(BUF, PAGE), ev("log", text="tdx: shared page accounting is off"),
                ev("mem_access", gpa=BUF, write=False)])
    assert found(r) == {("K007", 3), ("A001", 4)}  # alone: known at the death, the line's
    assert (only(r, "K007").pages, only(r, "K007").cause_seqs) == (1, [])


# --- mailbox: an acknowledgement is the named AP's write of 0 (or an OS read of 0) -------------

def test_write_of_zero_by_another_vcpu_is_not_an_acknowledgement(replay: Replay) -> None:
    td = td_config(3, mailbox=1)
    r = replay([boot(), *wakeup(1), mb("command", 0, vcpu=2), *wakeup(2)], td)
    assert found(r) == {("M001", 8)}
    m001 = only(r, "M001")
    assert (m001.apic_id, m001.cause_seqs) == (2, [4])


def test_os_write_of_zero_does_not_acknowledge_a_test(replay: Replay) -> None:
    td = td_config(2, mailbox=1)
    r = replay([boot(), mb("apic_id", 1), mb("command", 2) | {"ts_ns": 2 * 10**9},
                mb("command", 0, vcpu=0) | {"ts_ns": 2 * 10**9 + 1000},
                ev("log", text="x", ts_ns=4 * 10**9)], td)
    assert found(r) == {("M005", 5)}
    assert only(r, "M005").cause_seqs == [3]


def test_near_miss_named_ap_and_os_read_acknowledge(replay: Replay) -> None:
    td = td_config(4, mailbox=1)
    r = replay([boot(), *wakeup(1), mb("command", 0, vcpu=1),
                *wakeup(2), ev("mailbox_read", field="command", value=0), *wakeup(3)], td)
    assert found(r) == set()


# --- the jump: a relocate_kernel CR4 write stands for it only when the generation has none ------

def test_relocate_cr4_write_before_the_jump_event_is_not_the_jump(replay: Replay) -> None:
    r = replay([boot(), share(BUF, PAGE), phase("begin"), phase("finish"), relocate_cr4(),
                phase("jump")])
    assert found(r) == {("K001", 6)}


def test_relocate_cr4_write_is_the_jump_of_a_generation_without_one(replay: Replay) -> None:
    # generation 0 has no jump event (its CR4 write is the jump); generation 1 has one
    r = replay([boot(), share(BUF, PAGE), phase("begin"), phase("finish"), relocate_cr4(),
                boot(), share(BUF + PAGE, PAGE), phase("jump")])
    assert found(r) == {("K001", 5), ("K001", 8), ("K004", 8)}
    k001 = [d for d in r.divergences if d.rule == "K001"]
    assert sorted((d.seq, d.gpa_start, d.gpa_end, d.cause_seqs) for d in k001) == [
        (5, BUF, BUF + PAGE, [2]), (8, BUF, BUF + 2 * PAGE, [2, 7])]
    assert only(r, "K004").pages == 2


# --- a repeated `finish` event: kexec_finish starts once per generation ------------------------

def test_repeated_finish_event_starts_finish_once(replay: Replay) -> None:
    r = replay([boot(), share(BUF, 2 * MB2, TDVMCALL_RETRY, resume=BUF + MB2), phase("begin"),
                phase("finish"), phase("finish")])
    assert found(r) == {("K006", 4)}
    # K007 compares with the pages shared when finish *started*, not at the repeated event
    r = replay([boot(), share(BUF, 3 * PAGE), phase("begin"), phase("finish"),
                unshare(BUF, 3 * PAGE), accept(BUF), accept(BUF + PAGE), accept(BUF + 2 * PAGE),
                phase("finish"), ev("log", text="tdx: nr_shared = 3, nr_found = 3"),
                phase("jump")])
    assert found(r) == set()


# --- the generic spellings without their operand registers -----------------------------------

def test_generic_mapgpa_or_accept_without_registers_is_not_judged_as_gpa_0(replay: Replay) -> None:
    r = replay([boot(), ev("tdvmcall", subfn=0x10001, status=0), ev("tdcall", leaf=6, status=0)])
    assert found(r) == set()


def test_near_miss_generic_spellings_with_registers_are_judged(replay: Replay) -> None:
    r = replay([boot(), ev("tdvmcall", subfn=0x10001, r12=BUF | SHARED | 0x800, r13=PAGE,
                           status=0),
                ev("tdcall", leaf=6, rcx=BUF + 0x10000, status=0)])
    assert found(r) == {("G003", 2), ("G004", 3)}


# --- a TD dying during a kexec: the CPU running the kexec is the one not lost (M008) ----------

def test_fatal_event_on_an_ap_during_kexec_counts_that_ap_as_lost(replay: Replay) -> None:
    td = td_config(2, mailbox=0)
    r = replay([boot(), *wakeup(1), *woken(1), share(BUF, PAGE), phase("begin"),
                ev("mem_access", gpa=BUF, write=False, vcpu=1)], td)
    assert found(r) == {("A001", 9), ("K001", 9), ("K004", 9), ("M008", 9)}
    m008 = only(r, "M008")
    assert (m008.vcpu, m008.apic_id, m008.cause_seqs) == (1, 1, [6])


# --- coverage: a host cannot see ACCEPT, so it cannot tell a pending page (A003) ---------------

def _host_trace(path: Path, events: list[dict[str, Any]], memory: str) -> ReplayResult:
    """A trace whose one source (host ftrace) declares what it can observe."""
    header = TraceHeader(path.stem, td_config(memory=memory), provenance={"sources": [
        {"path": "host.trace", "format": "ftrace-host",
         "observes": ["tdvmcall", "convert", "mem_access"]}]})
    with TraceWriter(path, header) as writer:
        writer.write_batch(events_to_batch(number(events)))
    return replay_trace(path)


def test_host_only_trace_skips_a003_and_keeps_a001(tmp_path: Path) -> None:
    events = [ev("convert", gpa=BUF, size=PAGE, to_private=False),
              ev("convert", gpa=BUF, size=PAGE, to_private=True),
              ev("mem_access", gpa=BUF, write=True),  # the guest's ACCEPT, seen as a fault
              ev("convert", gpa=BUF + PAGE, size=PAGE, to_private=False),
              ev("mem_access", gpa=BUF + PAGE, write=True)]
    r = _host_trace(tmp_path / "accepted.parquet", events, "accepted")
    assert found(r) == {("A001", 5)}
    assert "A003" not in r.rules_run
    # lazy accept: the host sees every first touch of a never-accepted page as a fault
    r = _host_trace(tmp_path / "lazy.parquet", [ev("mem_access", gpa=BUF, write=True)], "lazy")
    assert found(r) == set()
    assert [d.message for d in r.divergences if d.rule == "T003" and "A003" in d.message] == [
        "A003 skipped: no guest-side map_gpa or accept events: a host cannot see ACCEPT"]


def test_near_miss_jsonl_trace_without_declared_sources_judges_a003(replay: Replay) -> None:
    r = replay([boot(), ev("mem_access", gpa=BUF, write=False)], td_config(memory="lazy"))
    assert found(r) == {("A003", 2)}


def test_state_at_the_cursor_knows_the_jump_comes_later(tmp_path: Path) -> None:
    from tdxray.analyses.state_at import StateCursor
    from tdxray.store.read import open_trace
    from tdxray.tests.support import write_trace

    path = write_trace(tmp_path / "t.parquet",
                       number([boot(), share(BUF, PAGE), phase("begin"), phase("finish"),
                               relocate_cr4(), phase("jump")]))
    cursor = StateCursor(open_trace(path))
    assert [cursor.at(seq).phase for seq in (5, 6)] == ["finishing", "jumped"]
    assert cursor.at(3).phase == "stopping"  # going back starts a fresh model, planned too
