-- Backups: what pg_dump keeps, and finishing a restore.
--
-- Every table and sequence of node state is an extension configuration
-- object, so that pg_dump dumps its rows (and a sequence its value) and a
-- restore brings the node back whole.  docs/operations.md ("Checking and
-- backups") gives the procedure and the decisions; a regress test checks
-- that no table or sequence of the schema is left out.

-- The ledger and the node's identity: ledger_tx_seq must come back too, or
-- the next transaction would reuse a restored block's number (origin, tx).
SELECT pg_catalog.pg_extension_config_dump('tracelink.nodes', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.ledger_entries', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.ledger_blocks', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.ledger_heads', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.ledger_tx_seq', '');

-- Replication: rows from peers that wait (their peers will not send them
-- again), the evidence of refused rows, and how to reach each peer.  The
-- connection strings are dumped like pg_subscription's are: keep passwords
-- out of them (a passfile), and protect backups.
SELECT pg_catalog.pg_extension_config_dump('tracelink.inbox_entries', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.inbox_blocks', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.apply_queue', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.quarantine', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.quarantine_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.equivocations', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.peer_connections', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.peer_relays', '');
-- witnessing (sqlsrc/45_witness.sql): heads kept to check later, and what
-- is still to be witnessed
SELECT pg_catalog.pg_extension_config_dump('tracelink.witness_state', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.witness_pending', '');

-- Projected workflow state (without foreign keys between them:
-- sqlsrc/60_workflow.sql).
SELECT pg_catalog.pg_extension_config_dump('tracelink.trace_links', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.link_invitations', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.link_processes', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.proposals', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.ballots', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.link_version_history', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.modifications', '');

-- Projected trace data, with the sequences of its local surrogate keys.
SELECT pg_catalog.pg_extension_config_dump('tracelink.codes', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.code_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.record_slots', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.slot_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.records', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.transformations', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.private_values', '');

-- Off-chain files (sqlsrc/75_blobs.sql).
SELECT pg_catalog.pg_extension_config_dump('tracelink.blobs', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.blob_chunks', '');

-- Rows staged for recording (unlogged: empty after a crash, by design).
SELECT pg_catalog.pg_extension_config_dump('tracelink.record_staging', '');
SELECT pg_catalog.pg_extension_config_dump('tracelink.record_staging_id_seq', '');

-- What foreign keys would check, if pg_restore -j allowed them between an
-- extension's tables (sqlsrc/60_workflow.sql): rows of the projections
-- that refer to rows missing from another.  A restore that lost a table's
-- rows shows here; tracelink writes them consistently.
CREATE FUNCTION tracelink._dangling_references()
    RETURNS TABLE (referencing text, referenced text, rows bigint)
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT v.referencing, v.referenced, v.rows FROM (VALUES
    ('link_invitations.link_id', 'trace_links',
     (SELECT count(*) FROM tracelink.link_invitations c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.trace_links p WHERE p.link_id = c.link_id))),
    ('link_processes.link_id', 'trace_links',
     (SELECT count(*) FROM tracelink.link_processes c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.trace_links p WHERE p.link_id = c.link_id))),
    ('proposals.link_id', 'trace_links',
     (SELECT count(*) FROM tracelink.proposals c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.trace_links p WHERE p.link_id = c.link_id))),
    ('ballots.proposal_id', 'proposals',
     (SELECT count(*) FROM tracelink.ballots c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.proposals p WHERE p.proposal_id = c.proposal_id))),
    ('link_version_history.link_id', 'trace_links',
     (SELECT count(*) FROM tracelink.link_version_history c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.trace_links p WHERE p.link_id = c.link_id))),
    ('link_version_history.proposal_id', 'proposals',
     (SELECT count(*) FROM tracelink.link_version_history c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.proposals p WHERE p.proposal_id = c.proposal_id))),
    ('modifications.link_id', 'trace_links',
     (SELECT count(*) FROM tracelink.modifications c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.trace_links p WHERE p.link_id = c.link_id))),
    ('codes.link_id', 'trace_links',
     (SELECT count(*) FROM tracelink.codes c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.trace_links p WHERE p.link_id = c.link_id))),
    ('codes.bind_slot', 'record_slots',
     (SELECT count(*) FROM tracelink.codes c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.record_slots p WHERE p.slot_id = c.bind_slot))),
    ('records.code_id', 'codes',
     (SELECT count(*) FROM tracelink.records c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.codes p WHERE p.code_id = c.code_id))),
    ('records.slot_id', 'record_slots',
     (SELECT count(*) FROM tracelink.records c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.record_slots p WHERE p.slot_id = c.slot_id))),
    ('transformations.parent_id', 'codes',
     (SELECT count(*) FROM tracelink.transformations c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.codes p WHERE p.code_id = c.parent_id))),
    ('transformations.child_id', 'codes',
     (SELECT count(*) FROM tracelink.transformations c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.codes p WHERE p.code_id = c.child_id))),
    ('peer_connections.name', 'nodes',
     (SELECT count(*) FROM tracelink.peer_connections c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.nodes p WHERE p.name = c.name))),
    ('peer_relays.peer', 'peer_connections',
     (SELECT count(*) FROM tracelink.peer_relays c
       WHERE NOT EXISTS (SELECT 1 FROM tracelink.peer_connections p WHERE p.name = c.peer)))
) AS v(referencing, referenced, rows)
WHERE v.rows > 0
$$;
COMMENT ON FUNCTION tracelink._dangling_references() IS
    'rows of tracelink''s tables that refer to rows missing from another (what foreign keys would refuse): empty unless a restore lost rows';

