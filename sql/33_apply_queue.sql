-- Entries from peers that wait for their dependencies (tracelink.apply_queue)
-- and tracelink.recheck_waiting().  The races between a commit and the apply
-- path, which only several sessions show, are in
-- specs/apply_queue_race.spec and t/085_apply_queue_race.pl.
--
-- Simulated peers (sql/include/sim_nodes.sql, loaded by 30_workflow.sql):
-- qa and qb write the dependencies, qc the entries that wait for them.
\set ECHO none
\i sql/include/node_alpha.sql
\i sql/include/sim_nodes.sql
\set ECHO all
SELECT * FROM sim_node('qa');
SELECT * FROM sim_node('qb');
SELECT * FROM sim_node('qc');

-- recheck_waiting() is for admins only
SELECT has_function_privilege('tracelink_admin', 'tracelink.recheck_waiting()', 'EXECUTE') AS admin,
       has_function_privilege('tracelink_member', 'tracelink.recheck_waiting()', 'EXECUTE') AS member,
       has_function_privilege('tracelink_reader', 'tracelink.recheck_waiting()', 'EXECUTE') AS reader,
       has_function_privilege('public', 'tracelink.recheck_waiting()', 'EXECUTE') AS public;

-- nothing waits: nothing to release
SELECT * FROM tracelink.recheck_waiting();

-- qc's p1 waits for qa's x, p2 for x and qb's y, p3 for p1
SELECT entry_hash AS x, lines AS x_lines FROM sim_action('qa', 'q.x', '{"n": 1}') \gset
SELECT entry_hash AS y, lines AS y_lines FROM sim_action('qb', 'q.y', '{"n": 2}') \gset
SELECT entry_hash AS p1, lines AS p1_lines FROM sim_action('qc', 'q.p', '{"n": 1}', ARRAY[:'x']::bytea[]) \gset
SELECT entry_hash AS p2, lines AS p2_lines FROM sim_action('qc', 'q.p', '{"n": 2}', ARRAY[:'x', :'y']::bytea[]) \gset
SELECT entry_hash AS p3, lines AS p3_lines FROM sim_action('qc', 'q.p', '{"n": 3}', ARRAY[:'p1']::bytea[]) \gset
CREATE TEMP VIEW waiting AS
SELECT e.payload, q.waiting_for = ARRAY[:'x']::bytea[] AS for_x,
       q.waiting_for @> ARRAY[:'x', :'y']::bytea[] AS for_x_and_y, q.waiting_for = ARRAY[:'p1']::bytea[] AS for_p1
  FROM tracelink.apply_queue q JOIN tracelink.ledger_entries e USING (entry_hash)
 ORDER BY e.payload;
SELECT * FROM tracelink.ingest(:'p1_lines' || E'\n' || :'p2_lines' || E'\n' || :'p3_lines');
SELECT * FROM waiting;
SELECT waiting_entries FROM tracelink.sync_status WHERE peer = 'qc';

-- x arrives: p1 takes effect, then p3 which waited for it; p2 still misses
-- y and stays as it was
SELECT queued_at AS p2_queued_at FROM tracelink.apply_queue WHERE entry_hash = :'p2' \gset
SELECT * FROM tracelink.ingest(:'x_lines');
SELECT * FROM waiting;
SELECT queued_at = :'p2_queued_at' AS p2_left_alone FROM tracelink.apply_queue WHERE entry_hash = :'p2';

-- y arrives: p2 takes effect; nothing is left for recheck_waiting()
SELECT * FROM tracelink.ingest(:'y_lines');
SELECT * FROM waiting;
SELECT * FROM tracelink.recheck_waiting();

-- A peer's entry that waits for a local entry not appended yet (a peer can
-- name the hash of an entry it expects: the next tx of the sequence, seq 0)
-- takes effect when the local entry commits, whether the queue is short
-- (scanned at commit) or long (looked up through apply_queue_waiting_for).
CREATE FUNCTION next_local_hash(p_kind text, p_payload jsonb) RETURNS bytea LANGUAGE sql AS $$
    SELECT sha256(convert_to(tracelink.entry_preimage(p_kind, p_payload, NULL, tracelink.node_name(),
                                                      s.last_value + 1, 0), 'UTF8'))
      FROM tracelink.ledger_tx_seq s
