"""DDL of the SQL views over a store: raw events, decoded per-kind views, replay results.

The views are thin: a filter on `kind`, column renames and inlined decode macros (macros.py).
Events are never materialised: DuckDB pushes projections and filters through every view into
the Parquet scans. The `traces` table is tiny, and replay results under RESULTS_IN_MEMORY_BYTES
are read into memory when the session opens. All traces are read by one read_parquet over the list
of files; trace_id (and the shared bit) are per-file constants chosen by the file name.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pyarrow as pa

from tdxray.analyses.sql.macros import sql_str, u64
from tdxray.model.catalogue import SEVERITIES
from tdxray.model.outputs import (
    DIVERGENCE_SCHEMA,
    DIVERGENCES_FILE,
    PAGE_HISTORY_FILE,
    PAGE_HISTORY_SCHEMA,
)
from tdxray.schema.constants import (
    ACCEPT_LEVEL_MASK,
    PAGE_SHIFT,
    TDVMCALL_RETRY,
    TDVMCALL_SUCCESS,
    Cr4,
    Leaf,
    Subfn,
    cr4_bit,
)
from tdxray.schema.events import EVENT_SCHEMA


@dataclass(frozen=True)
class TraceFiles:
    """One trace of the store as the views read it."""

    trace_id: str
    path: str  # the trace file; strings, not Paths: a store has thousands of them
    results_dir: str
    shared_bit: int


# One line per view, shown by `tdxray sql --schema` (in this order).
VIEW_DOCS: dict[str, str] = {
    "traces": "one row per trace: TD configuration, event count, provenance (JSON); from the "
              "store's manifest: kernel_version, td_config_hash, ingested_at, replay_stamp",
    "losses": "events a trace's recorder lost, one row per buffer marker (not events): source, "
              "line, cpu, lost (NULL: unknown), after_seq, marker",
    "events": "every event of every trace, raw columns (docs/jsonl-format.md) plus trace_id",
    "tdcalls": "TDCALLs: leaf and leaf_name, status and status_name (TDX module status)",
    "tdvmcalls": "TDG.VP.VMCALLs: subfn and subfn_name, status_name, registers",
    "map_gpa": "MapGPA calls, both spellings (map_gpa events and tdvmcall 0x10001), decoded",
    "mapgpa_ops": "MapGPA operations: a first call and its RETRY continuations, per vCPU",
    "accepts": "TDG.MEM.PAGE.ACCEPTs, both spellings (accept events and tdcall leaf 6), decoded",
    "converts": "conversions as the host saw them (convert events)",
    "conversions": "map_gpa and converts together: every request to change a range's state",
    "mem_accesses": "memory accesses, with the mapping used (shared bit) and the GPA without it",
    "cr4_writes": "CR4 writes: old/new raw, bit names cleared and set, mce_cleared",
    "mailbox": "MADT wakeup mailbox writes and reads: field, value, command name",
    "cpus": "vCPU state changes: woken, parked, stopped, online",
    "kexec_phases": "kexec phase events (load, shutdown, begin, finish, jump, boot, crash)",
    "logs": "console lines",
    "divergences": "what replay found: rule, severity, revealing event, range, causes, message",
    "page_history": "page-state intervals from replay (from_seq NULL: initial; to_seq NULL: "
                    "current)",
}

_DUCK_TYPES = {
    pa.uint64(): "UBIGINT", pa.int64(): "BIGINT", pa.uint32(): "UINTEGER",
    pa.uint8(): "UTINYINT", pa.bool_(): "BOOLEAN", pa.string(): "VARCHAR",
    pa.list_(pa.uint64()): "UBIGINT[]",
}


def duck_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    return _DUCK_TYPES[arrow_type]


def _per_file(branches: Sequence[tuple[TraceFiles, str]], value: Callable[[TraceFiles], str]
              ) -> str:
    """A per-trace constant chosen by DuckDB's `filename` column (evaluated once per vector)."""
    whens = " ".join(f"WHEN {sql_str(path)} THEN {value(t)}" for t, path in branches)
    return f"CASE filename {whens} END"


