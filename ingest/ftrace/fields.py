"""The fields of the hot host events, checked byte for byte against the kernel's printk formats
and decoded (compiled; called by the scan for each line of those names):

    kvm_exit        vcpu %u reason %s rip 0x%lx info1 0x%016llx info2 0x%016llx
                    intr_info 0x%08x error_code 0x%08x[ requests 0x%016llx]
    kvm_entry       vcpu %u, rip 0x%lx[ intr_info 0x%08x error_code 0x%08x][[immediate exit]]
                    (6.14+ print intr_info and error_code; the kernel appends `[immediate exit]`
                    with no space, one space before it is also taken)
    kvm_page_fault  vcpu %u rip 0x%lx address 0x%016llx error_code 0x%llx
    kvm_vm_set_mem_attributes  0x%016llx -- 0x%016llx [0x%lx]

A line that does not fit exactly is not decoded here (the per-line decoder takes it).
"""

from __future__ import annotations

import numpy as np

from tdxray.ingest.ftrace.byte_steps import (
    DIGIT,
    HEX_VALUE,
    LOWER_HEX,
    WORD,
    decimal,
    lit,
    number,
    run,
    spells,
    table,
    template,
)
from tdxray.ingest.ftrace.kvm import EXIT_SUBFN, MEM_ATTR_PRIVATE
from tdxray.ingest.jit import kernel
from tdxray.schema.constants import PAGE_SHIFT

_VCPU = lit("vcpu ")
_REASON = lit(" reason ")
_RIP = lit(" rip 0x")
_ENTRY_RIP = lit(", rip 0x")
# Fixed-width stretches of the formats: `#` stands for a lower-case hex digit.
_EXIT_TAIL = lit(" info1 0x" + "#" * 16 + " info2 0x" + "#" * 16 + " intr_info 0x" + "#" * 8
                 + " error_code 0x" + "#" * 8)
_REQUESTS = lit(" requests 0x" + "#" * 16)
_ERROR = " error_code 0x"
_FAULT_ADDRESS = lit(" address 0x" + "#" * 16 + _ERROR)
_IMMEDIATE = lit("[immediate exit]")
_ENTRY_INFO = lit(" intr_info 0x" + "#" * 8 + " error_code 0x" + "#" * 8)
_0X = lit("0x")
_DASHES = lit(" -- ")
_OPEN = lit(" [")
_GFN_END = np.uint64(1 << (64 - PAGE_SHIFT))
# Passed to the kernel, not read as globals: numba freezes globals into its on-disk cache,
# which only notices changes to this file.
REASONS = (*table(tuple(EXIT_SUBFN)), np.array(list(EXIT_SUBFN.values()), np.int64))


@kernel
def vcpu_prefix(buf: np.ndarray, f: int, e: int) -> tuple[int, int]:
    """(digits, value) of `vcpu <digits>` at f (digits 0 if not there)."""
    if not spells(buf, f, e, _VCPU):
        return 0, 0
    digits = run(buf, f + 5, e, 11, DIGIT)
    if digits < 1 or digits > 10:
        return 0, 0
    return digits, decimal(buf, f + 5, digits)


@kernel
def exit_fields(buf: np.ndarray, f: int, e: int, reasons: np.ndarray, reason_lens: np.ndarray,
          subfns: np.ndarray) -> tuple[bool, int, int]:
    """(ok, vcpu, subfn or -1) of kvm_exit fields at [f, e)."""
    digits, vcpu = vcpu_prefix(buf, f, e)
    p = f + 5 + digits
    if digits == 0 or not spells(buf, p, e, _REASON):
        return False, 0, -1
    rs = p + len(_REASON)
    reason = run(buf, rs, e, 33, WORD)
    p = rs + reason
    if reason < 1 or reason > 32 or not spells(buf, p, e, _RIP):
        return False, 0, -1
    p += len(_RIP)
    rip = run(buf, p, e, 17, LOWER_HEX)
    if rip < 1 or rip > 16:
        return False, 0, -1
    p += rip
    if not template(buf, p, e, _EXIT_TAIL):
        return False, 0, -1
    p += len(_EXIT_TAIL)
    if p != e and not (template(buf, p, e, _REQUESTS) and p + len(_REQUESTS) == e):
        return False, 0, -1
    subfn = -1
    for k in range(len(subfns)):
        if reason_lens[k] == reason and spells(buf, rs, e, reasons[k, :reason]):
            subfn = subfns[k]
    return True, vcpu, subfn


