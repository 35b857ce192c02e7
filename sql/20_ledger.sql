-- The ledger on one node: identity, append, seal at commit, savepoints,
-- append-only guards, verification.
\set ECHO none
\i sql/include/setup.sql
\i sql/include/key_directory.sql
\set ECHO all

-- before init_node
SELECT tracelink.node_name() IS NULL AS no_node, tracelink.node_public_key() IS NULL AS no_key;
SELECT err($$ SELECT tracelink.append('acme.scan', '{}') $$);
SELECT err($$ SELECT tracelink.init_node('Bad Name') $$);
SELECT err($$ SELECT tracelink.init_node('') $$);
SELECT err($$ SELECT tracelink.init_node(repeat('a', 64)) $$);
-- the rule itself (src/ledger_rows.c), as SQL and the CHECK of tracelink.nodes see it
SELECT coalesce(left(n, 8) || CASE WHEN length(n) > 8 THEN '.. (' || length(n) || ')' ELSE '' END, '<null>') AS name,
       tracelink._valid_node_name(n) AS valid
  FROM (VALUES ('alpha'), ('a'), ('a_1'), ('z9'), ('Bad'), ('1a'), ('_a'), ('a-b'), ('a b'), (''), ('é'),
               (repeat('a', 63)), (repeat('a', 64)), (NULL)) v(n);
SELECT split_part(err($$ INSERT INTO tracelink.nodes (name, public_key) VALUES ('Bad Name', sha256('k')) $$), ' [', 1) AS err;

-- init_node: key pair and genesis block, sealed at commit
SELECT length(tracelink.init_node('alpha')) AS public_key_bytes;
SELECT tracelink.node_name(), tracelink.node_public_key() = public_key AS key_pinned
  FROM tracelink.nodes WHERE is_local;
SELECT err($$ SELECT tracelink.init_node('beta') $$);
SELECT origin, block_no, entry_count, tree_size, prev_hash = '\x0000000000000000000000000000000000000000000000000000000000000000' AS genesis_links_to_zero,
       signer_key = tracelink.node_public_key() AS signed_by_node,
       tracelink.ed25519_verify(signer_key, block_hash, signature) AS signature_ok
  FROM tracelink.ledger_blocks;
SELECT kind, payload::jsonb ->> 'node' AS node, (payload::jsonb ->> 'public_key') = encode(tracelink.node_public_key(), 'hex') AS key_in_payload
  FROM tracelink.ledger_entries;

-- append: the hash is SHA-256 of the documented canonical preimage
SELECT tracelink.append('acme.scan', '{"code": "A-1", "weight": 12.50}') AS h \gset
SELECT :'h'::bytea = sha256(convert_to(tracelink.entry_preimage('acme.scan', '{"weight":12.5,"code":"A-1"}', '{}', 'alpha', tx, seq), 'UTF8')) AS hash_matches_preimage,
       payload
  FROM tracelink.ledger_entries WHERE entry_hash = :'h'::bytea;

-- one transaction = one block, entries numbered 0..n-1
BEGIN;
SELECT count(tracelink.append('acme.scan', jsonb_build_object('i', g))) FROM generate_series(1, 5) g;
-- entries are visible inside the transaction, the block is not there yet
SELECT count(*) FROM tracelink.ledger_entries WHERE kind = 'acme.scan';
SELECT count(*) FROM tracelink.ledger_blocks;
COMMIT;
SELECT block_no, entry_count, tree_size FROM tracelink.ledger_blocks ORDER BY block_no;
SELECT ordinal, block_no, seq, payload FROM tracelink.ledger WHERE kind = 'acme.scan' ORDER BY ordinal;

-- a savepoint that rolls back takes its entries with it; seq stays contiguous
BEGIN;
SELECT tracelink.append('acme.scan', '{"keep": 1}') IS NOT NULL AS appended;
SAVEPOINT s1;
SELECT tracelink.append('acme.scan', '{"drop": 1}') IS NOT NULL AS appended;
SELECT tracelink.append('acme.scan', '{"drop": 2}') IS NOT NULL AS appended;
ROLLBACK TO s1;
SELECT tracelink.append('acme.scan', '{"keep": 2}') IS NOT NULL AS appended;
COMMIT;
SELECT b.block_no, b.entry_count, array_agg(e.seq ORDER BY e.seq) AS seqs, array_agg(e.payload ORDER BY e.seq) AS payloads
  FROM tracelink.ledger_blocks b JOIN tracelink.ledger_entries e USING (origin, tx)
 WHERE b.block_no = 3 GROUP BY b.block_no, b.entry_count;