-- Finishing a restore.  Rows written into an empty ledger table by its
-- owner in one statement (the COPY of a dump) are kept once each is checked
-- on its own (src/restore.c); the first of each statement records a hold
-- here, and while one is here the node signs nothing.  finish_restore()
-- checks what single rows cannot show and removes the holds.  Each restore
-- records its own hold, so the table is never dumped (the condition is
-- false: registered, so that the check that every table is registered
-- holds, and empty in every dump).
CREATE TABLE tracelink.restore_holds (
    held_since    timestamptz NOT NULL,
    ledger_table  text NOT NULL,
    restored_by   text NOT NULL
);
COMMENT ON TABLE tracelink.restore_holds IS
    'ledger tables restored from a dump since the last tracelink.finish_restore(): while a row is here the node does not sign (never dumped)';
COMMENT ON COLUMN tracelink.restore_holds.held_since IS 'when the restoring statement began';
COMMENT ON COLUMN tracelink.restore_holds.ledger_table IS 'the ledger table the statement restored';
COMMENT ON COLUMN tracelink.restore_holds.restored_by IS 'the role that restored it';
SELECT pg_catalog.pg_extension_config_dump('tracelink.restore_holds', 'WHERE false');
REVOKE ALL ON tracelink.restore_holds FROM PUBLIC;
GRANT SELECT ON tracelink.restore_holds TO tracelink_reader;

-- The WAL timeline the node signs on.  Recovery that ends on another
-- timeline (a base backup restored to a point in time, a promoted standby)
-- holds the node as a restore does (src/restore.c), until finish_restore()
-- records the new one.  Dumped: a dump restored into a cluster on another
-- timeline is held anyway.
CREATE TABLE tracelink.node_timeline (
    timeline bigint NOT NULL
);
COMMENT ON TABLE tracelink.node_timeline IS
    'the WAL timeline this node last signed on (one row): on another timeline (point-in-time recovery, promotion) the node does not sign until tracelink.finish_restore()';
COMMENT ON COLUMN tracelink.node_timeline.timeline IS 'a WAL timeline ID, as in pg_control_checkpoint()';
SELECT pg_catalog.pg_extension_config_dump('tracelink.node_timeline', '');
REVOKE ALL ON tracelink.node_timeline FROM PUBLIC;
GRANT SELECT ON tracelink.node_timeline TO tracelink_reader;

CREATE FUNCTION tracelink._note_timeline() RETURNS bigint
    AS 'MODULE_PATHNAME', 'tl_note_timeline'
    LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink._note_timeline() IS
    'records the WAL timeline the cluster runs on as the one this node signs on (finish_restore()); returns it';
REVOKE ALL ON FUNCTION tracelink._note_timeline() FROM PUBLIC;

