-- Working the quarantine: tracelink.retry_quarantined() puts rows whose
-- cause was fixed through the apply path again (the same checks as on
-- arrival); what passes leaves the quarantine, what fails again stays with
-- its new reason, permanent evidence is not retried.  Alerts.
\set ECHO none
\i sql/include/node_alpha.sql
\i sql/include/sim_nodes.sql
\set ECHO all
SELECT coalesce(max(id), 0) AS q0 FROM tracelink.quarantine \gset

-- A node whose key is pinned late.  Before its chain arrives, a forged
-- copy of its genesis (signed by another key); then its chain (genesis, a
-- note), and its genesis block again (a duplicate).
INSERT INTO sim_chain (node, seed)
VALUES ('late', sha256(convert_to('not the key of late', 'UTF8')));
SELECT lines AS forged FROM sim_action('late', 'tl.genesis', jsonb_build_object(
    'node', 'late', 'public_key', encode(tracelink.ed25519_public_key(
        sha256(convert_to('not the key of late', 'UTF8'))), 'hex'))) \gset
DELETE FROM sim_chain WHERE node = 'late';
INSERT INTO sim_chain (node, seed)
VALUES ('late', sha256(convert_to('tracelink simulated node late', 'UTF8')));
SELECT lines AS genesis FROM sim_action('late', 'tl.genesis', jsonb_build_object(
    'node', 'late', 'public_key', encode(tracelink.ed25519_public_key(
        sha256(convert_to('tracelink simulated node late', 'UTF8'))), 'hex'))) \gset
SELECT entry_hash AS note_hash, lines AS note FROM sim_action('late', 'acme.note', '{"note": "early"}') \gset
SELECT * FROM tracelink.ingest(:'forged');
SELECT * FROM tracelink.ingest(:'genesis' || E'\n' || :'note');
SELECT * FROM tracelink.ingest(split_part(:'genesis', E'\n', 2));
SELECT what, reason, retryable FROM tracelink.quarantined WHERE id > :q0 ORDER BY id;

-- what needs an operator
SELECT alert, node, count, since IS NOT NULL AS has_since, detail
  FROM tracelink.alerts WHERE node = 'late' ORDER BY alert;

-- refusals: only an admin retries, not in a snapshot transaction, not after
-- a workflow step in the same transaction (it takes the apply lock), not
-- before the cause is fixed (the rows stay, same ids, same reason)
SET ROLE tracelink_reader;
SELECT err($$SELECT * FROM tracelink.retry_quarantined()$$);
RESET ROLE;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT err($$SELECT * FROM tracelink.retry_quarantined()$$);
ROLLBACK;
BEGIN;
SELECT tracelink.request_link('Retry order', ARRAY['P'], '{"P": ["alpha"]}') IS NOT NULL AS requested;
SELECT err($$SELECT * FROM tracelink.retry_quarantined()$$);
ROLLBACK;
SELECT what, outcome, reason FROM tracelink.retry_quarantined(origin => 'late') ORDER BY what, reason;
SELECT count(*) AS still_quarantined, min(id) > :q0 AS same_ids FROM tracelink.quarantine WHERE id > :q0;
SELECT count(*) AS late_in_ledger FROM tracelink.ledger_blocks WHERE origin = 'late';

-- the cause fixed: the key pinned (as add_peer would)
INSERT INTO tracelink.nodes (name, public_key)
SELECT 'late', tracelink.ed25519_public_key(seed) FROM sim_chain WHERE node = 'late';
SELECT peer, last_quarantined_at IS NOT NULL AS quarantined_lately, quarantined
  FROM tracelink.sync_status WHERE peer = 'late';
-- a filter: only the note's entry (its block is still quarantined: it waits)
SELECT what, outcome, reason
  FROM tracelink.retry_quarantined(ids => ARRAY(SELECT id FROM tracelink.quarantine
                                                 WHERE id > :q0 AND entry_hash = :'note_hash'));