-- a rolled-back transaction leaves no trace
BEGIN;
SELECT tracelink.append('acme.scan', '{"never": true}') IS NOT NULL AS appended;
ROLLBACK;
SELECT count(*) AS never_rows FROM tracelink.ledger_entries WHERE payload LIKE '%never%';
SELECT max(block_no) AS last_block FROM tracelink.ledger_blocks;
-- a savepoint rolled back before anything else: no empty block
BEGIN;
SAVEPOINT s;
SELECT tracelink.append('acme.scan', '{"never": 2}') IS NOT NULL AS appended;
ROLLBACK TO s;
COMMIT;
SELECT max(block_no) AS still_last_block FROM tracelink.ledger_blocks;

-- dependencies: sorted, de-duplicated, and must exist
SELECT tracelink.append('acme.derived', '{"from": "A-1"}', ARRAY[:'h'::bytea, :'h'::bytea]) AS d \gset
SELECT deps = ARRAY[:'h'::bytea] AS deduplicated FROM tracelink.ledger_entries WHERE entry_hash = :'d'::bytea;
SELECT err($$ SELECT tracelink.append('acme.x', '{}', ARRAY['\x00'::bytea]) $$);
SELECT err($$ SELECT tracelink.append('acme.x', '{}', ARRAY[sha256('nothing')]) $$);
SELECT err($$ SELECT tracelink.append('acme.x', '{}', ARRAY[NULL::bytea]) $$);
SELECT err($$ SELECT tracelink.append('acme.x', '{}', ARRAY[ARRAY[sha256('a')]]) $$);
-- a dependency on an entry of the same transaction is fine
BEGIN;
SELECT tracelink.append('acme.a', '{}') AS a \gset
SELECT tracelink.append('acme.b', '{}', ARRAY[:'a'::bytea]) IS NOT NULL AS appended;
COMMIT;

-- bad kinds and payloads
SELECT err($$ SELECT tracelink.append('tl.genesis', '{}') $$);
SELECT err($$ SELECT tracelink.append('Acme.Scan', '{}') $$);
SELECT err($$ SELECT tracelink.append('acme..scan', '{}') $$);
SELECT err($$ SELECT tracelink.append('acme.', '{}') $$);
SELECT err($$ SELECT tracelink.append(repeat('a', 64), '{}') $$);
SELECT err($$ SELECT tracelink.append(NULL, '{}') $$);
SELECT err($$ SELECT tracelink.append('acme.scan', NULL) $$);
SELECT err($$ SELECT tracelink.append('acme.scan', '1e400') $$);
SELECT err($$ SELECT tracelink.append('acme.scan', '{') $$);

-- append-only: UPDATE, DELETE, TRUNCATE and direct INSERT are refused
SELECT err($$ UPDATE tracelink.ledger_entries SET kind = 'x' $$);
SELECT err($$ DELETE FROM tracelink.ledger_entries $$);
SELECT err($$ TRUNCATE tracelink.ledger_entries $$);
SELECT err($$ UPDATE tracelink.ledger_blocks SET signature = signature $$);
SELECT err($$ DELETE FROM tracelink.ledger_blocks $$);
SELECT err($$ TRUNCATE tracelink.ledger_blocks $$);
SELECT err($$ INSERT INTO tracelink.ledger_blocks SELECT * FROM tracelink.ledger_blocks LIMIT 1 $$);
SELECT err($$ INSERT INTO tracelink.ledger_entries SELECT * FROM tracelink.ledger_entries LIMIT 1 $$);

-- read-only transactions and PREPARE TRANSACTION
BEGIN READ ONLY;
SELECT err($$ SELECT tracelink.append('acme.scan', '{}') $$);
COMMIT;
BEGIN;
SELECT tracelink.append('acme.scan', '{"prepared": true}') IS NOT NULL AS appended;
PREPARE TRANSACTION 'tl_regress';

