"""The guest-side kprobe set (group `tdxray`): what `tdxray probes` prints and the reader knows.

Each probe is one line for tracefs `kprobe_events`; the events they produce look like
`comm-pid [cpu] .... ts: map_gpa: (tdx_map_gpa+0x0/0x1d0) start=0x1000 end=0x3000 enc=1`.
Arguments are fetched from the x86_64 calling convention (%di, %si, %dx, ...).
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
    note: str = ""
    filter: str = ""              # for events/tdxray/<event>/filter

    def line(self) -> str:
        kind = "r" if self.ret else "p"
        return " ".join((f"{kind}:{GROUP}/{self.event}", self.symbol, *self.args))

    @property
    def arg_names(self) -> tuple[str, ...]:
        return tuple(a.split("=", 1)[0] for a in self.args)


# struct tdx_module_args: rcx, rdx, r8, r9, r10, r11, r12, r13, … (8 bytes each).
PROBES: tuple[Probe, ...] = (
    Probe("mapgpa_call", False, "__tdx_hypercall",
          ("subfn=+40(%di):x64", "gpa=+48(%di):x64", "size=+56(%di):x64"),
          "one TDVMCALL (filtered to MapGPA)", "subfn == 0x10001"),
    Probe("mapgpa_call_ret", True, "__tdx_hypercall",
          ("status=$retval:x64", "resume=+40($arg1):x64", "gpa=+48($arg1):x64",
           "size=+56($arg1):x64"), "its status and R11 (entry arguments: Linux 6.10+)"),
    Probe("accept_call", False, "__tdcall", ("fn=%di:x64", "rcx=+0(%si):x64"),
          "one TDCALL (filtered to TDG.MEM.PAGE.ACCEPT)", "fn == 6"),
    Probe("accept_call_ret", True, "__tdcall", ("status=$retval:x64", "rcx=+0($arg2):x64"),
          "its TDX status (entry arguments: Linux 6.10+)"),
    Probe("map_gpa", False, "tdx_map_gpa",
          ("start=%di:x64", "end=%si:x64", "enc=%dx:u8"), "MapGPA of [start, end)"),
    Probe("map_gpa_ret", True, "tdx_map_gpa", ("ret=$retval:u8",), "true: converted"),
    Probe("accept", False, "tdx_accept_memory", ("start=%di:x64", "end=%si:x64"),
          "ACCEPT of [start, end)"),
    Probe("accept_ret", True, "tdx_accept_memory", ("ret=$retval:u8",), "true: accepted"),
    Probe("cr4", False, "native_write_cr4", ("val=%di:x64",),
          "the new CR4 (the old one is the CPU's previous write)"),
    Probe("wakeup_cpu", False, "acpi_wakeup_cpu", ("apicid=%di:u32", "start_ip=%si:x64"),
          "mailbox WAKEUP"),
    Probe("wakeup_cpu_ret", True, "acpi_wakeup_cpu", ("ret=$retval:s32",), "0: acknowledged"),
    Probe("cpu_die", False, "acpi_mp_cpu_die", ("cpu=%di:u32",), "mailbox TEST"),
    Probe("cpu_die_ret", True, "acpi_mp_cpu_die", (),
          "TEST acknowledged (unless 1 s passed: the timeout)"),
    Probe("play_dead", False, "acpi_mp_play_dead", (), "this AP jumps to the reset vector"),
    Probe("stop_cpu", False, "stop_this_cpu", (), "this AP spins in kernel code"),
    Probe("start_secondary", False, "start_secondary", (), "this AP runs the kernel"),
    Probe("kexec_load", False, "machine_kexec_prepare", (), "kexec image loaded"),
    Probe("kernel_kexec", False, "kernel_kexec", (), "kexec shutdown starts"),
    Probe("kexec_begin", False, "tdx_kexec_begin", (), "conversions stopped"),
    Probe("kexec_finish", False, "tdx_kexec_finish", (), "shared memory made private"),
    Probe("machine_kexec", False, "machine_kexec", (), "the jump"),
    Probe("crash_kexec", False, "__crash_kexec", (), "kdump starts"),
)
PROBE_BY_EVENT: dict[str, Probe] = {p.event: p for p in PROBES}

PHASE_OF: dict[str, str] = {
    "kexec_load": "load", "kernel_kexec": "shutdown", "kexec_begin": "begin",
    "kexec_finish": "finish", "machine_kexec": "jump", "crash_kexec": "crash",
}
CPU_ACTION_OF: dict[str, str] = {
    "play_dead": "parked", "stop_cpu": "stopped", "start_secondary": "woken",
}


def kprobe_events_text() -> str:
    """The lines to write into /sys/kernel/tracing/kprobe_events, with their meaning."""
    out = ["# tdxray guest probes: append these lines to /sys/kernel/tracing/kprobe_events"]
    for probe in PROBES:
        out.append(f"# {probe.event}: {probe.note}")
        out.append(probe.line())
    return "\n".join(out) + "\n"


def filter_commands(tracefs: str = "/sys/kernel/tracing") -> list[str]:
    return [f"echo '{p.filter}' > {tracefs}/events/{GROUP}/{p.event}/filter"
            for p in PROBES if p.filter]


def record_command(output: str = "guest.dat") -> str:
    events = " ".join(f"-e {GROUP}:{p.event}" for p in PROBES)
    return f"trace-cmd record -C mono {events} -o {output}"