CREATE FUNCTION tracelink.signing_hold() RETURNS text
    AS 'MODULE_PATHNAME', 'tl_signing_hold'
    LANGUAGE C STRICT STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION tracelink.signing_hold() IS
    'why this node does not sign yet (a restore from a dump, or recovery onto another WAL timeline, not yet finished by tracelink.finish_restore()), or NULL when it signs';
REVOKE ALL ON FUNCTION tracelink.signing_hold() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tracelink.signing_hold() TO tracelink_reader;

CREATE FUNCTION tracelink.recover_own_chain()
    RETURNS TABLE (peer text, from_block bigint, lines bigint, quarantined bigint, head bigint)
    AS 'MODULE_PATHNAME', 'tl_recover_own_chain'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink.recover_own_chain() IS
    'on a node held after a restore: asks each peer for this node''s own blocks and entries from the first block it lacks (or lacks entries of), verifies them as replication would against its pinned key and chain, and keeps them; one row per peer (lines NULL: unreachable)';
REVOKE ALL ON FUNCTION tracelink.recover_own_chain() FROM PUBLIC;

CREATE FUNCTION tracelink._check_signing_key() RETURNS bytea
    AS 'MODULE_PATHNAME', 'tl_check_signing_key'
    LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink._check_signing_key() IS
    'signs a test message with this node''s key file and checks it against the key its ledger head names; returns that key, or raises what signing a block would';

-- A node whose database is lost but whose key file is kept: made again,
-- empty and held, under its name and pinned genesis key.  Its peers are
-- added as at first (their rows come with the subscriptions' initial
-- copy); finish_restore() then fetches its own chain back from them
-- (recover_own_chain(), from the genesis block, verified against this
-- key) and checks that the key file signs with the chain's latest key.
CREATE FUNCTION tracelink.rebuild_node(name text, genesis_key bytea) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    existing text := tracelink.node_name();
BEGIN
    IF existing IS NOT NULL THEN
        RAISE EXCEPTION 'this database is already node "%"', existing
            USING ERRCODE = 'duplicate_object';
    END IF;
    IF rebuild_node.name IS NULL OR NOT tracelink._valid_node_name(rebuild_node.name) THEN
        RAISE EXCEPTION 'invalid node name "%"', rebuild_node.name
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A node name is 1 to 63 characters: a lowercase letter, then lowercase letters, digits or underscores.';
    END IF;
    IF rebuild_node.genesis_key IS NULL OR pg_catalog.length(rebuild_node.genesis_key) <> 32 THEN
        RAISE EXCEPTION 'the genesis key of node "%" must be 32 bytes', rebuild_node.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Its peers have it pinned: SELECT public_key FROM tracelink.nodes WHERE name = ''<node>''; on any of them.';
    END IF;
    IF EXISTS (SELECT 1 FROM tracelink.nodes) OR EXISTS (SELECT 1 FROM tracelink.ledger_blocks)
       OR EXISTS (SELECT 1 FROM tracelink.ledger_entries) THEN
        RAISE EXCEPTION 'a node is rebuilt only in a database whose ledger is empty'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Create the extension in a new database, then rebuild the node there.';
    END IF;
    INSERT INTO tracelink.nodes (name, public_key, is_local) VALUES (rebuild_node.name, rebuild_node.genesis_key, true);
    INSERT INTO tracelink.restore_holds (held_since, ledger_table, restored_by)
        VALUES (pg_catalog.statement_timestamp(), '(none: rebuilt from its peers)', session_user);
    PERFORM tracelink._note_timeline();
    RAISE NOTICE 'node "%" is rebuilt empty and does not sign yet', rebuild_node.name
        USING HINT = 'Add its peers with CALL tracelink.add_peer(...), then run CALL tracelink.finish_restore();.';
END
$$;
COMMENT ON FUNCTION tracelink.rebuild_node(text, bytea) IS
    'makes this empty database node "name" again (its key file kept, its genesis key as its peers pinned it), held until finish_restore() has fetched its chain back from its peers';
REVOKE ALL ON FUNCTION tracelink.rebuild_node(text, bytea) FROM PUBLIC;

-- A procedure (slots are created in transactions that have written
-- nothing), so without a SET clause: it pins search_path itself after each
-- COMMIT, and names everything with its schema.
CREATE PROCEDURE tracelink.finish_restore()
    LANGUAGE plpgsql
