"""The ACPI MADT multiprocessor-wakeup mailbox and the vCPUs it wakes (M001-M007)."""

from __future__ import annotations

from tdxray.model.base import (
    ModelBase,
)
from tdxray.model.state import Cpu, CpuState
from tdxray.schema.constants import (
    MAILBOX_COMMAND_NAMES,
    MAILBOX_COMMAND_TEST,
    MAILBOX_COMMAND_WAKEUP,
    MAILBOX_TEST_TIMEOUT_NS,
)


class MailboxRules(ModelBase):
    # --- the MADT multiprocessor-wakeup mailbox --------------------------------------------------

    def mailbox_write(self, seq: int, ts: int, vcpu: int, field: str, value: int) -> None:
        if self.dead:
            return
        mb = self.mailbox
        if field == "apic_id":
            mb.apic_id, mb.apic_seq, mb.wrote_apic = value, seq, True
        elif field == "wakeup_vector":
            mb.wrote_vector = True
        elif field == "command":
            if value == 0:
                if self._acknowledger(vcpu):
                    self._acknowledge(seq)
            else:
                self._command(seq, ts, vcpu, value)

    def mailbox_read(self, seq: int, ts: int, vcpu: int, field: str, value: int) -> None:
        if self.dead:
            return
        if field == "command" and value == 0:
            self._acknowledge(seq)

    def _command(self, seq: int, ts: int, vcpu: int, command: int) -> None:
        mb = self.mailbox
        name = MAILBOX_COMMAND_NAMES.get(command, f"command {command}")
        apic = mb.apic_id
        if mb.command:
            pending = MAILBOX_COMMAND_NAMES.get(mb.command, str(mb.command))
            self.emit("M001", f"{name} written while {pending} for APIC id {mb.command_apic} is "
                      "unacknowledged", seq, ts, vcpu, apic_id=apic, causes=[mb.command_seq])
        missing = [] if mb.wrote_apic else ["apic_id"]
        if command == MAILBOX_COMMAND_WAKEUP and not mb.wrote_vector:
            missing.append("wakeup_vector")
        if missing:
            self.emit("M002", f"{name} written without {' and '.join(missing)} since the last "
                      "command", seq, ts, vcpu, apic_id=apic, location=f"apic:{apic}:missing")
        if apic is not None and apic not in self.cpus:
            self.emit("M004", f"{name} names APIC id {apic}, which the TD does not have "
                      f"(APIC ids {', '.join(map(str, self.td.apic_ids))})", seq, ts, vcpu,
                      apic_id=apic, causes=[mb.apic_seq])
        # Linux takes any version >= 1 as v1 (acpi_parse_mp_wake(), madt_wakeup.c; ACPI keeps 2
        # and up reserved): TEST is offlining's, and it waits 1 s for it (acpi_mp_cpu_die())
        version = self.td.mailbox.version if self.td.mailbox is not None else None
        if command == MAILBOX_COMMAND_TEST and version == 0:
            self.emit("M006", f"TEST for APIC id {apic} on a version-0 mailbox (TEST exists only "
                      "in version 1)", seq, ts, vcpu, apic_id=apic)
        mb.command, mb.command_seq, mb.command_ts, mb.command_apic = command, seq, ts, apic
        mb.wrote_apic = mb.wrote_vector = False
        mb.test_deadline = (ts + MAILBOX_TEST_TIMEOUT_NS
                            if command == MAILBOX_COMMAND_TEST and version else None)
        if command == MAILBOX_COMMAND_WAKEUP and apic in self.cpus:
            self._check_wakeup_target(seq, ts, vcpu, self.cpus[apic])

    def _check_wakeup_target(self, seq: int, ts: int, vcpu: int, cpu: Cpu) -> None:
        if cpu.state == CpuState.ONLINE:
            self.emit("M003", f"WAKEUP names APIC id {cpu.apic_id}, which is already online: it "
                      "never polls the mailbox again and the OS waits forever", seq, ts, vcpu,
                      apic_id=cpu.apic_id, causes=[cpu.since_seq])
            self._fatal(seq, ts, vcpu)
        elif cpu.state == CpuState.STOPPED and cpu.since_gen < self.k.generation:
            self.emit("M007", f"WAKEUP names APIC id {cpu.apic_id}, which generation "
                      f"{cpu.since_gen} left spinning in kernel code: it never answers", seq, ts,
                      vcpu, apic_id=cpu.apic_id, causes=[cpu.since_seq])
            self._fatal(seq, ts, vcpu)

    def _acknowledger(self, vcpu: int) -> bool:
        """A write of command = 0 acknowledges only from the vCPU of the AP the command names
        (FORMATS.md §1). A command naming no known AP cannot be answered by its AP: any
        vCPU's write is taken as its acknowledgement."""
        target = self.mailbox.command_apic
        if target is None or target not in self.cpus:
            return True
        return self._apic_of(vcpu) == target

    def _acknowledge(self, seq: int) -> None:
        mb = self.mailbox
        if not mb.command:
            return
        cpu = self.cpus.get(mb.command_apic) if mb.command_apic is not None else None
        if cpu is not None:
            if mb.command == MAILBOX_COMMAND_WAKEUP:
                self._set_cpu(cpu, CpuState.ONLINE, seq)
            elif mb.command == MAILBOX_COMMAND_TEST:
                self._set_cpu(cpu, CpuState.FIRMWARE, seq)
        mb.command = 0
        mb.test_deadline = None

    def test_overdue(self, seq: int, ts: int, vcpu: int) -> None:
        """The engine found the first event more than 1 s after an unacknowledged TEST (M005)."""
        mb = self.mailbox
        if self.dead or mb.test_deadline is None:
            return
        self.emit("M005", f"TEST for APIC id {mb.command_apic} not acknowledged within 1 s "
                  "(\"Failed to hand over CPU to BIOS\")", seq, ts, vcpu,
                  apic_id=mb.command_apic, causes=[mb.command_seq])
        mb.test_deadline = None

    # --- vCPUs ---------------------------------------------------------------------------------

    def cpu(self, seq: int, ts: int, vcpu: int, apic_id: int, action: str) -> None:
        if self.dead:
            return
        cpu = self.cpus.get(apic_id)
        if cpu is None:
            self.emit("T004", f"cpu {action} names APIC id {apic_id}, which the TD does not have",
                      seq, ts, vcpu, apic_id=apic_id)
            return
        state = {"woken": CpuState.ONLINE, "online": CpuState.ONLINE,
                 "parked": CpuState.FIRMWARE, "stopped": CpuState.STOPPED}.get(action)
        if state is not None:
            self._set_cpu(cpu, state, seq)

