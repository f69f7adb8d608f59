-- name: divergences-by-kernel
-- description: a fleet's divergences per kernel version (console banner) and rule: traces, count
SELECT coalesce(t.kernel_version, '(unknown)') AS kernel_version, d.rule, d.name, d.severity,
       count(DISTINCT d.trace_id) AS traces,
       count(*) AS count
FROM divergences d JOIN traces t USING (trace_id)
GROUP BY ALL
ORDER BY kernel_version, d.rule
