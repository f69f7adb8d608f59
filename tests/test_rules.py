"""Every rule of the catalogue: a minimal trace that triggers it and a near miss that must not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tdxray.model.result import ReplayResult
from tdxray.schema.constants import (
    TDVMCALL_ALIGN_ERROR,
    TDVMCALL_INVALID_OPERAND,
    TDVMCALL_RETRY,
    TDX_PAGE_ALREADY_ACCEPTED,
    TDX_PAGE_SIZE_MISMATCH,
)
from tdxray.tests.support import SHARED, found, td_config

Replay = Callable[..., ReplayResult]
BUF = 0x10000000  # a page-aligned buffer in RAM
MB2 = 0x200000


def ev(kind: str, **fields: Any) -> dict[str, Any]:
    return {"kind": kind, **fields}


def boot() -> dict[str, Any]:
    return ev("kexec", phase="boot")


def phase(name: str, vcpu: int = 0) -> dict[str, Any]:
    return ev("kexec", phase=name, vcpu=vcpu)


def share(gpa: int, size: int, status: int = 0, resume: int | None = None,
          vcpu: int = 0) -> dict[str, Any]:
    return ev("map_gpa", gpa=gpa | SHARED, size=size, status=status,
              resume_gpa=resume | SHARED if resume is not None else None, vcpu=vcpu)


def unshare(gpa: int, size: int, status: int = 0, resume: int | None = None) -> dict[str, Any]:
    return ev("map_gpa", gpa=gpa, size=size, status=status, resume_gpa=resume)


def accept(gpa: int, level: int = 0, status: int = 0) -> dict[str, Any]:
    return ev("accept", gpa=gpa, level=level, status=status)


def accept_pages(gpa: int, pages: int) -> list[dict[str, Any]]:
    return [accept(gpa + i * 0x1000) for i in range(pages)]


def relocate_cr4(old: int = 0x370EE0, new: int = 0x60) -> dict[str, Any]:
    return ev("cr4_write", old=old, new=new, site="relocate_kernel")


def fixed_kexec(pages_back: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """begin, finish converting each (gpa, pages) back and accepting it, jump, CR4, boot."""
    out = [phase("begin"), phase("finish")]
    for gpa, pages in pages_back:
        out += [unshare(gpa, pages * 0x1000), *accept_pages(gpa, pages)]
    return [*out, phase("jump"), relocate_cr4(), boot()]


def mb(field: str, value: int, vcpu: int = 0) -> dict[str, Any]:
    return ev("mailbox_write", field=field, value=value, vcpu=vcpu)


def wakeup(apic: int) -> list[dict[str, Any]]:
    return [mb("apic_id", apic), mb("wakeup_vector", 0x9A000), mb("command", 1)]


def woken(apic: int) -> list[dict[str, Any]]:
    return [mb("command", 0, vcpu=apic), ev("cpu", apic_id=apic, action="woken", vcpu=apic)]


# --- K: kexec ---------------------------------------------------------------------------------

def test_k001_leak_and_k004_unfixed_kernel(replay: Replay) -> None:
    r = replay([boot(), share(BUF, 0x3000), phase("jump"), relocate_cr4()])
    assert found(r) == {("K001", 3), ("K004", 3)}
    k001 = next(d for d in r.divergences if d.rule == "K001")
    assert (k001.gpa_start, k001.gpa_end, k001.pages) == (BUF, BUF + 0x3000, 3)
    assert k001.cause_seqs == [2]


def test_k001_near_miss_fixed_kexec_is_clean(replay: Replay) -> None:
    r = replay([boot(), share(BUF, 0x3000), *fixed_kexec([(BUF, 3)])])
    assert found(r) == set()


def test_k001_coalesces_one_run_made_by_several_mapgpas(replay: Replay) -> None:
    r = replay([boot(), share(BUF, 0x1000), share(BUF + 0x1000, 0x1000), phase("begin"),
                phase("finish"), phase("jump")])
    k001 = [d for d in r.divergences if d.rule == "K001"]
    assert [(d.gpa_start, d.gpa_end, d.pages, d.cause_seqs) for d in k001] == [
        (BUF, BUF + 0x2000, 2, [2, 3])]


def test_k001_one_gib_leak_is_one_divergence(replay: Replay) -> None:
    r = replay([boot(), share(0x40000000, 0x40000000), phase("begin"), phase("finish"),
                phase("jump")])
    k001 = [d for d in r.divergences if d.rule == "K001"]
    assert len(k001) == 1 and k001[0].pages == 262144


def test_k001_jump_implied_by_relocate_cr4_write(replay: Replay) -> None:
    r = replay([boot(), share(BUF, 0x1000), phase("begin"), phase("finish"), relocate_cr4()])
    assert found(r) == {("K001", 5)}


def test_k001_jump_implied_by_next_boot(replay: Replay) -> None:
    r = replay([boot(), share(BUF, 0x1000), phase("begin"), phase("finish"), boot()])
    assert found(r) == {("K001", 5)}


def test_k002_converted_back_but_never_accepted(replay: Replay) -> None:
    r = replay([boot(), share(BUF, 0x2000), phase("begin"), phase("finish"),
                unshare(BUF, 0x2000), accept(BUF), phase("jump")])
    assert found(r) == {("K002", 7)}
    k002 = next(d for d in r.divergences if d.rule == "K002")
    assert (k002.gpa_start, k002.pages, k002.cause_seqs) == (BUF + 0x1000, 1, [5])


def test_k002_near_miss_lazy_memory_never_accepted_is_in_unaccepted_table(replay: Replay) -> None:
    td = td_config(memory="lazy")
    r = replay([boot(), accept(0, level=1), share(BUF, 0x1000), *fixed_kexec([(BUF, 1)])], td)
    assert found(r) == set()


def test_k003_unshare_failed_gives_k003_and_k001(replay: Replay) -> None:
    r = replay([boot(), share(BUF, 0x4000), phase("begin"), phase("finish"),
                unshare(BUF, 0x4000, status=TDVMCALL_INVALID_OPERAND), phase("jump")])
    assert found(r) == {("K003", 5), ("K001", 6)}


def test_k003_accept_fails_at_4k(replay: Replay) -> None:
    r = replay([boot(), share(BUF, 0x1000), phase("begin"), phase("finish"), unshare(BUF, 0x1000),
                accept(BUF, 0, TDX_PAGE_SIZE_MISMATCH | 0x1), phase("jump")])
    assert ("K003", 6) in found(r)
    assert ("K002", 7) in found(r)


def test_k003_near_miss_size_mismatch_falls_back_to_4k(replay: Replay) -> None:
    r = replay([boot(), share(BUF, MB2), phase("begin"), phase("finish"), unshare(BUF, MB2),
                accept(BUF, 1, TDX_PAGE_SIZE_MISMATCH | 1), *accept_pages(BUF, 512),
                phase("jump")])
    assert found(r) == set()


def test_k003_retries_abandoned_in_finish(replay: Replay) -> None:
    retry = [unshare(BUF, 0x1000, TDVMCALL_RETRY, resume=BUF)] * 3
    r = replay([boot(), share(BUF, 0x1000), phase("begin"), phase("finish"), *retry,
                phase("jump")])
    assert found(r) == {("K003", 7), ("K001", 8)}


def test_k004_near_miss_no_finish_but_nothing_shared(replay: Replay) -> None:
    r = replay([boot(), share(BUF, 0x1000), unshare(BUF, 0x1000), accept(BUF), phase("jump")])
    assert found(r) == set()


def test_k005_conversion_after_begin(replay: Replay) -> None:
    r = replay([boot(), phase("begin"), share(BUF, 0x1000)])
    assert found(r) == {("K005", 3)}
    assert next(d for d in r.divergences if d.rule == "K005").cause_seqs == [2]


def test_k005_near_miss_finish_own_and_inflight_continuation(replay: Replay) -> None:
    r = replay([boot(), share(BUF, 2 * MB2, TDVMCALL_RETRY, resume=BUF + MB2), phase("begin"),
                share(BUF + MB2, MB2), *fixed_kexec([(BUF, 1024)])[1:]])
    assert found(r) == set()


def test_k006_conversion_in_flight_at_finish(replay: Replay) -> None:
    r = replay([boot(), share(BUF, 2 * MB2, TDVMCALL_RETRY, resume=BUF + MB2), phase("begin"),
                phase("finish")])
    assert found(r) == {("K006", 4)}
    k006 = next(d for d in r.divergences if d.rule == "K006")
    assert (k006.gpa_start, k006.gpa_end, k006.cause_seqs) == (BUF + MB2, BUF + 2 * MB2, [2])


def test_k006_near_miss_retry_completed_before_finish(replay: Replay) -> None:
    r = replay([boot(), share(BUF, 2 * MB2, TDVMCALL_RETRY, resume=BUF + MB2),
                share(BUF + MB2, MB2), *fixed_kexec([(BUF, 1024)])])
    assert found(r) == set()


def test_k007_accounting_mismatch(replay: Replay) -> None:
    r = replay([boot(), share(BUF, 0x2000), phase("begin"), phase("finish"),
                ev("log", text="tdx: shared page accounting is off"),
                ev("log", text="tdx: nr_shared = 5, nr_found = 2"),
                unshare(BUF, 0x2000), *accept_pages(BUF, 2), phase("jump")])
    assert found(r) == {("K007", 6)}


def test_k007_accounting_off_alone(replay: Replay) -> None:
    r = replay([boot(), phase("begin"), phase("finish"),
                ev("log", text="tdx: shared page accounting is off"), phase("jump")])
    assert found(r) == {("K007", 4)}  # the line reveals it (known to be alone at the jump)
    assert [d.cause_seqs for d in r.divergences if d.rule == "K007"] == [[]]


def test_k007_near_miss_ordinary_console_lines(replay: Replay) -> None:
    r = replay([boot(), ev("log", text="tdx: Guest detected"), share(BUF, 0x1000),
                *fixed_kexec([(BUF, 1)])])
    assert found(r) == set()


# --- C: CR4 -----------------------------------------------------------------------------------

def test_c001_mce_cleared(replay: Replay) -> None:
    r = replay([boot(), phase("jump"), relocate_cr4(new=0x20)])
    assert found(r) == {("C001", 3)}


def test_c001_near_miss_play_dead_clears_only_pge(replay: Replay) -> None:
    r = replay([boot(), ev("cr4_write", old=0x3706E0, new=0x370660)])
    assert found(r) == set()


def test_c001_during_kexec_still_gets_jump_checks(replay: Replay) -> None:
    r = replay([boot(), share(BUF, 0x1000), phase("begin"), phase("finish"),
                ev("cr4_write", old=0x370EE0, new=0x20), phase("jump")])
    assert found(r) == {("C001", 5), ("K001", 5)}


def test_c002_forbidden_bits(replay: Replay) -> None:
    td = td_config(attributes=0, xfam=0)
    r = replay([boot(), ev("cr4_write", old=0x370EE0, new=0x370EE0 | 1 << 19),
                ev("cr4_write", old=0x370EE0, new=0x370EE0 | 1 << 24)], td)
    assert found(r) == {("C002", 2), ("C002", 3)}


def test_c002_near_miss_bits_allowed_or_not_judged(replay: Replay) -> None:
    allowed = td_config(attributes=1 << 30, xfam=0x2E7 | 1 << 9)
    r = replay([boot(), ev("cr4_write", old=0x370EE0, new=0x370EE0 | 1 << 24 | 1 << 22)], allowed)
    assert found(r) == set()
    unknown = td_config()  # no attributes/xfam: PKS is not judged
    r = replay([boot(), ev("cr4_write", old=0x370EE0, new=0x370EE0 | 1 << 24)], unknown)
    assert found(r) == set()


# --- M: mailbox -------------------------------------------------------------------------------

def test_m001_command_while_unacknowledged(replay: Replay) -> None:
    r = replay([boot(), *wakeup(1), *wakeup(1)], td_config(2, mailbox=1))
    assert found(r) == {("M001", 7)}


def test_m001_near_miss_acknowledged_by_os_read(replay: Replay) -> None:
    r = replay([boot(), *wakeup(1), ev("mailbox_read", field="command", value=0),
                *wakeup(2)], td_config(3, mailbox=1))
    assert found(r) == set()


def test_m002_operands_missing(replay: Replay) -> None:
    r = replay([boot(), mb("apic_id", 1), mb("command", 1)], td_config(2, mailbox=1))
    assert found(r) == {("M002", 3)}


def test_m002_acknowledgement_does_not_count_as_operand(replay: Replay) -> None:
    r = replay([boot(), *wakeup(1), *woken(1), mb("command", 1)], td_config(3, mailbox=1))
    assert ("M002", 7) in found(r)


def test_m003_wakeup_of_online_cpu(replay: Replay) -> None:
    r = replay([boot(), *wakeup(1), *woken(1), *wakeup(1)], td_config(2, mailbox=1))
    assert found(r) == {("M003", 9)}


def test_m003_near_miss_wakeup_after_park(replay: Replay) -> None:
    r = replay([boot(), *wakeup(1), *woken(1), ev("cpu", apic_id=1, action="parked", vcpu=1),
                *wakeup(1)], td_config(2, mailbox=1))
    assert found(r) == set()


def test_m004_unknown_apic_id(replay: Replay) -> None:
    r = replay([boot(), *wakeup(4)], td_config(2, mailbox=1))
    assert found(r) == {("M004", 4)}
    assert next(d for d in r.divergences if d.rule == "M004").cause_seqs == [2]


def test_m005_test_not_acknowledged(replay: Replay) -> None:
    td = td_config(2, mailbox=1)
    r = replay([boot(), mb("apic_id", 1, vcpu=0) | {"ts_ns": 10**9},
                mb("command", 2) | {"ts_ns": 10**9 + 10},
                ev("tdvmcall", subfn=12, status=0, ts_ns=10**9 + 5 * 10**8),
                ev("tdvmcall", subfn=12, status=0, ts_ns=2 * 10**9 + 11),
                mb("command", 0, vcpu=1) | {"ts_ns": 3 * 10**9}], td)
    assert found(r) == {("M005", 5)}


def test_m005_near_miss_acknowledged_in_time_or_trace_ends(replay: Replay) -> None:
    td = td_config(2, mailbox=1)
    r = replay([boot(), mb("apic_id", 1), mb("command", 2),
                mb("command", 0, vcpu=1) | {"ts_ns": 10**8}], td)
    assert found(r) == set()
    r = replay([boot(), mb("apic_id", 1), mb("command", 2)], td)
    assert found(r) == set()


def test_m006_test_on_v0(replay: Replay) -> None:
    r = replay([boot(), mb("apic_id", 1), mb("command", 2)], td_config(2, mailbox=0))
    assert found(r) == {("M006", 3)}


def test_m007_stale_wakeup_and_m008(replay: Replay) -> None:
    td = td_config(2, mailbox=0)
    r = replay([boot(), *wakeup(1), *woken(1), phase("begin"),
                ev("cpu", apic_id=1, action="stopped", vcpu=1), phase("finish"), phase("jump"),
                boot(), *wakeup(1)], td)
    assert found(r) == {("M008", 10), ("M007", 14)}


def test_m008_near_miss_aps_parked(replay: Replay) -> None:
    td = td_config(2, mailbox=1)
    r = replay([boot(), *wakeup(1), *woken(1), phase("begin"),
                ev("cpu", apic_id=1, action="parked", vcpu=1), phase("finish"), phase("jump"),
                boot(), *wakeup(1), *woken(1)], td)
    assert found(r) == set()


# --- G: MapGPA and ACCEPT ---------------------------------------------------------------------

def test_g001_near_miss_resumed_at_r11(replay: Replay) -> None:
    r = replay([boot(), share(BUF, 2 * MB2, TDVMCALL_RETRY, resume=BUF + MB2),
                share(BUF + MB2, MB2)])
    assert found(r) == set()


def test_g001_resume_skipped(replay: Replay) -> None:
    r = replay([boot(), share(BUF, 4 * MB2, TDVMCALL_RETRY, resume=BUF + MB2),
                share(BUF + 2 * MB2, 2 * MB2)])
    assert found(r) == {("G001", 3)}
    g001 = next(d for d in r.divergences if d.rule == "G001")
    assert (g001.gpa_start, g001.gpa_end, g001.pages) == (BUF + MB2, BUF + 2 * MB2, 512)


def test_g002_fourth_no_progress_retry(replay: Replay) -> None:
    retry = share(BUF, MB2, TDVMCALL_RETRY, resume=BUF)
    r = replay([boot(), retry, retry, retry, retry])
    assert found(r) == {("G002", 5)}


def test_g002_continuation_after_invalid_r11(replay: Replay) -> None:
    r = replay([boot(), share(BUF, MB2, TDVMCALL_RETRY, resume=BUF + 2 * MB2), share(BUF, MB2)])
    assert found(r) == {("G003", 2), ("G002", 3)}


def test_g002_near_miss_progress_resets_the_count(replay: Replay) -> None:
    r = replay([boot(), share(BUF, 2 * MB2, TDVMCALL_RETRY, resume=BUF),
                share(BUF, 2 * MB2, TDVMCALL_RETRY, resume=BUF),
                share(BUF, 2 * MB2, TDVMCALL_RETRY, resume=BUF + MB2),
                share(BUF + MB2, MB2, TDVMCALL_RETRY, resume=BUF + MB2),
                share(BUF + MB2, MB2, TDVMCALL_RETRY, resume=BUF + MB2),
                share(BUF + MB2, MB2)])
    assert found(r) == set()


def test_g003_success_for_unaligned_range(replay: Replay) -> None:
    r = replay([boot(), share(BUF + 0x10, 0x1000)])
    assert found(r) == {("G003", 2)}


def test_g003_near_miss_unaligned_range_refused(replay: Replay) -> None:
    r = replay([boot(), share(BUF + 0x10, 0x1000, status=TDVMCALL_ALIGN_ERROR)])
    assert found(r) == set()


def test_g004_success_on_accepted_page(replay: Replay) -> None:
    r = replay([boot(), accept(BUF)])
    assert found(r) == {("G004", 2)}


def test_g004_bad_level_judged_as_operand_invalid(replay: Replay) -> None:
    r = replay([boot(), accept(BUF, level=3)])
    assert found(r) == {("G004", 2)}


def test_g004_near_miss_success_on_pending_page(replay: Replay) -> None:
    r = replay([boot(), share(BUF, 0x1000), unshare(BUF, 0x1000), accept(BUF)])
    assert found(r) == set()


def test_g005_accept_of_shared_page_is_g005_only(replay: Replay) -> None:
    r = replay([boot(), share(BUF, 0x1000), accept(BUF), phase("jump")])
    assert found(r) == {("G005", 3)}


def test_g006_double_accept(replay: Replay) -> None:
    r = replay([boot(), accept(BUF, status=TDX_PAGE_ALREADY_ACCEPTED)])
    assert found(r) == {("G006", 2)}


def test_generic_spellings_replay_the_same(replay: Replay) -> None:
    dedicated = replay([boot(), share(BUF, 2 * MB2, TDVMCALL_RETRY, resume=BUF + MB2),
                        share(BUF + 2 * MB2 - 0x1000, 0x1000), accept(BUF)])
    generic = replay([boot(),
                      ev("tdvmcall", subfn=0x10001, r12=BUF | SHARED, r13=2 * MB2,
                         status=TDVMCALL_RETRY, r11_out=(BUF + MB2) | SHARED),
                      ev("tdvmcall", subfn=0x10001, r12=(BUF + 2 * MB2 - 0x1000) | SHARED,
                         r13=0x1000, status=0),
                      ev("tdcall", leaf=6, rcx=BUF | 0, status=0)])
    assert found(dedicated) == found(generic) == {("G001", 3), ("G005", 4)}


# --- A: accesses ------------------------------------------------------------------------------

def test_a001_private_access_to_shared_page_is_fatal(replay: Replay) -> None:
    r = replay([boot(), share(BUF, 0x1000), ev("mem_access", gpa=BUF + 8, write=False),
                accept(BUF + 0x5000)])
    assert found(r) == {("A001", 3)}  # the TD is dead: the later ACCEPT is not judged


def test_a001_near_miss_shared_access_to_shared_page(replay: Replay) -> None:
    r = replay([boot(), share(BUF, 0x1000), ev("mem_access", gpa=BUF | SHARED, write=True)])
    assert found(r) == set()


def test_a002_shared_access_to_private_page(replay: Replay) -> None:
    r = replay([boot(), ev("mem_access", gpa=BUF | SHARED, write=True)])
    assert found(r) == {("A002", 2)}


def test_a003_access_to_pending_page(replay: Replay) -> None:
    r = replay([boot(), share(BUF, 0x1000), unshare(BUF, 0x1000),
                ev("mem_access", gpa=BUF, write=True)])
    assert found(r) == {("A003", 4)}


def test_a003_near_miss_access_after_accept_and_mmio(replay: Replay) -> None:
    r = replay([boot(), share(BUF, 0x1000), unshare(BUF, 0x1000), accept(BUF),
                ev("mem_access", gpa=BUF, write=True),
                ev("mem_access", gpa=0xFEC00000 | SHARED, write=True)])
    assert found(r) == set()


# --- T: trace ---------------------------------------------------------------------------------

def test_t001_time_backwards_on_one_vcpu(replay: Replay) -> None:
    r = replay([boot() | {"ts_ns": 100}, ev("tdvmcall", subfn=12, status=0, ts_ns=90)])
    assert found(r) == {("T001", 2)}


def test_t001_near_miss_vcpus_interleave_and_clock_restarts_at_boot(replay: Replay) -> None:
    td = td_config(2)
    r = replay([boot() | {"ts_ns": 100}, ev("tdvmcall", subfn=12, status=0, ts_ns=90, vcpu=1),
                phase("jump") | {"ts_ns": 200}, boot() | {"ts_ns": 5},
                ev("tdvmcall", subfn=12, status=0, ts_ns=10)], td)
    assert found(r) == set()


def test_t002_unmodeled_once_per_kind(replay: Replay) -> None:
    r = replay([boot(), ev("tdvmcall", subfn=0x9999, status=0), ev("tdvmcall", subfn=0x9999,
                status=0), ev("tdvmcall", subfn=10, status=0), ev("tdcall", leaf=1, status=0)])
    t002 = [d for d in r.divergences if d.rule == "T002"]
    assert [(d.seq, d.severity) for d in t002] == [(2, "info")]


def test_t003_host_only_trace_is_never_clean_for_cr4_or_mailbox(replay: Replay) -> None:
    r = replay([ev("convert", gpa=BUF, size=0x1000, to_private=False)])
    skipped = {rule for rule, _ in r.rules_skipped}
    assert {"C001", "C002", "M001", "M008", "K002", "G004"} <= skipped
    t003 = {d.message.split()[0] for d in r.divergences if d.rule == "T003"}
    assert t003 == skipped


def test_t004_config_mismatch(replay: Replay) -> None:
    r = replay([boot(), ev("tdvmcall", subfn=12, status=0, vcpu=7),
                share(0x90000000, 0x1000), ev("mem_access", gpa=1 << 50, write=False)])
    assert found(r) == {("T004", 2), ("T004", 3), ("T004", 4)}


def test_empty_trace_replays(replay: Replay) -> None:
    r = replay([])
    assert r.events == 0 and found(r) == set()
    assert {d.rule for d in r.divergences} == {"T003"}


@pytest.mark.parametrize("vcpus", [1, 4])
def test_noise_only_trace_is_clean(replay: Replay, vcpus: int) -> None:
    noise = [ev("tdvmcall", subfn=s, status=0, vcpu=i % vcpus)
             for i, s in enumerate([10, 12, 30, 31, 32, 48] * 5)]
    r = replay(noise, td_config(vcpus))
    assert found(r) == set() and r.events == 30


def test_t003_near_miss_full_coverage_skips_nothing(replay: Replay) -> None:
    td = td_config(2, mailbox=1)
    r = replay([boot(), *wakeup(1), *woken(1), share(BUF, 0x1000),
                ev("mem_access", gpa=BUF | SHARED, write=True),
                ev("log", text="tdx: Guest detected"), phase("begin"),
                ev("cpu", apic_id=1, action="parked", vcpu=1), *fixed_kexec([(BUF, 1)])[1:]], td)
    assert r.rules_skipped == []
    assert {d.rule for d in r.divergences} == set()


def test_t004_near_miss_mmio_and_configured_vcpus(replay: Replay) -> None:
    r = replay([boot(), ev("tdvmcall", subfn=48, status=0, vcpu=1, r13=0xFEC00000),
                ev("mem_access", gpa=0xFEE00000 | SHARED, write=True),
                share(0x7FFFF000, 0x1000)], td_config(2))
    assert found(r) == set()