AS $$
DECLARE
    me text;
    bad record;
    p record;
    head record;
    sub text;
    slot text;
    hold text;
    fetched record;
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    me := tracelink.node_name();
    IF me IS NULL THEN
        RAISE EXCEPTION 'this database is not a tracelink node'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'tracelink.nodes has no row for the local node.',
                  HINT = 'Restore the whole dump, tracelink.nodes included.';
    END IF;
    hold := tracelink.signing_hold();

    -- 0. this node's blocks its peers hold and it lacks (a backup older
    --    than its last blocks): fetched back before anything is checked,
    --    so that its next block follows them instead of forking its chain
    IF hold IS NOT NULL THEN
        FOR fetched IN SELECT * FROM tracelink.recover_own_chain() LOOP
            IF fetched.lines IS NULL THEN
                RAISE NOTICE 'peer "%": unreachable, its copy of this node''s chain was not asked for', fetched.peer
                    USING HINT = 'If it may hold blocks of this node that no other peer holds, make it reachable and run CALL tracelink.finish_restore(); again.';
            ELSE
                RAISE NOTICE 'peer "%": % lines of this node''s chain from block %, % quarantined; it ends at block %',
                    fetched.peer, fetched.lines, fetched.from_block, fetched.quarantined, fetched.head;
            END IF;
        END LOOP;
        COMMIT;
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
        -- a block of this node its peers have seen and none sent back
        SELECT w.block_no INTO bad FROM tracelink.witness_pending w
         WHERE w.origin = me
           AND w.block_no > COALESCE((SELECT h.block_no FROM tracelink.ledger_heads h WHERE h.origin = me), -1)
         ORDER BY w.block_no DESC LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'peers witnessed block % of this node, which it could not fetch back', bad.block_no
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Signing again now would fork its chain: its next block would take a number its peers hold another block for.',
                      HINT = 'The node stays held: make the peers that hold its blocks reachable, then run CALL tracelink.finish_restore(); again.';
        END IF;
    END IF;

    -- 1. every chain verifies: links, keys, heads, entries sealed
    SELECT v.origin, v.first_bad, v.reason INTO bad FROM tracelink.verify() v WHERE NOT v.ok LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'the restored ledger does not verify'
            USING ERRCODE = 'data_corrupted',
                  DETAIL = pg_catalog.format('Origin "%s", %s: %s.', bad.origin, bad.first_bad, bad.reason),
                  HINT = 'The node stays held (it does not sign): restore from another dump.';
    END IF;
    -- ... and no table lost rows another one refers to
    SELECT d.referencing, d.referenced, d.rows INTO bad FROM tracelink._dangling_references() d LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'the restored state is incomplete'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = pg_catalog.format('%s rows of %s refer to rows missing from %s.', bad.rows, bad.referencing, bad.referenced),
                  HINT = 'The node stays held (it does not sign): restore the whole dump into an empty database again.';
    END IF;
    -- 2. the key file signs with the key the chain names
    PERFORM tracelink._check_signing_key();

    -- 3. for each peer: its login, and this node's publication for it
    --    (pg_dump keeps the publication but not its tables: they are the
    --    extension's)
    FOR p IN SELECT c.name FROM tracelink.peer_connections c ORDER BY c.name LOOP
        PERFORM tracelink._make_peer_login(p.name);
        PERFORM tracelink._publish_for_peer(p.name);
    END LOOP;
    COMMIT;

    -- 4. the slots peers stream from (not dumped): created before the hold
    --    is lifted, so each holds every block this node signs from now on
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    FOR p IN SELECT c.name FROM tracelink.peer_connections c ORDER BY c.name LOOP
        slot := tracelink.peer_slot_name(me, p.name);
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots s WHERE s.slot_name = slot) THEN
            PERFORM pg_catalog.pg_create_logical_replication_slot(slot, 'pgoutput');
        END IF;
    END LOOP;
    COMMIT;

    -- 5. subscriptions to the peers, going on from where each peer's slot
    --    for this node stands: no copy (every row this node holds would be
    --    quarantined as replayed).  pg_dump restores a subscription disabled
    --    and without its tables: it is made again.
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    FOR p IN SELECT c.name, c.conninfo FROM tracelink.peer_connections c ORDER BY c.name LOOP
        sub := tracelink.peer_subscription_name(p.name);
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_subscription s
                     JOIN pg_catalog.pg_subscription_rel r ON r.srsubid = s.oid
                    WHERE s.subname = sub
                      AND s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database d
                                        WHERE d.datname = pg_catalog.current_database())) THEN
            RAISE NOTICE 'peer "%": subscribed', p.name;
            CONTINUE;
        END IF;
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_subscription s
                    WHERE s.subname = sub
                      AND s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database d
                                        WHERE d.datname = pg_catalog.current_database())) THEN
            EXECUTE pg_catalog.format('ALTER SUBSCRIPTION %I DISABLE', sub);
            EXECUTE pg_catalog.format('ALTER SUBSCRIPTION %I SET (slot_name = NONE)', sub);
            EXECUTE pg_catalog.format('DROP SUBSCRIPTION %I', sub);
        END IF;
        BEGIN
            EXECUTE pg_catalog.format('CREATE SUBSCRIPTION %I CONNECTION %L PUBLICATION %I '
                           'WITH (create_slot = false, slot_name = %L, copy_data = false)',
                           sub, p.conninfo, tracelink.peer_publication_name(me),
                           tracelink.peer_slot_name(p.name, me));
            RAISE NOTICE 'peer "%": subscribed', p.name;
        EXCEPTION WHEN OTHERS THEN
            RAISE NOTICE 'peer "%": unreachable: %', p.name, SQLERRM
                USING HINT = 'Run CALL tracelink.finish_restore(); again once it is reachable (not connect_peers(), which copies the peer''s rows again).';
        END;
    END LOOP;

    -- 6. the node signs again, on the timeline it runs on
    TRUNCATE tracelink.restore_holds;
    PERFORM tracelink._note_timeline();
    SELECT h.block_no INTO head FROM tracelink.ledger_heads h WHERE h.origin = me;
    IF hold IS NULL THEN
        RAISE NOTICE 'node "%" was not held by a restore; its chain ends at block %', me, head.block_no;
    ELSE
        RAISE NOTICE 'node "%" signs again; its chain ends at block %', me, head.block_no
            USING HINT = pg_catalog.format('On each peer, run CALL tracelink.repoint_peer(%L, ''<connection string to this node>'');', me);
    END IF;
    COMMIT;
