"""Turn the lines of the tdxray guest probes (kprobe.recipe) into model events.

An entry probe and its return probe on the same CPU make one event (MapGPA, ACCEPT); the
mailbox probes make the writes the kernel does in that function. Limits (docs/real-guests.md):
the functions return a bool, so a failed MapGPA is INVALID_OPERAND; a failed
`tdx_accept_memory` is one 4 KiB ACCEPT at the range's start answered OPERAND_INVALID (what the
kernel leaves behind: try_accept_one() tries 1G, 2M, then 4 KiB at the first page not yet
accepted and tdx_accept_memory() returns false when the 4 KiB one fails, without saying which
page that was); `native_write_cr4` gets only the new value, so the old one is the CPU's
previous write (the first write on a CPU shows no change).
"""

from __future__ import annotations

import re

from tdxray.ingest.ftrace.kvm import Event, FieldsError
from tdxray.ingest.kprobe.recipe import CPU_ACTION_OF, PHASE_OF, PROBE_BY_EVENT
from tdxray.schema.constants import (
    ACCEPT_LEVEL_MASK,
    ACCEPT_LEVEL_SIZES,
    LOG_BOOT_MARKER,
    MAILBOX_COMMAND_TEST,
    MAILBOX_COMMAND_WAKEUP,
    MAILBOX_TEST_TIMEOUT_NS,
    TDVMCALL_INVALID_OPERAND,
    TDVMCALL_RETRY,
    TDX_OPERAND_INVALID,
    Leaf,
    Subfn,
)
from tdxray.schema.td import TdConfig

# The kernel prints `(sym+off/size)`, `(caller+off/size <- sym)` for a kretprobe, and with the
# sym-addr trace option each symbol's address after it: `(sym+off/size <ffffffff81234567>)`
# (seq_print_ip_sym() in kernel/trace/trace_output.c; tp_printk never sets it).
_ADDR = r"(?: <[0-9a-f]{8,16}>)?"
FIELDS_RE = re.compile(r"\((?P<site>[\w.]+(?:\+0x[0-9a-f]+/0x[0-9a-f]+)?)" + _ADDR
                       + r"(?P<ret> <- [\w.]+)?" + _ADDR + r"\)(?P<args>(?: \w+=-?\w+)*)")
ARG_RE = re.compile(r" (\w+)=(-?(?:0x[0-9a-f]{1,16}|\d{1,20}))")
U64 = (1 << 64) - 1
EOPNOTSUPP = 95
# acpi_parse_mp_wake() (arch/x86/kernel/acpi/madt_wakeup.c) when acpi_mp_setup_reset() fails
NO_RESET_VECTOR = "Failed to setup MADT reset vector"


# `trace-cmd report -R` prints the raw fields instead of the print fmt: `__probe_ip=%lx`, or
# `__probe_func=%lx __probe_ret_ip=%lx` for a kretprobe, then the arguments.
RAW_RE = re.compile(r"__probe_(?:ip=(?P<ip>[0-9a-f]{1,16})|func=(?P<func>[0-9a-f]{1,16}) "
                    r"__probe_ret_ip=(?P<ret>[0-9a-f]{1,16}))(?P<args>(?: \w+=-?\w+)*)")


