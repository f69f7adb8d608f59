"""Host KVM tracepoints (FORMATS.md §2): what each line means to the model.

`kvm_exit` of a TD's TDVMCALL (the reasons KVM maps CPUID, HLT, port I/O, MSRs and MMIO to)
becomes a `tdvmcall` event, `kvm_vm_set_mem_attributes` a `convert` event, `kvm_page_fault`
(an EPT violation: the GPA with its shared bit, and whether it was a write) a `mem_access`;
every other event,
KVM or not, is kept as an unmodeled event of its own name with its fields as text in `extra`.
KVM does not trace the TDVMCALL's status: a `tdvmcall` from the host has status 0 (SUCCESS).

A TD's MapGPA reaches the host as `kvm_exit ... reason TDCALL` (KVM prints TDCALL for every
TDVMCALL leaf it does not turn into an instruction-like exit: tdcall_to_vmx_exit_reason() in
arch/x86/kvm/vmx/tdx.c, so the exit alone does not say MapGPA) and then one
`kvm_userspace_exit: reason KVM_EXIT_HYPERCALL (3)` per 2 MiB chunk (TDX_MAP_GPA_MAX_LEN: KVM
hands the VMM KVM_HC_MAP_GPA_RANGE, the one hypercall that exits to userspace): each such exit
is a `tdvmcall` of sub-function MapGPA, without operands (the tracepoint has none).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from tdxray.schema.constants import PAGE_SHIFT, Subfn

# VMX exit reason names (arch/x86/include/uapi/asm/vmx.h) of TDVMCALLs -> sub-function.
EXIT_SUBFN: dict[str, int] = {
    "CPUID": Subfn.CPUID, "HLT": Subfn.HLT, "IO_INSTRUCTION": Subfn.IO,
    "MSR_READ": Subfn.RDMSR, "MSR_WRITE": Subfn.WRMSR, "EPT_MISCONFIG": Subfn.MMIO,
}
SUBFN_EXIT: dict[int, str] = {v: k for k, v in EXIT_SUBFN.items()}
KVM_EXIT_HYPERCALL = 3  # include/uapi/linux/kvm.h
MEM_ATTR_PRIVATE = 1 << 3  # KVM_MEMORY_ATTRIBUTE_PRIVATE
PFERR_WRITE = 1 << 1

HEX = r"0x[0-9a-f]+"
FORMATS: dict[str, re.Pattern[str]] = {
    "kvm_exit": re.compile(
        r"vcpu (?P<vcpu>\d+) reason (?P<reason>\w+)(?: \w+)* rip 0x[0-9a-f]{1,16} "
        r"info1 0x[0-9a-f]{16} info2 0x[0-9a-f]{16} intr_info 0x[0-9a-f]{8} "
        r"error_code 0x[0-9a-f]{8}(?: requests 0x[0-9a-f]{16})?"),
    "kvm_entry": re.compile(
        r"vcpu (?P<vcpu>\d+), rip 0x[0-9a-f]{1,16}"
        r"(?: intr_info 0x[0-9a-f]{8} error_code 0x[0-9a-f]{8})?(?: ?\[immediate exit\])?"),
    "kvm_page_fault": re.compile(
        r"(?:vcpu (?P<vcpu>\d+) rip 0x[0-9a-f]{1,16} )?address (?:0x)?(?P<gpa>[0-9a-f]{1,16}) "
        r"error_code (?:0x)?(?P<code>[0-9a-f]{1,16})"),
    "kvm_vm_set_mem_attributes": re.compile(
        r"(?:0x)?(?P<start>[0-9a-f]{1,16}) -- (?:0x)?(?P<end>[0-9a-f]{1,16}) "
        r"\[0x(?P<attr>[0-9a-f]{1,16})\]"),
    "kvm_hypercall": re.compile(rf"nr {HEX} a0 {HEX} a1 {HEX} a2 {HEX} a3 {HEX}"),
    # include/trace/events/kvm.h: `reason %s (%d)`, the name from kvm_trace_exit_reason (a
    # value without a name prints as hex), or `restart`/`error` with the errno when KVM_RUN
    # failed
    "kvm_userspace_exit": re.compile(
        r"reason (?P<exit>KVM_EXIT_[A-Z0-9_]+|0x[0-9a-f]+|restart|error) \((?P<code>\d+)\)"),
}
# The TP_printk formats FORMATS.md §2 names (6.14+; older shapes are read too), for messages.
PRINTK: dict[str, str] = {
    "kvm_exit": "vcpu %u reason %s rip 0x%lx info1 0x%016llx info2 0x%016llx intr_info 0x%08x "
                "error_code 0x%08x[ requests 0x%016llx]",
    "kvm_entry": "vcpu %u, rip 0x%lx[ intr_info 0x%08x error_code 0x%08x][ [immediate exit]]",
    "kvm_page_fault": "vcpu %u rip 0x%lx address 0x%016llx error_code 0x%llx",
    "kvm_vm_set_mem_attributes": "%#016llx -- %#016llx [0x%lx]",
    "kvm_hypercall": "nr 0x%lx a0 0x%lx a1 0x%lx a2 0x%lx a3 0x%lx",
    "kvm_userspace_exit": "reason %s (%d)",
}
assert set(PRINTK) == set(FORMATS)
OFF_FORMAT = ("keep the kernel's print format (not the raw/hex/bin trace options, nor trace-cmd "
              "report -R), or pass --skip-bad-lines")


@dataclass
class Event:
    """One model event decoded from a text line (before it gets a seq)."""

    kind: str
    vcpu: int
    values: dict[str, Any] = field(default_factory=dict)


class FieldsError(ValueError):
    """A known event whose fields do not have the kernel's printk format."""


