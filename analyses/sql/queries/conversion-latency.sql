-- name: conversion-latency
-- description: MapGPA operations per vCPU: first call to final SUCCESS (RETRYs included), in ns
SELECT trace_id, vcpu,
       count(*) AS operations,
       count_if(outcome = 'success')::BIGINT AS succeeded,
       count_if(outcome <> 'success')::BIGINT AS not_succeeded,
       count_if(retries > 0)::BIGINT AS with_retries,
       sum(retries)::BIGINT AS retries,
       min(latency_ns) FILTER (WHERE outcome = 'success') AS min_ns,
       quantile_disc(latency_ns, 0.5) FILTER (WHERE outcome = 'success') AS median_ns,
       max(latency_ns) FILTER (WHERE outcome = 'success') AS max_ns,
       first(first_seq ORDER BY latency_ns DESC, first_seq)
         FILTER (WHERE outcome = 'success') AS slowest_first_seq
FROM mapgpa_ops
GROUP BY trace_id, vcpu
ORDER BY trace_id, vcpu
