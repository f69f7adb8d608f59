"""Scalar SQL macros that decode raw values, generated from schema/constants.py.

Every name table of the constants becomes a CASE expression inside a DuckDB macro, so the views
stay thin (a macro is inlined into the query plan; nothing is materialised) and users can call
the same decoders on any column: `SELECT tdx_status_name(rcx) FROM tdcalls`.
"""

from __future__ import annotations

from collections.abc import Mapping

from tdxray.model.catalogue import SEVERITIES
from tdxray.schema.constants import (
    ACCEPT_LEVEL_NAMES,
    ACCEPT_LEVEL_SIZES,
    CR4_DISPLAY_BITS,
    LEAF_NAMES,
    MAILBOX_COMMAND_NAMES,
    PAGE_SHIFT,
    PAGE_SIZE,
    SUBFN_NAMES,
    TDVMCALL_STATUS_NAMES,
    TDX_STATUS_NAMES,
    tdx_status_class,
)

U64 = "UBIGINT"
LOW32 = 0xFFFFFFFF
HIGH32 = tdx_status_class(0xFFFFFFFFFFFFFFFF)


def sql_str(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def u64(value: int) -> str:
    """A UBIGINT literal (DuckDB has no hex literals)."""
    return f"{int(value)}::{U64}"


def case(expr: str, names: Mapping[int, str] | Mapping[int, int] | Mapping[int, str | int],
         default: str = "NULL") -> str:
    """CASE expr WHEN k THEN v … : a decode table as SQL (strings quoted, integers as UBIGINT)."""
    whens = " ".join(f"WHEN {u64(k)} THEN {sql_str(v) if isinstance(v, str) else u64(v)}"
                     for k, v in sorted(names.items()))
    return f"CASE {expr} {whens} ELSE {default} END"


def _cr4_names() -> str:
    names = [CR4_DISPLAY_BITS.get(bit, f"bit{bit}") for bit in range(64)]
    return "[" + ", ".join(sql_str(n) for n in names) + "]"


def _tdx_status_name() -> str:
    base = case(f"(s & {u64(HIGH32)})", TDX_STATUS_NAMES)
    return (f"CASE WHEN s IS NULL THEN NULL WHEN ({base}) IS NULL THEN printf('0x%016x', s) "
            f"WHEN (s & {u64(LOW32)}) <> 0 THEN ({base}) || printf('(0x%x)', s & {u64(LOW32)}) "
            f"ELSE ({base}) END")


# name -> (parameters, body, one-line description)
SCALAR_MACROS: dict[str, tuple[str, str, str]] = {
    "gpa_hex": ("x", "printf('0x%x', x)", "an integer as 0x… hex text"),
    "pages_of": ("size", f"(size::{U64} >> {PAGE_SHIFT}) + "
                         f"((size::{U64} & {u64(PAGE_SIZE - 1)}) <> 0)::{U64}",
                 "a size in bytes as 4 KiB pages, rounded up"),
    "shared_bit": ("gpaw", f"(1::{U64} << (gpaw - 1))", "the shared bit of a GPA for a GPAW"),
    "leaf_name": ("leaf", case("leaf", LEAF_NAMES), "TDCALL leaf name (NULL if unknown)"),
    "subfn_name": ("subfn", case("subfn", SUBFN_NAMES),
                   "TDG.VP.VMCALL sub-function name (NULL if unknown)"),
    "tdx_status_name": ("s", _tdx_status_name(),
                        "TDX module status name, compared by the high 32 bits"),
    "tdvmcall_status_name": ("s", case("s", TDVMCALL_STATUS_NAMES, "printf('0x%x', s)"),
                             "TDVMCALL status name (R10 out)"),
    "accept_level_name": ("level", case("level", ACCEPT_LEVEL_NAMES),
                          "ACCEPT level as 4K/2M/1G (NULL if invalid)"),
    "accept_level_size": ("level", case("level", ACCEPT_LEVEL_SIZES),
                          "ACCEPT level size in bytes (NULL if invalid)"),
    "mailbox_command_name": ("v", case("v", MAILBOX_COMMAND_NAMES),
                             "mailbox command name (NONE/WAKEUP/TEST)"),
    "cr4_bits": ("x", f"CASE WHEN x IS NULL THEN NULL ELSE [({_cr4_names()})[b + 1] "
                      f"FOR b IN range(64) IF ((x >> b) & 1::{U64}) = 1] END",
                 "names of the set bits of a CR4 value, lowest first"),
    "severity_rank": ("severity", "CASE severity " + " ".join(
        f"WHEN {sql_str(s)} THEN {i}" for i, s in enumerate(SEVERITIES)) + " END",
                      "0 for fatal … 3 for info (sort divergences by it)"),
}

def scalar_macro_defs() -> dict[str, str]:
    """name -> DDL of each scalar macro (a session defines them on first use)."""
    return {name: f"CREATE MACRO {name}({params}) AS {body}"
            for name, (params, body, _) in SCALAR_MACROS.items()}


def scalar_macro_ddl() -> list[str]:
    return list(scalar_macro_defs().values())