def _trace_id(branches: Sequence[tuple[TraceFiles, str]]) -> str:
    """trace_id per file: the file's name when every file is named `<trace_id>.parquet` (a
    store's traces), the folder's when every file is in `<trace_id>.replay/` (their results),
    else (results in stand-in folders of a read-only store) a CASE over the files. The CASE is
    bound again by every view built on the scan and tested per vector, which costs O(traces)
    each: a store of 1,000 traces took seconds to open and to query."""
    if all(path.rpartition("/")[2] == f"{t.trace_id}.parquet" for t, path in branches):
        return r"regexp_extract(filename, '([^/]*)\.parquet$', 1)"
    if all(path.rsplit("/", 2)[-2:-1] == [f"{t.trace_id}.replay"]  # results
           for t, path in branches):
        return r"regexp_extract(filename, '([^/]*)\.replay/[^/]*$', 1)"
    return _per_file(branches, lambda t: sql_str(t.trace_id))


def _read(schema: pa.Schema, branches: Sequence[tuple[TraceFiles, str]],
          shared_bit: bool = False) -> str:
    """SELECT trace_id, <schema columns> from the Parquet files of every trace, in one scan;
    with `shared_bit`, also each trace's shared bit (so decoding needs no join).

    One read_parquet over the list binds once whatever the number of traces; trace_id comes
    from the file name. An empty store gets a typed empty SELECT with the same columns.
    """
    names = [n for n in schema.names if n != "trace_id"]
    if not branches:
        empty = ["NULL::VARCHAR AS trace_id"] + (["NULL::UBIGINT AS shared_bit"] if shared_bit
                                                 else [])
        empty += [f"NULL::{duck_type(schema.field(n).type)} AS {n}" for n in names]
        return f"SELECT {', '.join(empty)} WHERE false"
    cols = [f"{_trace_id(branches)} AS trace_id"]
    if shared_bit:
        bits = {t.shared_bit for t, _ in branches}
        bit = (u64(bits.pop()) if len(bits) == 1
               else _per_file(branches, lambda t: u64(t.shared_bit)))
        cols.append(f"{bit} AS shared_bit")
    files = "[" + ", ".join(sql_str(path) for _, path in branches) + "]"
    return (f"SELECT {', '.join(cols + names)} "
            f"FROM read_parquet({files}, filename = true)")


# Replay results this small are read into memory when the session opens: a question about
# them then costs no Parquet planning (events are always read from the files).
RESULTS_IN_MEMORY_BYTES = 4 << 20  # compressed; about a million page-history rows


def results_in_memory(traces: Sequence[TraceFiles]) -> bool:
    """Whether the replay results are small enough to read into memory at session open."""
    total = 0
    for t in traces:
        for name in (DIVERGENCES_FILE, PAGE_HISTORY_FILE):
            with contextlib.suppress(FileNotFoundError):  # not there: nothing to read
                total += os.stat(f"{t.results_dir}/{name}").st_size
        if total > RESULTS_IN_MEMORY_BYTES:
            return False
    return True


def store_view_ddl(traces: Sequence[TraceFiles]) -> dict[str, str]:
    """name -> DDL of the views that read files: events and the replay results of every trace
    (a session defines them on first use too: each binds a scan of 1,000 files in a fleet).

    `_events` carries each trace's shared bit as a constant column; `events` hides it.
    """
    events = [(t, t.path) for t in traces]
    divs = [(t, f"{t.results_dir}/{DIVERGENCES_FILE}") for t in traces]
    hist = [(t, f"{t.results_dir}/{PAGE_HISTORY_FILE}") for t in traces]
    return {
        "_events": f"CREATE VIEW _events AS {_read(EVENT_SCHEMA, events, shared_bit=True)}",
        "_divergences": f"CREATE VIEW _divergences AS {_read(DIVERGENCE_SCHEMA, divs)}",
        "_page_history": f"CREATE VIEW _page_history AS {_read(PAGE_HISTORY_SCHEMA, hist)}",
    }


_COMMON = "trace_id, seq, ts_ns, vcpu"
_SEVERITY_RANK = "CASE severity " + " ".join(
    f"WHEN {sql_str(name)} THEN {rank}" for rank, name in enumerate(SEVERITIES)) + " END"
_RANGE_HEX = "printf('0x%x', gpa_start) || '-' || printf('0x%x', gpa_end)"


