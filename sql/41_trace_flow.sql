-- Transformations (the mesh at product level), versions, provenance
-- queries, proofs and privileges of trace data, on the records of
-- 40_trace_record (sql/include/trace_records.sql).
\set ECHO none
\i sql/include/trace_records.sql
\set ECHO all

-- a batch made from two lots, with quantities; a later process (Packaging
-- supply) feeds an earlier one (Packing)
SELECT tracelink.record('Trace tea', 'B-1', 'Processing', 'Steaming', 'Batch sheet', '{"minutes": 45}',
       inputs => '[{"code": "LOT-1", "quantity": 40, "unit": "kg"}, {"code": "LOT-2", "quantity": "41.50", "unit": "kg"}]',
       occurred_at => '2026-05-04 09:00+00') IS NOT NULL AS batch;
SELECT tracelink.record('Trace tea', 'P-1', 'Packing', 'Boxing', 'Pack label', source => 'device',
       inputs => '["B-1", {"code": "FILM-1", "quantity": 0.2, "unit": "m2"}]',
       occurred_at => '2026-05-05 10:00+00') IS NOT NULL AS pack;
-- outputs: a record produces codes (a split); they are bound to its version
SELECT tracelink.record('Trace tea', 'B-1', 'Processing', 'Steaming', 'Batch sheet', '{}',
       outputs => '[{"code": "B-1a", "quantity": 40, "unit": "kg"}, {"code": "B-1b", "quantity": 41.5, "unit": "kg"}]',
       occurred_at => '2026-05-04 12:00+00') IS NOT NULL AS split;
SELECT tracelink.record('Trace tea', 'P-2', 'Packing', 'Boxing', 'Pack label', inputs => '["B-1a"]',
       occurred_at => '2026-05-05 11:00+00') IS NOT NULL AS pack_from_output;
SELECT parent, child, quantity, unit, direction, process, effective FROM tracelink.trace_edges
 ORDER BY child, parent;
SELECT code, version, first_process FROM tracelink.trace_codes WHERE code LIKE 'B-1%' ORDER BY code;
-- the entry depends on the bindings of the codes it consumes
SELECT cardinality(e.deps) AS deps,
       (SELECT count(*) FROM tracelink.codes c WHERE c.code IN ('B-1', 'FILM-1') AND c.bind_entry = ANY (e.deps)) AS input_bindings
  FROM tracelink.ledger_entries e JOIN tracelink.trace_records r ON r.entry_hash = e.entry_hash
 WHERE r.code = 'P-1';

-- refusals: inputs and outputs
SELECT err($$ SELECT tracelink.record('Trace tea', 'B-2', 'Processing', 'Steaming', 'Batch sheet', inputs => '["LOT-99"]') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'B-2', 'Processing', 'Steaming', 'Batch sheet', inputs => '["FILM-1"]') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'P-3', 'Packing', 'Boxing', 'Pack label', inputs => '["LOT-3"]') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'B-2', 'Processing', 'Steaming', 'Batch sheet', inputs => '{"code": "LOT-3"}') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'B-2', 'Processing', 'Steaming', 'Batch sheet', inputs => '[]') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'B-2', 'Processing', 'Steaming', 'Batch sheet', inputs => '[3]') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'B-2', 'Processing', 'Steaming', 'Batch sheet', inputs => '[{"code": "LOT-3", "kg": 3}]') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'B-2', 'Processing', 'Steaming', 'Batch sheet', inputs => '[{"quantity": 3}]') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'B-2', 'Processing', 'Steaming', 'Batch sheet', inputs => '[""]') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'B-2', 'Processing', 'Steaming', 'Batch sheet', inputs => '[{"code": "LOT-3", "quantity": 0}]') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'B-2', 'Processing', 'Steaming', 'Batch sheet', inputs => '[{"code": "LOT-3", "quantity": -2}]') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'B-2', 'Processing', 'Steaming', 'Batch sheet', inputs => '[{"code": "LOT-3", "quantity": "0.00"}]') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'B-2', 'Processing', 'Steaming', 'Batch sheet', inputs => '[{"code": "LOT-3", "quantity": "lots"}]') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'B-2', 'Processing', 'Steaming', 'Batch sheet', inputs => '[{"code": "LOT-3", "quantity": 1, "unit": " kg"}]') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'B-2', 'Processing', 'Steaming', 'Batch sheet', inputs => '["B-2"]') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'B-2', 'Processing', 'Steaming', 'Batch sheet', inputs => '["LOT-3", "LOT-3"]') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'B-2', 'Processing', 'Steaming', 'Batch sheet', outputs => '["B-2"]') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'B-2', 'Processing', 'Steaming', 'Batch sheet', outputs => '["B-2x", "B-2x"]') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'B-2', 'Processing', 'Steaming', 'Batch sheet', inputs => '["LOT-3"]', outputs => '["LOT-3"]') $$);
SELECT err(format($$ SELECT tracelink.record('Trace tea', 'B-2', 'Processing', 'Steaming', 'Batch sheet', inputs => %L) $$,
                  (SELECT jsonb_agg('L-' || g) FROM generate_series(1, 251) g)));