END
$$;
COMMENT ON PROCEDURE tracelink.finish_restore() IS
    'after a restore (from a dump, or of a base backup to a point in time): fetches back from the peers this node''s own blocks it lacks, verifies every chain and the node key, re-creates the peer logins, this node''s publications and slots and its subscriptions to its peers (without copying what it holds), and lets the node sign again';

-- On a peer of a restored node: its subscription to that node, started
-- again on the node's new slot.  Dropped and created, not altered: the
-- subscription's replication origin remembers a position in the old
-- cluster's WAL, and a walsender skips every transaction before the
-- position a subscriber asks for.  No copy: the rows it holds would be
-- quarantined as replayed.
CREATE PROCEDURE tracelink.repoint_peer(name text, conninfo text)
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me text := tracelink.node_name();
    peer text := repoint_peer.name;
    sub text := tracelink.peer_subscription_name(repoint_peer.name);
    head bigint;
BEGIN
    IF me IS NULL THEN
        RAISE EXCEPTION 'this database is not a tracelink node yet'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM tracelink.peer_connections c WHERE c.name = peer) THEN
        RAISE EXCEPTION 'unknown peer "%"', peer USING ERRCODE = 'undefined_object';
    END IF;
    IF repoint_peer.conninfo IS NULL OR repoint_peer.conninfo = '' THEN
        RAISE EXCEPTION 'a connection string for peer "%" is required', peer
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE tracelink.peer_connections c SET conninfo = repoint_peer.conninfo WHERE c.name = peer;
    IF EXISTS (SELECT 1 FROM pg_subscription s WHERE s.subname = sub
                  AND s.subdbid = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())) THEN
        EXECUTE format('ALTER SUBSCRIPTION %I DISABLE', sub);
        EXECUTE format('ALTER SUBSCRIPTION %I SET (slot_name = NONE)', sub);
        EXECUTE format('DROP SUBSCRIPTION %I', sub);
    END IF;
    EXECUTE format('CREATE SUBSCRIPTION %I CONNECTION %L PUBLICATION %I '
                   'WITH (create_slot = false, slot_name = %L, copy_data = false)',
                   sub, repoint_peer.conninfo, tracelink.peer_publication_name(me),
                   tracelink.peer_slot_name(peer, me));
    SELECT h.block_no INTO head FROM tracelink.ledger_heads h WHERE h.origin = peer;
    RAISE NOTICE 'subscribed to peer "%" again; this node holds its chain up to block %', peer, coalesce(head, -1)
        USING HINT = 'Blocks the peer lacks or this node lacks: see tracelink.sync_status and tracelink.export_for_peer().';
