"""The trace header: trace id, TD configuration, provenance (FORMATS.md §1)."""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from tdxray.schema.constants import MEMORY_MODES, PAGE_SIZE, shared_bit

TRACE_ID_RE = re.compile(r"^(?!\.)[A-Za-z0-9._-]{1,128}$")
TD_KEYS = frozenset({"gpaw", "apic_ids", "ram", "memory", "mailbox", "attributes", "xfam"})
MAILBOX_KEYS = frozenset({"version", "gpa", "reset_vector"})


class HeaderError(ValueError):
    """A header that breaks FORMATS.md §1 (the reader adds file and line)."""


def parse_int(value: Any, what: str, lo: int = 0, hi: int = (1 << 64) - 1) -> int:
    """A JSON integer or a "0x…" hex string, range-checked."""
    if isinstance(value, bool):
        raise HeaderError(f"{what}: expected an integer, got {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value[:2].lower() == "0x":
        digits = value[2:]
        # int() would also take a sign, spaces, underscores and non-ASCII digits.
        if not (digits.isascii() and digits.isalnum()):
            raise HeaderError(f"{what}: malformed hex integer {value!r}")
        try:
            number = int(digits, 16)
        except ValueError:
            raise HeaderError(f"{what}: malformed hex integer {value!r}") from None
    else:
        raise HeaderError(f"{what}: expected an integer or a \"0x…\" string, got {value!r}")
    if not lo <= number <= hi:
        raise HeaderError(f"{what}: {value!r} is out of range [{lo}, {hi:#x}]")
    return number


@dataclass(frozen=True)
class Mailbox:
    version: int
    gpa: int
    reset_vector: int | None = None


@dataclass(frozen=True)
class TdConfig:
    """What the model knows of the TD (TDX-KEXEC.md §4)."""

    gpaw: int = 48
    apic_ids: tuple[int, ...] = (0,)
    ram: tuple[tuple[int, int], ...] = ((0, 0x80000000),)
    memory: str = "accepted"
    mailbox: Mailbox | None = None
    attributes: int | None = None
    xfam: int | None = None

    @property
    def shared_bit(self) -> int:
        return shared_bit(self.gpaw)

    @property
    def vcpus(self) -> int:
        return len(self.apic_ids)

    @property
    def ram_bytes(self) -> int:
        return sum(end - start for start, end in self.ram)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "gpaw": self.gpaw,
            "apic_ids": list(self.apic_ids),
            "ram": [[hex(s), hex(e)] for s, e in self.ram],
            "memory": self.memory,
        }
        if self.mailbox is not None:
            mb: dict[str, Any] = {"version": self.mailbox.version, "gpa": hex(self.mailbox.gpa)}
            if self.mailbox.reset_vector is not None:
                mb["reset_vector"] = hex(self.mailbox.reset_vector)
            out["mailbox"] = mb
        if self.attributes is not None:
            out["attributes"] = hex(self.attributes)
        if self.xfam is not None:
            out["xfam"] = hex(self.xfam)
        return out

    @classmethod
    def from_json(cls, td: Any) -> TdConfig:
        if not isinstance(td, dict):
            raise HeaderError("td: expected an object")
        unknown = sorted(set(td) - TD_KEYS)
        if unknown:
            raise HeaderError(f"td: unknown key {unknown[0]!r} "
                              f"(known: {', '.join(sorted(TD_KEYS))})")
        for key in ("gpaw", "apic_ids", "ram", "memory"):
            if key not in td:
                raise HeaderError(f"td: missing key {key!r}")
        gpaw = parse_int(td["gpaw"], "td.gpaw", 1, 64)
        if not isinstance(td["apic_ids"], list) or not td["apic_ids"]:
            raise HeaderError("td.apic_ids: expected a non-empty list")
        apic_ids = tuple(parse_int(a, "td.apic_ids[]", 0, 0xFFFFFFFF) for a in td["apic_ids"])
        if len(set(apic_ids)) != len(apic_ids):
            raise HeaderError("td.apic_ids: duplicate APIC id")
        ram = _parse_ram(td["ram"], gpaw)
        memory = td["memory"]
        if memory not in MEMORY_MODES:
            raise HeaderError(f"td.memory: expected one of {', '.join(MEMORY_MODES)}, "
                              f"got {memory!r}")
        mailbox = _parse_mailbox(td["mailbox"]) if td.get("mailbox") is not None else None
        attributes = parse_int(td["attributes"], "td.attributes") if "attributes" in td else None
        xfam = parse_int(td["xfam"], "td.xfam") if "xfam" in td else None
        return cls(gpaw, apic_ids, ram, memory, mailbox, attributes, xfam)