SELECT count(*) AS codes_b2 FROM tracelink.codes WHERE code LIKE 'B-2%';

-- a trace code never becomes its own ancestor: B-1 went into B-2, so B-2
-- cannot go into B-1; and a code can take in only codes recorded before it
SELECT tracelink.record('Trace tea', 'B-2', 'Processing', 'Steaming', 'Batch sheet', inputs => '["B-1"]',
       occurred_at => '2026-05-06 09:00+00') IS NOT NULL AS reblend;
SELECT err($$ SELECT tracelink.record('Trace tea', 'B-1', 'Processing', 'Steaming', 'Batch sheet', inputs => '["B-2"]') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'B-2', 'Processing', 'Steaming', 'Batch sheet', outputs => '["B-1"]') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'B-2', 'Processing', 'Steaming', 'Batch sheet', outputs => '["LOT-1"]') $$);
SELECT tracelink.record('Trace tea', 'B-3', 'Processing', 'Steaming', 'Batch sheet',
       occurred_at => '2026-05-06 10:00+00') IS NOT NULL AS later_batch;
SELECT err($$ SELECT tracelink.record('Trace tea', 'B-1', 'Processing', 'Steaming', 'Batch sheet', inputs => '["B-3"]') $$);
-- an existing code may still take in a code recorded before it
SELECT tracelink.record('Trace tea', 'B-3', 'Processing', 'Steaming', 'Batch sheet', inputs => '["LOT-3"]',
       occurred_at => '2026-05-06 11:00+00') IS NOT NULL AS topped_up;
SELECT count(*) AS edges, count(*) FILTER (WHERE effective) AS effective FROM tracelink.transformations;

-- provenance: upstream and downstream, with every record
SELECT code, relation, depth, version, process, stage, form, source, node, occurred_at, position
  FROM tracelink.trace('B-1');
SELECT code, relation, depth, process FROM tracelink.trace('P-1');
SELECT code, relation, depth, process FROM tracelink.trace('LOT-2');
SELECT count(*) AS rows, count(*) FILTER (WHERE tracelink.verify_record_proof(tracelink.record_proof(entry_hash, position),
                                                                             tracelink.node_public_key())) AS proved
  FROM tracelink.trace('P-2');
-- as one JSON document (hashes and recording times left out here: they differ per run)
SELECT jsonb_path_query_array(j, '$.codes[*] ? (@.relation != "self").code') AS related,
       jsonb_path_query_array(j, '$.codes[*].records.size()') AS records,
       jsonb_path_query_array(j, '$.edges[*] ? (@.child == "P-1").parent') AS into_p1,
       j->'link'->>'name' AS link, j->>'code' AS code,
       jsonb_path_query_first(j, '$.edges[*] ? (@.parent == "LOT-2") ') - 'entry_hash' AS lot2_edge
  FROM tracelink.trace_json('P-1') j;
