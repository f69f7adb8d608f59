"""Help for each rule of the catalogue: what it means, what the kernel does right, an example.

Shown by `tdxray rules K001`, carried by SARIF rules (`help`, `helpUri`), and written out as
docs/rules.md (`tdxray rules --format markdown`; a test keeps the file in step).
"""

from __future__ import annotations

from dataclasses import dataclass

from tdxray.model.catalogue import RULES, Rule

DOCS_URL = "https://github.com/tdxray/tdxray/blob/main/docs/rules.md"
AREAS = {"K": "kexec", "C": "cr4", "M": "mailbox", "G": "ghci", "A": "memory-access",
         "T": "trace"}


@dataclass(frozen=True)
class RuleHelp:
    fix: str  # what a correct kernel does (the fix, where it lives)
    example: str  # events (JSON Lines) that trigger it


_J = '{"kind": "kexec", "phase": "jump"}'
HELP: dict[str, RuleHelp] = {
    "K001": RuleHelp(
        "Before the jump, enc_kexec_finish (tdx_kexec_finish in arch/x86/coco/tdx/tdx.c) walks the "
        "direct map and converts every shared range back to private (MapGPA without the shared "
        "bit, then ACCEPT). Find who shared the range (the causing MapGPA) and why it was not "
        "converted back.",
        '{"kind": "map_gpa", "gpa": "0x8000001a0000", "size": 24576, "status": "0x0"}\n'
        '{"kind": "kexec", "phase": "finish"}\n' + _J),
    "K002": RuleHelp(
        "A page converted back to private must be accepted (TDG.MEM.PAGE.ACCEPT) before the jump, "
        "or be listed in the unaccepted-memory table handed to the next kernel (on a lazy-accept "
        "TD: the pages never accepted since boot, so only a page accepted once is K002).",
        '{"kind": "map_gpa", "gpa": "0x1a0000", "size": 4096, "status": "0x0"}\n' + _J),
    "K003": RuleHelp(
        "tdx_kexec_finish prints \"Failed to unshare range\" and leaves the range shared: the "
        "next kernel will fault on it. Make the MapGPA succeed (honour RETRY) and fall back to "
        "4 KiB ACCEPTs on a size mismatch.",
        '{"kind": "kexec", "phase": "finish"}\n'
        '{"kind": "map_gpa", "gpa": "0x1a0000", "size": 4096, "status": "0x8000000000000000"}'),
    "K004": RuleHelp(
        "The kernel lacks TDX kexec support (Linux 6.11 and later have it: "
        "x86_platform.guest.enc_kexec_begin/finish). Update the guest kernel, or do not kexec "
        "while memory is shared.",
        '{"kind": "map_gpa", "gpa": "0x8000001a0000", "size": 4096, "status": "0x0"}\n' + _J),
    "K005": RuleHelp(
        "After enc_kexec_begin, set_memory_decrypted/encrypted must fail with -EBUSY: the "
        "conversion lock is held for write. A MapGPA after begin means a path bypasses it.",
        '{"kind": "kexec", "phase": "begin"}\n'
        '{"kind": "map_gpa", "gpa": "0x8000001a0000", "size": 4096, "status": "0x0"}'),
    "K006": RuleHelp(
        "enc_kexec_begin waits for conversions in flight (the write lock); a MapGPA operation "
        "still in RETRY when finish starts races with the walk of the direct map.",
        '{"kind": "map_gpa", "gpa": "0x8000001a0000", "size": 8192, "status": "0x1", '
        '"resume_gpa": "0x8000001a1000"}\n{"kind": "kexec", "phase": "finish"}'),
    "K007": RuleHelp(
        "tdx_kexec_finish compares nr_shared (kept by tdx_enc_status_changed) with the shared "
        "pages it finds; a difference means a conversion was not accounted.",
        '{"kind": "log", "text": "tdx: nr_shared = 6, nr_found = 4"}'),
    "C001": RuleHelp(
        "relocate_kernel must keep CR4.MCE set in a TD (Linux: \"x86/kexec: Keep CR4.MCE set "
        "during kexec for TDX guest\"): clearing it raises a #VE that nothing can handle there.",
        '{"kind": "cr4_write", "old": "0x370ee0", "new": "0x20", "site": "relocate_kernel"}'),
    "C002": RuleHelp(
        "Only set CR4 bits the TD's ATTRIBUTES and XFAM allow (KL never; PKS needs ATTRIBUTES "
        "bit 30; PKE, CET, UINTR need XFAM bits 9, 11-12, 14).",
        '{"kind": "cr4_write", "old": "0x370ee0", "new": "0x2370ee0"}'),
    "M001": RuleHelp(
        "Wait for the AP to acknowledge (command back to 0) before writing the next command to "
        "the ACPI MADT wakeup mailbox.",
        '{"kind": "mailbox_write", "field": "command", "value": 1}\n'
        '{"kind": "mailbox_write", "field": "command", "value": 1}'),
    "M002": RuleHelp(
        "Write apic_id (and the wakeup vector for WAKEUP) before the command "
        "(arch/x86/kernel/acpi/madt_wakeup.c).",
        '{"kind": "mailbox_write", "field": "command", "value": 1}'),
    "M003": RuleHelp(
        "Do not WAKEUP an AP that is online: it is not polling the mailbox and never answers.",
        '{"kind": "cpu", "apic_id": 1, "action": "online"}\n'
        '{"kind": "mailbox_write", "field": "apic_id", "value": 1}\n'
        '{"kind": "mailbox_write", "field": "command", "value": 1}'),
    "M004": RuleHelp(
        "Name only APIC ids of the TD's configuration in mailbox commands.",
        '{"kind": "mailbox_write", "field": "apic_id", "value": 9}'),
    "M005": RuleHelp(
        "On a version-1 mailbox an AP parked through the reset vector acknowledges TEST within "
        "1 s; no answer means it is not parked (acpi_mp_cpu_die waits for it).",
        '{"kind": "mailbox_write", "field": "command", "value": 2}'),
    "M006": RuleHelp(
        "TEST exists only in mailbox version 1; a version-0 mailbox cannot take CPUs back, so "
        "do not offline them through it.",
        '{"kind": "mailbox_write", "field": "command", "value": 2}'),
    "M007": RuleHelp(
        "An AP the previous kernel left spinning in its own code cannot be woken: with a "
        "version-1 mailbox the old kernel must park APs through the reset vector "
        "(acpi_mp_stop_this_cpu) before the jump.",
        '{"kind": "cpu", "apic_id": 1, "action": "stopped"}\n' + _J + '\n'
        '{"kind": "mailbox_write", "field": "command", "value": 1}'),
    "M008": RuleHelp(
        "Before the jump every secondary vCPU must be parked (mailbox v1, reset vector); with a "
        "version-0 mailbox they are lost to the next kernel: boot it with one CPU or use v1.",
        '{"kind": "cpu", "apic_id": 1, "action": "stopped"}\n' + _J),
    "G001": RuleHelp(
        "After TDG.VP.VMCALL<MapGPA> answers RETRY, continue at the GPA the VMM returned in R11 "
        "(tdx_map_gpa in arch/x86/coco/tdx/tdx.c).",
        '{"kind": "map_gpa", "gpa": "0x8000001a0000", "size": 8192, "status": "0x1", '
        '"resume_gpa": "0x8000001a1000"}\n'
        '{"kind": "map_gpa", "gpa": "0x8000001a1800", "size": 2048, "status": "0x0"}'),
    "G002": RuleHelp(
        "tdx_map_gpa gives up after three RETRYs without progress, or on an R11 outside the "
        "range; going on loops against a VMM that will not convert the range.",
        '{"kind": "map_gpa", "gpa": "0x8000001a0000", "size": 8192, "status": "0x1", '
        '"resume_gpa": "0x8000001a0000"}  (four times)'),
    "G003": RuleHelp(
        "The recorded status is not what the GHCI allows for these operands (for example "
        "SUCCESS for an unaligned range): the recorder or the VMM is wrong.",
        '{"kind": "map_gpa", "gpa": "0x8000001a0800", "size": 4096, "status": "0x0"}'),
    "G004": RuleHelp(
        "The recorded ACCEPT status contradicts the page's state (for example SUCCESS on an "
        "accepted page): the recorder or the TDX module model is wrong.",
        '{"kind": "accept", "gpa": "0x1a0000", "level": 0, "status": "0x0"}  (page accepted)'),
    "G005": RuleHelp(
        "Convert a page to private (MapGPA without the shared bit) before accepting it.",
        '{"kind": "accept", "gpa": "0x1a0000", "level": 0, "status": "0x0"}  (page shared)'),
    "G006": RuleHelp(
        "Accept a page once; TDX_PAGE_ALREADY_ACCEPTED means the kernel lost track of it "
        "(harmless, but a bookkeeping bug).",
        '{"kind": "accept", "gpa": "0x1a0000", "level": 0, "status": "0xb0a00000000"}'),
    "A001": RuleHelp(
        "Never touch a shared page through the private mapping: in kdump, do not read the old "
        "kernel's shared pages through /proc/vmcore (the crash kernel must skip them).",
        '{"kind": "mem_access", "gpa": "0x1a0000", "write": false}  (page shared)'),
    "A002": RuleHelp(
        "A shared-mapping access to a private page raises a #VE; convert the page first.",
        '{"kind": "mem_access", "gpa": "0x8000001a0000", "write": true}  (page private)'),
    "A003": RuleHelp(
        "Accept a page (TDG.MEM.PAGE.ACCEPT) before its first private access; with lazy accept, "
        "the unaccepted-memory table must list what is still pending.",
        '{"kind": "mem_access", "gpa": "0x1a0000", "write": true}  (page pending)'),
    "T001": RuleHelp(
        "Timestamps of one vCPU must not go back within a kernel generation; check the "
        "recorder's clock (trace-cmd: the same clock on every CPU buffer).",
        '{"seq": 7, "ts_ns": 2000, "vcpu": 0, ...}\n{"seq": 8, "ts_ns": 1000, "vcpu": 0, ...}'),
    "T002": RuleHelp(
        "Nothing to fix in the kernel: the model does not know this event kind, leaf or "
        "sub-function, so it cannot judge it. Informational.",
        '{"kind": "foo", "bar": 1}'),
    "T003": RuleHelp(
        "Record the missing event kinds (for example guest kprobes for CR4 writes: "
        "`tdxray probes`) or accept that the rule is not checked. Informational.",
        "a host-only trace: no cr4_write events, so C001 and C002 are skipped"),
    "T004": RuleHelp(
        "The event contradicts the TD configuration in the trace header (a vCPU it lacks, a "
        "GPA beyond GPAW, a conversion outside RAM): fix the header or the recorder.",
        '{"kind": "map_gpa", "gpa": "0x2000000000000", "size": 4096, "status": "0x0"}'),
}


