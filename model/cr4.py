"""CR4 writes: MCE must stay set (C001); bits the TD may not set (C002)."""

from __future__ import annotations

from tdxray.model.base import (
    MCE,
    ModelBase,
)
from tdxray.schema.constants import (
    TD_ATTR_PKS,
    XFAM_CET,
    XFAM_PK,
    XFAM_ULI,
    Cr4,
    cr4_bit,
)


class Cr4Rules(ModelBase):
    # --- CR4 -----------------------------------------------------------------------------------

    def cr4_write(self, seq: int, ts: int, vcpu: int, old: int, new: int,
                  site: str | None) -> None:
        if self.dead:
            return
        if (site == "relocate_kernel" and not self.k.jumped
                and not self._jump_event_follows(seq)):
            # A generation with no jump takes its first relocate_kernel CR4 write as its jump
            # (§4); one whose `jump` event comes later keeps that event as the jump.
            self._jump(seq, ts, vcpu)
        forbidden = self._forbidden_cr4(new)
        if forbidden:
            names = ", ".join(forbidden)
            self.emit("C002", f"CR4 write {old:#x} -> {new:#x} sets {names}, which this TD may not "
                      "set (#GP)", seq, ts, vcpu, location=f"vcpu:{vcpu}:{names}")
        apic = self._apic_of(vcpu)
        if apic is not None:
            self.cpus[apic].cr4 = new
        if not new & MCE:
            where = f" in {site}" if site else ""
            self.emit("C001", f"CR4 write {old:#x} -> {new:#x}{where} clears MCE: #VE"
                      f"{' with no IDT: the TD dies' if site == 'relocate_kernel' else ''}",
                      seq, ts, vcpu)
            self._fatal(seq, ts, vcpu)

    def _forbidden_cr4(self, new: int) -> list[str]:
        td = self.td
        bad = []
        if new & cr4_bit(Cr4.KL):
            bad.append("KL")
        if td.attributes is not None and new & cr4_bit(Cr4.PKS) and not td.attributes & TD_ATTR_PKS:
            bad.append("PKS")
        if td.xfam is not None:
            if new & cr4_bit(Cr4.PKE) and not td.xfam & XFAM_PK:
                bad.append("PKE")
            if new & cr4_bit(Cr4.CET) and td.xfam & XFAM_CET != XFAM_CET:
                bad.append("CET")
            if new & cr4_bit(Cr4.UINTR) and not td.xfam & XFAM_ULI:
                bad.append("UINTR")
        return bad