END
$$;
COMMENT ON PROCEDURE tracelink.repoint_peer(text, text) IS
    'on a peer of a node restored elsewhere: sets the node''s new connection string and subscribes to it again from its new slot, without copying the rows already held';

-- Who is entitled to an entry (src/inbox.c has the one rule: its
-- audience, and for a trace record also its link's business group now).
CREATE FUNCTION tracelink._entitled(node text, line text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tl_entitled_sql'
    LANGUAGE C STABLE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink._entitled(text, text) IS
    'whether node is entitled to the entry of an export line: its audience, and for a trace record also its link''s business group now (a later member receives the records made before)';
REVOKE ALL ON FUNCTION tracelink._entitled(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tracelink._entitled(text, text) TO tracelink_reader;

-- An origin's chain as a peer receives it (entries it is not entitled to
-- left out), between two blocks, in the export format: what ingest() on
-- that peer applies.  As the caller (so a reader's export lacks the
-- private entries row security hides from it).
CREATE FUNCTION tracelink._export_addressed(origin text, peer text, from_block bigint, to_block bigint)
    RETURNS SETOF text
    LANGUAGE plpgsql STABLE PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    line text;
    j jsonb;
    entries text[] := '{}';
BEGIN
    -- a block's entry lines come before its block line: they are held
    -- until the block line says whether the block is in range
    FOR line IN SELECT e FROM tracelink.export(origin, from_block) e LOOP
        j := line::jsonb;
        IF j ->> 'type' = 'entry' THEN
            IF tracelink._entitled(peer, line) THEN
                entries := entries || line;
            END IF;
        ELSIF j ->> 'type' = 'block' THEN
            EXIT WHEN to_block IS NOT NULL AND (j ->> 'block_no')::bigint > to_block;
            RETURN QUERY SELECT unnest(entries);
            RETURN NEXT line;
            entries := '{}';
        ELSE
            RETURN NEXT line;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION tracelink._export_addressed(text, text, bigint, bigint) IS
    'origin''s chain from from_block to to_block (NULL: the last) in the export format, without the entries peer is not entitled to (tracelink._entitled())';

-- This node's own chain as a peer receives it, between two blocks: the
-- lines tracelink.ingest() on that peer applies, to fill a gap left by a
-- restore.
CREATE FUNCTION tracelink.export_for_peer(peer text, from_block bigint, to_block bigint DEFAULT NULL)
    RETURNS SETOF text
    LANGUAGE plpgsql STABLE PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me text := tracelink.node_name();
BEGIN
    IF me IS NULL THEN
        RAISE EXCEPTION 'this database is not a tracelink node yet'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM tracelink.nodes n WHERE n.name = peer AND NOT n.is_local) THEN
        RAISE EXCEPTION 'unknown peer "%"', peer USING ERRCODE = 'undefined_object';
    END IF;
    RETURN QUERY SELECT x FROM tracelink._export_addressed(me, peer, from_block, to_block) x;
END
$$;
COMMENT ON FUNCTION tracelink.export_for_peer(text, bigint, bigint) IS
    'this node''s chain from from_block to to_block (default: the last) in the export format, without the entries peer is not entitled to: what tracelink.ingest() on that peer takes to fill a gap';
GRANT EXECUTE ON FUNCTION tracelink.export_for_peer(text, bigint, bigint),
                          tracelink._export_addressed(text, text, bigint, bigint) TO tracelink_reader;

-- What a peer's tracelink.resend() asks for: any origin's chain as this
-- node holds it, between two blocks, with the entries the asking peer is
-- entitled to, who is told by its login (peer_login_name()).  The asking node
-- verifies everything (ingest()).
CREATE FUNCTION tracelink._serve_chain(origin text, from_block bigint, to_block bigint)
    RETURNS SETOF text
    LANGUAGE plpgsql STABLE PARALLEL UNSAFE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    asking text;
BEGIN
    SELECT n.name INTO asking FROM tracelink.nodes n
     WHERE NOT n.is_local AND tracelink.peer_login_name(n.name) = session_user;
    IF asking IS NULL THEN
        RAISE EXCEPTION 'only a peer''s login may ask for a re-send'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN QUERY SELECT x FROM tracelink._export_addressed(origin, asking, greatest(from_block, 0), to_block) x;
END
$$;
COMMENT ON FUNCTION tracelink._serve_chain(text, bigint, bigint) IS
    'for a peer''s resend(): origin''s chain from from_block to to_block (NULL: the last) as this node holds it, with the entries the peer logged in (session_user) is entitled to';
REVOKE ALL ON FUNCTION tracelink._serve_chain(text, bigint, bigint) FROM PUBLIC;

-- What a peer's tracelink.catch_up() asks for: the entries of origin's
-- blocks up to to_block that the asking peer (told by its login) is
-- entitled to now but that were not addressed to it, so that replication
-- never sent them (a trace record made before the peer joined its link's
-- business group).  Entry lines only: the asking node holds their blocks,
-- and verifies each entry against its block (ingest()).
CREATE FUNCTION tracelink._serve_entitled(origin text, to_block bigint)
    RETURNS SETOF text
    LANGUAGE plpgsql STABLE PARALLEL UNSAFE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    asking text;
    line text;
    j jsonb;
    entries text[] := '{}';
BEGIN
    SELECT n.name INTO asking FROM tracelink.nodes n
     WHERE NOT n.is_local AND tracelink.peer_login_name(n.name) = session_user;
    IF asking IS NULL THEN
        RAISE EXCEPTION 'only a peer''s login may ask for a catch-up'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF to_block IS NULL OR to_block < 0 THEN
        RETURN;
    END IF;
    FOR line IN SELECT e FROM tracelink.export(origin, 0) e LOOP
        j := line::jsonb;
        IF j ->> 'type' = 'entry' THEN
            IF jsonb_typeof(j -> 'audience') = 'array' AND NOT j -> 'audience' ? asking
               AND tracelink._entitled(asking, line) THEN
                entries := entries || line;
            END IF;
        ELSIF j ->> 'type' = 'block' THEN
            EXIT WHEN (j ->> 'block_no')::bigint > to_block;
            RETURN QUERY SELECT pg_catalog.unnest(entries);
            entries := '{}';
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION tracelink._serve_entitled(text, bigint) IS
    'for a peer''s catch_up(): the entry lines of origin''s blocks up to to_block that the peer logged in (session_user) is entitled to now but that were not addressed to it';
REVOKE ALL ON FUNCTION tracelink._serve_entitled(text, bigint) FROM PUBLIC;

CREATE FUNCTION tracelink.resend(peer text, origin text DEFAULT NULL) RETURNS tracelink.ingestion
    AS 'MODULE_PATHNAME', 'tl_resend'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink.resend(text, text) IS
    'asks peer for the blocks of origin''s chain (default: the peer''s) after the last one this node holds (up to the first one parked here), with their entries this node is entitled to, and applies them as ingest() does; for gaps replication will not fill';
REVOKE ALL ON FUNCTION tracelink.resend(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tracelink.resend(text, text) TO tracelink_admin;

CREATE FUNCTION tracelink.catch_up(peer text) RETURNS tracelink.ingestion
    AS 'MODULE_PATHNAME', 'tl_catch_up'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink.catch_up(text) IS
    'asks peer for the entries of the blocks this node holds that it is entitled to now but was not sent (trace records made before it joined a link''s business group), skips those it holds, and applies them as ingest() does';
REVOKE ALL ON FUNCTION tracelink.catch_up(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tracelink.catch_up(text) TO tracelink_admin;