SELECT jsonb_path_query_first(tracelink.trace_json('LOT-1'), '$.codes[*] ? (@.code == "LOT-1").records[0]')
       - 'entry_hash' - 'recorded_at' AS lot1_record;
-- as a Graphviz graph: a line per record (process, node, version, time,
-- signed block) and a legend; FILM-1 was recorded at the time of the run,
-- and block numbers depend on what ran before (checked after)
SELECT regexp_replace(replace(tracelink.trace_dot('P-1'),
               (SELECT left(tracelink._utc(occurred_at), 19) || 'Z' FROM tracelink.trace_records WHERE code = 'FILM-1'),
               '<recorded now>'), 'block [0-9]+ signed', 'block N signed', 'g') AS trace_dot;
SELECT count(*) AS records,
       bool_and(strpos(d.dot, t.process || ' · ' || t.node || ' · v' || t.version || ' · '
                              || left(tracelink._utc(t.occurred_at), 19) || 'Z · block ' || b.block_no || ' signed') > 0)
         AS each_line_names_its_block
  FROM (SELECT tracelink.trace_dot('P-1') AS dot) d, tracelink.trace('P-1') t
  JOIN tracelink.ledger_entries e ON e.entry_hash = t.entry_hash
  JOIN tracelink.ledger_blocks b ON b.origin = e.origin AND b.tx = e.tx;
-- a user's own recursive query over the views, started from a literal and
-- joining a view's codes with it, needs no COLLATE clause
WITH RECURSIVE up(code, node, depth) AS (
    SELECT 'P-1'::text, NULL::text, 0
    UNION
    SELECT e.parent, e.node, up.depth - 1
      FROM tracelink.trace_edges e JOIN up ON e.child = up.code
)
SELECT up.code, up.node, up.depth, r.process
  FROM up LEFT JOIN tracelink.trace_records r ON r.code = up.code AND r.node = 'alpha'
 ORDER BY up.depth DESC, up.code COLLATE "C", r.process;
