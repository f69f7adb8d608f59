"""The one table of TDX, GHCI and ACPI constants every layer uses.

Numbers come from TDX-KEXEC.md §2 (the GHCI and TDX module ABI, the ACPI MADT
multiprocessor-wakeup structure). Nothing else in tdxray spells these numbers.
"""

from __future__ import annotations

from enum import IntEnum

PAGE_SIZE = 0x1000
PAGE_SHIFT = 12

# --- TDCALL leaves (RAX) ----------------------------------------------------------------------


class Leaf(IntEnum):
    VP_VMCALL = 0
    VP_INFO = 1
    MR_RTMR_EXTEND = 2
    VP_VEINFO_GET = 3
    MR_REPORT = 4
    VP_CPUIDVE_SET = 5
    MEM_PAGE_ACCEPT = 6
    VM_RD = 7
    VM_WR = 8
    SYS_RD = 11
    SERVTD_RD = 18
    SERVTD_WR = 20
    MR_VERIFYREPORT = 22
    MEM_PAGE_ATTR_RD = 23
    MEM_PAGE_ATTR_WR = 24
    VP_ENTER = 25
    VP_INVEPT = 26
    VP_INVGLA = 27


LEAF_NAMES: dict[int, str] = {
    Leaf.VP_VMCALL: "TDG.VP.VMCALL",
    Leaf.VP_INFO: "TDG.VP.INFO",
    Leaf.MR_RTMR_EXTEND: "TDG.MR.RTMR.EXTEND",
    Leaf.VP_VEINFO_GET: "TDG.VP.VEINFO.GET",
    Leaf.MR_REPORT: "TDG.MR.REPORT",
    Leaf.VP_CPUIDVE_SET: "TDG.VP.CPUIDVE.SET",
    Leaf.MEM_PAGE_ACCEPT: "TDG.MEM.PAGE.ACCEPT",
    Leaf.VM_RD: "TDG.VM.RD",
    Leaf.VM_WR: "TDG.VM.WR",
    Leaf.SYS_RD: "TDG.SYS.RD",
    Leaf.SERVTD_RD: "TDG.SERVTD.RD",
    Leaf.SERVTD_WR: "TDG.SERVTD.WR",
    Leaf.MR_VERIFYREPORT: "TDG.MR.VERIFYREPORT",
    Leaf.MEM_PAGE_ATTR_RD: "TDG.MEM.PAGE.ATTR.RD",
    Leaf.MEM_PAGE_ATTR_WR: "TDG.MEM.PAGE.ATTR.WR",
    Leaf.VP_ENTER: "TDG.VP.ENTER",
    Leaf.VP_INVEPT: "TDG.VP.INVEPT",
    Leaf.VP_INVGLA: "TDG.VP.INVGLA",
}

# --- TDX module statuses (compare by the high 32 bits only) -----------------------------------

TDX_SUCCESS = 0x0000000000000000
TDX_OPERAND_INVALID = 0xC000010000000000
TDX_OPERAND_BUSY = 0x8000020000000000
TDX_PAGE_ALREADY_ACCEPTED = 0x00000B0A00000000
TDX_PAGE_SIZE_MISMATCH = 0xC0000B0B00000000

TDX_STATUS_NAMES: dict[int, str] = {
    TDX_SUCCESS: "TDX_SUCCESS",
    TDX_OPERAND_INVALID: "TDX_OPERAND_INVALID",
    TDX_OPERAND_BUSY: "TDX_OPERAND_BUSY",
    TDX_PAGE_ALREADY_ACCEPTED: "TDX_PAGE_ALREADY_ACCEPTED",
    TDX_PAGE_SIZE_MISMATCH: "TDX_PAGE_SIZE_MISMATCH",
}


def tdx_status_class(status: int) -> int:
    """The class/code part of a TDX module status (the low 32 bits are an operand id)."""
    return status & 0xFFFFFFFF00000000


def tdx_status_name(status: int) -> str:
    name = TDX_STATUS_NAMES.get(tdx_status_class(status))
    if name is None:
        return f"0x{status:016x}"
    detail = status & 0xFFFFFFFF
    return f"{name}(0x{detail:x})" if detail else name


# --- ACCEPT levels (RCX bits 2:0) ---------------------------------------------------------------

ACCEPT_LEVEL_MASK = 0x7
ACCEPT_LEVEL_SIZES: dict[int, int] = {0: 0x1000, 1: 0x200000, 2: 0x40000000}
ACCEPT_LEVEL_NAMES: dict[int, str] = {0: "4K", 1: "2M", 2: "1G"}

# --- TDG.VP.VMCALL sub-functions (R11) and statuses (R10 out) -----------------------------------


class Subfn(IntEnum):
    CPUID = 10
    HLT = 12
    IO = 30
    RDMSR = 31
    WRMSR = 32
    MMIO = 48  # EPT violation
    GET_TD_VM_CALL_INFO = 0x10000
    MAP_GPA = 0x10001
    GET_QUOTE = 0x10002
    REPORT_FATAL_ERROR = 0x10003
    SETUP_EVENT_NOTIFY_INTERRUPT = 0x10004
    SERVICE = 0x10005


SUBFN_NAMES: dict[int, str] = {
    Subfn.CPUID: "CPUID",
    Subfn.HLT: "HLT",
    Subfn.IO: "IO",
    Subfn.RDMSR: "RDMSR",
    Subfn.WRMSR: "WRMSR",
    Subfn.MMIO: "MMIO",
    Subfn.GET_TD_VM_CALL_INFO: "GetTdVmCallInfo",
    Subfn.MAP_GPA: "MapGPA",
    Subfn.GET_QUOTE: "GetQuote",
    Subfn.REPORT_FATAL_ERROR: "ReportFatalError",
    Subfn.SETUP_EVENT_NOTIFY_INTERRUPT: "SetupEventNotifyInterrupt",
    Subfn.SERVICE: "Service",
}