def anchor(rule: Rule) -> str:
    """The docs/rules.md heading anchor of the rule (GitHub's slug of '<id> <name>')."""
    return f"{rule.id}-{rule.name}".lower()


def help_uri(rule: Rule) -> str:
    return f"{DOCS_URL}#{anchor(rule)}"


def tags(rule: Rule) -> list[str]:
    return ["tdx", AREAS[rule.id[0]], rule.severity]


def help_text(rule: Rule) -> str:
    h = HELP[rule.id]
    return (f"{rule.id} {rule.name} ({rule.severity}): {rule.summary}.\n\n"
            f"Fix: {h.fix}\n\nExample (events, JSON Lines):\n{h.example}\n")


def help_markdown(rule: Rule, level: int = 2) -> str:
    h = HELP[rule.id]
    return (f"{'#' * level} {rule.id} {rule.name}\n\n"
            f"**{rule.severity}**: {rule.summary}.\n\n"
            f"**Fix**: {h.fix}\n\n"
            f"**Example** (events, JSON Lines):\n\n```\n{h.example}\n```\n")


def rules_markdown() -> str:
    """docs/rules.md: every rule's help."""
    head = ("# The divergence catalogue\n\n"
            "Every rule `tdxray check` reports, with what a correct kernel does and a minimal "
            "example. `tdxray rules ID` prints one of them; this page is written by "
            "`tdxray rules --format markdown`.\n")
    return head + "".join("\n" + help_markdown(rule) for rule in RULES.values())