-- and a lookup by code through them can use an index
CREATE FUNCTION pg_temp.plan_uses(q text, idx text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE l text;
BEGIN
    FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
        IF strpos(l, idx) > 0 THEN RETURN true; END IF;
    END LOOP;
    RETURN false;
END $$;
SET enable_seqscan = off;
SELECT pg_temp.plan_uses($$SELECT code_id FROM tracelink.trace_codes WHERE code = 'P-1'$$, 'codes_code_default') AS trace_codes,
       pg_temp.plan_uses($$SELECT 1 FROM tracelink.trace_records WHERE code = 'P-1'$$, 'codes_code_default') AS trace_records,
       pg_temp.plan_uses($$SELECT 1 FROM tracelink.trace_edges WHERE child = 'P-1'$$, 'codes_code_default') AS trace_edges;
RESET enable_seqscan;
-- refusals
SELECT err($$ SELECT * FROM tracelink.trace('NOPE') $$);
SELECT err($$ SELECT * FROM tracelink.trace(NULL) $$);
SELECT err($$ SELECT tracelink.trace_json('LOT-1', 'No such link') $$);
SELECT err($$ SELECT tracelink.trace_dot('NOPE', 'Trace tea') $$);

-- the views: filter by code, link, version, process, stage, form, node, time
SELECT process, stage, form, count(*) FROM tracelink.trace_records
 WHERE link = 'Trace tea' AND version = 1 AND node = 'alpha'
 GROUP BY process, stage, form ORDER BY process, stage, form;
SELECT code FROM tracelink.trace_records
 WHERE process = 'Processing' AND stage = 'Steaming' AND form = 'Batch sheet'
   AND occurred_at >= '2026-05-06 00:00+00' AND occurred_at < '2026-05-07 00:00+00'
 ORDER BY occurred_at;
SELECT parent, child FROM tracelink.trace_edges WHERE child = 'B-3' OR parent = 'B-3' ORDER BY 1, 2;
-- the indexes that serve those filters
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM tracelink.trace_records WHERE code = 'B-1';
EXPLAIN (COSTS OFF) SELECT * FROM tracelink.records r
 WHERE r.slot_id IN (SELECT slot_id FROM tracelink.record_slots WHERE process = 'Processing')
   AND r.occurred_at > '2026-05-06';
EXPLAIN (COSTS OFF) SELECT * FROM tracelink.records WHERE occurred_at BETWEEN '2026-05-01' AND '2026-05-02';
EXPLAIN (COSTS OFF) SELECT * FROM tracelink.transformations WHERE child_id = 1;
RESET enable_seqscan;

-- a second link that also uses code LOT-1: traces must say which link
SELECT tracelink.request_link('Trace tea too', ARRAY['Growing'], '{"Growing": ["alpha"]}') IS NOT NULL AS requested;
SELECT tracelink.reply_invitation('Trace tea too', 'Growing', true) IS NOT NULL AS accepted;
SELECT tracelink.submit_process('Trace tea too', '{"name": "Growing", "stages": [{"name": "Harvest", "forms": [
   {"name": "Lot", "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}]}]}]}') IS NOT NULL;
SELECT tracelink.vote(tracelink.assemble('Trace tea too'), true) IS NOT NULL AS adopted;
SELECT tracelink.record('Trace tea too', 'LOT-1', 'Growing', 'Harvest', 'Lot') IS NOT NULL AS recorded;
SELECT err($$ SELECT * FROM tracelink.trace('LOT-1') $$);
SELECT link, count(*) FROM tracelink.trace('LOT-1', 'Trace tea too') GROUP BY link;

-- versions: a modification of Growing adds a required item; codes bound to
-- version 1 keep being checked and answered under version 1
SELECT tracelink.request_modification('Trace tea', 'Growing', 'moisture is needed') IS NOT NULL AS requested;
SELECT tracelink.submit_process('Trace tea', tracelink.merge_patch(
    (SELECT definition FROM tracelink.link_processes lp JOIN tracelink.links l USING (link_id)
      WHERE l.name = 'Trace tea' AND lp.process = 'Growing'),
    '{"stages": [{"name": "Harvest", "forms": [{"name": "Harvest record", "key": true, "items": [
        {"name": "lot", "type": "text", "required": true, "trace_code": true, "sources": ["manual", "device"]},
        {"name": "weight kg", "type": "numeric", "required": true, "sources": ["manual", "device"]},
        {"name": "moisture pct", "type": "numeric", "required": true}]}]},
      {"name": "Audit", "members": ["beta"], "forms": [
        {"name": "Audit", "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}]}]}]}')) IS NOT NULL AS revised;
SELECT tracelink.confirm_revision('Trace tea', 'Growing') IS NOT NULL AS confirmed;
SELECT tracelink.vote((SELECT proposal_id FROM tracelink.open_ballots WHERE link = 'Trace tea'), true) IS NOT NULL AS voted;
SELECT version, status FROM tracelink.link_versions WHERE link = 'Trace tea' ORDER BY version;
-- LOT-1 is bound to version 1: version 2's required item is not asked for, nor known
SELECT tracelink.record('Trace tea', 'LOT-1', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 39, "grade": "B"}',
       occurred_at => '2026-05-07 08:00+00') IS NOT NULL AS recorded_under_v1;
SELECT err($$ SELECT tracelink.record('Trace tea', 'LOT-1', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 39, "moisture pct": 3}') $$);
-- a new code is bound to version 2
SELECT err($$ SELECT tracelink.record('Trace tea', 'LOT-20', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 39}') $$);
SELECT tracelink.record('Trace tea', 'LOT-20', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 39, "moisture pct": 3}',
       occurred_at => '2026-05-07 09:00+00') IS NOT NULL AS recorded_under_v2;
SELECT err($$ SELECT tracelink.record('Trace tea', 'LOT-20', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 39, "grade": "A"}') $$);
SELECT code, version, bound_version, count(*) FROM tracelink.trace_records
 WHERE code IN ('LOT-1', 'LOT-20') AND link = 'Trace tea' GROUP BY 1, 2, 3 ORDER BY 1, 2;
-- a version-2 batch takes in version-1 and version-2 lots
SELECT tracelink.record('Trace tea', 'B-4', 'Processing', 'Steaming', 'Batch sheet', inputs => '["LOT-1", "LOT-20"]',
       occurred_at => '2026-05-08 09:00+00') IS NOT NULL AS mixed_batch;
SELECT code, version FROM tracelink.trace('B-4', 'Trace tea') ORDER BY depth, code, occurred_at;

-- proofs of records
SELECT tracelink.record_proof(entry_hash, position) AS p FROM tracelink.trace_records WHERE code = 'P-1' \gset
SELECT tracelink.verify_record_proof(:'p', tracelink.node_public_key()) AS valid,
       (:'p'::jsonb)->'record'->>'code' AS code, (:'p'::jsonb)->>'origin' AS origin,
       (:'p'::jsonb)->>'tree_size' = (:'p'::jsonb)->'signed_tree_head'->>'tree_size' AS against_head,
       sha256(convert_to((:'p'::jsonb)->>'entry', 'UTF8')) = decode((:'p'::jsonb)->>'entry_hash', 'hex') AS preimage_hashes;
SELECT tracelink.verify_record_proof(jsonb_set(:'p', '{record,data,pack}', '"P-9"'), tracelink.node_public_key()) AS record_changed,
       tracelink.verify_record_proof(jsonb_set(:'p', '{position}', '1'), tracelink.node_public_key()) AS position_changed,
       tracelink.verify_record_proof(jsonb_set(:'p', '{entry}', to_jsonb(replace((:'p'::jsonb)->>'entry', 'P-1', 'P-9'))),
                                     tracelink.node_public_key()) AS entry_changed,
       tracelink.verify_record_proof(jsonb_set(:'p', '{leaf_index}', '0'), tracelink.node_public_key()) AS leaf_moved,
       tracelink.verify_record_proof(:'p', '\x00') AS wrong_key,
       tracelink.verify_record_proof(jsonb_set(:'p', '{entry}', '"not json"'), tracelink.node_public_key()) AS garbage,
       tracelink.verify_record_proof('{}', tracelink.node_public_key()) AS empty,
       tracelink.verify_record_proof(NULL, tracelink.node_public_key()) AS null_proof;
SELECT err($$ SELECT tracelink.record_proof('\x00', 0) $$);
SELECT err($$ SELECT tracelink.record_proof(sha256('nothing'), 0) $$);
SELECT err($$ SELECT tracelink.record_proof((SELECT entry_hash FROM tracelink.trace_records WHERE code = 'P-1'), 1) $$);
SELECT err($$ SELECT tracelink.record_proof((SELECT entry_hash FROM tracelink.ledger_entries WHERE kind = 'tl.genesis' AND origin = tracelink.node_name()), 0) $$);

-- the shared state covers the trace data
SELECT tracelink.state_digest() AS before \gset
SELECT tracelink.record('Trace tea', 'LOT-21', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1, "moisture pct": 2}') IS NOT NULL;
SELECT tracelink.state_digest() <> :'before' AS digest_moved,
       (tracelink._trace_state()->'records'->>0)::int = (SELECT count(*) FROM tracelink.records) AS counts_records;

-- members record through the API only; readers only read
CREATE ROLE trace_member_role IN ROLE tracelink_member;
CREATE ROLE trace_reader_role IN ROLE tracelink_reader;
-- roles are cluster-wide: tie the writers to this database, in case the
-- server holds other tracelink databases (docs/operations.md)
GRANT CONNECT ON DATABASE :"DBNAME" TO trace_member_role;
SET ROLE trace_member_role;
SELECT tracelink.record('Trace tea', 'LOT-22', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1, "moisture pct": 2}') IS NOT NULL AS member_records;
INSERT INTO tracelink.record_staging (link, code, process, stage, form, data)
VALUES ('Trace tea', 'LOT-23', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1, "moisture pct": 2}');
SELECT tracelink.record_staged() AS member_imports;
SELECT err($$ INSERT INTO tracelink.records SELECT * FROM tracelink.records LIMIT 1 $$);
SELECT err($$ UPDATE tracelink.codes SET version = 2 $$);
RESET ROLE;
SET ROLE trace_reader_role;
SELECT count(*) > 0 AS reader_traces FROM tracelink.trace('LOT-22', 'Trace tea');
SELECT err($$ SELECT tracelink.record('Trace tea', 'LOT-24', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1, "moisture pct": 2}') $$);
SELECT err($$ INSERT INTO tracelink.record_staging (link, code, process, stage, form) VALUES ('a', 'b', 'c', 'd', 'e') $$);
RESET ROLE;
REVOKE CONNECT ON DATABASE :"DBNAME" FROM trace_member_role;
DROP ROLE trace_member_role;
DROP ROLE trace_reader_role;

-- every function of this part: grants, declarations, comments
CREATE TEMP TABLE trace_functions (f regprocedure, grantee text);
INSERT INTO trace_functions
SELECT p::regprocedure, 'reader' FROM unnest(ARRAY[
    'tracelink.trace(text,text)', 'tracelink.trace_json(text,text)', 'tracelink.trace_dot(text,text)',
    'tracelink.record_proof(bytea,integer)', 'tracelink.verify_record_proof(jsonb,bytea)',
    'tracelink._trace_start(text,text)', 'tracelink._provenance(bigint)', 'tracelink._utc(timestamptz)',
    'tracelink._dot_string(text)', 'tracelink._trace_state()']) p
UNION ALL
SELECT p::regprocedure, 'member' FROM unnest(ARRAY[
    'tracelink.record(text,text,text,text,text,jsonb,text,jsonb,jsonb,timestamptz)',
    'tracelink.record_batch(text,jsonb)', 'tracelink.record_staged(text)']) p;
SELECT f, grantee FROM trace_functions
 WHERE has_function_privilege('public', f, 'EXECUTE')
    OR (grantee = 'reader') <> has_function_privilege('tracelink_reader', f, 'EXECUTE')
    OR NOT has_function_privilege('tracelink_member', f, 'EXECUTE');
SELECT f, provolatile, proisstrict, proparallel, prosecdef, proconfig IS NOT NULL AS fixed_search_path,
       obj_description(p.oid, 'pg_proc') IS NOT NULL AS commented
  FROM trace_functions JOIN pg_proc p ON p.oid = f ORDER BY f::text;
SELECT c.relname, c.relkind, obj_description(c.oid, 'pg_class') IS NOT NULL AS commented,
       has_table_privilege('tracelink_reader', c.oid, 'SELECT') AS reader_selects,
       has_table_privilege('tracelink_member', c.oid, 'INSERT') AS member_inserts,
       has_table_privilege('public', c.oid, 'SELECT') AS public_selects
  FROM pg_class c
 WHERE c.relnamespace = 'tracelink'::regnamespace
   AND c.relname IN ('codes', 'record_slots', 'records', 'transformations', 'record_staging',
                     'trace_codes', 'trace_records', 'trace_edges')
 ORDER BY c.relname;
