"""Host KVM tracepoints of a TD, each shape from the kernel's TP_printk (FORMATS.md §2).

The lines are what the kernel prints for the cited format: arch/x86/kvm/trace.h (kvm_entry,
kvm_exit), include/trace/events/kvm.h (kvm_userspace_exit, kvm_vm_set_mem_attributes), with the
exit names a TD's exits get in arch/x86/kvm/vmx/tdx.c (tdcall_to_vmx_exit_reason).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tdxray.cli.main import cli
from tdxray.schema.constants import Subfn
from tdxray.schema.errors import InputError
from tests.test_ftrace import line, read

ZERO16 = "0x" + "0" * 16
# kvm_exit, 6.14+: "vcpu %u reason %s%s%s rip 0x%lx info1 0x%016llx info2 0x%016llx
# intr_info 0x%08x error_code 0x%08x requests 0x%016llx"; a TD's rip reads as 0
EXIT_614 = ("vcpu {v} reason {r} rip 0x0 info1 " + ZERO16 + " info2 " + ZERO16
            + " intr_info 0x00000000 error_code 0x00000000 requests 0x0000000000000000")
# kvm_entry, 6.14+: "vcpu %u, rip 0x%lx intr_info 0x%08x error_code 0x%08x%s", the %s being
# "[immediate exit]" or ""
ENTRY_614 = "vcpu {v}, rip 0x0 intr_info 0x00000000 error_code 0x00000000"


def kinds(text: str) -> list[tuple[str, int]]:
    return [(e["kind"], e["vcpu"]) for e in read(text)]


@pytest.mark.parametrize("fields", [
    ENTRY_614.format(v=1),
    ENTRY_614.format(v=1) + "[immediate exit]",  # the kernel adds no space before it
    ENTRY_614.format(v=1) + " [immediate exit]",  # FORMATS.md §2 writes one
    "vcpu 1, rip 0xffffffff81e3c6d4",  # 6.13 and older: "vcpu %u, rip 0x%lx%s"
    "vcpu 1, rip 0xffffffff81e3c6d4[immediate exit]",
])
def test_kvm_entry_of_every_kernel_is_read_with_its_vcpu(fields: str) -> None:
    # once in a chunk of its own (the per-line decoder) and among many (the compiled scan)
    assert kinds(line("kvm_entry", fields)) == [("kvm_entry", 1)]
    assert kinds(line("kvm_entry", fields) * 300) == [("kvm_entry", 1)] * 300


def test_a_6_16_hosts_first_line_is_no_longer_refused() -> None:
    text = line("kvm_entry", "vcpu 0, rip 0x0 intr_info 0x00000000 error_code 0x00000000")
    [event] = read(text)
    assert (event["kind"], json.loads(event["extra"])) == (
        "kvm_entry", {"fields": "vcpu 0, rip 0x0 intr_info 0x00000000 error_code 0x00000000"})


@pytest.mark.parametrize("fields", [
    "vcpu 0, rip 0x0 intr_info 0x0000000 error_code 0x00000000",  # 7 digits: not %08x
    "vcpu 0, rip 0x0 error_code 0x00000000 intr_info 0x00000000",
    "vcpu 0, rip 0x0 intr_info 0x00000000 error_code 0x00000000 [immediate]",
])
def test_a_kvm_entry_off_the_format_is_an_error_naming_the_line(fields: str) -> None:
    with pytest.raises(InputError) as err:
        read(line("kvm_entry", ENTRY_614.format(v=0)) + line("kvm_entry", fields))
    assert "t.trace:2" in str(err.value)
    assert "kvm_entry: fields do not match the kernel's format" in str(err.value)


def test_kvm_exit_requests_tail_keeps_the_tdvmcall_mapping() -> None:
    reasons = {"CPUID": Subfn.CPUID, "HLT": Subfn.HLT, "IO_INSTRUCTION": Subfn.IO,
               "MSR_READ": Subfn.RDMSR, "MSR_WRITE": Subfn.WRMSR,
               "EPT_MISCONFIG": Subfn.MMIO}  # tdx.c: a TD's MMIO (EPT_VIOLATION leaf)
    for text in ("".join(line("kvm_exit", EXIT_614.format(v=1, r=r)) for r in reasons),
                 "".join(line("kvm_exit", EXIT_614.format(v=1, r=r)) for r in reasons) * 50):
        events = read(text)
        assert [(e["kind"], e["subfn"], e["vcpu"]) for e in events] == [
            ("tdvmcall", s, 1) for s in reasons.values()] * (len(events) // len(reasons))


@pytest.mark.parametrize("reason", ["TDCALL", "VMCALL", "TRIPLE_FAULT", "EPT_VIOLATION"])
def test_td_exits_without_a_sub_function_stay_kvm_exit_events(reason: str) -> None:
    # TDCALL: MapGPA, GetQuote, ReportFatalError, GetTdVmCallInfo, SetupEventNotify (the exit
    # does not say which); VMCALL: a KVM hypercall (tdvmcall_exit_type != 0)
    [event] = read(line("kvm_exit", EXIT_614.format(v=1, r=reason)))
    assert (event["kind"], event["vcpu"]) == ("kvm_exit", 1)
    assert "subfn" not in event


@pytest.mark.parametrize("fields", [
    "reason KVM_EXIT_SHUTDOWN (8)",
    "reason KVM_EXIT_IO (2)",
    "reason 0x28 (40)",  # a value kvm_trace_exit_reason does not name: __print_symbolic's hex
    "reason restart (4)",  # KVM_RUN returned -EINTR
    "reason error (22)",
])
def test_other_userspace_exits_are_kept_with_their_fields(fields: str) -> None:
    [event] = read(line("kvm_userspace_exit", fields))
    assert (event["kind"], json.loads(event["extra"])) == ("kvm_userspace_exit",
                                                           {"fields": fields})


@pytest.mark.parametrize("fields", ["reason KVM_EXIT_HYPERCALL", "reason KVM_EXIT_HYPERCALL 3",
                                    "reason kvm_exit_hypercall (3)", "reason  (3)"])
def test_a_userspace_exit_off_the_format_is_an_error(fields: str) -> None:
    with pytest.raises(InputError, match=r"t\.trace:1: kvm_userspace_exit: fields do not match"):
        read(line("kvm_userspace_exit", fields))


def test_a_4_mib_mapgpa_is_two_hypercall_exits_and_two_conversions() -> None:
    """tdx_map_gpa() hands the VMM one KVM_HC_MAP_GPA_RANGE per TDX_MAP_GPA_MAX_LEN (2 MiB);
    a 6.17+ host traces each KVM_SET_MEMORY_ATTRIBUTES the VMM makes (gfns, end exclusive)."""
    text = (line("kvm_exit", EXIT_614.format(v=0, r="TDCALL"), ts="141.000001")
            + line("kvm_userspace_exit", "reason KVM_EXIT_HYPERCALL (3)", ts="141.000002")
            + line("kvm_vm_set_mem_attributes", "0x00000000080000 -- 0x00000000080200 [0x0]",
                   ts="141.000003")
            + line("kvm_userspace_exit", "reason KVM_EXIT_HYPERCALL (3)", ts="141.000004")
            + line("kvm_vm_set_mem_attributes", "0x00000000080200 -- 0x00000000080400 [0x0]",
                   ts="141.000005")
            + line("kvm_entry", ENTRY_614.format(v=0), ts="141.000006"))
    events = read(text)
    assert [e["kind"] for e in events] == ["kvm_exit", "tdvmcall", "convert", "tdvmcall",
                                           "convert", "kvm_entry"]
    calls = [e for e in events if e["kind"] == "tdvmcall"]
    assert [(e["subfn"], e["status"]) for e in calls] == [(Subfn.MAP_GPA, 0)] * 2
    assert all("r12" not in e and "r13" not in e for e in calls)  # the tracepoint has no range
    assert [(e["gpa"], e["size"], e["to_private"]) for e in events if e["kind"] == "convert"] \
        == [(0x80000000, 0x200000, False), (0x80200000, 0x200000, False)]


def test_mem_attributes_to_private_with_the_kernels_0x_on_zero() -> None:
    # %#016llx: the kernel's vsprintf prints the 0x prefix inside the width, also for 0
    [event] = read(line("kvm_vm_set_mem_attributes",
                        "0x00000000000000 -- 0x00000000000200 [0x8]"))
    assert (event["kind"], event["gpa"], event["size"], event["to_private"]) == (
        "convert", 0, 0x200000, True)


def test_a_host_trace_s_mapgpa_chunks_never_make_the_mapgpa_rules_look_clean(
        tmp_path: Path) -> None:
    """The hypercall exits name no range: the rules that judge MapGPA ranges stay skipped
    (coverage says so) instead of running on nothing and reading as clean."""
    text = (line("kvm_exit", EXIT_614.format(v=0, r="TDCALL"), ts="141.000001")
            + line("kvm_userspace_exit", "reason KVM_EXIT_HYPERCALL (3)", ts="141.000002")
            + line("kvm_vm_set_mem_attributes", "0x00000000001000 -- 0x00000000001200 [0x0]",
                   ts="141.000003")
            + line("kvm_entry", ENTRY_614.format(v=0), ts="141.000004"))
    trace = tmp_path / "host.trace"
    trace.write_text(text)
    report = tmp_path / "r.json"
    res = CliRunner().invoke(cli, ["check", str(trace), "--format", "json", "-o", str(report)])
    assert res.exit_code == 0, res.output
    doc = json.loads(report.read_text())
    [checked] = doc["traces"]
    skipped = {s["rule"]: s["why"] for s in checked["rules_skipped"]}
    assert {rule: skipped.get(rule) for rule in ("G001", "G002", "G003", "K005", "K006")} == {
        "G001": "no map_gpa events", "G002": "no map_gpa events", "G003": "no map_gpa events",
        "K005": "no kexec events", "K006": "no kexec events"}
    assert not {"G001", "G002", "G003"} & set(checked["rules_run"])
    assert (doc["verdict"], checked["events"]) == ("pass", 4)


def test_kvm_mmio_pio_msr_cpuid_are_tdvmcall_class_never_unmodeled(tmp_path: Path) -> None:
    """FORMATS.md §2: kept as events of their own name, background like the TDVMCALLs they
    trace (T002 counts only what the model does not know: here the sched_switch). Shapes:
    the TP_printk formats of arch/x86/kvm/trace.h. kvm_hypercall ("a TD's VMCALL path only")
    is a KVM hypercall, a TDVMCALL with R10 != 0, which a JSONL trace's model knows too."""
    text = (line("kvm_mmio", "mmio write len 4 gpa 0xfee000b0 val 0x0", ts="141.000001")
            + line("kvm_pio", "pio_write at 0x3f8 size 1 count 1 val 0x41", ts="141.000002")
            + line("kvm_msr", "msr_write 6e0 = 0x2cf5d5a2c", ts="141.000003")
            + line("kvm_cpuid", "func 1 idx 0 rax 806f8 rbx 800 rcx fffab223 rdx 1f8bfbff, "
                   "cpuid entry found", ts="141.000004")
            + line("kvm_hypercall", "nr 0xc a0 0x0 a1 0x0 a2 0x0 a3 0x0", ts="141.000005")
            + line("sched_switch", "prev_comm=a prev_pid=1 ==> next_comm=b", ts="141.000006"))
    trace = tmp_path / "host.trace"
    trace.write_text(text)
    report = tmp_path / "r.json"
    res = CliRunner().invoke(cli, ["check", str(trace), "--format", "json", "-o", str(report)])
    assert res.exit_code == 0, res.output
    [checked] = json.loads(report.read_text())["traces"]
    assert [d["message"] for d in checked["divergences"] if d["rule"] == "T002"] == [
        "event kind 'sched_switch' is not modeled (1 event)"]
