-- name: leaks-by-vcpu
-- description: which vCPU converted the ranges still shared at the jump (K001 causes by vCPU)
WITH leaks AS (
  SELECT trace_id, gpa_start, gpa_end, unnest(cause_seqs) AS cause_seq
  FROM divergences WHERE rule = 'K001'
),
causes AS (
  SELECT l.trace_id, c.vcpu, l.gpa_start, l.gpa_end, c.seq, c.source,
         CASE WHEN least(l.gpa_end, c.gpa_end) > greatest(l.gpa_start, c.gpa)
              THEN pages_of(least(l.gpa_end, c.gpa_end) - greatest(l.gpa_start, c.gpa))
              ELSE 0 END AS pages
  FROM leaks l JOIN conversions c ON c.trace_id = l.trace_id AND c.seq = l.cause_seq
)
SELECT trace_id, vcpu,
       count(DISTINCT gpa_start) AS leaked_ranges,
       sum(pages)::UBIGINT AS leaked_pages,
       count(*) AS conversions,
       list(seq ORDER BY seq) AS cause_seqs,
       list(DISTINCT gpa_hex(gpa_start) || '-' || gpa_hex(gpa_end)
            ORDER BY gpa_hex(gpa_start) || '-' || gpa_hex(gpa_end)) AS ranges
FROM causes
GROUP BY trace_id, vcpu
ORDER BY trace_id, vcpu
