-- name: divergence-summary
-- description: divergences per trace, severity and rule: count, pages, first revealing seq
SELECT trace_id, severity, rule, name,
       count(*) AS count,
       sum(pages)::UBIGINT AS pages,
       min(seq) AS first_seq
FROM divergences
GROUP BY trace_id, severity, severity_rank, rule, name
ORDER BY trace_id, severity_rank, rule
