"""One event as one line of text: decoded names, GPA ranges, statuses; trace text escaped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tdxray.analyses.escape import escape_control
from tdxray.schema.constants import (
    ACCEPT_LEVEL_MASK,
    ACCEPT_LEVEL_NAMES,
    LEAF_NAMES,
    MAILBOX_COMMAND_NAMES,
    SUBFN_NAMES,
    Leaf,
    Subfn,
    cr4_names,
    tdvmcall_status_name,
    tdx_status_name,
)

Row = dict[str, Any]


def _range(gpa: int | None, size: int | None, sbit: int) -> str:
    if gpa is None:
        return "?"
    side = "shared" if gpa & sbit else "private"
    base = gpa & ~sbit
    end = f"{base + size:#x}" if size is not None else "?"
    return f"[{base:#x}, {end}) to {side}"


def _tdcall(r: Row, sbit: int) -> str:
    leaf = r["leaf"]
    name = LEAF_NAMES.get(leaf, f"leaf {leaf:#x}" if leaf is not None else "leaf ?")
    status = tdx_status_name(r["status"]) if r["status"] is not None else "?"
    if leaf == Leaf.MEM_PAGE_ACCEPT and r["rcx"] is not None:
        level = ACCEPT_LEVEL_NAMES.get(r["rcx"] & ACCEPT_LEVEL_MASK, "?")
        return f"{name} {r['rcx'] & ~ACCEPT_LEVEL_MASK:#x} {level} → {status}"
    return f"{name} rcx={_hex(r['rcx'])} → {status}"


def _tdvmcall(r: Row, sbit: int) -> str:
    subfn = r["subfn"]
    name = SUBFN_NAMES.get(subfn, f"subfn {subfn:#x}" if subfn is not None else "subfn ?")
    status = tdvmcall_status_name(r["status"]) if r["status"] is not None else "?"
    if subfn == Subfn.MAP_GPA:
        resume = f" r11={r['r11_out']:#x}" if r["r11_out"] is not None else ""
        return f"{name} {_range(r['r12'], r['r13'], sbit)}: {status}{resume}"
    return f"{name} r12={_hex(r['r12'])} r13={_hex(r['r13'])} → {status}"


def _map_gpa(r: Row, sbit: int) -> str:
    status = tdvmcall_status_name(r["status"]) if r["status"] is not None else "?"
    resume = f" resume={r['resume_gpa']:#x}" if r["resume_gpa"] is not None else ""
    return f"MapGPA {_range(r['gpa'], r['size'], sbit)}: {status}{resume}"


def _accept(r: Row, sbit: int) -> str:
    level = ACCEPT_LEVEL_NAMES.get(r["level"], str(r["level"]))
    status = tdx_status_name(r["status"]) if r["status"] is not None else "?"
    return f"ACCEPT {_hex(r['gpa'])} {level} → {status}"


def _cr4(r: Row, sbit: int) -> str:
    old, new = r["old"] or 0, r["new"] or 0
    cleared = cr4_names(old & ~new)
    added = cr4_names(new & ~old)
    change = " ".join([*(f"-{n}" for n in cleared), *(f"+{n}" for n in added)])
    site = f" in {escape_control(r['site'])}" if r["site"] else ""
    return f"CR4 {old:#x} → {new:#x} {change}{site}"


def _mailbox(r: Row, sbit: int) -> str:
    value = r["value"]
    shown = _hex(value)
    if r["field"] == "command" and value is not None:
        shown = MAILBOX_COMMAND_NAMES.get(value, shown)
    verb = "write" if r["kind"] == "mailbox_write" else "read"
    return f"mailbox {verb} {escape_control(r['field'] or '?')} = {shown}"


def _hex(value: int | None) -> str:
    return f"{value:#x}" if value is not None else "-"


_DESCRIBE: dict[str, Callable[[Row, int], str]] = {
    "tdcall": _tdcall,
    "tdvmcall": _tdvmcall,
    "map_gpa": _map_gpa,
    "accept": _accept,
    "cr4_write": _cr4,
    "mailbox_write": _mailbox,
    "mailbox_read": _mailbox,
    "cpu": lambda r, s: f"APIC id {r['apic_id']} {escape_control(r['action'] or '?')}",
    "kexec": lambda r, s: f"kexec {escape_control(r['phase'] or '?')}",
    "convert": lambda r, s: f"convert [{_hex(r['gpa'])}, +{_hex(r['size'])}) → "
                            f"{'private' if r['to_private'] else 'shared'}",
    "mem_access": lambda r, s: f"{'write' if r['write'] else 'read'} {_hex(r['gpa'])} "
                               f"({'shared' if (r['gpa'] or 0) & s else 'private'} mapping)",
    "log": lambda r, s: escape_control(r["text"] or ""),
}


def describe(row: Row, sbit: int) -> str:
    """The details column of one event (every piece of trace text escaped)."""
    kind = row["kind"]
    fn = _DESCRIBE.get(kind)
    if fn is None:
        return escape_control(row.get("extra") or "")
    try:
        return fn(row, sbit)
    except (TypeError, ValueError):  # a malformed event still shows something
        return escape_control(str({k: v for k, v in row.items() if v is not None}))


def is_failure(row: Row) -> bool:
    return row.get("status") not in (None, 0)


def event_gpa(row: Row, sbit: int) -> int | None:
    """The private GPA an event is about, if any (the state panel shows its page)."""
    kind = row["kind"]
    gpa = None
    if kind in ("map_gpa", "accept", "convert", "mem_access"):
        gpa = row["gpa"]
    elif kind == "tdvmcall" and row["subfn"] == Subfn.MAP_GPA:
        gpa = row["r12"]
    elif kind == "tdcall" and row["leaf"] == Leaf.MEM_PAGE_ACCEPT and row["rcx"] is not None:
        gpa = row["rcx"] & ~ACCEPT_LEVEL_MASK
    return None if gpa is None else gpa & ~sbit


def escaped_kind(kind: str | None) -> str:
    return escape_control(kind or "?")
