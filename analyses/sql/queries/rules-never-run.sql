-- name: rules-never-run
-- description: rules that ran on no trace of the store (T003 skipped them in every trace), and why
WITH skipped AS (
  SELECT trace_id, substr(location, length('skipped:') + 1) AS rule,
         substr(message, strpos(message, ' skipped: ') + length(' skipped: ')) AS reason
  FROM divergences
  WHERE rule = 'T003' AND starts_with(location, 'skipped:')
)
SELECT rule, count(DISTINCT trace_id) AS traces, list(DISTINCT reason ORDER BY reason) AS reasons
FROM skipped
GROUP BY rule
HAVING count(DISTINCT trace_id) = (SELECT count(*) FROM traces)
ORDER BY rule
