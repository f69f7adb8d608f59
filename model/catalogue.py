"""The divergence catalogue (TDX-KEXEC.md §5): stable rule ids, names, severities, meaning."""

from __future__ import annotations

from dataclasses import dataclass

SEVERITIES = ("fatal", "error", "warning", "info")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    severity: str
    summary: str


_RULES = (
    Rule("K001", "leaked-shared-memory", "error",
         "at the kexec jump a page is still shared: the next kernel will touch it as private"),
    Rule("K002", "pending-at-jump", "error",
         "at the jump a page converted back to private was never accepted and is not listed as "
         "unaccepted"),
    Rule("K003", "unshare-failed", "error",
         "during kexec_finish a range could not be made private (MapGPA failed or ACCEPT failed at "
         "4 KiB)"),
    Rule("K004", "kexec-finish-missing", "error",
         "jump with no kexec_finish in this generation while pages are shared (unfixed kernel)"),
    Rule("K005", "conversion-after-begin", "error",
         "a MapGPA starts after kexec_begin stopped conversions (other than finish's own)"),
    Rule("K006", "conversion-in-flight", "error",
         "a MapGPA operation is still open (RETRY pending) when kexec_finish starts"),
    Rule("K007", "accounting-mismatch", "warning",
         "the guest's shared-page accounting (nr_shared/nr_found) disagrees with the model"),
    Rule("C001", "cr4-mce-cleared", "fatal",
         "a CR4 write clears MCE: #VE, fatal in relocate_kernel"),
    Rule("C002", "cr4-forbidden-bit", "error",
         "a CR4 write sets a bit the TD may not set (#GP)"),
    Rule("M001", "mailbox-busy", "error",
         "a mailbox command is written while the previous one is unacknowledged"),
    Rule("M002", "mailbox-operands-missing", "error",
         "a mailbox command is written without its apic_id (and, for WAKEUP, vector)"),
    Rule("M003", "wakeup-online-cpu", "fatal",
         "WAKEUP names an AP that is already online: it never answers"),
    Rule("M004", "unknown-apic-id", "error", "a mailbox command names an APIC id the TD lacks"),
    Rule("M005", "test-not-acknowledged", "error",
         "a TEST command is not acknowledged within 1 s (v1 mailbox)"),
    Rule("M006", "test-on-v0", "error", "TEST command on a version-0 mailbox"),
    Rule("M007", "stale-wakeup", "fatal",
         "the new kernel wakes an AP the old kernel left spinning in kernel code"),
    Rule("M008", "cpu-not-parked", "warning",
         "at the jump another vCPU is online or stopped in kernel code: lost to the next kernel"),
    Rule("G001", "mapgpa-resume-skipped", "error",
         "after a MapGPA RETRY the continuation does not start at the resume GPA (R11)"),
    Rule("G002", "mapgpa-retry-exhausted", "error",
         "the guest goes on with a MapGPA operation it should have abandoned"),
    Rule("G003", "mapgpa-status", "error",
         "the MapGPA status differs from what its operands allow, or R11 is outside the range"),
    Rule("G004", "accept-status", "error", "the ACCEPT status differs from the page state"),
    Rule("G005", "accept-shared", "warning", "ACCEPT of a shared page (no MapGPA to private)"),
    Rule("G006", "double-accept", "warning", "ACCEPT answered TDX_PAGE_ALREADY_ACCEPTED"),
    Rule("A001", "private-access-to-shared", "fatal",
         "a private-mapping access to a shared page (unrecoverable TD exit)"),
    Rule("A002", "shared-access-to-private", "warning",
         "a shared-mapping access to a private page (#VE, recoverable)"),
    Rule("A003", "access-to-pending", "error",
         "a private-mapping access to a page that is not accepted"),
    Rule("T001", "time-backwards", "warning",
         "timestamps go backwards on one vCPU within one generation"),
    Rule("T002", "unmodeled", "info",
         "an event kind, leaf or sub-function the model does not know"),
    Rule("T003", "coverage", "info", "a check could not run: the trace lacks its event kinds"),
    Rule("T004", "config-mismatch", "error",
         "an event contradicts the TD configuration (vCPU, GPAW, RAM)"),
)

RULES: dict[str, Rule] = {rule.id: rule for rule in _RULES}
RULE_IDS: tuple[str, ...] = tuple(RULES)