def probe_args(name: str, fields: str) -> tuple[str, dict[str, int]]:
    """The probe's site (function) and its arguments, checked against the probe definition."""
    raw = RAW_RE.fullmatch(fields)
    if raw is not None:
        site = raw["ip"] or f"{raw['ret']} <- {raw['func']}"
        fields = f"({site}){raw['args']}"
    m = FIELDS_RE.fullmatch(fields)
    if m is None:
        raise FieldsError(f"{name}: not a kprobe event line ((site) name=value …); define the "
                          f"probe as `{PROBE_BY_EVENT[name].line()}` (`tdxray probes` prints the "
                          "set)")
    args = {k: _number(v) for k, v in ARG_RE.findall(m["args"])}
    probe = PROBE_BY_EVENT[name]
    want = probe.arg_names
    if not m["args"] and (name in PHASE_OF or name in CPU_ACTION_OF):
        want = ()  # their arguments only identify (the kexec image): older recipes had none
    signed = {a.split("=", 1)[0] for a in probe.args if ":s" in a}
    if tuple(args) != want or any(not (-(1 << 31) if k in signed else 0) <= v <= U64
                                  for k, v in args.items()):
        raise FieldsError(f"{name}: expected arguments {', '.join(want) or 'none'}, "
                          f"got {m['args'].strip() or 'none'}; define the probe as "
                          f"`{probe.line()}` (`tdxray probes` prints the set)")
    for arg in probe.args:
        key, kind = arg.split("=", 1)[0], arg.rsplit(":", 1)[1]
        if key in args:
            args[key] = _as_type(args[key], kind)
    return m["site"].split("+", 1)[0], args


def _as_type(value: int, kind: str) -> int:
    """The argument as the recipe's type (`u8`, `s32`, `x64`) reads it, whatever type the
    user's definition printed: without one a fetch arg is the whole u64 register, and the ABI
    leaves the bits above a bool or an int undefined (`return -EOPNOTSUPP` leaves 4294967201
    in rax; a bool in %dx or rax may carry garbage above its byte)."""
    bits = int(kind[1:])
    if bits >= 64:
        return value
    value &= (1 << bits) - 1
    return value - (1 << bits) if kind[0] == "s" and value >= 1 << (bits - 1) else value


def _number(text: str) -> int:
    negative = text.startswith("-")
    digits = text[1:] if negative else text
    value = int(digits[2:], 16) if digits.startswith("0x") else int(digits, 10)
    return -value if negative else value