SELECT count(*) AS waiting_in_inbox FROM tracelink.inbox_entries WHERE entry_hash = :'note_hash';
-- a filter on the reason that matches nothing
SELECT count(*) FROM tracelink.retry_quarantined(reason_like => 'nothing like this%');
-- all of them: blocks first, in chain order; the forged copy and the
-- duplicate are refused again, with their new reasons, and never take effect
SELECT what, outcome, reason FROM tracelink.retry_quarantined(origin => 'late') ORDER BY what, outcome, reason;
SELECT block_no, signer_key = tracelink.ed25519_public_key(sha256(convert_to('tracelink simulated node late', 'UTF8'))) AS real_key
  FROM tracelink.ledger_blocks WHERE origin = 'late' ORDER BY block_no;
SELECT count(*) AS note_in_ledger FROM tracelink.ledger_entries WHERE entry_hash = :'note_hash';
SELECT count(*) AS inbox FROM tracelink.inbox_entries WHERE origin = 'late';
SELECT origin, ok, entries, blocks FROM tracelink.verify('late');
SELECT what, reason, retryable FROM tracelink.quarantined WHERE id > :q0 ORDER BY id;
-- the permanent ones are not retried again
SELECT what, outcome, reason FROM tracelink.retry_quarantined(origin => 'late') ORDER BY what, reason;
SELECT alert, node, count FROM tracelink.alerts WHERE node = 'late' ORDER BY alert;
SELECT alert, count, detail FROM tracelink.sync_alerts(recent => '0 seconds') WHERE node = 'late';

-- an effect a projector refused (a reply to a link this node does not
-- hold): retried only when named by id, through the projector again; refused
-- again here, it stays under its id, and nothing of it takes effect
SELECT entry_hash AS reply_hash, lines AS reply
  FROM sim_action('late', 'tl.link.reply', jsonb_build_object('link', repeat('ab', 32), 'process', 'P',
                                                              'accept', true, 'reason', NULL)) \gset
SELECT * FROM tracelink.ingest(:'reply');
SELECT id AS effect_id FROM tracelink.quarantine WHERE what = 'effect' AND entry_hash = :'reply_hash' \gset
SELECT what, reason, retryable FROM tracelink.quarantined WHERE id = :effect_id;
SELECT what, outcome, reason FROM tracelink.retry_quarantined(origin => 'late') WHERE what = 'effect';
SELECT what, outcome, reason FROM tracelink.retry_quarantined(ids => ARRAY[:effect_id]::bigint[]);
SELECT count(*) AS same_row, min(reason) AS reason FROM tracelink.quarantine WHERE id = :effect_id;
SELECT count(*) AS invitations_answered FROM tracelink.link_invitations WHERE reply_entry = :'reply_hash';

-- Rows kept as an apply worker receives them (row_data: the ledger row; its
-- subscription in source) and as decoded (an entry whose block was
-- refused): read back into the same path.  A copy of a block that came
-- through another peer's subscription is refused for that again.
INSERT INTO sim_chain (node, seed)
VALUES ('later', sha256(convert_to('tracelink simulated node later', 'UTF8')));
SELECT lines AS later_genesis FROM sim_action('later', 'tl.genesis', jsonb_build_object(
    'node', 'later', 'public_key', encode(tracelink.ed25519_public_key(
        sha256(convert_to('tracelink simulated node later', 'UTF8'))), 'hex'))) \gset
SELECT lines AS later_note FROM sim_action('later', 'acme.note', '{"note": "kept as rows"}') \gset
CREATE TEMP TABLE later_lines AS
SELECT n, l, l::jsonb AS j
  FROM (VALUES (1, split_part(:'later_genesis', E'\n', 1)), (2, split_part(:'later_genesis', E'\n', 2)),
               (3, split_part(:'later_note', E'\n', 1)), (4, split_part(:'later_note', E'\n', 2))) v(n, l);
CREATE TEMP VIEW later_entry_rows AS
SELECT n, j, ROW(j ->> 'origin', (j ->> 'tx')::bigint, (j ->> 'seq')::integer, j ->> 'kind', tracelink.jcs(j -> 'payload'),
           ARRAY(SELECT decode(d, 'hex') FROM jsonb_array_elements_text(j -> 'deps') d), NULL::text[],
           sha256(convert_to(l, 'UTF8')))::tracelink.ledger_entries AS r
  FROM later_lines WHERE j ->> 'type' = 'entry';
