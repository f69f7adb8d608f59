"""The sequential core of the TDX kexec model (TDX-KEXEC.md §2–§5).

It sees only the events that change model state or carry an outcome the model predicts
(MapGPA, ACCEPT, CR4, mailbox, CPU, kexec phases, conversions, memory accesses, accounting
messages, the TD's death seen by the host). Background traffic is counted and checked in bulk
by `bulk.py`.

The trace is the truth about what happened: every handler first judges the event against what
should have happened, then moves the state to what the trace says happened. Each family of rules
lives in a module of its own; `Model` puts them together.
"""

from __future__ import annotations

from tdxray.model.accept import AcceptRules
from tdxray.model.access import AccessRules
from tdxray.model.base import ACCOUNTING_OFF, NR_SHARED
from tdxray.model.cr4 import Cr4Rules
from tdxray.model.death import DeathRules
from tdxray.model.kexec import KexecRules
from tdxray.model.mailbox import MailboxRules
from tdxray.model.mapgpa import MapGpaRules

__all__ = ["ACCOUNTING_OFF", "NR_SHARED", "Model"]


class Model(MapGpaRules, AcceptRules, AccessRules, Cr4Rules, MailboxRules, KexecRules,
            DeathRules):
    """Replays core events in seq order and collects divergences in `self.found`."""
