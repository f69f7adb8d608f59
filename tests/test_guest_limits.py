"""What a distro guest's probes cannot see, and what the model makes of it (FORMATS.md §2, §6).

`tdx_map_gpa` (arch/x86/coco/tdx/tdx.c) loops over MapGPA TDVMCALLs inside one call: a probe
on it sees the range and whether it succeeded, never a RETRY or its resume GPA. `tdx_accept_memory`
(arch/x86/coco/tdx/tdx-shared.c) returns false when try_accept_one() fails even at 4 KiB, without
saying at which page.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from click.testing import CliRunner

from tdxray.cli.main import cli
from tdxray.ingest.kprobe.decode import GuestDecoder
from tdxray.model.prescan import Prescan
from tdxray.schema.constants import TDVMCALL_RETRY, TDX_OPERAND_INVALID
from tdxray.tests.support import td_config
from tdxray.tests.test_death import GUEST, guest_trace
from tdxray.tests.test_rules import BUF, boot, phase, share, unshare

PROBE = "kexec-145 [000] ....."
MB2 = 0x200000


def guest_lines(*events: tuple[str, str]) -> str:
    return "".join(f"{PROBE} 10.{i:06d}: {name}: {fields}\n"
                   for i, (name, fields) in enumerate(events, start=1))


def check(tmp_path: Path, text: str) -> dict[str, object]:
    trace = tmp_path / "guest.trace"
    trace.write_text(text)
    report = tmp_path / "r.json"
    res = CliRunner().invoke(cli, ["check", str(trace), "--format", "json", "-o", str(report)])
    assert res.exit_code in (0, 1), res.output
    [checked] = json.loads(report.read_text())["traces"]
    return checked  # type: ignore[no-any-return]


def test_a_tdx_map_gpa_level_trace_skips_the_retry_rules_and_says_why(tmp_path: Path) -> None:
    checked = check(tmp_path, guest_lines(
        ("map_gpa", f"(tdx_map_gpa+0x4/0x1d0) start={BUF:#x} end={BUF + MB2:#x} enc=0"),
        ("map_gpa_ret", "(set_memory_decrypted+0x9c/0x1a0 <- tdx_map_gpa) ret=1"),
        ("kexec_begin", "(tdx_kexec_begin+0x4/0x80)"),
        ("kexec_finish", "(tdx_kexec_finish+0x4/0x1b0)"),
        ("map_gpa", f"(tdx_map_gpa+0x4/0x1d0) start={BUF:#x} end={BUF + MB2:#x} enc=1"),
        ("map_gpa_ret", "(tdx_kexec_finish+0x9c/0x1b0 <- tdx_map_gpa) ret=1"),
        ("accept", f"(tdx_accept_memory+0x4/0x100) start={BUF:#x} end={BUF + MB2:#x}"),
        ("accept_ret", "(tdx_kexec_finish+0xb0/0x1b0 <- tdx_accept_memory) ret=1"),
        ("machine_kexec", "(machine_kexec+0x4/0x210) image=0x1")))
    skipped = {s["rule"]: s["why"] for s in checked["rules_skipped"]}  # type: ignore[index]
    why = ("no MapGPA RETRY events: a guest's tdx_map_gpa probe cannot see the RETRYs or "
           "resume GPAs inside the call")
    assert {rule: skipped.get(rule) for rule in ("K006", "G001", "G002", "G003", "K005")} == {
        "K006": why, "G001": why, "G002": why, "G003": None, "K005": None}
    assert [d["rule"] for d in checked["divergences"]  # type: ignore[index]
            if d["severity"] != "info"] == []


def test_near_miss_a_retry_seen_in_a_guest_trace_runs_the_retry_rules(tmp_path: Path) -> None:
    # an instrumented kernel's per-TDVMCALL probes do show RETRY: then the rules judge it
    events = [boot(), share(BUF, 0x4000, status=TDVMCALL_RETRY, resume=BUF + 0x1000),
              share(BUF + 0x2000, 0x2000)]
    r = guest_trace(tmp_path / "t.parquet", events, GUEST)
    assert {"G001", "G002"} <= set(r.rules_run)
    # K006 is judged at kexec_finish, which a guest's trace_pipe never shows (stop_other_cpus)
    assert dict(r.rules_skipped)["K006"].startswith("no kexec_finish seen: ")
    assert [(d.rule, d.seq) for d in r.divergences if d.severity != "info"] == [("G001", 3)]


def test_a_failed_tdx_accept_memory_is_one_failed_4k_accept_at_its_start() -> None:
    decoder = GuestDecoder(td_config())
    decoder.decode("accept", f"(tdx_accept_memory+0x4/0x100) start={BUF:#x} "
                   f"end={BUF + 2 * MB2 + 0x3000:#x}", 0, 1)
    [event] = decoder.decode(
        "accept_ret", "(tdx_kexec_finish+0xb0/0x1b0 <- tdx_accept_memory) ret=0", 0, 2)
    assert (event.kind, event.values) == ("accept", {"gpa": BUF, "level": 0,
                                                     "status": TDX_OPERAND_INVALID})
    # near miss: a successful call is its try_accept_one() ACCEPTs, largest aligned first
    decoder.decode("accept", f"(tdx_accept_memory+0x4/0x100) start={BUF:#x} "
                   f"end={BUF + 2 * MB2 + 0x3000:#x}", 0, 3)
    ok = decoder.decode("accept_ret", "(tdx_kexec_finish+0xb0/0x1b0 <- tdx_accept_memory) "
                        "ret=1", 0, 4)
    assert [(e.values["gpa"] - BUF, e.values["level"], e.values["status"]) for e in ok] == [
        (0, 1, 0), (MB2, 1, 0), (2 * MB2, 0, 0), (2 * MB2 + 0x1000, 0, 0),
        (2 * MB2 + 0x2000, 0, 0)]


def test_a_failed_accept_in_kexec_finish_is_k003_at_its_first_page(tmp_path: Path) -> None:
    events = [boot(), share(BUF, 0x3000), phase("begin"), phase("finish"),
              unshare(BUF, 0x3000),
              {"kind": "accept", "gpa": BUF, "level": 0, "status": TDX_OPERAND_INVALID},
              phase("jump")]
    r = guest_trace(tmp_path / "t.parquet", events, GUEST)
    k003 = [(d.seq, d.gpa_start, d.gpa_end) for d in r.divergences if d.rule == "K003"]
    assert k003 == [(6, BUF, BUF + 0x1000)]
    assert {(d.rule, d.seq) for d in r.divergences if d.severity != "info"} == {
        ("K003", 6), ("K002", 7)}
    # the probe saw only that tdx_accept_memory() failed: the message names no TDX status
    [message] = [d.message for d in r.divergences if d.rule == "K003"]
    assert message == (f"kexec_finish could not accept [{BUF:#x}, {BUF + 0x1000:#x}) even at "
                       "4 KiB: the range stays unusable")


def test_a_failed_tdx_map_gpa_in_kexec_finish_names_no_status(tmp_path: Path) -> None:
    """tdx_map_gpa() returns a bool: the reader spells a failure INVALID_OPERAND, but K003 does
    not claim the host answered that (a JSONL trace's status is the host's, and is named)."""
    checked = check(tmp_path, guest_lines(
        ("map_gpa", f"(tdx_map_gpa+0x4/0x1d0) start={BUF:#x} end={BUF + 0x2000:#x} enc=0"),
        ("map_gpa_ret", "(set_memory_decrypted+0x9c/0x1a0 <- tdx_map_gpa) ret=1"),
        ("kexec_begin", "(tdx_kexec_begin+0x4/0x80)"),
        ("kexec_finish", "(tdx_kexec_finish+0x4/0x1b0)"),
        ("map_gpa", f"(tdx_map_gpa+0x4/0x1d0) start={BUF:#x} end={BUF + 0x2000:#x} enc=1"),
        ("map_gpa_ret", "(tdx_kexec_finish+0x9c/0x1b0 <- tdx_map_gpa) ret=0"),
        ("machine_kexec", "(machine_kexec+0x4/0x210) image=0x1")))
    [k003] = [d for d in checked["divergences"] if d["rule"] == "K003"]  # type: ignore[union-attr]
    assert (k003["seq"], k003["message"]) == (  # type: ignore[index]
        4, f"kexec_finish could not make [{BUF:#x}, {BUF + 0x2000:#x}) private: "
           "MapGPA to private failed")


def test_probes_the_script_could_not_place_are_skipped_on_a_real_61_console() -> None:
    """Debian's 6.1 kernel has no tdx_map_gpa, tdx_accept_memory, acpi_mp_cpu_die or
    tdx_kexec_{begin,finish}: the probe script says so on the console (`tdxray-probes: not
    seen: …`). The rules that need those events are skipped, not reported clean (K001 and K004
    ran on no conversions before); the WAKEUP rules still run (acpi_wakeup_cpu was placed)."""
    real = Path(__file__).parent / "data" / "real" / "qemu"
    res = CliRunner().invoke(cli, ["check", str(real / "6.1-place" / "console.log"), "--td",
                                   str(real / "td.json"), "--format", "json", "-q"])
    assert res.exit_code == 0, res.output
    [checked] = json.loads(res.stdout)["traces"]
    skipped = {s["rule"]: s["why"] for s in checked["rules_skipped"]}
    assert set(skipped) == {"K001", "K002", "K003", "K004", "K005", "K006", "C001", "C002",
                            "M005", "M006", "G001", "G002", "G003", "G004", "G005", "G006",
                            "A001", "A002", "A003"}
    assert skipped["M005"] == ("the acpi_mp_cpu_die probe was not placed (the console's "
                               "`tdxray-probes: not seen:` line): no TEST can be seen")
    assert [d["rule"] for d in checked["divergences"] if d["rule"] != "T003"] == []


def test_unplaced_probes_count_events_seen_not_kinds_declared() -> None:
    """A console with probes declares every probe kind; what the script could not place is
    judged from the events that occurred (none here), never from the declared kinds."""
    scan = Prescan(declared=frozenset({"log", "kexec"}), kind_counts=Counter({"log": 2,
                                                                              "map_gpa": 1}))
    scan.unplaced = {"wakeup", "test", "stopped", "parked"}
    seen = scan.observed()
    assert (seen.wakeup_placed, seen.test_placed, seen.stop_placed, seen.mapgpa_placed) == (
        False, False, False, True)
    scan.kind_counts["mailbox_write"] = 3  # writes seen: one of the two probes was placed
    seen = scan.observed()
    assert (seen.wakeup_placed, seen.test_placed) == (True, True)
