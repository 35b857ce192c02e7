-- Witness entries (src/witness.c, docs/ledger.md "Witnessing heads"): how
-- a received tl.witness is checked against this node's copy, what is
-- quarantined, what is recorded, and that the outcome does not depend on
-- what arrived first.  "beta" is the witnessed origin, "gamma" the witness,
-- both simulated peers (sql/include/sim_nodes.sql) whose signed blocks are
-- built here and applied with tracelink.ingest(), the replication apply
-- path.  Hashes are never shown (blocks carry their sealing time).
--
-- A database of its own: sim_nodes.sql is loaded by later tests too.
SET client_min_messages = error;
SELECT current_database() AS regress_db \gset
CREATE DATABASE tl_witness;
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE tl_witness SET tracelink.key_directory = %L',
                   'pg_tracelink_regress_w_' || pg_backend_pid() || '_' || (extract(epoch FROM clock_timestamp()) * 1000)::bigint);
END
$$;
\c tl_witness
SET client_min_messages = error;
CREATE EXTENSION tracelink;
\set ECHO none
\i sql/include/sim_nodes.sql
\set ECHO all
SELECT tracelink.init_node('home') IS NOT NULL AS home;
SELECT * FROM sim_node('beta');
SELECT * FROM sim_node('gamma');

-- A step of a simulated chain that remembers the state before it, so that
-- other blocks with the same number (a fork) can be built later.
CREATE TABLE chain_log (node text, block_no bigint, prev_hash bytea, leaves bytea[], PRIMARY KEY (node, block_no));
CREATE FUNCTION step(p_node text, p_payload jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    l text;
BEGIN
    INSERT INTO chain_log SELECT node, next_block, prev_hash, leaves FROM sim_chain WHERE node = p_node;
    SELECT lines INTO l FROM sim_action(p_node, 'sim.note', p_payload);
    RETURN l;
END $$;
-- The export lines of another block numbered p_block_no of p_node's chain
-- (signed with p_seed, by default the node's own), without changing the
-- chain; fork_head() gives its signed head.
CREATE FUNCTION fork_lines(p_node text, p_block_no bigint, p_payload jsonb, p_seed bytea DEFAULT NULL)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    saved sim_chain;
    logged chain_log;
    l text;
BEGIN
    SELECT * INTO saved FROM sim_chain WHERE node = p_node;
    SELECT * INTO logged FROM chain_log WHERE node = p_node AND block_no = p_block_no;
    UPDATE sim_chain SET next_block = p_block_no,
                         prev_hash = coalesce(logged.prev_hash, saved.prev_hash),
                         leaves = coalesce(logged.leaves, saved.leaves),
                         seed = coalesce(p_seed, saved.seed)
     WHERE node = p_node;
    SELECT lines INTO l FROM sim_action(p_node, 'sim.note', p_payload);
    UPDATE sim_chain SET next_block = saved.next_block, prev_hash = saved.prev_hash,
                         leaves = saved.leaves, seed = saved.seed
     WHERE node = p_node;
    RETURN l;
END $$;
CREATE FUNCTION fork_head(p_node text, p_block_no bigint, p_payload jsonb, p_seed bytea DEFAULT NULL)
RETURNS jsonb LANGUAGE sql AS $$
    SELECT split_part(fork_lines(p_node, p_block_no, p_payload, p_seed), E'\n', 2)::jsonb - 'entry_hashes'
$$;
-- gamma appends a witness entry with these heads and pairs; ingest it
CREATE FUNCTION gamma_witnesses(p_heads jsonb, p_pairs jsonb DEFAULT '[]') RETURNS SETOF tracelink.ingestion
LANGUAGE sql AS $$
    SELECT * FROM tracelink.ingest((SELECT lines FROM sim_action('gamma', 'tl.witness',
        jsonb_build_object('equivocations', p_pairs, 'heads', p_heads))))
$$;
CREATE FUNCTION head_of(p_node text) RETURNS jsonb LANGUAGE sql AS $$ SELECT tracelink.signed_tree_head(p_node) $$;
-- what the checks refused since the last call, and the equivocations
CREATE TABLE seen (id bigint);
INSERT INTO seen VALUES (0);
CREATE FUNCTION refusals() RETURNS SETOF text LANGUAGE sql AS $$
    WITH r AS (SELECT id, reason FROM tracelink.quarantine WHERE id > (SELECT id FROM seen) ORDER BY id),
         u AS (UPDATE seen SET id = coalesce((SELECT max(id) FROM r), seen.id))
    SELECT reason FROM r
$$;
CREATE VIEW recorded AS
SELECT origin, block_no, detected_by, first_hash IS NULL AS no_first,
       tracelink.verify_tree_head(second_block, n.public_key)
         AND (first_block IS NULL OR tracelink.verify_tree_head(first_block, n.public_key)) AS both_signed_by_origin
  FROM tracelink.equivocations e JOIN tracelink.nodes n ON n.name = e.origin
 ORDER BY origin, block_no, detected_by;

SELECT * FROM tracelink.ingest(step('beta', '{"i": 1}'));

-- a head equal to this node's copy: nothing to record, nothing refused
SELECT * FROM gamma_witnesses(jsonb_build_array(head_of('beta')));
SELECT * FROM refusals();
SELECT count(*) AS equivocations FROM tracelink.equivocations;

-- a different block 1 of beta, validly signed by beta: an equivocation
SELECT fork_head('beta', 1, '{"i": "other"}') AS other_1 \gset
SELECT * FROM gamma_witnesses(jsonb_build_array(:'other_1'::jsonb));
SELECT * FROM recorded;
SELECT peer, equivocations, equivocating FROM tracelink.sync_status ORDER BY peer;
SELECT name, equivocating FROM tracelink.peers ORDER BY name;
-- the same head again, in another witness: recorded once
SELECT * FROM gamma_witnesses(jsonb_build_array(:'other_1'::jsonb));
SELECT count(*) AS equivocations FROM tracelink.equivocations;

-- heads beyond this node's copy wait, whatever comes first
SELECT step('beta', '{"i": 2}') AS beta_2 \gset
SELECT * FROM gamma_witnesses(jsonb_build_array(split_part(:'beta_2', E'\n', 2)::jsonb - 'entry_hashes'));
SELECT origin, block_no, witnessed_by FROM tracelink.witness_pending;
SELECT peer, witness_checks_pending FROM tracelink.sync_status WHERE peer = 'beta';
-- ... and are checked when the copy gets there: the same block, nothing
SELECT * FROM tracelink.ingest(:'beta_2');
SELECT count(*) AS pending FROM tracelink.witness_pending;
SELECT count(*) AS equivocations FROM tracelink.equivocations;
-- a fork of block 3 witnessed before block 3 arrives, and a fork of block
-- 4 witnessed after: both recorded, the same way
SELECT * FROM gamma_witnesses(jsonb_build_array(fork_head('beta', 3, '{"i": "fork"}')));
SELECT * FROM tracelink.ingest(step('beta', '{"i": 3}'));
SELECT * FROM tracelink.ingest(step('beta', '{"i": 4}'));
SELECT * FROM gamma_witnesses(jsonb_build_array(fork_head('beta', 4, '{"i": "fork"}')));
SELECT * FROM recorded;
SELECT count(*) AS pending FROM tracelink.witness_pending;

-- refused heads, each with its reason; the others in the same witness count
SELECT * FROM gamma_witnesses(jsonb_build_array(
    -- block 1 of beta with another tree size: its hash no longer matches
    head_of('beta') || '{"tree_size": 99}',
    fork_head('gamma', 1, '{"i": "garbled signature"}') || jsonb_build_object('signature', repeat('ab', 64)),
    '{"origin": "zulu"}'::jsonb));
SELECT * FROM refusals();
SELECT * FROM gamma_witnesses(jsonb_build_array(
    -- a block 2 of beta that gamma signed with its own key
    fork_head('beta', 2, '{"i": "by gamma"}', sha256(convert_to('tracelink simulated node gamma', 'UTF8')))));
SELECT * FROM refusals();
SELECT * FROM gamma_witnesses(jsonb_build_array(
    -- a block beyond the copy with a garbled signature
    fork_head('beta', 9, '{"i": 9}') || jsonb_build_object('signature', repeat('cd', 64))));
SELECT * FROM refusals();
SELECT * FROM gamma_witnesses(jsonb_build_array(head_of('gamma'), head_of('beta')));
SELECT * FROM refusals();
SELECT * FROM gamma_witnesses(jsonb_build_array(head_of('beta'), head_of('beta')));
SELECT * FROM refusals();
SELECT * FROM gamma_witnesses(jsonb_build_array(head_of('beta') || '{"extra": 1}', head_of('beta') - 'next_key',
                                                head_of('beta') || '{"origin": "Beta"}', head_of('beta') || '{"block_no": -1}',
                                                head_of('beta') || '{"signer_key": "AB"}', '[]'::jsonb));
SELECT * FROM refusals();
-- heads of an origin this node does not follow are left alone
INSERT INTO sim_chain (node, seed) VALUES ('stranger', sha256('stranger'));
SELECT * FROM gamma_witnesses(jsonb_build_array(fork_head('stranger', 0, '{"i": 0}')));
SELECT * FROM refusals();
SELECT count(*) AS pending FROM tracelink.witness_pending WHERE origin = 'stranger';

-- payloads that are not witnesses: the whole effect is refused
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_action('gamma', 'tl.witness', '[]')));
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_action('gamma', 'tl.witness', '{"heads": []}')));
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_action('gamma', 'tl.witness', '{"heads": {}, "equivocations": []}')));
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_action('gamma', 'tl.witness',
    jsonb_build_object('heads', (SELECT jsonb_agg(0) FROM generate_series(1, 10001)), 'equivocations', '[]'::jsonb))));
