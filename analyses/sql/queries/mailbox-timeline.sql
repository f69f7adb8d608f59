-- name: mailbox-timeline
-- description: the wakeup mailbox and vCPU state changes in order, with time since the previous
SELECT trace_id, seq, ts_ns,
       ts_ns - lag(ts_ns) OVER (PARTITION BY trace_id ORDER BY seq) AS dt_ns,
       vcpu, event, field, value, meaning
FROM (
  SELECT trace_id, seq, ts_ns, vcpu, op AS event, field, value,
         CASE field WHEN 'command' THEN command_name WHEN 'wakeup_vector' THEN value_hex
              ELSE value::VARCHAR END AS meaning
  FROM mailbox
  UNION ALL
  SELECT trace_id, seq, ts_ns, vcpu, 'cpu', 'apic_id', apic_id, action FROM cpus
)
ORDER BY trace_id, seq
