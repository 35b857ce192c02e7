-- Tampering by a superuser who bypasses the append-only triggers is caught
-- by verify(), which names the first bad entry or block.  Each case runs in
-- a transaction that is rolled back, so the next starts from a good ledger.
\set ECHO none
\i sql/include/ledger_alpha_proofs.sql
\set ECHO all

-- Each case is verified in the backend alone, with parallel workers
-- (however small the ledger), and with more parts than workers may start
-- (the backend then checks the others' parts too): all must give the same
-- row.
CREATE FUNCTION tampered() RETURNS TABLE(ok boolean, first_bad text, reason text)
    LANGUAGE plpgsql AS $$
DECLARE
    serial tracelink.verification[];
    parallel tracelink.verification[];
    few tracelink.verification[];
    workers text := current_setting('max_parallel_workers');
BEGIN
    PERFORM set_config('tracelink.verify_workers', '0', true);
    serial := ARRAY(SELECT v FROM tracelink.verify('alpha') v);
    PERFORM set_config('tracelink.verify_workers', '2', true);
    PERFORM set_config('tracelink.verify_parallel_min_entries', '0', true);
    parallel := ARRAY(SELECT v FROM tracelink.verify('alpha') v);
    PERFORM set_config('tracelink.verify_workers', '3', true);
    PERFORM set_config('max_parallel_workers', '1', true);
    few := ARRAY(SELECT v FROM tracelink.verify('alpha') v);
    PERFORM set_config('max_parallel_workers', workers, true);
    IF serial IS DISTINCT FROM parallel OR serial IS DISTINCT FROM few THEN
        RAISE EXCEPTION 'parallel verify() gave % and %, serially %', parallel, few, serial;
    END IF;
    RETURN QUERY SELECT s.ok, s.first_bad, s.reason FROM unnest(serial) s;
END $$;

-- a ledger of several multi-entry blocks, all signed with the current key
SELECT count(tracelink.append('acme.tamper', jsonb_build_object('round', 1, 'i', g))) FROM generate_series(1, 4) g;
SELECT count(tracelink.append('acme.tamper', jsonb_build_object('round', 2, 'i', g))) FROM generate_series(1, 4) g;
SELECT count(tracelink.append('acme.tamper', jsonb_build_object('round', 3, 'i', g))) FROM generate_series(1, 4) g;
SELECT block_no AS r1 FROM tracelink.ledger WHERE payload = '{"i": 1, "round": 1}' \gset
SELECT * FROM tampered();

-- 1. a payload is changed
BEGIN;
ALTER TABLE tracelink.ledger_entries DISABLE TRIGGER USER;
UPDATE tracelink.ledger_entries SET payload = '{"i":99,"round":2}' WHERE payload = '{"i":3,"round":2}';
SELECT * FROM tampered();
ROLLBACK;

-- 2. an entry is deleted
BEGIN;
ALTER TABLE tracelink.ledger_entries DISABLE TRIGGER USER;
DELETE FROM tracelink.ledger_entries WHERE payload = '{"i":2,"round":2}';
SELECT * FROM tampered();
ROLLBACK;

-- 3a. two entries of a block change places
BEGIN;
ALTER TABLE tracelink.ledger_entries DISABLE TRIGGER USER;
UPDATE tracelink.ledger_entries SET seq = -1 WHERE payload = '{"i":1,"round":2}';
UPDATE tracelink.ledger_entries SET seq = 0 WHERE payload = '{"i":2,"round":2}';
UPDATE tracelink.ledger_entries SET seq = 1 WHERE payload = '{"i":1,"round":2}';
SELECT * FROM tampered();
ROLLBACK;

-- 3b. the same, with the entry hashes recomputed to fit the new positions
BEGIN;
ALTER TABLE tracelink.ledger_entries DISABLE TRIGGER USER;
UPDATE tracelink.ledger_entries SET seq = -1 WHERE payload = '{"i":1,"round":2}';
UPDATE tracelink.ledger_entries SET seq = 0 WHERE payload = '{"i":2,"round":2}';
UPDATE tracelink.ledger_entries SET seq = 1 WHERE payload = '{"i":1,"round":2}';
UPDATE tracelink.ledger_entries
   SET entry_hash = sha256(convert_to(tracelink.entry_preimage(kind, payload::jsonb, deps, origin, tx, seq, audience), 'UTF8'))
 WHERE payload IN ('{"i":1,"round":2}', '{"i":2,"round":2}');
SELECT * FROM tampered();
ROLLBACK;

-- 4. two blocks swap signatures
BEGIN;
ALTER TABLE tracelink.ledger_blocks DISABLE TRIGGER USER;
UPDATE tracelink.ledger_blocks b SET signature = o.signature
  FROM tracelink.ledger_blocks o
 WHERE (b.block_no, o.block_no) IN ((:r1, :r1 + 1), (:r1 + 1, :r1));
SELECT * FROM tampered();
ROLLBACK;

-- 5. the tail is cut off: last block and its entries deleted
BEGIN;
ALTER TABLE tracelink.ledger_entries DISABLE TRIGGER USER;
ALTER TABLE tracelink.ledger_blocks DISABLE TRIGGER USER;
DELETE FROM tracelink.ledger_entries e USING tracelink.ledger_blocks b
 WHERE b.origin = e.origin AND b.tx = e.tx AND b.block_no = :r1 + 2;
DELETE FROM tracelink.ledger_blocks WHERE block_no = :r1 + 2;
SELECT * FROM tampered();
ROLLBACK;

-- 6. the chain is forked: a middle block is rewritten with different
-- content and validly re-signed with the node's own key (read from its key
-- file by the superuser); the next block no longer links to it.
BEGIN;
ALTER TABLE tracelink.ledger_entries DISABLE TRIGGER USER;
ALTER TABLE tracelink.ledger_blocks DISABLE TRIGGER USER;
UPDATE tracelink.ledger_entries SET payload = '{"i":1,"round":"forged"}' WHERE payload = '{"i":1,"round":2}';
UPDATE tracelink.ledger_entries
   SET entry_hash = sha256(convert_to(tracelink.entry_preimage(kind, payload::jsonb, deps, origin, tx, seq, audience), 'UTF8'))
 WHERE payload = '{"i":1,"round":"forged"}';
