"""The TD's death as the host sees it (TDX-KEXEC.md §6, FORMATS.md §2).

KVM traces a dying TD as `kvm_exit: vcpu N reason TRIPLE_FAULT …` and then hands the VMM
`kvm_userspace_exit: reason KVM_EXIT_SHUTDOWN (8)` (arch/x86/kvm/trace.h, include/trace/events/
kvm.h, include/uapi/linux/kvm.h). Both stay events of their own name; the pre-scan finds them
(their fields are in `extra`) and the TD is dead from the first of them.

Between the kexec jump and the next kernel's boot the CPU runs relocate_kernel, with no
tracing at all: when the trace cannot show CR4 writes (every distro guest, every host trace), a
death there is how relocate_kernel's CR4.MCE clear shows, so it is C001 caused by the jump.
Dying during a kexec (after `begin` or `crash`, before the jump) gets the jump-time checks,
like any fatal event.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tdxray.model.base import ModelBase

# kind -> a regular expression its `extra` fields match when the event is the TD's death
DEATH_SIGNS: dict[str, str] = {
    "kvm_exit": r"\bTRIPLE_FAULT\b",
    "kvm_userspace_exit": r"\bKVM_EXIT_SHUTDOWN\b",
}
DEATH_KINDS = tuple(DEATH_SIGNS)
DEATH_WHAT = {"kvm_exit": "kvm_exit reason TRIPLE_FAULT",
              "kvm_userspace_exit": "kvm_userspace_exit reason KVM_EXIT_SHUTDOWN"}


def find_deaths(batch: pa.RecordBatch) -> dict[int, str]:
    """seq -> what, for the death events of a batch with columns seq, kind, extra."""
    kinds = batch.column("kind").cast(pa.string())
    extra = batch.column("extra")
    hit = None
    for kind, sign in DEATH_SIGNS.items():
        this = pc.and_(pc.equal(kinds, kind), pc.match_substring_regex(extra, sign))
        hit = this if hit is None else pc.or_(hit, this)
    assert hit is not None
    rows = np.flatnonzero(pc.fill_null(hit, False).to_numpy(zero_copy_only=False))
    if not len(rows):
        return {}
    take = pa.array(rows)
    return {seq: DEATH_WHAT[kind] for seq, kind in zip(
        batch.column("seq").take(take).to_pylist(), kinds.take(take).to_pylist(), strict=True)}


class DeathRules(ModelBase):
    def plan_deaths(self, deaths: dict[int, str], sees_cr4: bool) -> None:
        """From the pre-scan: the death events by seq, and whether the trace shows CR4 writes."""
        self.deaths = deaths
        self.death_seqs = np.array(sorted(deaths), dtype=np.uint64)
        self.sees_cr4 = sees_cr4

    def death(self, seq: int, ts: int, vcpu: int) -> None:
        what = self.deaths.get(seq)
        if what is None or self.dead:
            return
        k = self.k
        if k.jumped and not self.sees_cr4:
            self.emit("C001", f"the TD dies ({what}) after the kexec jump, before the next "
                      "kernel's boot: relocate_kernel cleared CR4.MCE (a #VE with no IDT), seen "
                      "only as its effect", seq, ts, vcpu, causes=[k.jump_seq])
        self._fatal(seq, ts, vcpu)

    def judged_by_effect(self) -> frozenset[str]:
        """C001 when a death after the jump stood for relocate_kernel's CR4 write."""
        return frozenset({"C001"}) if any(d.rule == "C001" for d in self.found) else frozenset()
