-- name: shared-pages-over-time
-- description: shared 4 KiB pages after every event that changed them, per trace (seq 0: initial)
WITH changes AS (
  SELECT trace_id, coalesce(from_seq, 0) AS seq, from_ts AS ts_ns, pages::BIGINT AS delta
  FROM page_history WHERE state = 'shared'
  UNION ALL
  SELECT trace_id, to_seq, to_ts, -(pages::BIGINT)
  FROM page_history WHERE state = 'shared' AND to_seq IS NOT NULL
),
steps AS (
  SELECT trace_id, seq, min(ts_ns) AS ts_ns, sum(delta) AS delta
  FROM changes GROUP BY trace_id, seq HAVING sum(delta) <> 0
)
SELECT trace_id, seq, ts_ns, delta::BIGINT AS delta,
       sum(delta) OVER (PARTITION BY trace_id ORDER BY seq)::BIGINT AS shared_pages
FROM steps
ORDER BY trace_id, seq