-- the forged block: new entry hashes, roots, hash and signature
CREATE TEMP TABLE forged AS
SELECT b.block_no,
       (SELECT string_agg(e.entry_hash, ''::bytea ORDER BY e.seq) FROM tracelink.ledger_entries e
         WHERE e.origin = b.origin AND e.tx = b.tx) AS entry_hashes,
       (SELECT tracelink.merkle_root(array_agg(e.entry_hash ORDER BY e.seq)) FROM tracelink.ledger_entries e
         WHERE e.origin = b.origin AND e.tx = b.tx) AS entries_root,
       (SELECT tracelink.merkle_root(array_agg(l.entry_hash ORDER BY l.ordinal)) FROM tracelink.ledger l
         WHERE l.ordinal < b.tree_size) AS tree_root,
       tracelink.signed_tree_head('alpha', b.tree_size) AS sth
  FROM tracelink.ledger_blocks b WHERE b.block_no = :r1 + 1;
UPDATE forged SET sth = sth || jsonb_build_object('entries_root', encode(entries_root, 'hex'), 'tree_root', encode(tree_root, 'hex'));
UPDATE forged SET sth = sth || jsonb_build_object('block_hash',
        encode(sha256(convert_to(tracelink.jcs(sth - 'block_hash' - 'signature'), 'UTF8')), 'hex'));
UPDATE forged SET sth = sth || jsonb_build_object('signature', encode(tracelink.ed25519_sign(
        decode(split_part(pg_read_file(current_setting('tracelink.key_directory') || '/alpha.key'), E'\n', 3), 'hex'),
        decode(sth ->> 'block_hash', 'hex')), 'hex'));
