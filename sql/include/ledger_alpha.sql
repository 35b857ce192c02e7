-- Node "alpha" with the ledger sql/20_ledger.sql leaves behind: the same
-- entries in the same blocks under the same transaction numbers, a key
-- rotation in block 6 (the files that build on it show sizes, block
-- numbers and "alpha:<tx>" names, never hashes or keys).  Replayed only
-- when alpha's chain holds just its genesis block, so that each file
-- that needs it runs alone too.  Includes node_alpha.sql.
\i sql/include/node_alpha.sql
SELECT count(*) = 1 AS tl_replay_ledger FROM tracelink.ledger_blocks WHERE origin = 'alpha' \gset
\if :tl_replay_ledger
\o /dev/null
SELECT tracelink.append('acme.scan', '{"code": "A-1", "weight": 12.50}') AS tl_h \gset
BEGIN;
SELECT count(tracelink.append('acme.scan', pg_catalog.jsonb_build_object('i', g))) FROM pg_catalog.generate_series(1, 5) g;
COMMIT;
BEGIN;
SELECT tracelink.append('acme.scan', '{"keep": 1}');
SELECT tracelink.append('acme.scan', '{"keep": 2}');
COMMIT;
-- 20_ledger's rolled-back and refused appends used up transaction numbers
SELECT pg_catalog.setval('tracelink.ledger_tx_seq', 6);
SELECT tracelink.append('acme.derived', '{"from": "A-1"}', ARRAY[:'tl_h'::bytea]);
BEGIN;
SELECT tracelink.append('acme.a', '{}') AS tl_a \gset
SELECT tracelink.append('acme.b', '{}', ARRAY[:'tl_a'::bytea]);
COMMIT;
SELECT pg_catalog.setval('tracelink.ledger_tx_seq', 9);
SELECT tracelink.rotate_key();
SELECT tracelink.append('acme.after_rotation', '{}');
SELECT pg_catalog.setval('tracelink.ledger_tx_seq', 12);
SELECT tracelink.append('acme.still_signing', '{}');
SELECT tracelink.append('acme.early', '{"kept": true}');
SELECT tracelink.append('acme.after_savepoint_rotation', '{}');
SELECT tracelink.append('acme.still_signing', '{"after": "savepoint rotation"}');
SELECT tracelink.append('acme.by_member', '{}');
\o
\unset tl_h
\unset tl_a
\endif
\unset tl_replay_ledger
