"""Table macros over the views: page state at a time, shared ranges at a time, conversions of a
page. Each takes a GPA with or without the shared bit (as a number or a '0x…' string)."""

from __future__ import annotations

from tdxray.analyses.sql.macros import u64
from tdxray.schema.constants import PAGE_SIZE

_NO_SHARED = "& ~t.shared_bit"
_LOW = u64(PAGE_SIZE - 1)

# name(parameters) -> one line, for `--schema`.
TABLE_MACRO_DOCS: dict[str, str] = {
    "page_state_at(gpa, ts)": "state of the page holding gpa at time ts, per trace",
    "shared_ranges_at(trace, ts)": "coalesced ranges shared at time ts (trace NULL: every trace)",
    "conversions_of(addr)": "every MapGPA/convert touching the page holding the GPA addr",
}

_VALID_AT = "(h.from_ts IS NULL OR h.from_ts <= ts) AND (h.to_ts IS NULL OR h.to_ts > ts)"

TABLE_MACROS = [
    f"""CREATE MACRO page_state_at(gpa, ts) AS TABLE
SELECT h.trace_id, (gpa::UBIGINT {_NO_SHARED}) & ~{_LOW} AS page,
       gpa_hex((gpa::UBIGINT {_NO_SHARED}) & ~{_LOW}) AS page_hex, h.state, h.gpa_start,
       h.gpa_end, h.from_seq, h.from_ts, h.to_seq, h.to_ts, h.generation, h.cause_seq
FROM page_history h JOIN traces t ON h.trace_id = t.trace_id
WHERE h.gpa_start <= (gpa::UBIGINT {_NO_SHARED}) AND (gpa::UBIGINT {_NO_SHARED}) < h.gpa_end
  AND {_VALID_AT}
QUALIFY row_number() OVER (PARTITION BY h.trace_id ORDER BY h.from_seq DESC NULLS LAST) = 1""",
    f"""CREATE MACRO shared_ranges_at(trace, ts) AS TABLE
WITH s AS (
  SELECT h.trace_id, h.gpa_start, h.gpa_end, h.cause_seq FROM page_history h
  WHERE h.state = 'shared' AND (trace IS NULL OR h.trace_id = trace) AND {_VALID_AT}),
r AS (
  SELECT s.*, max(s.gpa_end) OVER (PARTITION BY s.trace_id ORDER BY s.gpa_start, s.gpa_end
                                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
  FROM s),
g AS (
  SELECT r.*, sum((r.reach IS NULL OR r.gpa_start > r.reach)::INTEGER)
                OVER (PARTITION BY r.trace_id ORDER BY r.gpa_start, r.gpa_end
                      ROWS UNBOUNDED PRECEDING) AS run
  FROM r)
SELECT g.trace_id, min(g.gpa_start) AS gpa_start, max(g.gpa_end) AS gpa_end,
       pages_of(max(g.gpa_end) - min(g.gpa_start)) AS pages,
       gpa_hex(min(g.gpa_start)) || '-' || gpa_hex(max(g.gpa_end)) AS range_hex,
       list(DISTINCT g.cause_seq ORDER BY g.cause_seq) AS cause_seqs
FROM g GROUP BY g.trace_id, g.run ORDER BY g.trace_id, gpa_start""",
    f"""CREATE MACRO conversions_of(addr) AS TABLE
SELECT c.* FROM conversions c JOIN traces t ON c.trace_id = t.trace_id
WHERE c.gpa <= (addr::UBIGINT {_NO_SHARED}) | {_LOW}
  AND c.gpa_end > (addr::UBIGINT {_NO_SHARED}) & ~{_LOW}
ORDER BY c.trace_id, c.seq""",
]


def table_macro_ddl() -> dict[str, str]:
    """name -> DDL of each table macro (a session defines them on first use)."""
    return {ddl.split()[2].split("(")[0]: ddl for ddl in TABLE_MACROS}