@kernel
def entry_fields(buf: np.ndarray, f: int, e: int) -> tuple[bool, int]:
    """(ok, vcpu) of kvm_entry fields at [f, e)."""
    digits, vcpu = vcpu_prefix(buf, f, e)
    p = f + 5 + digits
    if digits == 0 or not spells(buf, p, e, _ENTRY_RIP):
        return False, 0
    p += len(_ENTRY_RIP)
    rip = run(buf, p, e, 17, LOWER_HEX)
    p += rip
    if rip < 1 or rip > 16:
        return False, 0
    if template(buf, p, e, _ENTRY_INFO):
        p += len(_ENTRY_INFO)
    if p == e:
        return True, vcpu
    if buf[p] == 32:
        p += 1
    return spells(buf, p, e, _IMMEDIATE) and p + len(_IMMEDIATE) == e, vcpu


@kernel
def fault_fields(buf: np.ndarray, f: int, e: int) -> tuple[bool, int, np.uint64, bool]:
    """(ok, vcpu, gpa, write) of kvm_page_fault fields at [f, e)."""
    digits, vcpu = vcpu_prefix(buf, f, e)
    p = f + 5 + digits
    if digits == 0 or not spells(buf, p, e, _RIP):
        return False, 0, np.uint64(0), False
    p += len(_RIP)
    rip = run(buf, p, e, 17, LOWER_HEX)
    if rip < 1 or rip > 16:
        return False, 0, np.uint64(0), False
    p += rip
    if not template(buf, p, e, _FAULT_ADDRESS):
        return False, 0, np.uint64(0), False
    p += len(_FAULT_ADDRESS)
    gpa = number(buf, p - len(_ERROR) - 16, 16, 16)
    code = run(buf, p, e, 17, LOWER_HEX)
    if code < 1 or code > 16 or p + code != e:
        return False, 0, np.uint64(0), False
    return True, vcpu, gpa, (HEX_VALUE[buf[e - 1]] & np.uint64(2)) != 0


@kernel
def plain_fields(buf: np.ndarray, f: int, e: int) -> bool:
    """Printable ASCII without a quote or backslash: JSON as it is."""
    bad = False
    for p in range(f, e):
        b = buf[p]
        bad |= (b < 32) | (b > 126) | (b == 34) | (b == 92)
    return not bad


@kernel
def hex_number(buf: np.ndarray, p: int, e: int, prefix: bool) -> tuple[int, np.uint64]:
    """(end or -1, value) of 1..16 lower-case hex digits at p, after a `0x` if `prefix`, or
    optionally after one if not."""
    if spells(buf, p, e, _0X):
        p += 2
    elif prefix:
        return -1, np.uint64(0)
    digits = run(buf, p, e, 17, LOWER_HEX)
    if digits < 1 or digits > 16:
        return -1, np.uint64(0)
    return p + digits, number(buf, p, digits, 16)


@kernel
def attributes_fields(buf: np.ndarray, f: int, e: int) -> tuple[bool, np.uint64, np.uint64, bool]:
    """(ok, gpa, size, to_private) of kvm_vm_set_mem_attributes fields at [f, e):
    `0x%016llx -- 0x%016llx [0x%lx]` (gfns, end exclusive; attribute bit 3: private)."""
    p, start = hex_number(buf, f, e, False)
    if p < 0 or not spells(buf, p, e, _DASHES):
        return False, np.uint64(0), np.uint64(0), False
    p, end = hex_number(buf, p + len(_DASHES), e, False)
    if p < 0 or not spells(buf, p, e, _OPEN):
        return False, np.uint64(0), np.uint64(0), False
    p, attrs = hex_number(buf, p + len(_OPEN), e, True)
    if p < 0 or p + 1 != e or buf[p] != 93 or end < start or end >= _GFN_END:
        return False, np.uint64(0), np.uint64(0), False
    return (True, start << np.uint64(PAGE_SHIFT), (end - start) << np.uint64(PAGE_SHIFT),
            (attrs & np.uint64(MEM_ATTR_PRIVATE)) != 0)