-- key rotation: this transaction's block is signed by the old key, later
-- blocks by the new one
SELECT tracelink.node_public_key() AS old_key \gset
BEGIN;
SELECT tracelink.rotate_key() AS new_key \gset
SELECT tracelink.node_public_key() = :'old_key'::bytea AS still_old_inside;
SELECT err($$ SELECT tracelink.rotate_key() $$);
COMMIT;
SELECT tracelink.node_public_key() = :'new_key'::bytea AS new_key_current;
SELECT tracelink.append('acme.after_rotation', '{}') IS NOT NULL AS appended;
SELECT b.block_no, e.kind, b.signer_key = :'old_key'::bytea AS by_old, b.signer_key = :'new_key'::bytea AS by_new,
       b.next_key = :'new_key'::bytea AS hands_over
  FROM tracelink.ledger_blocks b JOIN tracelink.ledger_entries e USING (origin, tx)
 WHERE e.kind IN ('tl.key_rotation', 'acme.after_rotation') ORDER BY b.block_no;
SELECT count(*) AS blocks_naming_a_next_key FROM tracelink.ledger_blocks WHERE next_key IS NOT NULL;
-- a rotation that rolls back changes nothing
BEGIN;
SELECT tracelink.rotate_key() IS NOT NULL AS rotated;
ROLLBACK;
SELECT tracelink.node_public_key() = :'new_key'::bytea AS unchanged;
SELECT tracelink.append('acme.still_signing', '{}') IS NOT NULL AS appended;

-- a savepoint opened before tracelink is loaded in the session still
-- rewinds the block when it rolls back (a fresh connection)
\c
BEGIN;
SAVEPOINT early;
SELECT tracelink.append('acme.early', '{"rolled": "back"}') IS NOT NULL AS appended;
ROLLBACK TO early;
SELECT tracelink.append('acme.early', '{"kept": true}') IS NOT NULL AS appended;
COMMIT;
SELECT b.entry_count, array_agg(e.payload ORDER BY e.seq) AS payloads
  FROM tracelink.ledger_blocks b JOIN tracelink.ledger_entries e USING (origin, tx)
 WHERE e.kind = 'acme.early' GROUP BY b.entry_count;
-- a key rotation rolled back with its savepoint leaves the key as it was
SELECT tracelink.node_public_key() AS key_before \gset
BEGIN;
SAVEPOINT r;
SELECT tracelink.rotate_key() IS NOT NULL AS rotated;
ROLLBACK TO r;
SELECT tracelink.append('acme.after_savepoint_rotation', '{}') IS NOT NULL AS appended;
COMMIT;
SELECT tracelink.node_public_key() = :'key_before'::bytea AS key_unchanged,
       (SELECT next_key IS NULL FROM tracelink.ledger_blocks ORDER BY block_no DESC LIMIT 1) AS no_hand_over;
SELECT tracelink.append('acme.still_signing', '{"after": "savepoint rotation"}') IS NOT NULL AS appended;

-- the whole chain verifies
SELECT * FROM tracelink.verify();
SELECT * FROM tracelink.verify('alpha');
SELECT err($$ SELECT * FROM tracelink.verify('nobody') $$);

-- privileges: nothing for PUBLIC; readers read, members append
SET client_min_messages = warning;
DROP ROLE IF EXISTS tl_regress_reader, tl_regress_member, tl_regress_nobody;
RESET client_min_messages;
CREATE ROLE tl_regress_reader LOGIN IN ROLE tracelink_reader;
CREATE ROLE tl_regress_member LOGIN IN ROLE tracelink_member;
CREATE ROLE tl_regress_nobody LOGIN;
-- roles are cluster-wide: tie the writers to this database, in case the
-- server holds other tracelink databases (docs/operations.md)
GRANT CONNECT ON DATABASE :"DBNAME" TO tl_regress_member;
SET ROLE tl_regress_nobody;
SELECT err($$ SELECT count(*) FROM tracelink.ledger_entries $$);
SELECT err($$ SELECT tracelink.node_name() $$);
RESET ROLE;
SET ROLE tl_regress_reader;
SELECT count(*) > 0 AS reader_reads FROM tracelink.ledger;
SELECT err($$ SELECT tracelink.append('acme.scan', '{}') $$);
SELECT err($$ SELECT tracelink.rotate_key() $$);
RESET ROLE;
SET ROLE tl_regress_member;
SELECT tracelink.append('acme.by_member', '{}') IS NOT NULL AS member_appends;
SELECT err($$ SELECT tracelink.rotate_key() $$);
SELECT err($$ INSERT INTO tracelink.nodes VALUES ('mallory', '\x00') $$);
RESET ROLE;
SELECT ok FROM tracelink.verify();
REVOKE CONNECT ON DATABASE :"DBNAME" FROM tl_regress_member;
DROP ROLE tl_regress_reader, tl_regress_member, tl_regress_nobody;