def _end(gpa: str, size: str) -> str:
    """gpa + size, or NULL where it would overflow 64 bits (untrusted operands)."""
    return f"CASE WHEN {size} <= ~({gpa}) THEN ({gpa}) + {size} END"


_DECODED: dict[str, str] = {
    "tdcalls": f"""
SELECT {_COMMON}, leaf, leaf_name(leaf) AS leaf_name, status,
       tdx_status_name(status) AS status_name, rcx, rdx, r8, r9
FROM events WHERE kind = 'tdcall'""",
    "tdvmcalls": f"""
SELECT {_COMMON}, subfn, subfn_name(subfn) AS subfn_name, status,
       tdvmcall_status_name(status) AS status_name, r10, r12, r13, r14, r15, r11_out
FROM events WHERE kind = 'tdvmcall'""",
    "map_gpa": f"""
WITH calls AS (
  SELECT {_COMMON}, shared_bit, 'map_gpa' AS spelling, gpa AS gpa_raw, size, status,
         resume_gpa AS resume_raw
  FROM _events WHERE kind = 'map_gpa'
  UNION ALL
  SELECT {_COMMON}, shared_bit, 'tdvmcall', r12, r13, status,
         CASE WHEN status = {u64(TDVMCALL_RETRY)} THEN r11_out END
  FROM _events WHERE kind = 'tdvmcall' AND subfn = {u64(Subfn.MAP_GPA)})
SELECT {_COMMON}, spelling, gpa_raw, gpa_raw & ~shared_bit AS gpa,
       gpa_hex(gpa_raw & ~shared_bit) AS gpa_hex, (gpa_raw & shared_bit) <> 0 AS to_shared, size,
       {_end("gpa_raw & ~shared_bit", "size")} AS gpa_end, pages_of(size) AS pages,
       status, tdvmcall_status_name(status) AS status_name,
       resume_raw AS resume_gpa_raw, resume_raw & ~shared_bit AS resume_gpa
FROM calls""",
    "mapgpa_ops": f"""
WITH c AS (
  SELECT *, lag(status) OVER w AS prev_status, lag(to_shared) OVER w AS prev_dir,
         lag(gpa_end) OVER w AS prev_end
  FROM map_gpa WINDOW w AS (PARTITION BY trace_id, vcpu ORDER BY seq)),
o AS (
  SELECT *, sum(CASE WHEN prev_status = {u64(TDVMCALL_RETRY)} AND prev_dir = to_shared
                          AND prev_end = gpa_end THEN 0 ELSE 1 END)
              OVER (PARTITION BY trace_id, vcpu ORDER BY seq ROWS UNBOUNDED PRECEDING) AS op
  FROM c)
SELECT trace_id, vcpu, min(seq) AS first_seq, max(seq) AS last_seq,
       arg_min(ts_ns, seq) AS first_ts, arg_max(ts_ns, seq) AS last_ts,
       arg_max(ts_ns, seq) - arg_min(ts_ns, seq) AS latency_ns,
       any_value(to_shared) AS to_shared, arg_min(gpa, seq) AS gpa, any_value(gpa_end) AS gpa_end,
       gpa_hex(arg_min(gpa, seq)) AS gpa_hex,
       pages_of(any_value(gpa_end) - arg_min(gpa, seq)) AS pages, count(*) AS calls,
       count_if(status = {u64(TDVMCALL_RETRY)})::BIGINT AS retries,
       count_if(status = {u64(TDVMCALL_RETRY)} AND resume_gpa = gpa)::BIGINT
         AS no_progress_retries,
       arg_max(status, seq) AS final_status,
       tdvmcall_status_name(arg_max(status, seq)) AS final_status_name,
       CASE arg_max(status, seq) WHEN {u64(TDVMCALL_SUCCESS)} THEN 'success'
            WHEN {u64(TDVMCALL_RETRY)} THEN 'unfinished' ELSE 'error' END AS outcome
FROM o GROUP BY trace_id, vcpu, op""",
    "accepts": f"""
WITH calls AS (
  SELECT {_COMMON}, 'accept' AS spelling, gpa, level, status, NULL::UBIGINT AS rcx
  FROM events WHERE kind = 'accept'
  UNION ALL
  SELECT {_COMMON}, 'tdcall', rcx & ~{u64(ACCEPT_LEVEL_MASK)},
         (rcx & {u64(ACCEPT_LEVEL_MASK)})::UTINYINT, status, rcx
  FROM events WHERE kind = 'tdcall' AND leaf = {u64(Leaf.MEM_PAGE_ACCEPT)})
SELECT {_COMMON}, spelling, gpa, gpa_hex(gpa) AS gpa_hex, level,
       accept_level_name(level) AS level_name, accept_level_size(level) AS level_size,
       status, tdx_status_name(status) AS status_name, rcx
FROM calls""",
    "converts": f"""
SELECT {_COMMON}, gpa, gpa_hex(gpa) AS gpa_hex, size, {_end("gpa", "size")} AS gpa_end,
       pages_of(size) AS pages, to_private
FROM events WHERE kind = 'convert'""",
    "conversions": f"""
SELECT {_COMMON}, spelling AS source, to_shared, gpa, gpa_hex, gpa_end, pages, status,
       status_name
FROM map_gpa
UNION ALL
SELECT {_COMMON}, 'convert', NOT to_private, gpa, gpa_hex, gpa_end, pages, NULL::UBIGINT, NULL
FROM converts""",
    "mem_accesses": f"""
SELECT {_COMMON}, gpa AS gpa_raw, gpa & ~shared_bit AS gpa,
       gpa_hex(gpa & ~shared_bit) AS gpa_hex, (gpa & shared_bit) <> 0 AS shared_mapping, write
FROM _events WHERE kind = 'mem_access'""",
    "cr4_writes": f"""
SELECT {_COMMON}, old, new, site, cr4_bits(old & ~new) AS cleared, cr4_bits(new & ~old) AS "set",
       cr4_bits(new) AS new_bits,
       (old & {u64(cr4_bit(Cr4.MCE))}) <> 0 AND (new & {u64(cr4_bit(Cr4.MCE))}) = 0
         AS mce_cleared
FROM events WHERE kind = 'cr4_write'""",
    "mailbox": f"""
SELECT {_COMMON}, CASE kind WHEN 'mailbox_write' THEN 'write' ELSE 'read' END AS op, field,
       value, CASE WHEN field = 'command' THEN mailbox_command_name(value) END AS command_name,
       gpa_hex(value) AS value_hex
FROM events WHERE kind IN ('mailbox_write', 'mailbox_read')""",
    "cpus": f"SELECT {_COMMON}, apic_id, action FROM events WHERE kind = 'cpu'",
    "kexec_phases": f"SELECT {_COMMON}, phase FROM events WHERE kind = 'kexec'",
    "logs": f"SELECT {_COMMON}, text, source, line FROM events WHERE kind = 'log'",
    # the two views over replay results spell their expressions out instead of calling the
    # macros: binding a macro costs about as much as these small queries themselves (and they
    # are created before the macros when they become tables)
    "divergences": f"""
SELECT *, {_SEVERITY_RANK} AS severity_rank, {_RANGE_HEX} AS range_hex
FROM _divergences""",
    "page_history": f"""
SELECT *, (gpa_end - gpa_start) >> {PAGE_SHIFT} AS pages, {_RANGE_HEX} AS range_hex
FROM _page_history""",
}


_RESULTS = ("divergences", "page_history")


def _ddl(name: str, results_in_memory: bool) -> str:
    kind = "TABLE" if results_in_memory and name in _RESULTS else "VIEW"
    return f"CREATE {kind} {name} AS {_DECODED[name].strip()}"


def results_view_ddl(results_in_memory: bool = False) -> dict[str, str]:
    """name -> DDL of the views (or, in memory, tables) over the replay results; a session
    defines them on first use too: a table reads every results file when it is created."""
    return {name: _ddl(name, results_in_memory) for name in _RESULTS}


def event_view_ddl() -> dict[str, str]:
    """name -> DDL of the decoded views over events, which a session defines on first use
    (analyses/sql/lazy.py): each binds the scan of every trace file again, tens of ms at
    1,000 traces, and most questions use one or two of them."""
    return {"events": "CREATE VIEW events AS SELECT * EXCLUDE (shared_bit) FROM _events",
            **{name: _ddl(name, False) for name in _DECODED if name not in _RESULTS}}
