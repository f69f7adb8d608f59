-- name: retries-per-vcpu
-- description: MapGPA calls, RETRY answers and no-progress RETRYs (R11 = start) per trace and vCPU
SELECT trace_id, vcpu,
       count(*) AS calls,
       count_if(status_name = 'RETRY')::BIGINT AS retries,
       count_if(status_name = 'RETRY' AND resume_gpa = gpa)::BIGINT AS no_progress,
       count_if(status_name NOT IN ('SUCCESS', 'RETRY'))::BIGINT AS errors,
       round(count_if(status_name = 'RETRY') / count(*), 3) AS retry_rate
FROM map_gpa
GROUP BY trace_id, vcpu
ORDER BY retries DESC, trace_id, vcpu