$$;
SELECT next_local_hash('q.local', '{"n": 1}') AS l1 \gset
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_action('qc', 'q.after', '{"n": 1}', ARRAY[:'l1']::bytea[])));
SELECT e.payload FROM tracelink.apply_queue q JOIN tracelink.ledger_entries e USING (entry_hash);
SELECT tracelink.append('q.local', '{"n": 1}') = :'l1' AS predicted;
SELECT count(*) AS waiting FROM tracelink.apply_queue;
-- a long queue: 100 entries waiting for entries that never come
SELECT sum(i.lines) AS lines, sum(i.quarantined) AS quarantined
  FROM generate_series(1, 100) g,
       LATERAL tracelink.ingest((SELECT lines FROM sim_action('qc', 'q.never', jsonb_build_object('n', g),
                                 ARRAY[sha256(convert_to('never ' || g, 'UTF8'))]))) i;
SELECT next_local_hash('q.local', '{"n": 2}') AS l2 \gset
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_action('qc', 'q.after', '{"n": 2}', ARRAY[:'l2']::bytea[])));
SELECT count(*) AS waiting FROM tracelink.apply_queue;
BEGIN;
SELECT tracelink.append('q.local', '{"n": 2}') = :'l2' AS predicted;
COMMIT;
SELECT count(*) AS waiting, count(*) FILTER (WHERE e.kind = 'q.never') AS never
  FROM tracelink.apply_queue q JOIN tracelink.ledger_entries e USING (entry_hash);
SELECT e.payload FROM tracelink.ledger_entries e
 WHERE e.kind = 'q.after' AND NOT EXISTS (SELECT FROM tracelink.apply_queue q WHERE q.entry_hash = e.entry_hash)
 ORDER BY e.payload;

-- recheck_waiting() needs the latest committed state
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT err($$ SELECT * FROM tracelink.recheck_waiting() $$);
ROLLBACK;

-- a transaction that applied entries from peers cannot be prepared: its
-- commit is where waiting entries are looked at again
BEGIN;
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_action('qa', 'q.z', '{"n": 3}')));
PREPARE TRANSACTION 'tl_apply_queue';
SELECT count(*) AS z_applied FROM tracelink.ledger_entries WHERE kind = 'q.z';

-- ingest(), witness() and rotate_key() take the apply lock, which the apply
-- workers take before anything else: after this transaction took a
-- workflow step (or recorded trace data) they are refused (25001), and
-- nothing of it is lost
BEGIN;
SELECT tracelink.request_link('Lock order', ARRAY['P'], '{"P": ["alpha"]}') IS NOT NULL AS requested;
SELECT err($$ SELECT * FROM tracelink.ingest((SELECT lines FROM sim_action('qa', 'q.order_peer', '{"n": 4}'))) $$);
SELECT err($$ SELECT tracelink.witness() $$);
SELECT err($$ SELECT tracelink.rotate_key() $$);
COMMIT;
SELECT count(*) AS link_kept FROM tracelink.trace_links WHERE name = 'Lock order';
-- first in the transaction, then appending: allowed (the apply lock first);
-- so is ingest() after appending an application's entry, which has no effect
BEGIN;
SELECT lines AS ingested FROM tracelink.ingest((SELECT lines FROM sim_action('qa', 'q.order_peer', '{"n": 4}')));
SELECT tracelink.reply_invitation('Lock order', 'P', true) IS NOT NULL AS replied_after;
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_action('qa', 'q.order_peer', '{"n": 5}')));
COMMIT;
BEGIN;
SELECT length(tracelink.append('q.order_local', '{"n": 1}')) AS appended;
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_action('qa', 'q.order_peer', '{"n": 6}')));
COMMIT;
SELECT count(*) AS peer_applied FROM tracelink.ledger_entries WHERE kind = 'q.order_peer';
