-- Backups (docs/operations.md, "Checking and backups"): every table and
-- sequence of node state is dumped; the ledger's INSERT trigger lets a
-- restore through (one statement into an empty table, by its owner, every
-- row checked) and nothing else; a restored node does not sign before
-- finish_restore(); verify() and init_node() on a database without (all of)
-- its ledger; a backend's caches outlive the extension being dropped and
-- created again.  The pg_dump / pg_restore round trip itself is
-- t/070_dump_restore.pl.  What drops the extension runs in transactions
-- that roll back.  The node state it works on: alpha's ledger of
-- 20_ledger, the peers and the link "Spring tea" of 30_workflow, the trace
-- records of 40_trace_record and 41_trace_flow (from sql/include/ when run
-- alone).
\set ECHO none
\i sql/include/ledger_alpha.sql
\i sql/include/spring_tea.sql
\i sql/include/trace_pack.sql
\set ECHO all

-- 1. Every table and sequence of the schema is registered with
--    pg_extension_config_dump, so pg_dump keeps its rows (its value); a
--    table added later and forgotten shows up here.
SELECT c.relname, c.relkind
  FROM pg_class c
 WHERE c.relnamespace = 'tracelink'::regnamespace AND c.relkind IN ('r', 'p', 'S', 'm', 'f')
   AND c.oid <> ALL ((SELECT e.extconfig FROM pg_extension e WHERE e.extname = 'tracelink')::oid[])
 ORDER BY 1;
-- dumped filtered: only restore_holds, never dumped (each restore holds its own)
SELECT u.cfg::regclass AS relation, u.cond
  FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS u(cfg, cond)
 WHERE e.extname = 'tracelink' AND u.cond <> '';
-- no foreign keys between them: pg_restore -j loads their rows in no order
SELECT conrelid::regclass, conname FROM pg_constraint
 WHERE connamespace = 'tracelink'::regnamespace AND contype = 'f';
-- what they would check holds on this node's state (41_trace_flow onwards)
SELECT * FROM tracelink._dangling_references();
-- and finds what a restore that lost a table's rows leaves behind
BEGIN;
DELETE FROM tracelink.proposals;
DELETE FROM tracelink.record_slots;
SELECT referencing, referenced FROM tracelink._dangling_references() ORDER BY 1;
ROLLBACK;
-- unlogged (empty after a crash): only what is staged for recording
SELECT relname FROM pg_class
 WHERE relnamespace = 'tracelink'::regnamespace AND relpersistence = 'u' AND relkind IN ('r', 'S')
 ORDER BY 1;

-- 2. A restore, as pg_dump's output does it, into the extension created
--    again; the rows come from alpha's ledger (20_ledger onwards).
SELECT count(*) AS blocks_of_alpha FROM tracelink.ledger_blocks WHERE origin = 'alpha' \gset
CREATE TEMP TABLE saved_nodes AS SELECT * FROM tracelink.nodes;
CREATE TEMP TABLE saved_blocks AS SELECT * FROM tracelink.ledger_blocks;
CREATE TEMP TABLE saved_entries AS SELECT * FROM tracelink.ledger_entries;
CREATE TEMP TABLE saved_heads AS SELECT * FROM tracelink.ledger_heads;
GRANT SELECT ON saved_blocks TO tracelink_member;
CREATE ROLE regress_tl_restorer NOLOGIN IN ROLE tracelink_member;
BEGIN;
DROP EXTENSION tracelink CASCADE;
CREATE EXTENSION tracelink;
-- no ledger at all: verify() says so (zero rows would read as "all is well")
SELECT * FROM tracelink.verify();
-- the local node without its chain fails verify(); peers without blocks
-- are fine (nothing received from them yet)
INSERT INTO tracelink.nodes SELECT * FROM saved_nodes;
SELECT origin, entries, blocks, ok, first_bad, reason FROM tracelink.verify() WHERE origin = 'alpha';
SELECT count(*) > 0 AS peers_without_blocks_verify
  FROM tracelink.verify() WHERE origin <> 'alpha' AND ok AND blocks = 0;
-- (the restore below has the local node's row restored last, to show
-- init_node() on a chain whose node is missing)
DELETE FROM tracelink.nodes WHERE is_local;
-- a member cannot restore, even with INSERT granted
GRANT INSERT ON tracelink.ledger_blocks TO tracelink_member;
SET ROLE regress_tl_restorer;
SELECT err($$ INSERT INTO tracelink.ledger_blocks SELECT * FROM saved_blocks $$);
RESET ROLE;
-- rows that do not hold up on their own are refused, naming the first
SELECT err($$ INSERT INTO tracelink.ledger_blocks
              SELECT origin, block_no, tx, entry_count, entry_hashes, entries_root, tree_size, tree_root,
                     prev_hash, sealed_at + interval '1 second', signer_key, next_key, block_hash, signature
                FROM saved_blocks ORDER BY origin, block_no $$);
