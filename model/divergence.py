"""A divergence: one finding of the replay, with where it was revealed and what caused it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from tdxray.model.catalogue import RULES, SEVERITY_RANK


@dataclass
class Divergence:
    rule: str
    message: str
    seq: int | None = None
    ts_ns: int | None = None
    vcpu: int | None = None
    gpa_start: int | None = None
    gpa_end: int | None = None
    pages: int | None = None
    apic_id: int | None = None
    cause_seqs: list[int] = field(default_factory=list)
    generation: int = 0
    # What the fingerprint hashes besides rule and generation, when there is no range or APIC id
    # (a vCPU, an unmodeled kind, a skipped rule).
    location: str | None = None
    baselined: bool = False

    @property
    def name(self) -> str:
        return RULES[self.rule].name

    @property
    def severity(self) -> str:
        return RULES[self.rule].severity

    @property
    def fingerprint(self) -> str:
        """Rule, generation and location; never a seq or timestamp (FORMATS.md §5)."""
        if self.gpa_start is not None:
            where = f"gpa:{self.gpa_start:x}-{self.gpa_end or 0:x}"
        elif self.apic_id is not None:
            where = f"apic:{self.apic_id}"
        elif self.location is not None:
            where = self.location
        else:
            where = f"vcpu:{self.vcpu}"
        key = f"{self.rule}|{self.generation}|{where}"
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def sort_key(self) -> tuple[int, int, str, int]:
        seq = self.seq if self.seq is not None else 1 << 64
        return (SEVERITY_RANK[self.severity], seq, self.rule, self.gpa_start or 0)

    def to_json(self) -> dict[str, object]:
        """The divergence as FORMATS.md §5 spells it."""
        return {
            "rule": self.rule,
            "name": self.name,
            "severity": self.severity,
            "seq": self.seq,
            "ts_ns": self.ts_ns,
            "vcpu": self.vcpu,
            "gpa_start": hex(self.gpa_start) if self.gpa_start is not None else None,
            "gpa_end": hex(self.gpa_end) if self.gpa_end is not None else None,
            "pages": self.pages,
            "apic_id": self.apic_id,
            "cause_seqs": list(self.cause_seqs),
            "fingerprint": self.fingerprint,
            "baselined": self.baselined,
            "message": self.message,
        }