CREATE TEMP VIEW later_block_rows AS
SELECT n, j, ROW(j ->> 'origin', (j ->> 'block_no')::bigint, (j ->> 'tx')::bigint, (j ->> 'entry_count')::integer,
           (SELECT string_agg(decode(h, 'hex'), ''::bytea) FROM jsonb_array_elements_text(j -> 'entry_hashes') h),
           decode(j ->> 'entries_root', 'hex'), (j ->> 'tree_size')::bigint, decode(j ->> 'tree_root', 'hex'),
           decode(j ->> 'prev_hash', 'hex'),
           'epoch'::timestamptz + (j ->> 'sealed_at')::bigint * interval '1 microsecond',
           decode(j ->> 'signer_key', 'hex'), decode(j ->> 'next_key', 'hex'), decode(j ->> 'block_hash', 'hex'),
           decode(j ->> 'signature', 'hex'))::tracelink.ledger_blocks AS r
  FROM later_lines WHERE j ->> 'type' = 'block';
-- genesis entry and block, the note's block: rows from the subscription
INSERT INTO tracelink.quarantine (source, what, origin, tx, seq, entry_hash, reason, row_data)
SELECT 'tracelink_from_later', 'entry', 'later', (r).tx, (r).seq, (r).entry_hash,
       'origin is not a known peer (no pinned key)', to_jsonb(r)
  FROM later_entry_rows WHERE n = 1;
INSERT INTO tracelink.quarantine (source, what, origin, block_no, tx, reason, row_data)
SELECT 'tracelink_from_later', 'block', 'later', (r).block_no, (r).tx,
       'origin is not a known peer (no pinned key)', to_jsonb(r)
  FROM later_block_rows ORDER BY n;
-- the note's block again, through another peer's subscription
INSERT INTO tracelink.quarantine (source, what, origin, block_no, tx, reason, row_data)
SELECT 'tracelink_from_late', 'block', 'later', (r).block_no, (r).tx,
       'origin is not a known peer (no pinned key)', to_jsonb(r)
  FROM later_block_rows WHERE n = 4;
-- the note's entry as decoded, refused with its block
INSERT INTO tracelink.quarantine (source, what, origin, tx, seq, entry_hash, reason, row_data)
SELECT 'tracelink_from_later', 'entry', 'later', (r).tx, (r).seq, (r).entry_hash,
       'its block 1 was quarantined: origin is not a known peer (no pinned key)',
       jsonb_build_object('origin', (r).origin, 'tx', (r).tx, 'seq', (r).seq, 'kind', (r).kind,
                          'payload', (r).payload, 'deps', '[]'::jsonb, 'entry_hash', encode((r).entry_hash, 'hex'))
  FROM later_entry_rows WHERE n = 3;
INSERT INTO tracelink.nodes (name, public_key)
SELECT 'later', tracelink.ed25519_public_key(seed) FROM sim_chain WHERE node = 'later';
SELECT what, outcome, reason FROM tracelink.retry_quarantined(origin => 'later') ORDER BY what, outcome, reason;
SELECT origin, ok, entries, blocks FROM tracelink.verify('later');

-- which reasons are retryable
SELECT w, r, tracelink.quarantine_retryable(w, r), tracelink.quarantine_retryable(w, r, true) AS named FROM (VALUES
    ('block', 'origin is not a known peer (no pinned key)'),
    ('entry', 'its block 3 was quarantined: origin is not a known peer (no pinned key)'),
    ('entry', 'row could not be processed: out of cheese'),
    ('effect', 'link "tea" has no adopted version'),
    ('block', 'signature does not verify with the origin''s key'),
    ('block', 'equivocation: origin "x" shows two different blocks numbered 2'),
    ('entry', 'replayed entry: it is already in the ledger'),
    ('entry', 'its block 3 was quarantined: signature does not verify with the origin''s key'),
    ('effect', 'witnessed head 1 is malformed: x'),
    ('effect', 'ballot arrived after the creator closed the vote'),
    ('chunk', 'origin is not a known peer (no pinned key)')) v(w, r);
