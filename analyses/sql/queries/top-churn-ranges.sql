-- name: top-churn-ranges
-- description: the 20 GPA ranges converted most often (MapGPA operations, both directions)
SELECT trace_id, gpa_hex(gpa) || '-' || gpa_hex(gpa_end) AS range_hex, gpa, gpa_end, pages,
       count(*) AS operations,
       count_if(to_shared)::BIGINT AS to_shared,
       count_if(NOT to_shared)::BIGINT AS to_private,
       count_if(outcome <> 'success')::BIGINT AS not_succeeded,
       list(DISTINCT vcpu ORDER BY vcpu) AS vcpus,
       min(first_ts) AS first_ts, max(last_ts) AS last_ts
FROM mapgpa_ops
GROUP BY trace_id, gpa, gpa_end, pages
ORDER BY operations DESC, pages DESC, trace_id, gpa
LIMIT 20
