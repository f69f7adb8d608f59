"""The guest-side kprobe set (group `tdxray`): what `tdxray probes` prints and the reader knows.

Each probe is one line for tracefs `kprobe_events`; its events look like
`comm-pid [cpu] .... ts: map_gpa: (tdx_map_gpa+0x4/0x1d0) start=0x1000 end=0x3000 enc=1`
in the trace, and `[    2.84] map_gpa: (tdx_map_gpa+0x4/0x1d0) start=…` on the console with
`tp_printk`. Entry arguments come from the x86_64 calling convention (%di, %si, %dx).

`RECIPE` is what a distro kernel accepts (measured on Debian's 6.12 cloud kernel under QEMU,
tests/test_real_kernel.py). `INSTRUMENTED` are events an instrumented kernel, or tdxray's own
export, can produce: the reader knows them, `tdxray probes` does not print them, because their
functions cannot be probed on a distro kernel (`UNPROBEABLE` says why).
"""

from __future__ import annotations

from dataclasses import dataclass

GROUP = "tdxray"


@dataclass(frozen=True)
class Probe:
    event: str                    # event name in the trace (group tdxray)
    ret: bool                     # a kretprobe
    symbol: str
    args: tuple[str, ...] = ()    # "name=fetch:type"
    note: str = ""                # what one event means
    sees: str = ""                # what the trace cannot see without this probe
    filter: str = ""              # for events/tdxray/<event>/filter

    def line(self) -> str:
        kind = "r" if self.ret else "p"
        return " ".join((f"{kind}:{GROUP}/{self.event}", self.symbol, *self.args))

    @property
    def arg_names(self) -> tuple[str, ...]:
        return tuple(a.split("=", 1)[0] for a in self.args)


RECIPE: tuple[Probe, ...] = (
    Probe("map_gpa", False, "tdx_map_gpa", ("start=%di:x64", "end=%si:x64", "enc=%dx:u8"),
          "MapGPA of [start, end)", "MapGPA conversions (map_gpa)"),
    Probe("map_gpa_ret", True, "tdx_map_gpa", ("ret=$retval:u8",), "true: converted",
          "whether a MapGPA succeeded"),
    Probe("accept", False, "tdx_accept_memory", ("start=%di:x64", "end=%si:x64"),
          "ACCEPT of [start, end)", "ACCEPTs (accept)"),
    Probe("accept_ret", True, "tdx_accept_memory", ("ret=$retval:u8",), "true: accepted",
          "whether an ACCEPT succeeded"),
    Probe("wakeup_cpu", False, "acpi_wakeup_cpu", ("apicid=%di:u32", "start_ip=%si:x64"),
          "mailbox WAKEUP (none is written when it returns -EOPNOTSUPP: no mailbox)",
          "the mailbox WAKEUP writes (mailbox_write)"),
    Probe("wakeup_cpu_ret", True, "acpi_wakeup_cpu", ("ret=$retval:s32",), "0: acknowledged",
          "the WAKEUP acknowledgement (mailbox_read)"),
    Probe("cpu_die", False, "acpi_mp_cpu_die", ("cpu=%di:u32",), "mailbox TEST",
          "the mailbox TEST writes (mailbox_write)"),
    Probe("cpu_die_ret", True, "acpi_mp_cpu_die", (),
          "TEST acknowledged (unless 1 s passed: the timeout)", "the TEST acknowledgement"),
    Probe("play_dead", False, "acpi_mp_play_dead", (), "this AP goes offline to the reset vector",
          "APs parked at CPU offline (cpu parked)"),
    Probe("stop_cpu", False, "stop_this_cpu", (), "this AP stops (kexec, reboot, panic)",
          "APs stopped before the jump (cpu stopped)"),
    Probe("park_cpu", False, "acpi_mp_stop_this_cpu", (),
          "this AP parks in the firmware's reset vector (a v1 mailbox)",
          "APs parked before the jump (cpu parked)"),
    Probe("kexec_load", False, "machine_kexec_prepare", ("image=%di:x64",), "kexec image loaded",
          "the kexec load (kexec load)"),
    Probe("kexec_load_ret", True, "machine_kexec_prepare", ("ret=$retval:s32",),
          "0: the image is ready", "whether the load succeeded"),
    Probe("kernel_kexec", False, "kernel_kexec", (), "kexec shutdown starts",
          "the kexec shutdown (kexec shutdown; the console's `Starting new kernel` shows it too)"),
    Probe("kexec_begin", False, "tdx_kexec_begin", (), "conversions stopped",
          "the end of conversions (kexec begin)"),
    Probe("kexec_finish", False, "tdx_kexec_finish", (), "shared memory made private",
          "shared memory made private (kexec finish)"),
    Probe("machine_kexec", False, "machine_kexec", ("image=%di:x64",), "the jump",
          "the jump (kexec jump; the next kernel's banner implies it)"),
    Probe("crash_kexec", False, "__crash_kexec", (), "kdump starts",
          "the crash (kexec crash)"),
)

