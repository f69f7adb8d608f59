"""What an event is: the Arrow schema of a trace (FORMATS.md §1), versioned.

One wide table holds every event kind. Columns a kind does not use are null; Parquet stores
runs of nulls for almost nothing. GPAs, registers and statuses are unsigned 64-bit; strings
are dictionary-encoded except free text.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 1

DICT_STRING = pa.dictionary(pa.int32(), pa.string())

# kind -> (required fields, optional fields), in the order FORMATS.md §1 lists them.
KIND_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "tdcall": (("leaf", "status"), ("rcx", "rdx", "r8", "r9")),
    "tdvmcall": (("status",), ("subfn", "r10", "r12", "r13", "r14", "r15", "r11_out")),
    "map_gpa": (("gpa", "size", "status"), ("resume_gpa",)),
    "accept": (("gpa", "level", "status"), ()),
    "cr4_write": (("old", "new"), ("site",)),
    "mailbox_write": (("field", "value"), ()),
    "mailbox_read": (("field", "value"), ()),
    "cpu": (("apic_id", "action"), ()),
    "kexec": (("phase",), ()),
    "convert": (("gpa", "size", "to_private"), ()),
    "mem_access": (("gpa", "write"), ()),
    "log": (("text",), ()),
}
KNOWN_KINDS = tuple(KIND_FIELDS)

COMMON_FIELDS: tuple[pa.Field, ...] = (
    pa.field("seq", pa.uint64(), nullable=False),
    pa.field("ts_ns", pa.int64(), nullable=False),
    pa.field("vcpu", pa.uint32(), nullable=False),
    pa.field("kind", DICT_STRING, nullable=False),
)

KIND_COLUMNS: tuple[pa.Field, ...] = (
    pa.field("leaf", pa.uint64()),
    pa.field("subfn", pa.uint64()),
    pa.field("status", pa.uint64()),
    pa.field("gpa", pa.uint64()),
    pa.field("size", pa.uint64()),
    pa.field("resume_gpa", pa.uint64()),
    pa.field("level", pa.uint8()),
    pa.field("rcx", pa.uint64()),
    pa.field("rdx", pa.uint64()),
    pa.field("r8", pa.uint64()),
    pa.field("r9", pa.uint64()),
    pa.field("r10", pa.uint64()),
    pa.field("r12", pa.uint64()),
    pa.field("r13", pa.uint64()),
    pa.field("r14", pa.uint64()),
    pa.field("r15", pa.uint64()),
    pa.field("r11_out", pa.uint64()),
    pa.field("old", pa.uint64()),
    pa.field("new", pa.uint64()),
    pa.field("site", DICT_STRING),
    pa.field("field", DICT_STRING),
    pa.field("value", pa.uint64()),
    pa.field("apic_id", pa.uint32()),
    pa.field("action", DICT_STRING),
    pa.field("phase", DICT_STRING),
    pa.field("to_private", pa.bool_()),
    pa.field("write", pa.bool_()),
    pa.field("text", pa.string()),
)

PROVENANCE_COLUMNS: tuple[pa.Field, ...] = (
    # Fields of unknown kinds, or unknown fields of known kinds, as a JSON object (lossless).
    pa.field("extra", pa.string()),
    # Where the event came from (ingest of text sources): file and 1-based line.
    pa.field("source", DICT_STRING),
    pa.field("line", pa.uint64()),
)

EVENT_SCHEMA = pa.schema([*COMMON_FIELDS, *KIND_COLUMNS, *PROVENANCE_COLUMNS])
EVENT_COLUMNS: tuple[str, ...] = tuple(EVENT_SCHEMA.names)

# Which typed columns hold integers that JSONL writes in hex (FORMATS.md §1).
HEX_COLUMNS = frozenset(
    {
        "status", "gpa", "size", "resume_gpa", "rcx", "rdx", "r8", "r9", "r10", "r12", "r13",
        "r14", "r15", "r11_out", "old", "new", "leaf", "subfn", "value",
    }
)
BOOL_COLUMNS = frozenset({"to_private", "write"})
STRING_COLUMNS = frozenset({"site", "field", "action", "phase", "text"})

# Bounds of the integer columns, for range checks at ingest.
INT_BOUNDS: dict[str, tuple[int, int]] = {}
for _f in EVENT_SCHEMA:
    _t = _f.type
    if pa.types.is_unsigned_integer(_t):
        INT_BOUNDS[_f.name] = (0, (1 << _t.bit_width) - 1)
    elif pa.types.is_signed_integer(_t):
        INT_BOUNDS[_f.name] = (-(1 << (_t.bit_width - 1)), (1 << (_t.bit_width - 1)) - 1)

# The last nanosecond an int64 timestamp holds (9223372036.854775807 s), and its whole seconds.
TS_NS_MAX = (1 << 63) - 1
TS_SECONDS_MAX = TS_NS_MAX // 1_000_000_000 - 1  # any fraction after it still fits

# File-metadata keys (Parquet key-value metadata of every trace file).
META_SCHEMA_VERSION = b"tdxray.schema_version"
META_HEADER = b"tdxray.header"  # JSON: the trace header (trace_id, td, provenance, ...)