class GuestDecoder:
    """State across the lines of one guest trace: open calls per CPU, last CR4 per CPU."""

    def __init__(self, td: TdConfig) -> None:
        self.td = td
        self.open: dict[tuple[int, str], tuple[int, dict[str, int]]] = {}
        self.covered: set[tuple[int, str]] = set()  # function calls seen call by call
        self.cr4: dict[int, int] = {}
        self.lines: dict[int, int] = {}  # the line of each CPU's open acpi_wakeup_cpu
        self.entries: dict[tuple[int, str], int] = {}  # the line of each open call's entry
        self.parking: set[int] = set()   # CPUs in stop_this_cpu that a v1 mailbox parks
        self.parks = parks_aps(td)       # stop_this_cpu ends in acpi_mp_stop_this_cpu

    def log(self, text: str) -> None:
        """A console line: a boot banner starts a kernel that sets smp_ops again; the kernel's
        failure to map the reset vector leaves stop_this_cpu in kernel code (parks_aps)."""
        if text.startswith(LOG_BOOT_MARKER):
            self.parks = parks_aps(self.td)
        elif NO_RESET_VECTOR in text:
            self.parks = False

    def apic_of(self, cpu: int) -> int:
        return self.td.apic_ids[cpu] if cpu < len(self.td.apic_ids) else cpu

    def decode(self, name: str, fields: str, cpu: int, ts: int, line: int = 0) -> list[Event]:
        site, args = probe_args(name, fields)
        if name != "wakeup_cpu_ret" and (cpu, "wakeup_cpu") in self.open:
            # The CPU goes on without acpi_wakeup_cpu returning: it wrote the mailbox.
            return self._woken(cpu, None) + self.decode(name, fields, cpu, ts, line)
        if name in PHASE_OF:
            return [Event("kexec", cpu, {"phase": PHASE_OF[name]})]
        if name in CPU_ACTION_OF:
            return self._cpu_action(name, cpu)
        if name in ("map_gpa", "accept", "cpu_die", "mapgpa_call", "accept_call"):
            self.open[(cpu, name)] = (ts, args)
            self.entries[(cpu, name)] = line
            self.covered.discard((cpu, name))
        if name in ("mapgpa_call_ret", "accept_call_ret"):
            return self._call_returned(name[:-4], args, cpu)
        if name == "cr4":
            new = args["val"]
            old = self.cr4.get(cpu, new)
            self.cr4[cpu] = new
            site_value = None if site == "native_write_cr4" else site
            return [Event("cr4_write", cpu, {"old": old, "new": new, "site": site_value})]
        if name == "wakeup_cpu":
            self.open[(cpu, name)] = (ts, args)  # its return says whether it wrote the mailbox
            self.lines[cpu] = line
            return []
        if name == "wakeup_cpu_ret":
            return self._woken(cpu, args["ret"])
        if name == "cpu_die":
            return [Event("mailbox_write", cpu, {"field": "apic_id",
                                                 "value": self.apic_of(args["cpu"])}),
                    Event("mailbox_write", cpu, {"field": "command",
                                                 "value": MAILBOX_COMMAND_TEST})]
        if name.endswith("_ret"):
            return self._returned(name[:-4], args, cpu, ts)
        return []

    def _cpu_action(self, name: str, cpu: int) -> list[Event]:
        """stop_this_cpu (arch/x86/kernel/process.c) ends in smp_ops.stop_this_cpu when the
        MADT mailbox is v1: acpi_mp_stop_this_cpu parks the AP in the firmware's reset vector
        (arch/x86/kernel/acpi/madt_wakeup.c). Its own probe (park_cpu) then says it again."""
        action = CPU_ACTION_OF[name]
        if name == "stop_cpu" and self.parks:
            action = "parked"
            self.parking.add(cpu)
        elif name == "park_cpu" and cpu in self.parking:
            self.parking.discard(cpu)
            return []
        return [Event("cpu", cpu, {"apic_id": self.apic_of(cpu), "action": action})]

    def unfinished(self) -> list[tuple[Event, int, int]]:
        """At the end of the trace: (event, ts, line) of the calls that never returned (a
        WAKEUP the firmware never acknowledged: acpi_wakeup_cpu spins for ever)."""
        out = []
        for (cpu, name), (ts, _) in sorted(self.open.items()):
            if name == "wakeup_cpu":
                out += [(e, ts, self.lines.get(cpu, 0)) for e in self._woken(cpu, None)]
        return out

    def unreturned(self) -> list[tuple[int, str]]:
        """At the end of the trace: (line, what) of each tdx_map_gpa / tdx_accept_memory call
        whose return never came (the capture ends, or a crash stopped its CPU mid-call): it
        makes no event, since whether it converted anything is unknown."""
        out = []
        for (cpu, name), (_, args) in sorted(self.open.items()):
            if name in ("map_gpa", "accept") and (cpu, name) not in self.covered:
                fn = "tdx_map_gpa" if name == "map_gpa" else "tdx_accept_memory"
                out.append((self.entries.get((cpu, name), 0),
                            f"{fn} [{args['start']:#x}, {args['end']:#x}) never returned (the "
                            "capture ends, or a crash stopped its CPU): it makes no event, so "
                            "what it converted is unknown"))
        return sorted(out)

    def _woken(self, cpu: int, ret: int | None) -> list[Event]:
        """acpi_wakeup_cpu (arch/x86/kernel/acpi/madt_wakeup.c) returns -EOPNOTSUPP before it
        touches the mailbox when there is none (a kexec'd kernel after a v0 mailbox); else it
        writes apic_id, wakeup_vector and WAKEUP, and returns 0 once the firmware cleared the
        command (it never gives up)."""
        opened = self.open.pop((cpu, "wakeup_cpu"), None)
        if opened is None or ret == -EOPNOTSUPP:
            return []
        args = opened[1]
        writes = [Event("mailbox_write", cpu, {"field": "apic_id", "value": args["apicid"]}),
                  Event("mailbox_write", cpu, {"field": "wakeup_vector",
                                               "value": args["start_ip"]}),
                  Event("mailbox_write", cpu, {"field": "command",
                                               "value": MAILBOX_COMMAND_WAKEUP})]
        return writes + ([Event("mailbox_read", cpu, {"field": "command", "value": 0})]
                         if ret == 0 else [])

    def _call_returned(self, name: str, args: dict[str, int], cpu: int) -> list[Event]:
        """One TDVMCALL MapGPA or TDCALL ACCEPT, with its real status."""
        opened = self.open.get((cpu, name))
        entry = opened[1] if opened else {}
        if name == "mapgpa_call":
            if entry.get("subfn") != Subfn.MAP_GPA or (entry["gpa"], entry["size"]) != (
                    args["gpa"], args["size"]):
                return []  # another TDVMCALL, or one that started before the trace
            del self.open[(cpu, name)]
            self.covered.add((cpu, "map_gpa"))
            status = args["status"] & U64
            resume = args["resume"] if status == TDVMCALL_RETRY else None
            return [Event("map_gpa", cpu, {"gpa": args["gpa"], "size": args["size"],
                                           "status": status, "resume_gpa": resume})]
        if entry.get("fn") != Leaf.MEM_PAGE_ACCEPT or entry["rcx"] != args["rcx"]:
            return []
        del self.open[(cpu, name)]
        self.covered.add((cpu, "accept"))
        rcx = args["rcx"]
        return [Event("accept", cpu, {"gpa": rcx & ~ACCEPT_LEVEL_MASK,
                                      "level": rcx & ACCEPT_LEVEL_MASK,
                                      "status": args["status"] & U64})]

    def _returned(self, name: str, args: dict[str, int], cpu: int, ts: int) -> list[Event]:
        opened = self.open.pop((cpu, name), None)
        if opened is None or (cpu, name) in self.covered:
            return []  # the call started before the trace did, or its calls were traced
        start_ts, entry = opened
        ok = args.get("ret", 1) != 0
        if name == "cpu_die":
            acked = ts - start_ts < MAILBOX_TEST_TIMEOUT_NS
            return [Event("mailbox_read", cpu, {"field": "command", "value": 0})] if acked else []
        start, end = entry["start"], entry["end"]
        if end <= start:
            raise FieldsError(f"{name}: empty range {start:#x}-{end:#x}")
        if name == "map_gpa":
            gpa = start if entry["enc"] else start | self.td.shared_bit
            return [Event("map_gpa", cpu, {"gpa": gpa, "size": end - start,
                                           "status": 0 if ok else TDVMCALL_INVALID_OPERAND})]
        if not ok:
            return [Event("accept", cpu, {"gpa": start, "level": 0,
                                          "status": TDX_OPERAND_INVALID})]
        return [Event("accept", cpu, {"gpa": gpa, "level": level, "status": 0})
                for gpa, level in accept_pages(start, end)]


def parks_aps(td: TdConfig) -> bool:
    """Whether the kernel sets smp_ops.stop_this_cpu: acpi_parse_mp_wake() takes the v1 path
    only for a version >= 1 structure at least 24 bytes long (one that has the reset vector),
    and acpi_mp_setup_reset() must map it; else it disables offlining and zeroes the mailbox
    address, as for v0 (arch/x86/kernel/acpi/madt_wakeup.c). A console says the second case
    (NO_RESET_VECTOR)."""
    mailbox = td.mailbox
    return mailbox is not None and mailbox.version >= 1 and mailbox.reset_vector is not None


def accept_pages(start: int, end: int) -> list[tuple[int, int]]:
    """The (gpa, level) ACCEPTs the kernel makes for [start, end): largest aligned first."""
    pages = []
    while start < end:
        for level in (2, 1, 0):
            size = ACCEPT_LEVEL_SIZES[level]
            if (start % size == 0 and start + size <= end) or level == 0:
                pages.append((start, level))
                start += size
                break
        if len(pages) > 1 << 20:
            raise FieldsError(f"accept: range [{start:#x}, {end:#x}) is too large")
    return pages
