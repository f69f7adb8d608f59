"""The scenarios `tdxray simulate` knows: what each tells, and which rules its trace triggers.

`expected_rules` is exactly the set of rule ids above info that a spec-correct replay finds
(TDX-KEXEC.md §5, "Rules that fire together").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from tdxray.simulator import stories
from tdxray.simulator.config import SimConfig
from tdxray.simulator.kexec import KexecPlan

LOST_AP_RULE = "M008"


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    story: stories.Story
    rules: tuple[str, ...]
    jumps: bool = True  # reaches a kexec jump: APs left spinning there are lost (M008)
    aps_spin: bool = False  # the kernel never parks APs, whatever the mailbox version
    defaults: Mapping[str, Any] = field(default_factory=dict)
    required: Mapping[str, Any] = field(default_factory=dict)
    min_vcpus: int = 1

    def expected_rules(self, cfg: SimConfig) -> tuple[str, ...]:
        rules = set(self.rules)
        if self.jumps and cfg.vcpus > 1 and (self.aps_spin or cfg.mailbox_version == 0):
            rules.add(LOST_AP_RULE)
        return tuple(sorted(rules))

    def may_lose_aps(self) -> bool:
        """Whether some configuration adds M008 to the rules (see expected_rules)."""
        if not self.jumps or self.required.get("vcpus") == 1 or LOST_AP_RULE in self.rules:
            return False
        return self.aps_spin or self.required.get("mailbox_version") != 1

    def rules_note(self) -> str:
        rules = ", ".join(sorted(self.rules)) or "none"
        if self.may_lose_aps():
            when = "with >1 vCPU" if self.aps_spin else "with a v0 mailbox and >1 vCPU"
            rules += f" (+{LOST_AP_RULE} {when})"
        return rules

    def config(self, **options: Any) -> SimConfig:
        """The run's configuration: scenario defaults, then the options given (not None)."""
        given = {k: v for k, v in options.items() if v is not None}
        for key, value in self.required.items():
            if key in given and given[key] != value:
                raise ValueError(f"scenario {self.name} needs {key.replace('_', '-')} = {value}")
        known = {f.name for f in fields(SimConfig)}
        cfg = replace(SimConfig(self.name), **{**self.defaults, **self.required, **given})
        unknown = set(given) - known
        if unknown:
            raise ValueError(f"unknown option {sorted(unknown)[0]}")
        if cfg.vcpus < self.min_vcpus:
            raise ValueError(f"scenario {self.name} needs at least {self.min_vcpus} vCPUs")
        return cfg


CLEAN = KexecPlan()


def _kexec(plan: KexecPlan = CLEAN) -> stories.Story:
    return stories.kexec_story(plan)


_SCENARIOS = (
    Scenario("smp-v1-kexec", "fixed kernel, SMP, v1 mailbox: APs parked and woken again",
             _kexec(), (), required={"mailbox_version": 1}, min_vcpus=2),
    Scenario("single-vcpu-kexec", "fixed kernel on one vCPU: share, kexec, convert back, boot",
             _kexec(), (), required={"vcpus": 1}),
    Scenario("smp-v0-kexec", "fixed kernel, v0 mailbox: APs spin in the old kernel and are lost",
             _kexec(), (LOST_AP_RULE,), required={"mailbox_version": 0}, min_vcpus=2),
    Scenario("lazy-accept-kexec", "fixed kernel with lazily accepted memory (ACCEPT as it goes)",
             _kexec(), (), required={"memory_mode": "lazy"}),
    Scenario("kdump", "fixed kernel panics; kdump kernel reads /proc/vmcore",
             stories.clean_kdump, ()),
    Scenario("unfixed-kernel", "pre-6.11 kernel: no begin/finish, shared memory leaks, CR4=PAE",
             _kexec(KexecPlan(unfixed=True)), ("C001", "K001", "K004"), aps_spin=True,
             defaults={"vcpus": 1}),
    Scenario("cr4-mce-cleared", "fixed kernel whose relocate_kernel CR4 write drops MCE",
             _kexec(KexecPlan(cr4="clear-mce")), ("C001",)),
    Scenario("retry-skip", "after a clean kexec, a MapGPA continuation skips 2M past R11",
             stories.retry_skip, ("G001",)),
    Scenario("conversion-race", "an AP starts a MapGPA after kexec_begin stopped conversions",
             _kexec(KexecPlan(race_after_begin=True)), ("K005",), min_vcpus=2),
    Scenario("conversion-in-flight", "an AP is stopped with its MapGPA on RETRY when finish starts",
             stories.conversion_in_flight, ("K006",), min_vcpus=2),
    Scenario("unshare-failure", "finish's MapGPA of one page gets INVALID_OPERAND: left shared",
             _kexec(KexecPlan(unshare="invalid")), ("K001", "K003")),
    Scenario("unshare-retry-exhausted", "finish's MapGPA of one page gets 3 no-progress RETRYs",
             _kexec(KexecPlan(unshare="exhausted")), ("K001", "K003")),
    Scenario("accounting-mismatch", "a driver shares pages without nr_shared: finish complains",
             stories.accounting_mismatch, ("K007",)),
    Scenario("kdump-shared-read", "kdump after a failed unshare; vmcore reads the page privately",
             stories.kdump_shared_read, ("A001", "K001", "K003")),
    Scenario("mailbox-misuse", "WAKEUP rewritten before the ack; WAKEUP of an unknown APIC id",
             stories.mailbox_misuse, ("M001", "M004"), jumps=False, min_vcpus=2),
    Scenario("accept-misuse", "ACCEPT of an accepted page; a shared page freed by ACCEPT alone",
             stories.accept_misuse, ("G005", "G006")),
)

SCENARIOS: dict[str, Scenario] = {s.name: s for s in _SCENARIOS}
DEFAULT_SCENARIO = "smp-v1-kexec"


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r} (see --list)") from None