SELECT err($$ INSERT INTO tracelink.ledger_blocks
              SELECT origin, block_no, tx, entry_count, entry_hashes, entries_root, tree_size, tree_root,
                     prev_hash, sealed_at, signer_key, next_key, block_hash, overlay(signature placing '\x00' from 1)
                FROM saved_blocks ORDER BY origin, block_no $$);
SELECT err($$ INSERT INTO tracelink.ledger_blocks
              SELECT origin, block_no, tx, entry_count, entry_hashes, sha256(entries_root), tree_size, tree_root,
                     prev_hash, sealed_at, signer_key, next_key, block_hash, signature
                FROM saved_blocks ORDER BY origin, block_no $$);
SELECT err($$ INSERT INTO tracelink.ledger_entries
              SELECT origin, tx, seq, kind, replace(payload, '}', ',"x":1}'), deps, audience, entry_hash
                FROM saved_entries ORDER BY origin, tx, seq $$);
SELECT err($$ INSERT INTO tracelink.ledger_entries
              SELECT origin, tx, seq, kind, replace(payload, ':', ': '), deps, audience, entry_hash
                FROM saved_entries ORDER BY origin, tx, seq $$);
SELECT err($$ INSERT INTO tracelink.ledger_entries
              (SELECT * FROM saved_entries ORDER BY origin, tx, seq LIMIT 1)
              UNION ALL (SELECT * FROM saved_entries ORDER BY origin, tx, seq LIMIT 1) $$);
-- nothing of those was kept
SELECT count(*) AS rows_kept FROM tracelink.ledger_blocks;
-- a restoring statement that fails after its first rows, rolled back to a
-- savepoint: its hold goes with it (one hold per table below, not two),
-- and the statement run again records a new one
SAVEPOINT before_restore;
INSERT INTO tracelink.ledger_blocks
  (SELECT * FROM saved_blocks) UNION ALL (SELECT * FROM saved_blocks ORDER BY origin, block_no LIMIT 1);
ROLLBACK TO SAVEPOINT before_restore;
-- the restore: one statement per empty table
INSERT INTO tracelink.ledger_blocks SELECT * FROM saved_blocks;
INSERT INTO tracelink.ledger_entries SELECT * FROM saved_entries;
INSERT INTO tracelink.ledger_heads SELECT * FROM saved_heads;
SELECT (SELECT count(*) FROM tracelink.ledger_blocks WHERE origin = 'alpha') = :blocks_of_alpha AS blocks_restored,
       (SELECT count(*) FROM tracelink.ledger_entries) = (SELECT count(*) FROM saved_entries) AS entries_restored;
-- a second statement adds nothing to a table that holds rows, owner or not
SELECT err($$ INSERT INTO tracelink.ledger_blocks SELECT * FROM saved_blocks LIMIT 1 $$);
SELECT err($$ INSERT INTO tracelink.ledger_entries SELECT * FROM saved_entries LIMIT 1 $$);
-- init_node() refuses a chain this database holds, also when its node's
-- row is missing: a second genesis (same name) or an orphaned chain
SELECT tracelink.node_name();
SELECT origin, ok, first_bad, reason FROM tracelink.verify('alpha');
SELECT err($$ SELECT tracelink.init_node('alpha') $$);
SELECT err($$ SELECT tracelink.init_node('omega') $$);
INSERT INTO tracelink.nodes SELECT * FROM saved_nodes WHERE is_local;
SELECT err($$ SELECT tracelink.init_node('omega') $$);
-- every chain verifies again
SELECT count(*) FILTER (WHERE NOT ok) AS failing, count(*) FILTER (WHERE ok AND blocks > 0) > 1 AS verified
  FROM tracelink.verify();
SELECT tracelink.node_name();
-- each restoring statement recorded a hold: the node signs nothing until
-- finish_restore() (a procedure that commits, so t/070 calls it)
SELECT ledger_table, restored_by FROM tracelink.restore_holds ORDER BY 1;
SELECT err($$ SELECT tracelink.append('acme.restored', '{}') $$);
SELECT err($$ SELECT tracelink.rotate_key() $$);
ROLLBACK;
DROP ROLE regress_tl_restorer;

-- 3. The node itself, untouched: it appends, verify() is clean
SELECT count(*) AS holds FROM tracelink.restore_holds;
SELECT length(tracelink.append('acme.after_restore_test', '{}')) AS appended;
SELECT count(*) FILTER (WHERE NOT ok) AS failing FROM tracelink.verify();

