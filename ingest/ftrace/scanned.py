"""What the compiled ftrace scan hands back: the hot event names and the per-line columns.

Shared by the scan (which fills them) and the prefix parser (which reads them), so neither
imports the other at module level.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

NAME_MAX = 40  # an event name is 1..39 word characters
HOT_NAMES = ("kvm_exit", "kvm_entry", "kvm_page_fault", "kvm_vm_set_mem_attributes")
EXIT, ENTRY, FAULT, ATTRIBUTES = 1, 2, 3, 4  # `hot`: the fields were decoded as HOT_NAMES[k - 1]


@dataclass
class Scan:
    """What the compiled scan (scan.py) finds, one entry per line or per row.

    ok: the head is canonical (ts, cpu, where the event name is, where the fields start).
    name_hot: the name's index in HOT_NAMES, or -1. hot: the fields were decoded as that hot
    event (EXIT, ENTRY, FAULT, ATTRIBUTES; 0: left to the per-line path), with vcpu, subfn (-1:
    not a TDVMCALL exit reason), gpa, size, write, to_private as that event has them. plain: the
    fields of an event of another name are printable ASCII without quote or backslash.
    """

    ok: np.ndarray
    ts: np.ndarray
    cpu: np.ndarray
    name_at: np.ndarray
    name_len: np.ndarray
    fields: np.ndarray
    name_hot: np.ndarray
    hot: np.ndarray
    plain: np.ndarray
    vcpu: np.ndarray
    subfn: np.ndarray
    gpa: np.ndarray
    size: np.ndarray
    write: np.ndarray
    to_private: np.ndarray

    @classmethod
    def empty(cls, n: int) -> Scan:
        i64 = np.zeros(n, np.int64)
        return cls(np.zeros(n, bool), i64, i64.copy(), i64.copy(), i64.copy(), i64.copy(),
                   np.full(n, -1, np.int64), np.zeros(n, np.int8), np.zeros(n, bool),
                   i64.copy(), np.full(n, -1, np.int64), np.zeros(n, np.uint64),
                   np.zeros(n, np.uint64), np.zeros(n, bool), np.zeros(n, bool))

    def columns(self) -> list[np.ndarray]:
        return [getattr(self, f.name) for f in fields(self)]

    def take(self, rows: np.ndarray) -> Scan:
        return Scan(*(column[rows] for column in self.columns()))

    def subset(self, rows: np.ndarray) -> Scan:
        """The entries of `rows`, distinct and in increasing order (all: no copy)."""
        return self if len(rows) == len(self.ok) else self.take(rows)

    def concat(self, other: Scan) -> Scan:
        return Scan(*(np.concatenate([a, b]) for a, b in zip(self.columns(), other.columns(),
                                                             strict=True)))
