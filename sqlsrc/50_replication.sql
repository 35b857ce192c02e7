-- Synchronising nodes by logical replication: peers, what waits, what was
-- refused, and how far each peer is.  docs/operations.md explains the setup.

-- Rows from peers that wait: entries for their block, blocks for their
-- predecessor.  Same columns as the ledger tables.
CREATE TABLE tracelink.inbox_entries (LIKE tracelink.ledger_entries INCLUDING DEFAULTS);
-- Two different entries may claim one place (origin, tx, seq): both wait,
-- and their block decides which it sealed (src/apply.c).
ALTER TABLE tracelink.inbox_entries ADD PRIMARY KEY (origin, tx, seq, entry_hash);
COMMENT ON TABLE tracelink.inbox_entries IS
    'entries received from peers whose block has not been applied yet';

CREATE TABLE tracelink.inbox_blocks (LIKE tracelink.ledger_blocks INCLUDING DEFAULTS);
ALTER TABLE tracelink.inbox_blocks ADD PRIMARY KEY (origin, block_no);
COMMENT ON TABLE tracelink.inbox_blocks IS
    'blocks received from peers ahead of their origin''s head, waiting for their predecessor';

CREATE TABLE tracelink.apply_queue (
    entry_hash   bytea PRIMARY KEY,
    origin       text COLLATE "C" NOT NULL,
    tx           bigint NOT NULL,
    seq          integer NOT NULL,
    waiting_for  bytea[] NOT NULL,
    queued_at    timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
COMMENT ON TABLE tracelink.apply_queue IS
    'verified entries from peers that take effect once the entries they depend on have';
-- which queued entries wait for given entries: asked whenever entries take
-- effect and at commits (src/project.c); without pending list, so that a
-- lookup never reads more than the entries it finds
CREATE INDEX apply_queue_waiting_for ON tracelink.apply_queue USING gin (waiting_for)
    WITH (fastupdate = off);
COMMENT ON INDEX tracelink.apply_queue_waiting_for IS
    'finds the queued entries waiting for given entries (waiting_for && hashes)';

CREATE TABLE tracelink.quarantine (
    id              bigserial PRIMARY KEY,
    quarantined_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    source          text,
    what            text NOT NULL CHECK (what IN ('entry', 'block', 'effect', 'blob', 'chunk')),
    origin          text,
    block_no        bigint,
    tx              bigint,
    seq             integer,
    entry_hash      bytea,
    reason          text NOT NULL,
    row_data        jsonb NOT NULL
);
CREATE INDEX quarantine_origin ON tracelink.quarantine (origin);
CREATE INDEX quarantine_entry ON tracelink.quarantine (entry_hash);
COMMENT ON TABLE tracelink.quarantine IS
    'rows from peers that were refused, with the reason and the row as received; never applied.  what = ''effect'': the entry is in the ledger (validly signed) but the action it records was not allowed, so it has no effect';
COMMENT ON COLUMN tracelink.quarantine.source IS 'the subscription (peer) the row came through';
COMMENT ON SEQUENCE tracelink.quarantine_id_seq IS 'numbers quarantined rows in the order they were refused';

CREATE TABLE tracelink.equivocations (
    origin        text NOT NULL,
    block_no      bigint NOT NULL,
    first_hash    bytea,
    second_hash   bytea NOT NULL,
    first_block   jsonb,
    second_block  jsonb NOT NULL,
    detected_at   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    detected_by   text NOT NULL DEFAULT 'received'
                  CHECK (detected_by IN ('received', 'witness', 'evidence', 'own chain')),
    witness_entry bytea,
    published_in  bytea,
    CONSTRAINT equivocation_pair_order CHECK (first_hash IS NULL OR first_hash < second_hash),
    CONSTRAINT equivocation_pair_blocks CHECK ((first_hash IS NULL) = (first_block IS NULL)),
    CONSTRAINT equivocations_pair_once UNIQUE NULLS NOT DISTINCT (origin, block_no, first_hash, second_hash)
);
COMMENT ON TABLE tracelink.equivocations IS
    'an origin signed two different blocks with the same number: both signed heads (signed_tree_head() form) are the evidence.  The pair is ordered by block hash, so every node that sees the same two blocks records the same row (docs/ledger.md, "Witnessing heads")';
COMMENT ON COLUMN tracelink.equivocations.first_hash IS
    'the lower of the two block hashes (bytewise); NULL only for a head of this node''s own chain that it never signed (key compromise, or blocks lost by a restore)';
COMMENT ON COLUMN tracelink.equivocations.detected_by IS
    'received: both blocks arrived here; witness: a peer''s witness entry named a head that differs from this node''s copy; evidence: a peer''s witness entry carried both heads; own chain: a witness named a head of this node that it never signed';
COMMENT ON COLUMN tracelink.equivocations.witness_entry IS 'the tl.witness entry that showed the equivocation (NULL when both blocks were received)';
COMMENT ON COLUMN tracelink.equivocations.published_in IS 'this node''s tl.witness entry that passed the evidence on to its peers (NULL: not yet)';

CREATE TABLE tracelink.peer_connections (
    name      text COLLATE "C" PRIMARY KEY,     -- a node (no foreign key: sqlsrc/95_dump.sql)
    conninfo  text NOT NULL
);
COMMENT ON TABLE tracelink.peer_connections IS
    'how to reach each peer (may hold a password: superuser only, like pg_subscription.subconninfo)';
REVOKE ALL ON tracelink.peer_connections FROM PUBLIC;

-- Relays (docs/operations.md, "Relays"): every block is signed by its
-- origin, so any node may pass other origins' rows on without being
-- trusted.  forward: this node publishes for the peer the rows of every
-- origin but the peer's, that the peer is entitled to (blocks; entries
-- addressed to it); accept: this node takes from the peer rows of other
-- origins too.  A node that accepts relayed rows hears a row by several
-- paths: a row it holds already is passed over, not quarantined as a
-- replay.
CREATE TABLE tracelink.peer_relays (
    peer     text COLLATE "C" PRIMARY KEY,      -- a node (no foreign key: sqlsrc/95_dump.sql)
    forward  boolean NOT NULL DEFAULT false,
    accept   boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE tracelink.peer_relays IS
    'which peers this node forwards other origins'' rows to (forward), and which it takes other origins'' rows from (accept); a peer absent here exchanges its own rows only';
COMMENT ON COLUMN tracelink.peer_relays.peer IS 'the peer';
COMMENT ON COLUMN tracelink.peer_relays.forward IS 'this node publishes for the peer every origin''s rows it holds that the peer is entitled to, but the peer''s own';
COMMENT ON COLUMN tracelink.peer_relays.accept IS 'this node takes rows of any known origin from the peer, each verified against its origin''s key and chain';
REVOKE ALL ON tracelink.peer_relays FROM PUBLIC;
GRANT SELECT ON tracelink.peer_relays TO tracelink_reader;

-- Names of the replication objects.  A slot name is cluster-wide, so it
-- names both ends; long names fall back to a hash.
CREATE FUNCTION tracelink.peer_slot_name(publisher text, subscriber text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN CASE WHEN pg_catalog.length('tl_' || publisher || '_' || subscriber) <= 63
                THEN 'tl_' || publisher || '_' || subscriber
                ELSE 'tl_' || pg_catalog.md5(publisher || '/' || subscriber) END;
COMMENT ON FUNCTION tracelink.peer_slot_name(text, text) IS
    'name of the replication slot on "publisher" from which "subscriber" streams';

-- The login, publication and subscription of a peer are named by a prefix
-- and the peer's name.  Identifiers are at most 63 bytes: a name too long
-- for its prefix (over 48 characters for logins and subscriptions, 50 for
-- publications) gets instead "0x", 16 hex digits of the SHA-256 of the
-- whole name, "_" and as much of the name as fits.  A node name starts
-- with a letter, so such a name is never the plain name of another peer,
-- and two long names with a common beginning differ.  These functions are
-- the only place the names are made: everything that creates or looks up
-- the objects calls them (src/apply.c has the subscription's in C).
CREATE FUNCTION tracelink.peer_login_name(peer text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN CASE WHEN pg_catalog.octet_length('tracelink_peer_' || peer) <= 63
                THEN 'tracelink_peer_' || peer
                ELSE 'tracelink_peer_0x'
                     || pg_catalog.left(pg_catalog.encode(pg_catalog.sha256(pg_catalog.textsend(peer)), 'hex'), 16)
                     || '_' || pg_catalog.left(peer, 29) END;
COMMENT ON FUNCTION tracelink.peer_login_name(text) IS
    'name of the login a peer replicates from this node with (tracelink_peer_<peer>, hashed when longer than 63 bytes); the peer puts it in the user of its connection string';

CREATE FUNCTION tracelink.peer_publication_name(peer text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN CASE WHEN pg_catalog.octet_length('tracelink_to_' || peer) <= 63
                THEN 'tracelink_to_' || peer
                ELSE 'tracelink_to_0x'
                     || pg_catalog.left(pg_catalog.encode(pg_catalog.sha256(pg_catalog.textsend(peer)), 'hex'), 16)
                     || '_' || pg_catalog.left(peer, 31) END;
COMMENT ON FUNCTION tracelink.peer_publication_name(text) IS
    'name of the publication of this node''s rows for a peer (tracelink_to_<peer>, hashed when longer than 63 bytes)';

CREATE FUNCTION tracelink.peer_subscription_name(peer text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN CASE WHEN pg_catalog.octet_length('tracelink_from_' || peer) <= 63
                THEN 'tracelink_from_' || peer
                ELSE 'tracelink_from_0x'
                     || pg_catalog.left(pg_catalog.encode(pg_catalog.sha256(pg_catalog.textsend(peer)), 'hex'), 16)
                     || '_' || pg_catalog.left(peer, 29) END;
COMMENT ON FUNCTION tracelink.peer_subscription_name(text) IS
    'name of this node''s subscription to a peer (tracelink_from_<peer>, hashed when longer than 63 bytes)';

CREATE FUNCTION tracelink.connect_peers(only_peer text DEFAULT NULL)
    RETURNS TABLE (peer text, status text)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me text := tracelink.node_name();
    p record;
    sub text;
BEGIN
    FOR p IN SELECT c.name, c.conninfo FROM tracelink.peer_connections c
              WHERE only_peer IS NULL OR c.name = only_peer ORDER BY c.name
    LOOP
        peer := p.name;
        sub := tracelink.peer_subscription_name(p.name);
        IF EXISTS (SELECT 1 FROM pg_subscription s
                    WHERE s.subname = sub
                      AND s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())) THEN
            status := 'subscribed';
            RETURN NEXT;
            CONTINUE;
        END IF;
        BEGIN
            EXECUTE format('CREATE SUBSCRIPTION %I CONNECTION %L PUBLICATION %I '
                           'WITH (create_slot = false, slot_name = %L, copy_data = true)',
                           sub, p.conninfo, tracelink.peer_publication_name(me),
                           tracelink.peer_slot_name(p.name, me));
        EXCEPTION WHEN OTHERS THEN
            -- The peer refusing our login because it has no such role is the
            -- expected state before it has added this node (only the text
            -- of the peer's FATAL tells it apart; another language or cause
            -- stays "unreachable").
            IF pg_catalog.strpos(SQLERRM, pg_catalog.format('role "%s" does not exist',
                                      tracelink.peer_login_name(me))) > 0 THEN
                status := 'waiting for the peer to add this node';
            ELSE
                status := 'unreachable: ' || SQLERRM;
            END IF;
            RETURN NEXT;
            CONTINUE;
        END;
        -- No tables means the peer has not published for us yet: undo,
        -- without touching a slot on the peer.
        IF NOT EXISTS (SELECT 1 FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid
                        WHERE s.subname = sub) THEN
            EXECUTE format('ALTER SUBSCRIPTION %I DISABLE', sub);
            EXECUTE format('ALTER SUBSCRIPTION %I SET (slot_name = NONE)', sub);
            EXECUTE format('DROP SUBSCRIPTION %I', sub);
            status := 'waiting for the peer to add this node';
        ELSE
            status := 'subscribed';
        END IF;
        RETURN NEXT;
    END LOOP;
    IF only_peer IS NOT NULL AND NOT FOUND AND peer IS NULL THEN
        RAISE EXCEPTION 'unknown peer "%"', only_peer USING ERRCODE = 'undefined_object';
    END IF;
END
$$;
COMMENT ON FUNCTION tracelink.connect_peers(text) IS
    'subscribes to every peer (or one) that has published for this node and is not subscribed yet; returns each peer''s status';

-- add_peer and remove_peer are procedures (they COMMIT between steps, so
-- that the slot is created once the publication exists), and a procedure
-- that commits cannot pin its search_path.  So each is only a sequence of
-- calls of the functions below, which do the work with a pinned
-- search_path; the procedures evaluate no name or operator themselves.

-- The login a peer replicates with: LOGIN REPLICATION, reads the two
-- ledger tables, nothing else (docs/operations.md).  A role of that name
-- that can do more is not taken over.  Used by add_peer and, after a
-- restore (roles are not in a database's dump), by finish_restore.
CREATE FUNCTION tracelink._make_peer_login(peer text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    login text := tracelink.peer_login_name(peer);
    r pg_roles;
BEGIN
    SELECT * INTO r FROM pg_roles WHERE rolname = login;
    IF FOUND THEN
        IF r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolbypassrls
           OR EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.member = r.oid) THEN
            RAISE EXCEPTION 'role "%" exists and has more privileges than a peer login may have', login
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = 'A peer login has LOGIN and REPLICATION, no other attribute and no role memberships.',
                      HINT = 'Drop the role or take the extra privileges away, then add the peer again.';
        END IF;
        -- a login that remove_peer could only disable, or that another
        -- database of the cluster shares for the same peer
        EXECUTE format('ALTER ROLE %I LOGIN REPLICATION', login);
    ELSE
        EXECUTE format('CREATE ROLE %I LOGIN REPLICATION', login);
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA tracelink TO %I', login);
    EXECUTE format('GRANT SELECT ON tracelink.ledger_entries, tracelink.ledger_blocks TO %I', login);
    -- files (sqlsrc/75_blobs.sql): the tables for the initial copy, and
    -- what the peer's fetch_blob() asks for
    EXECUTE format('GRANT SELECT ON tracelink.blobs, tracelink.blob_chunks TO %I', login);
    EXECUTE format('GRANT EXECUTE ON FUNCTION tracelink._serve_blob(bytea), '
                   'tracelink._serve_blob_chunk(bytea, integer) TO %I', login);
    -- what the peer's resend() and catch_up() ask for (sqlsrc/95_dump.sql)
    EXECUTE format('GRANT EXECUTE ON FUNCTION tracelink._serve_chain(text, bigint, bigint), '
                   'tracelink._serve_entitled(text, bigint) TO %I', login);
END
$$;
COMMENT ON FUNCTION tracelink._make_peer_login(text) IS
    'creates (or re-enables) the login peer "peer" replicates with: LOGIN REPLICATION and SELECT on the two ledger tables, refusing a role of that name with more privileges';

-- What a peer receives from this node: its blocks, and its entries meant
-- for the peer.  A publication that exists (a dump keeps it, without its
-- tables, which are the extension's) gets its tables and filters again.
CREATE FUNCTION tracelink._publish_for_peer(peer text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me text := tracelink.node_name();
    pub text := tracelink.peer_publication_name(peer);
    forwards boolean := EXISTS (SELECT 1 FROM tracelink.peer_relays r WHERE r.peer = _publish_for_peer.peer AND r.forward);
    tables text;
BEGIN
    -- a relay's entries and blocks: every origin's but the peer's own
    -- (files travel from their origin only)
    tables := format('tracelink.ledger_entries WHERE (%s AND (audience IS NULL OR %L = ANY (audience))), '
                     'tracelink.ledger_blocks WHERE (%s), '
                     'tracelink.blobs WHERE (origin = %L AND (audience IS NULL OR %L = ANY (audience))), '
                     'tracelink.blob_chunks WHERE (origin = %L AND (audience IS NULL OR %L = ANY (audience)))',
                     CASE WHEN forwards THEN format('origin <> %L', peer) ELSE format('origin = %L', me) END, peer,
                     CASE WHEN forwards THEN format('origin <> %L', peer) ELSE format('origin = %L', me) END,
                     me, peer, me, peer);
    IF EXISTS (SELECT 1 FROM pg_publication b WHERE b.pubname = pub) THEN
        EXECUTE format('ALTER PUBLICATION %I SET TABLE %s', pub, tables);
    ELSE
        EXECUTE format('CREATE PUBLICATION %I FOR TABLE %s WITH (publish = ''insert'')', pub, tables);
    END IF;
END
$$;
COMMENT ON FUNCTION tracelink._publish_for_peer(text) IS
    'creates this node''s publication for peer "peer" (its blocks, and its entries whose audience includes the peer), or sets its tables again';

-- add_peer, step 1: check the arguments, pin the peer's key, make the login
-- the peer replicates with and the publication of this node's rows for it.
CREATE FUNCTION tracelink._add_peer_publish(name text, conninfo text, public_key bytea) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me text := tracelink.node_name();
    peer text := _add_peer_publish.name;
    known tracelink.nodes;
    is_known boolean;
BEGIN
    IF me IS NULL THEN
        RAISE EXCEPTION 'this database is not a tracelink node yet'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run SELECT tracelink.init_node(''name'') first.';
    END IF;
    IF peer IS NULL OR NOT tracelink._valid_node_name(peer) THEN
        RAISE EXCEPTION 'invalid node name "%"', peer
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A node name is 1 to 63 characters: a lowercase letter, then lowercase letters, digits or underscores.';
    END IF;
    IF peer = me THEN
        RAISE EXCEPTION 'a node cannot be its own peer' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF _add_peer_publish.public_key IS NULL OR length(_add_peer_publish.public_key) <> 32 THEN
        RAISE EXCEPTION 'the public key of peer "%" must be 32 bytes', peer
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pin the key the peer''s tracelink.init_node() returned, obtained out of band.';
    END IF;
    IF _add_peer_publish.conninfo IS NULL OR _add_peer_publish.conninfo = '' THEN
        RAISE EXCEPTION 'a connection string for peer "%" is required', peer
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- a node already known is added again only as the peer it was: one
    -- that was removed, with the key pinned for it then
    SELECT * INTO known FROM tracelink.nodes n WHERE n.name = peer;
    is_known := FOUND;
    IF is_known AND EXISTS (SELECT 1 FROM tracelink.peer_connections c WHERE c.name = peer) THEN
        RAISE EXCEPTION 'node "%" is already known', peer USING ERRCODE = 'duplicate_object';
    END IF;
    IF is_known AND known.public_key <> _add_peer_publish.public_key THEN
        RAISE EXCEPTION 'node "%" is already known with another public key', peer
            USING ERRCODE = 'duplicate_object',
                  DETAIL = 'A node''s genesis key is pinned once; its later keys come from its signed chain.';
    END IF;

    IF NOT is_known THEN
        INSERT INTO tracelink.nodes (name, public_key) VALUES (peer, _add_peer_publish.public_key);
    END IF;
    INSERT INTO tracelink.peer_connections (name, conninfo) VALUES (peer, _add_peer_publish.conninfo);

    PERFORM tracelink._make_peer_login(peer);
    PERFORM tracelink._publish_for_peer(peer);
END
$$;
COMMENT ON FUNCTION tracelink._add_peer_publish(text, text, bytea) IS
    'add_peer, step 1: checks the arguments, pins the peer''s key, makes its login and the publication for it';

-- add_peer, step 2 (after the publication is committed): the slot the
-- peer streams from.
CREATE FUNCTION tracelink._add_peer_slot(name text) RETURNS void
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT pg_catalog.pg_create_logical_replication_slot(
               tracelink.peer_slot_name(tracelink.node_name(), _add_peer_slot.name), 'pgoutput');
END;
COMMENT ON FUNCTION tracelink._add_peer_slot(text) IS
    'add_peer, step 2: creates the replication slot the peer streams from';

-- add_peer, step 3: subscribe to the peer if it has published for us.
CREATE FUNCTION tracelink._add_peer_subscribe(name text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s record;
BEGIN
    FOR s IN SELECT * FROM tracelink.connect_peers(_add_peer_subscribe.name) LOOP
        RAISE NOTICE 'peer "%": %', s.peer, s.status;
    END LOOP;
END
$$;
COMMENT ON FUNCTION tracelink._add_peer_subscribe(text) IS
    'add_peer, step 3: subscribes to the peer if it has already added this node, with a notice of the outcome';

CREATE PROCEDURE tracelink.add_peer(name text, conninfo text, public_key bytea)
    LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM tracelink._add_peer_publish(add_peer.name, add_peer.conninfo, add_peer.public_key);
    COMMIT;
    PERFORM tracelink._add_peer_slot(add_peer.name);
    COMMIT;
    PERFORM tracelink._add_peer_subscribe(add_peer.name);
END
$$;
COMMENT ON PROCEDURE tracelink.add_peer(text, text, bytea) IS
    'adds a peer (or a removed one again, with the same key): pins its public key, publishes this node''s rows for it (with a replication slot and a least-privilege login), and subscribes to it if it has already added this node';

-- A peer as a relay, in either direction or both (docs/operations.md,
-- "Relays"): what this node publishes for it is set again at once.
CREATE PROCEDURE tracelink.set_relay(peer text, forward boolean, accept boolean)
    LANGUAGE plpgsql
AS $$
DECLARE
    o record;
    got record;
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    IF NOT EXISTS (SELECT 1 FROM tracelink.peer_connections c WHERE c.name = set_relay.peer) THEN
        RAISE EXCEPTION 'unknown peer "%"', set_relay.peer USING ERRCODE = 'undefined_object';
    END IF;
    IF set_relay.forward IS NULL OR set_relay.accept IS NULL THEN
        RAISE EXCEPTION 'forward and accept must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    INSERT INTO tracelink.peer_relays AS r (peer, forward, accept)
    VALUES (set_relay.peer, set_relay.forward, set_relay.accept)
    ON CONFLICT ON CONSTRAINT peer_relays_pkey DO UPDATE SET forward = excluded.forward, accept = excluded.accept;
    PERFORM tracelink._publish_for_peer(set_relay.peer);
    IF set_relay.accept THEN
        -- what the peer held before it forwarded: fetched once, over the
        -- subscription's connection (replication brings what comes after)
        COMMIT;
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
        FOR o IN SELECT n.name FROM tracelink.nodes n
                  WHERE NOT n.is_local AND n.name <> set_relay.peer ORDER BY n.name LOOP
            BEGIN
                SELECT * INTO got FROM tracelink.resend(set_relay.peer, o.name);
                IF got.lines > 0 THEN
                    RAISE NOTICE 'origin "%": % lines fetched from peer "%", % quarantined', o.name, got.lines, set_relay.peer, got.quarantined;
                END IF;
            EXCEPTION WHEN OTHERS THEN
                RAISE NOTICE 'origin "%": nothing fetched from peer "%": %', o.name, set_relay.peer, SQLERRM;
            END;
        END LOOP;
        -- rows the peer forwarded before this node accepted them
        PERFORM tracelink.retry_quarantined(reason_like => '%arrived through subscription "'
                                            OPERATOR(pg_catalog.||) tracelink.peer_subscription_name(set_relay.peer)
                                            OPERATOR(pg_catalog.||) '",%');
    END IF;
END
$$;
COMMENT ON PROCEDURE tracelink.set_relay(text, boolean, boolean) IS
    'makes this node forward other origins'' rows to peer (forward) and take other origins'' rows from it (accept: fetching at once what the peer holds of them, and retrying those it forwarded before), or stop; republishes for the peer at once';
REVOKE ALL ON PROCEDURE tracelink.set_relay(text, boolean, boolean) FROM PUBLIC;

-- The genesis key of a node this node does not peer with, whose rows come
-- through relays: pinned as add_peer pins a peer's, obtained out of band.
CREATE FUNCTION tracelink.pin_node(name text, public_key bytea) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    known tracelink.nodes;
BEGIN
    IF pin_node.name IS NULL OR NOT tracelink._valid_node_name(pin_node.name) THEN
        RAISE EXCEPTION 'invalid node name "%"', pin_node.name
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A node name is 1 to 63 characters: a lowercase letter, then lowercase letters, digits or underscores.';
    END IF;
    IF pin_node.public_key IS NULL OR pg_catalog.length(pin_node.public_key) <> 32 THEN
        RAISE EXCEPTION 'the public key of node "%" must be 32 bytes', pin_node.name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO known FROM tracelink.nodes n WHERE n.name = pin_node.name;
    IF FOUND AND known.is_local THEN
        RAISE EXCEPTION 'node "%" is this node', pin_node.name USING ERRCODE = 'invalid_parameter_value';
    ELSIF FOUND AND known.public_key <> pin_node.public_key THEN
        RAISE EXCEPTION 'node "%" is already known with another public key', pin_node.name
            USING ERRCODE = 'duplicate_object',
                  DETAIL = 'A node''s genesis key is pinned once; its later keys come from its signed chain.';
    ELSIF NOT FOUND THEN
        INSERT INTO tracelink.nodes (name, public_key) VALUES (pin_node.name, pin_node.public_key);
    END IF;
END
$$;
COMMENT ON FUNCTION tracelink.pin_node(text, bytea) IS
    'pins the genesis key of a node this node hears of through relays (not a peer); the same key again is a no-op';
REVOKE ALL ON FUNCTION tracelink.pin_node(text, bytea) FROM PUBLIC;

-- remove_peer, step 1: stop replicating with the peer: subscription,
-- publication, connection, and the login's grants in this database.
CREATE FUNCTION tracelink._remove_peer_unpublish(name text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    peer text := _remove_peer_unpublish.name;
    sub text := tracelink.peer_subscription_name(_remove_peer_unpublish.name);
    login text := tracelink.peer_login_name(_remove_peer_unpublish.name);
BEGIN
    IF NOT EXISTS (SELECT 1 FROM tracelink.peer_connections c WHERE c.name = peer) THEN
        RAISE EXCEPTION 'unknown peer "%"', peer USING ERRCODE = 'undefined_object';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_subscription s WHERE s.subname = sub
                  AND s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())) THEN
        EXECUTE format('ALTER SUBSCRIPTION %I DISABLE', sub);
        EXECUTE format('ALTER SUBSCRIPTION %I SET (slot_name = NONE)', sub);
        EXECUTE format('DROP SUBSCRIPTION %I', sub);
    END IF;
    EXECUTE format('DROP PUBLICATION IF EXISTS %I', tracelink.peer_publication_name(peer));
    DELETE FROM tracelink.peer_connections c WHERE c.name = peer;
    DELETE FROM tracelink.peer_relays r WHERE r.peer = _remove_peer_unpublish.name;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = login) THEN
        EXECUTE format('REVOKE ALL ON tracelink.ledger_entries, tracelink.ledger_blocks FROM %I', login);
        EXECUTE format('REVOKE ALL ON tracelink.blobs, tracelink.blob_chunks FROM %I', login);
        EXECUTE format('REVOKE ALL ON FUNCTION tracelink._serve_blob(bytea), '
                       'tracelink._serve_blob_chunk(bytea, integer), '
                       'tracelink._serve_chain(text, bigint, bigint), '
                       'tracelink._serve_entitled(text, bigint) FROM %I', login);
        EXECUTE format('REVOKE USAGE ON SCHEMA tracelink FROM %I', login);
        EXECUTE format('REVOKE ALL ON DATABASE %I FROM %I', current_database(), login);
    END IF;
END
$$;
COMMENT ON FUNCTION tracelink._remove_peer_unpublish(text) IS
    'remove_peer, step 1: drops the subscription to the peer and the publication for it, forgets how to reach it, revokes its login''s grants here';

-- remove_peer, step 2 (after step 1 is committed): the peer's slot, then
-- its login.  The login is dropped, its sessions ended first, unless
-- another database of the cluster still grants it privileges (a tracelink
-- node there has the same peer): then only its sessions in this database
-- end.  A login that cannot be dropped (it owns objects or holds
-- privileges elsewhere) loses LOGIN and REPLICATION instead.
CREATE FUNCTION tracelink._remove_peer_slot_and_login(name text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    slot text := tracelink.peer_slot_name(tracelink.node_name(), _remove_peer_slot_and_login.name);
    login text := tracelink.peer_login_name(_remove_peer_slot_and_login.name);
    role_oid oid;
    deadline timestamptz := pg_catalog.clock_timestamp() + interval '20 seconds';
    here oid := (SELECT oid FROM pg_database WHERE datname = current_database());
    elsewhere text;
BEGIN
    -- the peer's slot here: stop its walsender, then drop the slot.  A
    -- signalled walsender releases the slot only as it exits, and the
    -- peer's apply worker may connect again meanwhile: wait for each one to
    -- exit (pg_terminate_backend with a timeout) and retry, until the slot
    -- is gone or 20 seconds have passed.
    LOOP
        PERFORM pg_catalog.pg_terminate_backend(s.active_pid, 5000)
           FROM pg_catalog.pg_replication_slots s
          WHERE s.slot_name = slot AND s.active_pid IS NOT NULL;
        BEGIN
            PERFORM pg_catalog.pg_drop_replication_slot(s.slot_name)
               FROM pg_catalog.pg_replication_slots s
              WHERE s.slot_name = slot AND NOT s.active;
        EXCEPTION WHEN object_in_use THEN
            NULL;               -- taken again since: terminate and retry
        END;
        EXIT WHEN NOT EXISTS (SELECT FROM pg_catalog.pg_replication_slots s WHERE s.slot_name = slot)
               OR pg_catalog.clock_timestamp() > deadline;
        PERFORM pg_catalog.pg_sleep(0.2);
    END LOOP;

    SELECT oid INTO role_oid FROM pg_roles WHERE rolname = login;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT string_agg(DISTINCT d.datname, ', ' ORDER BY d.datname) INTO elsewhere
      FROM pg_shdepend s
      JOIN pg_database d ON d.oid = CASE WHEN s.classid = 'pg_database'::regclass THEN s.objid ELSE s.dbid END
     WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = role_oid AND d.oid <> here;
    IF elsewhere IS NOT NULL THEN
        PERFORM pg_terminate_backend(a.pid) FROM pg_stat_activity a
         WHERE a.usesysid = role_oid AND a.datid = here;
        RAISE NOTICE 'login "%" is kept: database % of this cluster still grants it privileges', login, elsewhere
            USING HINT = 'It is the login of a peer of the same name there; remove_peer there drops it.';
        RETURN;
    END IF;
    PERFORM pg_terminate_backend(a.pid) FROM pg_stat_activity a WHERE a.usesysid = role_oid;
    BEGIN
        EXECUTE format('DROP ROLE %I', login);
    EXCEPTION WHEN dependent_objects_still_exist THEN
        EXECUTE format('ALTER ROLE %I NOLOGIN NOREPLICATION', login);
        RAISE NOTICE 'login "%" cannot be dropped; it can no longer log in or replicate', login
            USING DETAIL = SQLERRM;
    END;
END
$$;
COMMENT ON FUNCTION tracelink._remove_peer_slot_and_login(text) IS
    'remove_peer, step 2: drops the peer''s replication slot, then its login (or, if another database of the cluster still uses it, ends its sessions here)';

CREATE PROCEDURE tracelink.remove_peer(name text)
    LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM tracelink._remove_peer_unpublish(remove_peer.name);
    COMMIT;
    PERFORM tracelink._remove_peer_slot_and_login(remove_peer.name);
    COMMIT;
END
$$;
COMMENT ON PROCEDURE tracelink.remove_peer(text) IS
    'stops replicating with a peer (subscription, publication, slot) and drops its login; its blocks stay in the ledger and still verify against its pinned key';

-- Views

CREATE VIEW tracelink.peers AS
SELECT n.name,
       n.public_key AS pinned_key,
       h.signer_key AS current_key,
       n.added_at,
       pub.pubname IS NOT NULL AS publishing,
       coalesce(slot.active, false) AS peer_streaming,
       coalesce(sub.subenabled, false) AS subscribed,
       st.pid IS NOT NULL AS receiving,
       st.last_msg_receipt_time AS last_message_at,
       CASE
           WHEN c.name IS NULL THEN 'removed'
           WHEN sub.oid IS NULL THEN 'waiting for the peer'
           WHEN NOT sub.subenabled THEN 'disabled'
           WHEN st.pid IS NULL THEN 'down'
           ELSE 'streaming'
       END AS status,
       EXISTS (SELECT 1 FROM tracelink.equivocations e WHERE e.origin = n.name) AS equivocating
  FROM tracelink.nodes n
  LEFT JOIN tracelink.peer_connections c ON c.name = n.name
  LEFT JOIN tracelink.ledger_heads h ON h.origin = n.name
  LEFT JOIN pg_catalog.pg_publication pub ON pub.pubname = tracelink.peer_publication_name(n.name)
  LEFT JOIN pg_catalog.pg_replication_slots slot
         ON slot.slot_name = tracelink.peer_slot_name(tracelink.node_name(), n.name)
  LEFT JOIN pg_catalog.pg_subscription sub
         ON sub.subname = tracelink.peer_subscription_name(n.name)
        AND sub.subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
  LEFT JOIN pg_catalog.pg_stat_subscription st ON st.subid = sub.oid AND st.relid IS NULL
 WHERE NOT n.is_local;
COMMENT ON VIEW tracelink.peers IS
    'each peer: pinned and current key, whether this node publishes to it, whether it streams from this node, whether this node receives from it, whether it was caught signing two different blocks with one number';

CREATE VIEW tracelink.sync_status AS
SELECT n.name AS peer,
       h.block_no AS last_block,
       h.tree_size AS entries,
       b.sealed_at AS last_block_sealed_at,
       h.applied_at AS last_block_applied_at,
       h.applied_at - b.sealed_at AS lag,
       (SELECT count(*) FROM tracelink.inbox_blocks i WHERE i.origin = n.name) AS parked_blocks,
       (SELECT count(*) FROM tracelink.inbox_entries i WHERE i.origin = n.name) AS parked_entries,
       (SELECT count(*) FROM tracelink.apply_queue q WHERE q.origin = n.name) AS waiting_entries,
       (SELECT count(*) FROM tracelink.quarantine q
         WHERE q.origin = n.name OR q.source = tracelink.peer_subscription_name(n.name)) AS quarantined,
       (SELECT count(*) FROM tracelink.equivocations e WHERE e.origin = n.name) AS equivocations,
       EXISTS (SELECT 1 FROM tracelink.equivocations e WHERE e.origin = n.name) AS equivocating,
       (SELECT count(*) FROM tracelink.witness_pending w WHERE w.origin = n.name) AS witness_checks_pending,
       (SELECT max(q.quarantined_at) FROM tracelink.quarantine q
         WHERE q.origin = n.name OR q.source = tracelink.peer_subscription_name(n.name)) AS last_quarantined_at
  FROM tracelink.nodes n
  LEFT JOIN tracelink.ledger_heads h ON h.origin = n.name
  LEFT JOIN tracelink.ledger_blocks b ON b.origin = n.name AND b.block_no = h.block_no
 WHERE NOT n.is_local;
COMMENT ON VIEW tracelink.sync_status IS
    'per peer: last block applied here, its lag, rows parked or waiting, rows quarantined, equivocations seen (equivocating: the peer signed two different blocks with one number), witnessed heads of it beyond this node''s copy still to check, when a row of it was last quarantined (what needs an operator: tracelink.alerts)';

-- Which refusals a fixed cause can lift (docs/operations.md, "Quarantine"):
-- an origin whose key was not pinned yet, an unexpected error, a relay's
-- row that came before this node accepted relayed rows from it, an entry
-- whose block was refused for one of these.  An effect a projector refused
-- is retried only when named (by id, `named`): most are the rules' verdicts,
-- the same on every node, but one may depend on local state an admin fixed.
-- Everything else is permanent: the row is evidence (forged, replayed,
-- equivocating, not addressed here) or the outcome of a rule (a ballot after
-- the vote closed, a forged witnessed head).
CREATE FUNCTION tracelink.quarantine_retryable(what text, reason text, named boolean DEFAULT false)
    RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN CASE
        WHEN what IN ('entry', 'block') THEN
            pg_catalog.regexp_replace(reason, '^its block -?[0-9]+ was quarantined: ', '')
                = 'origin is not a known peer (no pinned key)'
            OR pg_catalog.regexp_replace(reason, '^its block -?[0-9]+ was quarantined: ', '')
                LIKE 'row could not be processed: %'
            OR pg_catalog.regexp_replace(reason, '^its block -?[0-9]+ was quarantined: ', '')
                LIKE 'row of origin % arrived through subscription %, which carries only its own peer''s rows'
        WHEN what = 'effect' THEN
            named AND reason NOT LIKE 'witness%'
            AND reason <> 'ballot arrived after the creator closed the vote'
        ELSE false END;
COMMENT ON FUNCTION tracelink.quarantine_retryable(text, text, boolean) IS
    'whether tracelink.retry_quarantined() retries a quarantined row of this kind and reason (a cause that can be fixed; refused effects only when named by id), or keeps it as permanent evidence';

CREATE VIEW tracelink.quarantined AS
SELECT id, quarantined_at, source, what, origin, block_no, tx, seq, entry_hash, reason,
       tracelink.quarantine_retryable(what, reason) AS retryable
  FROM tracelink.quarantine;
COMMENT ON VIEW tracelink.quarantined IS 'refused rows from peers and why (the rows themselves: tracelink.quarantine.row_data); retryable: tracelink.retry_quarantined() tries it again once its cause is fixed';

-- Convergence

-- The ledger's part of the shared state (state_digest(), sqlsrc/90_state.sql)
CREATE FUNCTION tracelink._ledger_state() RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT jsonb_build_object(
    'heads', (SELECT coalesce(jsonb_agg(jsonb_build_array(origin, block_no, encode(block_hash, 'hex'), tree_size)
                                        ORDER BY origin), '[]')
                FROM tracelink.ledger_heads),
    'nodes', (SELECT coalesce(jsonb_agg(jsonb_build_array(name, encode(public_key, 'hex')) ORDER BY name), '[]')
                FROM tracelink.nodes))
$$;
COMMENT ON FUNCTION tracelink._ledger_state() IS
    'the ledger''s part of the state state_digest() hashes: each origin''s head, the pinned node keys';

GRANT SELECT ON tracelink.inbox_entries, tracelink.inbox_blocks, tracelink.apply_queue,
                tracelink.quarantine, tracelink.equivocations, tracelink.peers,
                tracelink.sync_status, tracelink.quarantined TO tracelink_reader;
GRANT EXECUTE ON FUNCTION tracelink.peer_slot_name(text, text), tracelink.peer_login_name(text),
                 tracelink.peer_publication_name(text), tracelink.peer_subscription_name(text),
                 tracelink._ledger_state(), tracelink.quarantine_retryable(text, text, boolean) TO tracelink_reader;

-- Applying exported lines without a replication connection

CREATE TYPE tracelink.ingestion AS (lines bigint, quarantined bigint);
COMMENT ON TYPE tracelink.ingestion IS 'what tracelink.ingest() did';

CREATE FUNCTION tracelink.ingest(lines text) RETURNS SETOF tracelink.ingestion
    AS 'MODULE_PATHNAME', 'tl_ingest'
    LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink.ingest(text) IS
    'applies tracelink.export() lines from a peer exactly as replicated rows are applied: each block and entry verified, refused ones quarantined, early ones parked; returns how many lines were read and quarantined';
GRANT EXECUTE ON FUNCTION tracelink.ingest(text) TO tracelink_admin;

-- Entries waiting in apply_queue though ready (src/project.c, "Entries that
-- wait, and commits"): commits and the apply path release them on their
-- own; this does it on demand.
CREATE FUNCTION tracelink.recheck_waiting(OUT entry_hash bytea, OUT origin text, OUT tx bigint,
                                          OUT seq integer, OUT took_effect boolean)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'tl_recheck_waiting'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink.recheck_waiting() IS
    'releases every entry waiting in apply_queue whose dependencies have all taken effect, in chain order; returns the entries it took out of the queue and whether each took effect (refused ones are in quarantined)';
GRANT EXECUTE ON FUNCTION tracelink.recheck_waiting() TO tracelink_admin;