SELECT * FROM refusals();

-- evidence: pairs of heads passed on.  Two forks of block 5, beyond the
-- copy, signed by beta's current key: recorded now, and kept to be checked
-- against block 5 when it comes
SELECT * FROM gamma_witnesses('[]', jsonb_build_array(jsonb_build_array(
    fork_head('beta', 5, '{"i": "left"}'), fork_head('beta', 5, '{"i": "right"}'))));
SELECT * FROM recorded WHERE block_no = 5;
SELECT count(*) AS pending FROM tracelink.witness_pending WHERE block_no = 5;
SELECT * FROM tracelink.ingest(step('beta', '{"i": 5}'));
SELECT * FROM recorded WHERE block_no = 5;
-- pairs that are not two blocks with one number
SELECT * FROM gamma_witnesses('[]', jsonb_build_array(
    jsonb_build_array(head_of('beta'), head_of('beta')),
    jsonb_build_array(fork_head('beta', 6, '{"i": 6}'), fork_head('beta', 7, '{"i": 7}')),
    jsonb_build_array(head_of('beta')),
    '"pair"'::jsonb));
SELECT * FROM refusals();

-- a second block 1 received directly: recorded when validly signed (its
-- entry is refused: block 1 sealed another)
SELECT * FROM tracelink.ingest(fork_lines('beta', 1, '{"i": "direct"}'));
SELECT * FROM refusals();
SELECT * FROM recorded WHERE block_no = 1;
-- ... and not when its signature is garbled
SELECT * FROM tracelink.ingest((SELECT split_part(l, E'\n', 1) || E'\n'
                                       || (split_part(l, E'\n', 2)::jsonb || jsonb_build_object('signature', repeat('ef', 64)))::text
                                  FROM fork_lines('beta', 1, '{"i": "garbled"}') l));