-- finish_restore() (a procedure that commits: outside a transaction block;
-- this node has no peer connections, so it re-creates nothing) keeps the
-- hold while a chain does not verify or a table lost rows
INSERT INTO tracelink.restore_holds VALUES (now(), 'ledger_entries', current_user);
SELECT err($$ SELECT tracelink.append('acme.held', '{}') $$);
\set VERBOSITY terse
ALTER TABLE tracelink.ledger_entries DISABLE TRIGGER USER;
UPDATE tracelink.ledger_entries SET payload = '{"x":1}' WHERE kind = 'acme.after_restore_test';
CALL tracelink.finish_restore();
UPDATE tracelink.ledger_entries SET payload = '{}' WHERE kind = 'acme.after_restore_test';
ALTER TABLE tracelink.ledger_entries ENABLE ALWAYS TRIGGER append_only;
ALTER TABLE tracelink.ledger_entries ENABLE ALWAYS TRIGGER append_only_truncate;
ALTER TABLE tracelink.ledger_entries ENABLE ALWAYS TRIGGER written_by_tracelink;
CREATE TEMP TABLE kept_slots AS SELECT * FROM tracelink.record_slots;
DELETE FROM tracelink.record_slots;
CALL tracelink.finish_restore();
INSERT INTO tracelink.record_slots SELECT * FROM kept_slots;
\set VERBOSITY default
SELECT count(*) AS holds FROM tracelink.restore_holds;
-- then lifts it
SET client_min_messages = warning;
CALL tracelink.finish_restore();
RESET client_min_messages;
SELECT count(*) AS holds FROM tracelink.restore_holds;
SELECT length(tracelink.append('acme.after_finish', '{}')) AS appended;
SELECT tgname, tgenabled FROM pg_trigger
 WHERE tgrelid = 'tracelink.ledger_entries'::regclass AND NOT tgisinternal ORDER BY 1;

-- 4. export_for_peer(): this node's blocks as a peer receives them, without
--    the entries addressed to others; from_block and to_block bound it
CREATE TEMP TABLE beta_lines AS
SELECT l::jsonb AS j FROM tracelink.export_for_peer('beta', 0) l;
SELECT (SELECT count(*) FROM beta_lines WHERE j ->> 'type' = 'block')
         = (SELECT count(*) FROM tracelink.ledger_blocks WHERE origin = 'alpha') AS every_block,
       (SELECT count(*) FROM beta_lines WHERE j ->> 'type' = 'entry')
         = (SELECT count(*) FROM tracelink.ledger_entries
             WHERE origin = 'alpha' AND (audience IS NULL OR 'beta' = ANY (audience))) AS entries_for_beta,
       (SELECT count(*) FROM tracelink.ledger_entries
         WHERE origin = 'alpha' AND NOT (audience IS NULL OR 'beta' = ANY (audience))) > 0 AS some_not_for_beta;
SELECT array_agg(j ->> 'type' ORDER BY n) AS lines
  FROM (SELECT l::jsonb AS j, n FROM tracelink.export_for_peer('beta', 2, 3) WITH ORDINALITY AS e(l, n)) s;
SELECT err($$ SELECT tracelink.export_for_peer('nobody', 0) $$);

-- 5. Backend caches: the trace code LOT-1 (40_trace_record) is described
--    from its record slot, cached by this backend; the extension dropped
--    and created again (as before a restore) reuses slot ids for other
--    slots, and the cache must not answer for the old table.
SELECT DISTINCT process, stage, form FROM tracelink.trace('LOT-1', 'Trace tea') WHERE depth = 0;
BEGIN;
DROP EXTENSION tracelink CASCADE;
CREATE EXTENSION tracelink;
SELECT length(tracelink.init_node('solo')) AS solo_key;
SELECT tracelink.request_link('Solo', ARRAY['Make'], '{"Make": ["solo"]}', '{}', '{"rule": "unanimous"}') IS NOT NULL AS requested;
SELECT tracelink.reply_invitation('Solo', 'Make', true) IS NOT NULL AS accepted;
SELECT tracelink.submit_process('Solo', '{"name": "Make", "stages": [{"name": "Mix", "forms": [
  {"name": "Sheet", "key": true, "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}]}]}]}') IS NOT NULL AS submitted;
SELECT tracelink.vote(tracelink.assemble('Solo'), true) IS NOT NULL AS voted;
SELECT tracelink.record('Solo', 'S-1', 'Make', 'Mix', 'Sheet') IS NOT NULL AS recorded;
SELECT process, stage, form FROM tracelink.trace('S-1');
ROLLBACK;
SELECT DISTINCT process, stage, form FROM tracelink.trace('LOT-1', 'Trace tea') WHERE depth = 0;