def _parse_ram(ram: Any, gpaw: int) -> tuple[tuple[int, int], ...]:
    if not isinstance(ram, list) or not ram:
        raise HeaderError("td.ram: expected a non-empty list of [start, end) ranges")
    ranges = []
    for item in ram:
        if not isinstance(item, list) or len(item) != 2:
            raise HeaderError("td.ram: each range is [start, end]")
        start = parse_int(item[0], "td.ram start")
        end = parse_int(item[1], "td.ram end")
        if start >= end or start % PAGE_SIZE or end % PAGE_SIZE:
            raise HeaderError(f"td.ram: range [{start:#x}, {end:#x}) is empty or not page aligned")
        if end > shared_bit(gpaw):
            raise HeaderError(f"td.ram: range [{start:#x}, {end:#x}) reaches the shared bit")
        ranges.append((start, end))
    ranges.sort()
    for (_, e1), (s2, _) in itertools.pairwise(ranges):
        if s2 < e1:
            raise HeaderError("td.ram: ranges overlap")
    return tuple(ranges)


def _parse_mailbox(mb: Any) -> Mailbox:
    if not isinstance(mb, dict):
        raise HeaderError("td.mailbox: expected an object")
    unknown = sorted(set(mb) - MAILBOX_KEYS)
    if unknown:
        raise HeaderError(f"td.mailbox: unknown key {unknown[0]!r}")
    if "version" not in mb or "gpa" not in mb:
        raise HeaderError("td.mailbox: needs version and gpa")
    version = parse_int(mb["version"], "td.mailbox.version", 0, 0xFFFF)
    reset = (parse_int(mb["reset_vector"], "td.mailbox.reset_vector")
             if "reset_vector" in mb else None)
    return Mailbox(version, parse_int(mb["gpa"], "td.mailbox.gpa"), reset)


@dataclass(frozen=True)
class TraceHeader:
    """The first line of a JSONL trace; the file metadata of a Parquet trace."""

    trace_id: str
    td: TdConfig
    provenance: dict[str, Any] = field(default_factory=dict)
    expected_rules: tuple[str, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # unknown top-level keys, kept

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"tdxray": 1, "trace_id": self.trace_id, "td": self.td.to_json()}
        if self.provenance:
            out["provenance"] = self.provenance
        if self.expected_rules is not None:
            out["expected_rules"] = list(self.expected_rules)
        out.update(self.extra)
        return out

    def dumps(self) -> str:
        return json.dumps(self.to_json(), separators=(", ", ": "))

    @classmethod
    def from_json(cls, obj: Any, td: TdConfig | None = None) -> TraceHeader:
        """The header in `obj`; `td`, when given, is obj["td"] already parsed (a reader of
        many headers of the same TD parses it once)."""
        if not isinstance(obj, dict) or "tdxray" not in obj:
            raise HeaderError("missing header: the first line must be {\"tdxray\": 1, …}")
        if type(obj["tdxray"]) is not int or obj["tdxray"] != 1:
            raise HeaderError(f"unsupported JSONL version {obj['tdxray']!r} (this tdxray reads 1)")
        trace_id = check_trace_id(obj.get("trace_id"))
        if "td" not in obj:
            raise HeaderError("header: missing key 'td'")
        td = td if td is not None else TdConfig.from_json(obj["td"])
        provenance = obj.get("provenance", {})
        if not isinstance(provenance, dict):
            raise HeaderError("header.provenance: expected an object")
        expected = obj.get("expected_rules")
        if expected is not None and (
            not isinstance(expected, list) or not all(isinstance(r, str) for r in expected)
        ):
            raise HeaderError("header.expected_rules: expected a list of rule ids")
        extra = {k: v for k, v in obj.items()
                 if k not in ("tdxray", "trace_id", "td", "provenance", "expected_rules")}
        return cls(trace_id, td, provenance, tuple(expected) if expected is not None else None,
                   extra)


def check_trace_id(trace_id: Any) -> str:
    if not isinstance(trace_id, str) or not TRACE_ID_RE.match(trace_id):
        raise HeaderError(
            f"trace_id {trace_id!r} is not allowed: use 1-128 letters, digits, '.', '_' or '-', "
            "not starting with '.'"
        )
    return trace_id
