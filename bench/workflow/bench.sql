-- The ballot tally as ballots accumulate.  :voters simulated peers
-- (sql/include/sim_nodes.sql) each append three blocks per round, applied
-- with tracelink.ingest() (the replication apply path: block and entry
-- verified, signature checked, projector run), each in its own
-- transaction, and the time of each ingest() call is recorded:
--
--   X  a ballot on proposal X, tallied by tracelink (65_votes.sql: lock the
--      proposal row, insert the ballot, move two counters);
--   Y  a ballot on proposal Y, tallied by tracelink and, in addition, by a
--      naive AFTER INSERT trigger on tracelink.ballots that recounts all of
--      the proposal's ballots and decides from the recount;
--   Z  an entry of a kind without projector: the apply path alone.
--
-- So X - Z is the cost of tracelink's tally and Y - X the cost of the naive
-- recount, each as a function of the number k of ballots already cast.
-- Peer k's three blocks are applied one after the other, in an order that
-- rotates with k, so all variants see the same machine.  Both votes are
-- unanimous among the peers and the creator, who never votes here: they
-- stay open and every ballot is tallied.

\set ECHO none
\set QUIET on
SET client_min_messages = warning;

-- the naive tally
CREATE TABLE naive_tally (proposal_id bytea PRIMARY KEY, approvals int, rejections int, status text);
-- its own search_path: triggers fired by the apply path run under the
-- pinned pg_catalog, pg_temp (src/safe_spi.c)
CREATE FUNCTION naive_recount() RETURNS trigger LANGUAGE plpgsql
    SET search_path = public, pg_catalog AS $$
DECLARE
    approvals int;
    rejections int;
    threshold int;
    voters int;
BEGIN
    SELECT count(*) FILTER (WHERE b.approve), count(*) FILTER (WHERE NOT b.approve)
      INTO approvals, rejections
      FROM tracelink.ballots b WHERE b.proposal_id = NEW.proposal_id;
    SELECT p.threshold, cardinality(p.voters) INTO threshold, voters
      FROM tracelink.proposals p WHERE p.proposal_id = NEW.proposal_id;
    INSERT INTO naive_tally VALUES (NEW.proposal_id, approvals, rejections,
        CASE WHEN approvals >= threshold THEN 'passed'
             WHEN voters - rejections < threshold THEN 'failed' ELSE 'open' END)
    ON CONFLICT (proposal_id) DO UPDATE
       SET approvals = EXCLUDED.approvals, rejections = EXCLUDED.rejections, status = EXCLUDED.status;
    RETURN NULL;
END
$$;

CREATE TABLE block_lines (round int, k int, variant text, lines text, PRIMARY KEY (round, k, variant));
CREATE TABLE timing (round int, k int, variant text, us float8);

-- the order peer k's blocks are applied in
CREATE FUNCTION variant_order(k int) RETURNS text[] LANGUAGE sql IMMUTABLE
    RETURN (ARRAY[ARRAY['X', 'Y', 'Z'], ARRAY['Y', 'Z', 'X'], ARRAY['Z', 'X', 'Y']])[k % 3 + 1:k % 3 + 1][1:3];

-- the peers
SELECT count(*) = :voters AS all_peers_applied
  FROM generate_series(1, :voters) g, sim_node('p' || lpad(g::text, 5, '0')) s
 WHERE s.quarantined = 0 \gset
\if :all_peers_applied
\else
\echo genesis blocks of some peers were quarantined
SELECT reason, count(*) FROM tracelink.quarantine GROUP BY reason;
SELECT 1/0 AS stop_the_benchmark;
\endif

-- One round: links X and Y, every peer accepts, p00001 builds the process,
-- bench assembles; then each peer's three blocks are built (not timed), in
-- the order measure_round applies them, since a peer's blocks must arrive
-- in the order of its chain.
CREATE PROCEDURE prepare_round(p_round int)
LANGUAGE plpgsql AS $$
DECLARE
    v text;
    link bytea;
    invited jsonb := (SELECT jsonb_agg(node ORDER BY node) FROM sim_chain);
    proposals jsonb := '{}';
    peer record;