SELECT tracelink.verify_tree_head(sth, tracelink.node_public_key()) AS forged_head_is_validly_signed FROM forged;
UPDATE tracelink.ledger_blocks b
   SET entry_hashes = f.entry_hashes, entries_root = f.entries_root, tree_root = f.tree_root,
       block_hash = decode(f.sth ->> 'block_hash', 'hex'), signature = decode(f.sth ->> 'signature', 'hex')
  FROM forged f WHERE b.block_no = f.block_no;
SELECT * FROM tampered();
ROLLBACK;

-- 7. an entry is slipped in that no block seals
BEGIN;
ALTER TABLE tracelink.ledger_entries DISABLE TRIGGER USER;
INSERT INTO tracelink.ledger_entries (origin, tx, seq, kind, payload, entry_hash)
VALUES ('alpha', 999999, 0, 'acme.forged', '{}', sha256('slipped in'));
SELECT * FROM tampered();
ROLLBACK;

-- 8. a block is removed from the middle
BEGIN;
ALTER TABLE tracelink.ledger_blocks DISABLE TRIGGER USER;
DELETE FROM tracelink.ledger_blocks WHERE block_no = :r1;
SELECT * FROM tampered();
ROLLBACK;

-- 9a. entries lie in the heap out of their blocks' order (deleted and
-- inserted again, as free space reused after a vacuum places them): the
-- parallel parts find them by their hashes, and the ledger is sound
BEGIN;
ALTER TABLE tracelink.ledger_entries DISABLE TRIGGER USER;
WITH moved AS (DELETE FROM tracelink.ledger_entries
                WHERE payload IN ('{"i":1,"round":1}', '{"i":3,"round":2}', '{"i":4,"round":3}')
               RETURNING *)
INSERT INTO tracelink.ledger_entries SELECT * FROM moved;
SELECT * FROM tampered();
-- 9b. and one of them is there twice
INSERT INTO tracelink.ledger_entries SELECT * FROM tracelink.ledger_entries WHERE payload = '{"i":3,"round":2}';
SELECT * FROM tampered();
ROLLBACK;

-- 9. an entry is copied: the same entry twice
BEGIN;
ALTER TABLE tracelink.ledger_entries DISABLE TRIGGER USER;
INSERT INTO tracelink.ledger_entries SELECT * FROM tracelink.ledger_entries WHERE payload = '{"i":2,"round":3}';
SELECT * FROM tampered();
ROLLBACK;

-- 10. one payload changed in a block of 1,000 entries: verify() names it
-- (the text naming it once lived in memory freed under it: a crash)
SELECT count(tracelink.append('acme.bulk', jsonb_build_object('i', g))) FROM generate_series(1, 1000) g;
BEGIN;
ALTER TABLE tracelink.ledger_entries DISABLE TRIGGER USER;
UPDATE tracelink.ledger_entries SET payload = '{"i":9999}' WHERE payload = '{"i":500}' AND kind = 'acme.bulk';
SELECT ok, regexp_replace(first_bad, 'alpha:[0-9]+ \(block [0-9]+', 'alpha:N (block B') AS first_bad, reason FROM tampered();
ROLLBACK;

-- untouched, it verifies again
SELECT * FROM tampered();

-- 11. the entries table rewritten in another order (as CLUSTER may): the
-- parallel parts meet entries of other parts' blocks in their ranges of
-- the heap and find them by their hashes (past 2,000 of them, each part
-- reads the whole table instead), and the ledger still verifies (with
-- client_min_messages = debug1 verify() says which; not shown here, as it
-- depends on workers being free to start)
CREATE INDEX tamper_order ON tracelink.ledger_entries (tx DESC, seq);
CLUSTER tracelink.ledger_entries USING tamper_order;
DROP INDEX tracelink.tamper_order;
SELECT * FROM tampered();
