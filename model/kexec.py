"""kexec phases, the jump-time checks (K001, K002, K004, K006, M008) and accounting (K007)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator

from tdxray.model.base import (
    ACCOUNTING_OFF,
    NR_SHARED_RE,
    ModelBase,
    hex_range,
    page_count,
    span_pages,
)
from tdxray.model.pagemap import PageState
from tdxray.model.state import CpuState, Kernel

# K007 where the trace's sources cannot show a conversion (a plain dmesg: only `log`)
NO_COUNT = "the trace shows no conversions, so the model has no count of its own"


class KexecRules(ModelBase):
    # --- kexec phases --------------------------------------------------------------------------

    def kexec(self, seq: int, ts: int, vcpu: int, phase: str) -> None:
        if self.dead:
            return
        k = self.k
        if phase == "boot":
            self._boot(seq, ts, vcpu)
            return
        k.saw_kexec_event = True
        if phase == "begin":
            if not k.began:  # the first begin stops conversions; a later one changes nothing
                k.began, k.begin_seq = True, seq
                if k.control_vcpu is None:
                    k.control_vcpu = vcpu
            k.conversions_stopped = True
            if k.phase != "finishing":
                k.phase = "stopping"
        elif phase == "crash":
            k.crashed = True
            k.control_vcpu = vcpu
            k.phase = "crashed"
        elif phase == "finish":
            self._finish(seq, ts, vcpu)
        elif phase == "jump" and not k.jumped:
            self._jump(seq, ts, vcpu)

    def plan_phases(self, items: list[tuple[int, str, bool]], markers: dict[int, str]) -> None:
        """Learn from the pre-scan where the explicit jumps and the boots are (seq order)."""
        self.explicit_jumps = sorted(seq for seq, phase, explicit in items
                                     if explicit and phase == "jump")
        self.boot_points = sorted({seq for seq, phase, explicit in items
                                   if phase == "boot" and (explicit or seq in markers)})

    def _jump_event_follows(self, seq: int) -> bool:
        """An explicit `jump` comes later in this generation (before the next boot)."""
        i = bisect_right(self.explicit_jumps, seq)
        if i == len(self.explicit_jumps):
            return False
        j = bisect_right(self.boot_points, seq)
        return j == len(self.boot_points) or self.boot_points[j] > self.explicit_jumps[i]

    def _finish(self, seq: int, ts: int, vcpu: int) -> None:
        k = self.k
        if k.finished:
            return  # kexec_finish runs once per generation: a repeated event starts nothing
        for op_vcpu, op in sorted(k.ops.items()):
            if op.open and op.abandoned is None:
                start = op.resume if op.resume is not None else op.start
                direction = "private" if op.to_private else "shared"
                self.emit("K006", f"kexec_finish starts while vCPU {op_vcpu}'s MapGPA to "
                          f"{direction} of {hex_range(op.start, op.end)} waits on a RETRY (resume "
                          f"{start:#x})", seq, ts, vcpu, gpa=(start, op.end),
                          causes=[op.last_retry_seq])
        k.shared_at_finish = self.pages.count(PageState.SHARED)
        k.finished = True
        k.finish_vcpu = k.control_vcpu = vcpu
        k.conversions_stopped = True
        k.phase = "finishing"

    def _jump(self, seq: int, ts: int, vcpu: int) -> None:
        self._jump_checks(seq, ts, vcpu)
        self.k.jumped, self.k.jump_seq = True, seq
        self.k.phase = "jumped"

    def _jump_checks(self, seq: int, ts: int, vcpu: int, jumper_vcpu: int | None = None) -> None:
        """The point of no return: what the next kernel inherits (K001, K002, K004, M008).

        `vcpu` revealed it; `jumper_vcpu` (default: the same) is the CPU that jumps, the one
        vCPU M008 does not count as lost."""
        self._settle_accounting(seq, ts, vcpu)
        shared_total = 0
        all_causes: set[int] = set()
        for start, end, causes in self.pages.runs(PageState.SHARED):
            shared_total += span_pages(start, end)
            all_causes.update(causes)
            self.emit("K001", f"{hex_range(start, end)} ({page_count(start, end)}) is still shared "
                      "at the kexec jump: the next kernel will use it as private", seq, ts, vcpu,
                      gpa=(start, end), causes=causes)
        for start, end, causes in self._pending_at_jump():
            self.emit("K002", f"{hex_range(start, end)} ({page_count(start, end)}) was converted "
                      "back to private but never accepted, and is not in the unaccepted table",
                      seq, ts, vcpu, gpa=(start, end), causes=causes)
        if not self.k.finished and shared_total:
            self.emit("K004", f"jump with no kexec_finish in this generation while "
                      f"{_pages(shared_total)} {'is' if shared_total == 1 else 'are'} shared "
                      "(a kernel without TDX kexec support)",
                      seq, ts, vcpu, pages=shared_total, causes=all_causes,
                      location="jump")
        jumper = self._apic_of(vcpu if jumper_vcpu is None else jumper_vcpu)
        for cpu in self.cpus.values():
            if cpu.apic_id == jumper or cpu.state not in (CpuState.ONLINE, CpuState.STOPPED):
                continue
            how = "online" if cpu.state == CpuState.ONLINE else "stopped in kernel code"
            self.emit("M008", f"APIC id {cpu.apic_id} is {how} at the jump: the next kernel "
                      "cannot wake it", seq, ts, vcpu, apic_id=cpu.apic_id,
                      causes=[cpu.since_seq])
            if cpu.state == CpuState.ONLINE:
                cpu.state, cpu.since_gen = CpuState.STOPPED, self.k.generation

    def _pending_at_jump(self) -> Iterator[tuple[int, int, list[int]]]:
        """The runs of pending pages not in the unaccepted table g+1 inherits. On a lazy TD
        that table is the pages never accepted since boot (§4): a pending page is K002 only
        if it was accepted once (accepted.py)."""
        accepted = self.pages.accepted
        for start, end, causes in self.pages.runs(PageState.PENDING):
            if accepted is None:
                yield start, end, causes
                continue
            for s, e, once in accepted.parts(start, end):
                if once:
                    yield s, e, self._causes_in(s, e, (PageState.PENDING,))

    def _boot(self, seq: int, ts: int, vcpu: int) -> None:
        k = self.k
        # a jump (even one implied by a relocate_kernel CR4 write) is a kexec sequence
        first = not k.booted and not k.saw_kexec_event and not k.jumped and k.generation == 0
        k.booted = True
        k.clock_gen += 1
        self.boot_seqs.append(seq)
        if first:
            return  # marks generation 0's start, no jump implied (§4)
        self.gen_starts.append(seq)
        if not k.jumped:
            self._jump(seq, ts, vcpu)  # a new generation's boot without a jump (§4)
        self._settle_accounting(seq, ts, vcpu)
        self.k = Kernel(generation=k.generation + 1, booted=True, saw_kexec_event=True,
                        clock_gen=k.clock_gen)
        for cpu in self.cpus.values():
            if cpu.apic_id == self._apic_of(vcpu):
                self._set_cpu(cpu, CpuState.ONLINE, seq)

    # --- console messages ----------------------------------------------------------------------

    def log(self, seq: int, ts: int, vcpu: int, text: str) -> None:
        if self.dead:
            return
        if ACCOUNTING_OFF in text:
            self._settle_accounting(seq, ts, vcpu)
            self.k.accounting_off = (seq, ts, vcpu)
            return
        match = NR_SHARED_RE.search(text)
        if match is None:
            return
        nr_shared, nr_found = int(match.group(1)), int(match.group(2))
        model = self._shared_at_finish()
        off = self.k.accounting_off
        self.k.accounting_off = None
        causes = [off[0]] if off else []
        if model is None:
            if nr_shared != nr_found:  # the guest's own counts disagree: the kernel's test
                self.emit("K007", f"the guest counted nr_shared = {nr_shared}, nr_found = "
                          f"{nr_found}; {NO_COUNT}", seq, ts, vcpu, causes=causes,
                          location="accounting")
            return
        if nr_shared != model or nr_found != model:
            self.emit("K007", f"the guest counted nr_shared = {nr_shared}, nr_found = {nr_found}; "
                      f"the model holds {_pages(model)} shared at kexec_finish", seq, ts, vcpu,
                      causes=causes, pages=model, location="accounting")

    def _shared_at_finish(self) -> int | None:
        """The pages the model holds shared when finish starts (or now, before it), K007's
        count; None when the trace's sources cannot show a conversion (a plain dmesg): then
        the model has no count to hold against the guest's."""
        if not self.counts_shared:
            return None
        k = self.k
        return k.shared_at_finish if k.shared_at_finish is not None else \
            self.pages.count(PageState.SHARED)

    def _settle_accounting(self, seq: int, ts: int, vcpu: int) -> None:
        """"shared page accounting is off" with no nr_shared line after it: K007 on its own
        (§5: "or the guest prints ... alone"), revealed by the line itself, which is no cause
        of it. That it is alone is known here (`seq`: the jump, the TD's death, another such
        line, the last event), but the finding is the line's: the catalogue's when is the
        print, not the jump (K001's is "at `jump`")."""
        off = self.k.accounting_off
        if off is None:
            return
        self.k.accounting_off = None
        model = self._shared_at_finish()
        held = NO_COUNT if model is None else \
            f"the model holds {_pages(model)} shared at kexec_finish"
        self.emit("K007", "the guest reports \"shared page accounting is off\" with no "
                  f"nr_shared line after it; {held}", *off, pages=model, location="accounting")

    # --- end of trace --------------------------------------------------------------------------

    def end(self, last: tuple[int, int, int] | None = None) -> None:
        """The trace ends after `last` (seq, ts, vcpu of its last event)."""
        off = self.k.accounting_off
        if not self.dead and off is not None:
            self._settle_accounting(*(last or off))


def _pages(n: int) -> str:
    return f"{n} page" if n == 1 else f"{n} pages"