TDVMCALL_SUCCESS = 0
TDVMCALL_RETRY = 1
TDVMCALL_INVALID_OPERAND = 0x8000000000000000
TDVMCALL_ALIGN_ERROR = 0x8000000000000002
TDVMCALL_SUBFUNC_UNSUPPORTED = 0x8000000000000003

TDVMCALL_STATUS_NAMES: dict[int, str] = {
    TDVMCALL_SUCCESS: "SUCCESS",
    TDVMCALL_RETRY: "RETRY",
    TDVMCALL_INVALID_OPERAND: "INVALID_OPERAND",
    TDVMCALL_ALIGN_ERROR: "ALIGN_ERROR",
    TDVMCALL_SUBFUNC_UNSUPPORTED: "SUBFUNC_UNSUPPORTED",
}


def tdvmcall_status_name(status: int) -> str:
    return TDVMCALL_STATUS_NAMES.get(status, f"0x{status:x}")


MAPGPA_MAX_NO_PROGRESS = 3  # consecutive no-progress RETRYs before the kernel gives up
KVM_MAPGPA_CHUNK = 0x200000  # KVM converts in 2 MiB chunks and may stop between them

# --- CR4 bits -----------------------------------------------------------------------------------


class Cr4(IntEnum):
    PAE = 5
    MCE = 6
    PGE = 7
    LA57 = 12
    VMXE = 13
    SMXE = 14
    KL = 19
    PKE = 22
    CET = 23
    PKS = 24
    UINTR = 25


# Bits the examples and real CR4 values carry that the model does not judge, named for display.
CR4_DISPLAY_BITS: dict[int, str] = {
    0: "VME", 1: "PVI", 2: "TSD", 3: "DE", 4: "PSE", 5: "PAE", 6: "MCE", 7: "PGE", 8: "PCE",
    9: "OSFXSR", 10: "OSXMMEXCPT", 11: "UMIP", 12: "LA57", 13: "VMXE", 14: "SMXE", 16: "FSGSBASE",
    17: "PCIDE", 18: "OSXSAVE", 19: "KL", 20: "SMEP", 21: "SMAP", 22: "PKE", 23: "CET", 24: "PKS",
    25: "UINTR",
}


def cr4_bit(bit: Cr4) -> int:
    return 1 << int(bit)


def cr4_names(value: int) -> list[str]:
    """Names of the set bits of a CR4 value, lowest first (unknown bits as `bitN`)."""
    names = []
    for bit in range(64):
        if value >> bit & 1:
            names.append(CR4_DISPLAY_BITS.get(bit, f"bit{bit}"))
    return names


# TD ATTRIBUTES and XFAM bits that CR4 bits depend on (C002).
TD_ATTR_PKS = 1 << 30
XFAM_PK = 1 << 9
XFAM_CET = (1 << 11) | (1 << 12)
XFAM_ULI = 1 << 14

# --- ACPI MADT multiprocessor wakeup ------------------------------------------------------------

MADT_MP_WAKEUP_TYPE = 16
MAILBOX_COMMAND_NONE = 0
MAILBOX_COMMAND_WAKEUP = 1
MAILBOX_COMMAND_TEST = 2
MAILBOX_COMMAND_NAMES: dict[int, str] = {0: "NONE", 1: "WAKEUP", 2: "TEST"}
MAILBOX_TEST_TIMEOUT_NS = 1_000_000_000
MAILBOX_FIELDS = ("command", "apic_id", "wakeup_vector")

# --- Event vocabulary (FORMATS.md §1) -----------------------------------------------------------

KEXEC_PHASES = ("load", "shutdown", "begin", "finish", "jump", "boot", "crash")
CPU_ACTIONS = ("woken", "parked", "stopped", "online")
MEMORY_MODES = ("accepted", "lazy")

# Console lines the model reads (TDX-KEXEC.md §3, FORMATS.md §2).
# Host tracepoints of the TDVMCALL exits KVM handles itself (FORMATS.md §2): background
# traffic of the TDVMCALL class, kept as events of their own name, never unmodeled (T002).
# kvm_hypercall is a TD's KVM hypercall: a TDVMCALL with R10 != 0, known in JSONL too
HOST_TDVMCALL_KINDS = ("kvm_mmio", "kvm_pio", "kvm_msr", "kvm_cpuid", "kvm_hypercall")
# QEMU trace events of FORMATS.md §3 the model knows ("other lines are kept as unmodeled
# events"): the MapGPA hypercall and the memory fault QEMU receives, each followed by the
# kvm_convert_memory that is the model's `convert` event; kept as is, never unmodeled (T002)
QEMU_CONVERSION_REQUEST_KINDS = ("kvm_hc_map_gpa_range", "kvm_memory_fault")
LOG_SHUTDOWN_MARKER = "kexec_core: Starting new kernel"
LOG_BOOT_MARKER = "Linux version "
LOG_ACCOUNTING_OFF = "shared page accounting is off"
LOG_NR_SHARED = "nr_shared = "
LOG_UNSHARE_FAILED = "Failed to unshare range"
LOG_STOP_FAILED = "Failed to stop shared<->private conversions"


def shared_bit(gpaw: int) -> int:
    """The shared bit of a GPA: bit GPAW-1."""
    return 1 << (gpaw - 1)