def unmodeled(name: str, fields: str, vcpu: int = 0) -> Event:
    return Event(name, vcpu, {"extra": json.dumps({"fields": fields})})


def kvm_event(name: str, fields: str, vcpu_of: dict[int, int]) -> Event:
    """The model event of a host tracepoint line; `vcpu_of` maps KVM vcpu ids to vCPU indices."""
    fmt = FORMATS.get(name)
    if fmt is None:
        return unmodeled(name, fields)
    m = fmt.fullmatch(fields)
    if m is None:
        raise FieldsError(f"{name}: fields do not match the kernel's format "
                          f"`{PRINTK[name]}`: {OFF_FORMAT}")
    groups = m.groupdict()
    vcpu = vcpu_of.get(int(groups["vcpu"]), int(groups["vcpu"])) if groups.get("vcpu") else 0
    if name == "kvm_exit" and m["reason"] in EXIT_SUBFN:
        return Event("tdvmcall", vcpu, {"subfn": EXIT_SUBFN[m["reason"]], "status": 0})
    if name == "kvm_vm_set_mem_attributes":
        start, end = int(m["start"], 16), int(m["end"], 16)
        if end < start or end >= 1 << (64 - PAGE_SHIFT):
            raise FieldsError(f"{name}: gfn range {start:#x} -- {end:#x} is not a range")
        return Event("convert", 0, {"gpa": start << PAGE_SHIFT,
                                    "size": (end - start) << PAGE_SHIFT,
                                    "to_private": bool(int(m["attr"], 16) & MEM_ATTR_PRIVATE)})
    if name == "kvm_userspace_exit":
        if m["exit"] == "KVM_EXIT_HYPERCALL":
            return Event("tdvmcall", 0, {"subfn": Subfn.MAP_GPA, "status": 0})
        return unmodeled(name, fields)
    if name == "kvm_page_fault":
        write = bool(int(m["code"], 16) & PFERR_WRITE)
        return Event("mem_access", vcpu, {"gpa": int(m["gpa"], 16), "write": write})
    return unmodeled(name, fields, vcpu)
