-- The first pack of "Trace tea" as sql/41_trace_flow.sql records it: the
-- batch B-1 from LOT-1 and LOT-2, then the pack P-1 from B-1 and FILM-1,
-- each record in an entry of its own.  Recorded only when the link has no
-- P-1 yet.  Includes trace_records.sql.
\i sql/include/trace_records.sql
SELECT NOT EXISTS (SELECT FROM tracelink.trace_records WHERE link = 'Trace tea' AND code = 'P-1') AS tl_need_trace_pack \gset
\if :tl_need_trace_pack
\o /dev/null
SELECT tracelink.record('Trace tea', 'B-1', 'Processing', 'Steaming', 'Batch sheet', '{"minutes": 45}',
       inputs => '[{"code": "LOT-1", "quantity": 40, "unit": "kg"}, {"code": "LOT-2", "quantity": "41.50", "unit": "kg"}]',
       occurred_at => '2026-05-04 09:00+00');
SELECT tracelink.record('Trace tea', 'P-1', 'Packing', 'Boxing', 'Pack label', source => 'device',
       inputs => '["B-1", {"code": "FILM-1", "quantity": 0.2, "unit": "m2"}]',
       occurred_at => '2026-05-05 10:00+00');
\o
\endif
\unset tl_need_trace_pack