BEGIN
    FOREACH v IN ARRAY ARRAY['X', 'Y'] LOOP
        link := tracelink.request_link(v || p_round, ARRAY['P'], jsonb_build_object('P', invited),
                                       adoption_rule => '{"rule": "unanimous"}');
        COMMIT;
        PERFORM tracelink.ingest(r.lines) FROM sim_chain c, sim_reply(c.node, link, 'P', true) r;
        COMMIT;
        PERFORM tracelink.ingest(s.lines) FROM sim_submit('p00001', link, jsonb_build_object(
            'revision', 1, 'template', NULL,
            'definition', jsonb_build_object('name', 'P', 'node', 'p00001', 'stages', jsonb_build_array(
                jsonb_build_object('name', 'S', 'forms', jsonb_build_array(
                    jsonb_build_object('name', 'F', 'key', true, 'items', jsonb_build_array(
                        jsonb_build_object('name', 'lot', 'type', 'text', 'required', true, 'trace_code', true))))))))) s;
        COMMIT;
        proposals := proposals || jsonb_build_object(v, encode(tracelink.assemble(v || p_round), 'hex'));
        COMMIT;
    END LOOP;
    FOR peer IN SELECT node, row_number() OVER (ORDER BY node) AS k FROM sim_chain ORDER BY node LOOP
        FOREACH v IN ARRAY variant_order(peer.k::int) LOOP
            IF v = 'Z' THEN
                INSERT INTO block_lines SELECT p_round, peer.k, v, b.lines
                  FROM sim_action(peer.node, 'bench.noop', jsonb_build_object('round', p_round)) b;
            ELSE
                INSERT INTO block_lines SELECT p_round, peer.k, v, b.lines
                  FROM sim_vote(peer.node, decode(proposals->>v, 'hex'), true) b;
            END IF;
        END LOOP;
    END LOOP;
    EXECUTE format('CREATE TRIGGER naive_recount AFTER INSERT ON tracelink.ballots FOR EACH ROW'
                   ' WHEN (NEW.proposal_id = %L::bytea) EXECUTE FUNCTION naive_recount()',
                   decode(proposals->>'Y', 'hex'));
    COMMIT;
END
$$;

-- apply peer k's blocks, each in its own transaction, timing ingest()
CREATE PROCEDURE measure_round(p_round int, p_voters int)
LANGUAGE plpgsql AS $$
DECLARE
    i int;
    v text;
    l text;
    t0 timestamptz;
    t1 timestamptz;
BEGIN
    FOR i IN 1 .. p_voters LOOP
        FOREACH v IN ARRAY variant_order(i) LOOP
            SELECT b.lines INTO l FROM block_lines b WHERE b.round = p_round AND b.k = i AND b.variant = v;
            t0 := clock_timestamp();
            PERFORM tracelink.ingest(l);
            t1 := clock_timestamp();
            INSERT INTO timing VALUES (p_round, i, v, extract(epoch FROM t1 - t0) * 1e6);
            COMMIT;
        END LOOP;
    END LOOP;
END
$$;

-- Each command on its own (procedures that commit cannot run in a
-- multi-statement query).  Autovacuum is off in the benchmark's cluster
-- (run.sh): tables are vacuumed and analysed before each round instead, so
-- that no background work lands in the middle of a round.
SELECT format('CALL prepare_round(%s)', r), 'VACUUM ANALYZE', format('CALL measure_round(%s, %s)', r, :voters),
       'DROP TRIGGER naive_recount ON tracelink.ballots'
  FROM generate_series(1, :rounds) r \gexec

-- every ballot counted once on both proposals, both still open, the naive
-- tally agreeing with the counters, nothing quarantined
SELECT count(*) FILTER (WHERE p.approvals = :voters AND p.rejections = 0 AND p.status = 'open') = 2 * :rounds
       AND (SELECT count(*) FROM naive_tally n JOIN tracelink.proposals q USING (proposal_id)
             WHERE n.approvals = q.approvals AND n.status = q.status) = :rounds
       AND NOT EXISTS (SELECT 1 FROM tracelink.quarantine) AS tallies_ok
  FROM tracelink.proposals p \gset
\if :tallies_ok
\else
\echo the tallies are wrong
SELECT proposal_id, approvals, rejections, status FROM tracelink.proposals;
SELECT reason, count(*) FROM tracelink.quarantine GROUP BY reason;
SELECT 1/0 AS stop_the_benchmark;
\endif

-- Buckets: the first ten ballots, ten in the middle, the last ten.  Each
-- figure is the median over all rounds of the bucket's ballots.
CREATE TEMP TABLE bucket AS
SELECT CASE WHEN t.k <= 10 THEN 1 WHEN t.k > :voters - 10 THEN 3 ELSE 2 END AS bucket,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY t.us) FILTER (WHERE t.variant = 'X') AS x,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY t.us) FILTER (WHERE t.variant = 'Y') AS y,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY t.us) FILTER (WHERE t.variant = 'Z') AS z
  FROM timing t
 WHERE t.k <= 10 OR t.k > :voters - 10 OR t.k BETWEEN :voters / 2 - 9 AND :voters / 2
 GROUP BY 1;
\pset format unaligned
\pset tuples_only on
SELECT format('| %s | %s | %s | %s | %s | %s |', :voters,
              CASE bucket WHEN 1 THEN '1-10' WHEN 2 THEN (:voters / 2 - 9) || '-' || (:voters / 2)
                          ELSE (:voters - 9) || '-' || :voters END,
              round(z::numeric), round(x::numeric), round((x - z)::numeric), round((y - x)::numeric))
  FROM bucket ORDER BY bucket;
SELECT format('%s voters, last ten / first ten: tracelink tally %s, naive recount %s (apply path alone %s)', :voters,
              to_char((l.x - l.z) / (f.x - f.z), 'FM990.00'), to_char((l.y - l.x) / (f.y - f.x), 'FM990.00'),
              to_char(l.z / f.z, 'FM990.00'))
  FROM bucket f, bucket l WHERE f.bucket = 1 AND l.bucket = 3;
