-- The size limit of JSON documents (TL_JSON_MAX_BYTES, 64 MB = 67108864
-- bytes; docs/ledger.md "Size limits") on every way JSON comes in: 54000
-- above it, with nothing kept; and nesting deeper than the stack allows
-- gives 54001, never a crash.  Runs on node alpha (20_ledger) with link
-- "Trace tea" (sql/include/trace_tea.sql); every refused statement rolls
-- back.
\set ECHO none
\i sql/include/trace_tea.sql
\set ECHO all

-- JSON text is measured as given: one byte over is refused before parsing
SELECT err($$ SELECT tracelink.jcs(repeat(' ', 64 * 1024 * 1024) || '1') $$);
SELECT tracelink.jcs(repeat(' ', 64 * 1024 * 1024 - 1) || '1') AS at_the_limit;
SELECT err($$ SELECT (repeat(' ', 64 * 1024 * 1024) || '{"name": "S"}')::tracelink.stage $$);
SELECT err($$ SELECT (repeat(' ', 64 * 1024 * 1024) || '{"name": "P"}')::tracelink.process $$);
SELECT err($$ SELECT (repeat(' ', 64 * 1024 * 1024) || '{"name": "L"}')::tracelink.link $$);

-- jsonb by the length of its canonical text: ["x...x"] is the string and 4 bytes
CREATE TEMP TABLE big AS
SELECT jsonb_build_array(repeat('x', 64 * 1024 * 1024 - 4)) AS fits,
       jsonb_build_array(repeat('x', 64 * 1024 * 1024 - 3)) AS over,
       jsonb_build_object('name', 'L', 'info', jsonb_build_object('x', repeat('x', 64 * 1024 * 1024))) AS link;
SELECT length(tracelink.jcs(fits)) AS canonical_bytes, length(tracelink.digest(fits)) AS digest_bytes FROM big;
SELECT err($$ SELECT tracelink.jcs(over) FROM big $$);
SELECT err($$ SELECT tracelink.digest(over) FROM big $$);
SELECT err($$ SELECT link::tracelink.link FROM big $$);
SELECT err($$ SELECT tracelink.vote_threshold(over, 3) FROM big $$);
-- verify_tree_head() never raises: a document too large is no tree head
SELECT tracelink.verify_tree_head(over, '\x0000000000000000000000000000000000000000000000000000000000000000') AS head_ok
  FROM big;

-- ledger entries: the payload, then the whole entry (its export line)
SELECT count(*) AS entries_before FROM tracelink.ledger_entries \gset
SELECT err($$ SELECT tracelink.append('acme.big', over) FROM big $$);
-- (its size depends on the digits of tx)
SELECT regexp_replace(err($$ SELECT tracelink.append('acme.big', fits) FROM big $$),
                      'has \d+ bytes', 'has N bytes') AS err;
SELECT err($$ SELECT tracelink.record('Trace tea', 'LOT-BIG', 'Growing', 'Harvest', 'Harvest record',
                                      jsonb_build_object('lot', 'LOT-BIG', 'weight kg', 1,
                                                         'notes', repeat('x', 64 * 1024 * 1024))) $$);
SELECT err($$ SELECT tracelink.record_batch('Trace tea', jsonb_build_array(jsonb_build_object(
    'code', 'LOT-BIG', 'process', 'Growing', 'stage', 'Harvest', 'form', 'Harvest record',
    'data', jsonb_build_object('lot', 'LOT-BIG', 'weight kg', 1, 'notes', repeat('x', 64 * 1024 * 1024))))) $$);
SELECT count(*) - :entries_before AS entries_kept FROM tracelink.ledger_entries;
DROP TABLE big;

-- numbers whose canonical text takes the fast path's longest layouts
SELECT tracelink.jcs('[-100000000000008000000000000000000000,-0.00000123456789012345,123456789012345000000]');

-- nesting deeper than the stack: the parser's 54001, and for jsonb built
-- deeper than the recursive walks allow, theirs
SELECT err($$ SELECT tracelink.jcs(repeat('[', 1000000) || repeat(']', 1000000)) $$);
SELECT err($$ SELECT (repeat('[', 1000000) || repeat(']', 1000000))::tracelink.stage $$);
CREATE TEMP TABLE deep AS
SELECT (repeat('{"a":[', 3000) || '1' || repeat(']}', 3000))::jsonb AS doc,
       ('{"name": "L", "info": ' || repeat('{"a":[', 3000) || '1' || repeat(']}', 3000) || '}')::jsonb AS link;
SET max_stack_depth = '100kB';
SELECT err($$ SELECT tracelink.jcs(doc) FROM deep $$);
SELECT err($$ SELECT tracelink.append('acme.deep', doc) FROM deep $$);
SELECT err($$ SELECT link::tracelink.link FROM deep $$);
RESET max_stack_depth;
SELECT length(tracelink.jcs(doc)) AS deep_canonical_bytes FROM deep;
DROP TABLE deep;