SELECT * FROM refusals();
SELECT count(*) AS equivocations_at_1 FROM tracelink.equivocations WHERE block_no = 1;

-- this node's own chain: its own head, nothing; a block it never signed,
-- signed with its key (read from the key file, as a thief would): a key
-- compromise, recorded with no first block; signed with another key: refused
CREATE FUNCTION home_head_signed_with(p_seed bytea, p_block_no bigint) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    h jsonb := head_of('home') - 'block_hash' - 'signature';
    bh bytea;
BEGIN
    h := h || jsonb_build_object('block_no', p_block_no, 'tree_root', repeat('11', 32),
                                 'signer_key', encode(tracelink.ed25519_public_key(p_seed), 'hex'));
    bh := sha256(convert_to(tracelink.jcs(h), 'UTF8'));
    RETURN h || jsonb_build_object('block_hash', encode(bh, 'hex'),
                                   'signature', encode(tracelink.ed25519_sign(p_seed, bh), 'hex'));
END $$;
SELECT decode(split_part(pg_read_file(current_setting('tracelink.key_directory') || '/home.key'), E'\n', 3), 'hex') AS home_seed \gset
SELECT * FROM gamma_witnesses(jsonb_build_array(head_of('home')));
SELECT * FROM gamma_witnesses(jsonb_build_array(home_head_signed_with(:'home_seed', 40)));
SELECT * FROM gamma_witnesses(jsonb_build_array(home_head_signed_with(sha256('someone else'), 41)));
SELECT * FROM refusals();
SELECT * FROM recorded WHERE origin = 'home';

-- witness(): this node's own witness holds the heads of beta and gamma and
-- passes on the equivocations; then there is nothing new, unless forced
SELECT tracelink.witness() IS NOT NULL AS witnessed;
SELECT jsonb_path_query_array(payload::jsonb, '$.heads[*].origin') AS heads,
       jsonb_array_length(payload::jsonb->'equivocations') AS pairs
  FROM tracelink.ledger_entries WHERE origin = 'home' AND kind = 'tl.witness';
SELECT count(*) FILTER (WHERE published_in IS NULL AND first_hash IS NOT NULL) AS not_passed_on,
       count(*) FILTER (WHERE first_hash IS NULL) AS own_chain_kept_here
  FROM tracelink.equivocations;
SELECT tracelink.witness() IS NULL AS nothing_new;
SELECT tracelink.witness(force => true) IS NOT NULL AS forced;
SELECT * FROM tracelink.verify() ORDER BY origin;

-- privileges: witness() for admins; the tables for readers
SELECT r, has_function_privilege(r, 'tracelink.witness(boolean)', 'EXECUTE') AS can_witness,
       has_table_privilege(r, 'tracelink.witness_pending', 'SELECT') AS reads_pending,
       has_table_privilege(r, 'tracelink.witness_state', 'INSERT,UPDATE,DELETE') AS writes_state
  FROM unnest(ARRAY['public', 'tracelink_reader', 'tracelink_member', 'tracelink_admin']) r;

\c :regress_db
DROP DATABASE tl_witness;
