-- record_proof() checks the position it is given against the records its
-- entry holds before using it: huge and negative positions are 22023, as
-- in every proof function (23_proof_limits).  Uses the trace data of
-- 41_trace_flow (sql/include/trace_pack.sql).
\set ECHO none
\i sql/include/trace_pack.sql
\set ECHO all
SELECT entry_hash AS rec_entry FROM tracelink.trace_records WHERE code = 'P-1' LIMIT 1 \gset
SELECT err(format($$ SELECT tracelink.record_proof(%L, 2147483647) $$, :'rec_entry'));
SELECT err(format($$ SELECT tracelink.record_proof(%L, -1) $$, :'rec_entry'));
SELECT err(format($$ SELECT tracelink.record_proof(%L, -2147483648) $$, :'rec_entry'));
SELECT tracelink.verify_record_proof(jsonb_set(tracelink.record_proof(:'rec_entry', 0), '{position}', '2147483648'),
                                     tracelink.node_public_key()) AS position_beyond_int4,
       tracelink.verify_record_proof(jsonb_set(tracelink.record_proof(:'rec_entry', 0), '{leaf_index}', '-1'),
                                     tracelink.node_public_key()) AS negative_leaf_index,
       tracelink.verify_record_proof(jsonb_set(tracelink.record_proof(:'rec_entry', 0), '{tree_size}', '9223372036854775808'),
                                     tracelink.node_public_key()) AS tree_size_beyond_int8;
