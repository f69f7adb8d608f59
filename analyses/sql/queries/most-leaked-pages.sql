-- name: most-leaked-pages
-- description: the traces that leaked the most pages (K001: still shared at the jump), most first
SELECT d.trace_id, coalesce(t.kernel_version, '(unknown)') AS kernel_version,
       sum(d.pages)::UBIGINT AS leaked_pages,
       count(*) AS leaked_ranges,
       list(gpa_hex(d.gpa_start) || '-' || gpa_hex(d.gpa_end) ORDER BY d.gpa_start) AS ranges
FROM divergences d JOIN traces t USING (trace_id)
WHERE d.rule = 'K001'
GROUP BY d.trace_id, t.kernel_version
ORDER BY leaked_pages DESC, d.trace_id
