"""The divergence catalogue as TDX-KEXEC.md §5 writes it (id: name, severity), copied here so that
the spec cases are judged against the spec's table, not against the product's own catalogue."""

from __future__ import annotations

SPEC_RULES: dict[str, tuple[str, str]] = {
    "K001": ("leaked-shared-memory", "error"),
    "K002": ("pending-at-jump", "error"),
    "K003": ("unshare-failed", "error"),
    "K004": ("kexec-finish-missing", "error"),
    "K005": ("conversion-after-begin", "error"),
    "K006": ("conversion-in-flight", "error"),
    "K007": ("accounting-mismatch", "warning"),
    "C001": ("cr4-mce-cleared", "fatal"),
    "C002": ("cr4-forbidden-bit", "error"),
    "M001": ("mailbox-busy", "error"),
    "M002": ("mailbox-operands-missing", "error"),
    "M003": ("wakeup-online-cpu", "fatal"),
    "M004": ("unknown-apic-id", "error"),
    "M005": ("test-not-acknowledged", "error"),
    "M006": ("test-on-v0", "error"),
    "M007": ("stale-wakeup", "fatal"),
    "M008": ("cpu-not-parked", "warning"),
    "G001": ("mapgpa-resume-skipped", "error"),
    "G002": ("mapgpa-retry-exhausted", "error"),
    "G003": ("mapgpa-status", "error"),
    "G004": ("accept-status", "error"),
    "G005": ("accept-shared", "warning"),
    "G006": ("double-accept", "warning"),
    "A001": ("private-access-to-shared", "fatal"),
    "A002": ("shared-access-to-private", "warning"),
    "A003": ("access-to-pending", "error"),
    "T001": ("time-backwards", "warning"),
    "T002": ("unmodeled", "info"),
    "T004": ("config-mismatch", "error"),
    "T003": ("coverage", "info"),
}
