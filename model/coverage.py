"""Which rules a trace lets the model run, and why the others are skipped (T003, §6)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tdxray.model.catalogue import RULE_IDS


@dataclass(frozen=True)
class Observed:
    """What kinds of evidence a trace holds (from the pre-scan)."""

    kexec: bool        # kexec phase events, console phase markers or relocate_kernel CR4 writes
    map_gpa: bool      # MapGPA in either spelling
    convert: bool      # host-observed conversions
    accept: bool       # ACCEPT in either spelling
    cr4_write: bool
    mailbox: bool      # mailbox_write events
    cpu: bool          # cpu events or mailbox traffic (AP states)
    mem_access: bool
    log: bool
    retry: bool = True  # a MapGPA RETRY seen (a guest's tdx_map_gpa probes never show one)
    # an ACCEPT answered with a TDX status other than SUCCESS or OPERAND_INVALID seen (a guest's
    # tdx_accept_memory probe returns a bool: it never shows TDX_PAGE_ALREADY_ACCEPTED)
    accept_status: bool = True
    # kexec_finish / the jump seen (a phase event, a relocate_kernel CR4 write, a later boot, the
    # TD's death): a guest's trace_pipe stops at stop_other_cpus(), before both
    finish_seen: bool = True
    jump_seen: bool = True
    # no source declared what it can observe (a JSONL or Parquet trace): its kinds are all
    # the evidence there is, so a missing kind is not taken as a blind spot
    undeclared: bool = True
    # the guest's probe script placed its tdx_map_gpa / tdx_accept_memory probes (it says in the
    # console which it could not: `tdxray-probes: not seen: …`), or their events occur
    mapgpa_placed: bool = True
    accept_placed: bool = True
    # the same for the mailbox's two probes: acpi_wakeup_cpu (WAKEUP), acpi_mp_cpu_die (TEST)
    wakeup_placed: bool = True
    test_placed: bool = True
    stop_placed: bool = True  # stop_this_cpu or acpi_mp_stop_this_cpu


def declared_kinds(provenance: dict[str, Any]) -> frozenset[str]:
    """Event kinds the trace's sources could observe, as ingest recorded them
    (provenance["sources"][i]["observes"]): a rule that needs them runs even if none occurred."""
    sources = provenance.get("sources")
    if not isinstance(sources, list):
        return frozenset()
    return frozenset(kind for s in sources if isinstance(s, dict)
                     for kind in s.get("observes", ()) if isinstance(kind, str))


# What the tdxray probes show (FORMATS.md §2), through trace_pipe or, with tp_printk, the console
PROBE_KINDS = frozenset({"map_gpa", "accept", "mailbox_write", "mailbox_read", "cpu", "kexec"})


def with_console_probes(declared: frozenset[str], kinds: Mapping[str, int]) -> frozenset[str]:
    """A console (it declares `log`) that printed probe events (`tp_printk`) shows every probe
    the recipe placed, like the guest's trace_pipe: a probe kind that did not occur there is an
    absence, not a blind spot (a plain dmesg shows none of them, and stays as declared). Only a
    guest source gives such events (a host's are tdvmcall, convert, mem_access)."""
    if "log" in declared and not declared >= PROBE_KINDS and any(
            kinds.get(kind, 0) for kind in PROBE_KINDS - {"kexec"}):
        return declared | PROBE_KINDS
    return declared


Need = tuple[tuple[str, ...], str]  # (attributes of Observed, one of which must hold; why not)

KEXEC: Need = (("kexec",), "no kexec events")
CONVERSIONS: Need = (("map_gpa", "convert"), "no map_gpa or convert events")
MAPGPA: Need = (("map_gpa",), "no map_gpa events")
# A host cannot see ACCEPT: without guest-side conversions a pending page proves nothing.
GUEST_CONVERSIONS: Need = (("map_gpa", "accept"), "no guest-side map_gpa or accept events")
ACCEPT: Need = (("accept",), "no accept events")
# Whether a page is still pending takes ACCEPT events: sources that declare they cannot see
# them (host-side ftrace, QEMU) leave A003 unjudged (their faults on pending pages are how
# the guest's own ACCEPTs look from the host).
ACCEPT_STATE: Need = (("map_gpa", "accept", "undeclared"),
                      "no guest-side map_gpa or accept events: a host cannot see ACCEPT")
# A guest kprobe sees a tdx_map_gpa call, not the TDVMCALLs in it (FORMATS.md §2): the RETRY
# loop, its resume GPA (R11) and an operation left open are invisible unless a RETRY shows.
RETRY: Need = (("retry", "undeclared"), "no MapGPA RETRY events: a guest's tdx_map_gpa probe "
               "cannot see the RETRYs or resume GPAs inside the call")
# tdx_accept_memory() returns false for any failed 4 KiB ACCEPT (try_accept_one() drops the
# status), so a guest kprobe trace cannot tell TDX_PAGE_ALREADY_ACCEPTED from a failure.
ACCEPT_STATUS: Need = (("accept_status", "undeclared"),
                       "no TDX status of an ACCEPT: a guest's tdx_accept_memory probe sees only "
                       "whether the range was accepted")
# Events after stop_other_cpus() never reach trace_pipe (FORMATS.md §2): a guest ftrace capture
# without the console (tp_printk, which declares `log`) cannot show finish or the jump.
_AFTER_STOP = ("a guest's trace_pipe stops at stop_other_cpus(); only the console (tp_printk) "
               "shows what follows")
FINISH_SEEN: Need = (("finish_seen", "undeclared", "log"), f"no kexec_finish seen: {_AFTER_STOP}")
JUMP_SEEN: Need = (("jump_seen", "undeclared", "log"), f"no jump seen: {_AFTER_STOP}")
_UNPLACED = "probe was not placed (the console's `tdxray-probes: not seen:` line)"
MAPGPA_PLACED: Need = (("mapgpa_placed",), f"the tdx_map_gpa {_UNPLACED}: no conversion back to "
                       "private or failed one can be seen")
MAPGPA_OR_HOST: Need = (("mapgpa_placed", "convert"), MAPGPA_PLACED[1])
ACCEPT_PLACED: Need = (("accept_placed",), f"the tdx_accept_memory {_UNPLACED}: no ACCEPT can be "
                       "seen, so every page converted back would look unaccepted")
WAKEUP_PLACED: Need = (("wakeup_placed",), f"the acpi_wakeup_cpu {_UNPLACED}: no WAKEUP can be "
                       "seen")
TEST_PLACED: Need = (("test_placed",), f"the acpi_mp_cpu_die {_UNPLACED}: no TEST can be seen")
STOP_PLACED: Need = (("stop_placed",), "the stop_this_cpu and acpi_mp_stop_this_cpu probes were "
                     "not placed (the console's `tdxray-probes: not seen:` line): an AP's stop "
                     "cannot be seen, so every AP would look online at the jump")
CR4: Need = (("cr4_write",), "no cr4_write events")
MAILBOX: Need = (("mailbox",), "no mailbox_write events")
CPUS: Need = (("cpu", "mailbox"), "no cpu or mailbox events")
ACCESS: Need = (("mem_access",), "no mem_access events")
LOG: Need = (("log",), "no log events")

_NEEDS: dict[str, list[Need]] = {
    "K001": [KEXEC, CONVERSIONS, JUMP_SEEN],
    "K002": [KEXEC, GUEST_CONVERSIONS, JUMP_SEEN, MAPGPA_OR_HOST, ACCEPT_PLACED],
    "K003": [KEXEC, GUEST_CONVERSIONS, FINISH_SEEN, MAPGPA_PLACED, ACCEPT_PLACED],
    "K004": [KEXEC, CONVERSIONS, JUMP_SEEN],
    "K005": [KEXEC, MAPGPA],
    "K006": [KEXEC, MAPGPA, RETRY, FINISH_SEEN],
    "K007": [LOG],
    "C001": [CR4],
    "C002": [CR4],
    **{rule: [MAILBOX, WAKEUP_PLACED] for rule in ("M001", "M002", "M003", "M004", "M007")},
    **{rule: [MAILBOX, TEST_PLACED] for rule in ("M005", "M006")},
    "M008": [KEXEC, CPUS, JUMP_SEEN, STOP_PLACED],
    "G001": [MAPGPA, RETRY],
    "G002": [MAPGPA, RETRY],
    "G003": [MAPGPA],
    **{rule: [ACCEPT] for rule in ("G004", "G005")},
    "G006": [ACCEPT, ACCEPT_STATUS],
    "A001": [ACCESS],
    "A002": [ACCESS],
    "A003": [ACCESS, ACCEPT_STATE, ACCEPT_PLACED],
}


def plan(observed: Observed, judged: frozenset[str] = frozenset()
         ) -> tuple[list[str], list[tuple[str, str]]]:
    """(rules that run, [(rule skipped, why)]) in catalogue order. `judged`: rules the model
    judged from an effect even without their event kinds (C001 from the TD's death)."""
    run: list[str] = []
    skipped: list[tuple[str, str]] = []
    for rule in RULE_IDS:
        why = next((reason for attrs, reason in _NEEDS.get(rule, [])
                    if not any(getattr(observed, a) for a in attrs)), None)
        if why is None or rule in judged:
            run.append(rule)
        else:
            skipped.append((rule, why))
    return run, skipped