# struct tdx_module_args: rcx, rdx, r8, r9, r10, r11, r12, r13, … (8 bytes each).
INSTRUMENTED: tuple[Probe, ...] = (
    Probe("mapgpa_call", False, "__tdx_hypercall",
          ("subfn=+40(%di):x64", "gpa=+48(%di):x64", "size=+56(%di):x64"),
          "one TDVMCALL (filtered to MapGPA)", filter="subfn == 0x10001"),
    Probe("mapgpa_call_ret", True, "__tdx_hypercall",
          ("status=$retval:x64", "resume=+40($arg1):x64", "gpa=+48($arg1):x64",
           "size=+56($arg1):x64"), "its status and R11 (entry arguments: Linux 6.10+)"),
    Probe("accept_call", False, "__tdcall", ("fn=%di:x64", "rcx=+0(%si):x64"),
          "one TDCALL (filtered to TDG.MEM.PAGE.ACCEPT)", filter="fn == 6"),
    Probe("accept_call_ret", True, "__tdcall", ("status=$retval:x64", "rcx=+0($arg2):x64"),
          "its TDX status (entry arguments: Linux 6.10+)"),
    Probe("cr4", False, "native_write_cr4", ("val=%di:x64",),
          "the new CR4 (the old one is the CPU's previous write)"),
    Probe("start_secondary", False, "start_secondary", (), "this AP runs the kernel"),
)
UNPROBEABLE: dict[str, str] = {
    "__tdx_hypercall": "in .noinstr.text (kprobes refuse it): no TDVMCALL, status or RETRY is seen",
    "__tdcall": "in .noinstr.text (kprobes refuse it): no TDCALL status is seen",
    "native_write_cr4": "its file is built without ftrace hooks (notrace): no CR4 write is seen",
    "start_secondary": "notrace: an AP's start is seen only as the mailbox acknowledgement",
}
PROBES: tuple[Probe, ...] = RECIPE + INSTRUMENTED   # every event the reader knows
PROBE_BY_EVENT: dict[str, Probe] = {p.event: p for p in PROBES}

PHASE_OF: dict[str, str] = {
    "kexec_load": "load", "kernel_kexec": "shutdown", "kexec_begin": "begin",
    "kexec_finish": "finish", "machine_kexec": "jump", "crash_kexec": "crash",
}
CPU_ACTION_OF: dict[str, str] = {
    "play_dead": "parked", "park_cpu": "parked", "stop_cpu": "stopped",
    "start_secondary": "woken",
}


def symbols() -> tuple[str, ...]:
    """The recipe's functions, each once, in recipe order."""
    return tuple(dict.fromkeys(p.symbol for p in RECIPE))


def kprobe_events_text() -> str:
    """The lines to write into /sys/kernel/tracing/kprobe_events, with their meaning."""
    out = ["# tdxray guest probes: write each line alone into /sys/kernel/tracing/kprobe_events",
           "# (one write stops at its first refused line); `tdxray probes --script` does that.",
           "# Not probeable on a distro kernel, so not here:"]
    out += [f"#   {symbol}: {why}" for symbol, why in UNPROBEABLE.items()]
    for probe in RECIPE:
        out.append(f"# {probe.event}: {probe.note}")
        out.append(probe.line())
    return "\n".join(out) + "\n"


def filter_commands(tracefs: str = "/sys/kernel/tracing") -> list[str]:
    return [f"echo '{p.filter}' > {tracefs}/events/{GROUP}/{p.event}/filter"
            for p in RECIPE if p.filter]


def record_command(output: str = "guest.dat") -> str:
    events = " ".join(f"-e {GROUP}:{p.event}" for p in RECIPE)
    return f"trace-cmd record -C mono {events} -o {output}"
