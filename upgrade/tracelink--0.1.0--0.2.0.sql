-- tracelink: upgrade from 0.1.0 to 0.2.0 (ALTER EXTENSION tracelink UPDATE).
--
-- Hand-written: every change made to sqlsrc/ since 0.1.0, so that an
-- upgraded database ends with exactly the catalog of a fresh
-- CREATE EXTENSION (t/094_upgrade_catalog.pl compares them object by
-- object).  docs/upgrades.md gives the rules; in short: new objects as in
-- sqlsrc/, with their COMMENT and GRANTs; changed functions with CREATE OR
-- REPLACE (or DROP and CREATE when the signature changes); new columns
-- with ALTER TABLE ADD COLUMN (and at the end of their CREATE TABLE in
-- sqlsrc/, where the upgrade puts them); new config tables registered
-- with pg_extension_config_dump(); the closing REVOKE stays last.

\echo Use "ALTER EXTENSION tracelink UPDATE" to load this file. \quit

-- sqlsrc/30_crypto.sql: tracelink.sha256() renamed sha256_digest(), so that
-- pg_catalog.sha256() is not hidden behind a namesake (its comment and
-- grants follow the function)

ALTER FUNCTION tracelink.sha256(bytea) RENAME TO sha256_digest;

-- sqlsrc/50_replication.sql: peer logins may call _serve_chain(); the
-- quarantine's retryable rows; sync_status.last_quarantined_at

CREATE OR REPLACE FUNCTION tracelink._make_peer_login(peer text) RETURNS void
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

CREATE OR REPLACE FUNCTION tracelink._remove_peer_unpublish(name text) RETURNS void
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

CREATE OR REPLACE FUNCTION tracelink.quarantine_retryable(what text, reason text, named boolean DEFAULT false)
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

GRANT EXECUTE ON FUNCTION tracelink.quarantine_retryable(text, text, boolean) TO tracelink_reader;

CREATE OR REPLACE VIEW tracelink.sync_status AS
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

CREATE OR REPLACE VIEW tracelink.quarantined AS
SELECT id, quarantined_at, source, what, origin, block_no, tx, seq, entry_hash, reason,
       tracelink.quarantine_retryable(what, reason) AS retryable
  FROM tracelink.quarantine;
COMMENT ON VIEW tracelink.quarantined IS 'refused rows from peers and why (the rows themselves: tracelink.quarantine.row_data); retryable: tracelink.retry_quarantined() tries it again once its cause is fixed';

-- sqlsrc/50_replication.sql: connect_peers() tells a peer that has not
-- added this node yet from an unreachable one

CREATE OR REPLACE FUNCTION tracelink.connect_peers(only_peer text DEFAULT NULL)
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

-- sqlsrc/55_quarantine.sql (new): retry_quarantined(), NOTIFY tracelink_quarantine, alerts

-- Working the quarantine: retrying rows once their cause is fixed, the
-- notification of each refusal, and the alerts an operator polls
-- (docs/operations.md, "Quarantine" and "Alerts").

CREATE TYPE tracelink.retried_row AS (id bigint, what text, origin text, outcome text, reason text);
COMMENT ON TYPE tracelink.retried_row IS
    'what tracelink.retry_quarantined() did with a quarantined row: outcome applied, waiting (like a row that arrives early), quarantined (refused again: reason is why) or not retried (permanent)';

CREATE FUNCTION tracelink.retry_quarantined(ids bigint[] DEFAULT NULL, origin text DEFAULT NULL,
                                            reason_like text DEFAULT NULL)
    RETURNS SETOF tracelink.retried_row
    AS 'MODULE_PATHNAME', 'tl_retry_quarantined'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink.retry_quarantined(bigint[], text, text) IS
    'after the cause is fixed (a key pinned late, an unexpected error; a refused effect when named by id), puts quarantined rows (those with these ids, of this origin, whose reason is LIKE reason_like; NULL: any) through the apply path again, with the same checks; rows that pass leave the quarantine, rows refused again stay with the new reason, permanent ones (quarantine_retryable() false) are not retried';
GRANT EXECUTE ON FUNCTION tracelink.retry_quarantined(bigint[], text, text) TO tracelink_admin;

-- NOTIFY tracelink_quarantine, payload {"id": <quarantine id>, "what": ...},
-- for every row that enters the quarantine (by any path).
CREATE FUNCTION tracelink._quarantine_notify() RETURNS trigger
    AS 'MODULE_PATHNAME', 'tl_quarantine_notify'
    LANGUAGE C;
COMMENT ON FUNCTION tracelink._quarantine_notify() IS
    'announces each new quarantine row on channel tracelink_quarantine: {"id": id, "what": what}';
CREATE TRIGGER notify AFTER INSERT ON tracelink.quarantine
    FOR EACH ROW EXECUTE FUNCTION tracelink._quarantine_notify();
-- apply workers run as replicas: the trigger fires there too
ALTER TABLE tracelink.quarantine ENABLE ALWAYS TRIGGER notify;
COMMENT ON TRIGGER notify ON tracelink.quarantine IS
    'NOTIFY tracelink_quarantine for each row put in quarantine';

-- Alerts: one row per condition that needs an operator, per node concerned.
CREATE FUNCTION tracelink.sync_alerts(max_lag interval DEFAULT '5 minutes',
                                      max_wait interval DEFAULT '15 minutes',
                                      recent interval DEFAULT '1 hour',
                                      OUT alert text, OUT node text, OUT since timestamptz,
                                      OUT count bigint, OUT detail text)
    RETURNS SETOF record
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT 'equivocation', e.origin, pg_catalog.min(e.detected_at), pg_catalog.count(*),
       'signed two different blocks with one number (tracelink.equivocations)'
  FROM tracelink.equivocations e
 GROUP BY e.origin
UNION ALL
SELECT 'quarantined', q.origin, pg_catalog.min(q.quarantined_at), pg_catalog.count(*),
       'rows quarantined lately (within recent; tracelink.quarantined)'
  FROM tracelink.quarantine q
 WHERE q.quarantined_at > pg_catalog.now() - recent
 GROUP BY q.origin
UNION ALL
SELECT 'retryable', q.origin, pg_catalog.min(q.quarantined_at), pg_catalog.count(*),
       'quarantined for a cause that can be fixed: fix it, then tracelink.retry_quarantined()'
  FROM tracelink.quarantine q
 WHERE tracelink.quarantine_retryable(q.what, q.reason)
 GROUP BY q.origin
UNION ALL
SELECT 'peer down', p.name, p.last_message_at, NULL::bigint, 'subscription ' || p.status
  FROM tracelink.peers p
 WHERE p.status IN ('down', 'disabled')
UNION ALL
SELECT 'lag', s.peer, s.last_block_applied_at, NULL::bigint,
       'last block applied more than max_lag after it was sealed (tracelink.sync_status.lag)'
  FROM tracelink.sync_status s
 WHERE s.lag > max_lag
UNION ALL
SELECT 'waiting', w.origin, pg_catalog.min(w.queued_at), pg_catalog.count(*),
       'entries waiting longer than max_wait for their dependencies (tracelink.apply_queue)'
  FROM tracelink.apply_queue w
 WHERE w.queued_at < pg_catalog.now() - max_wait
 GROUP BY w.origin
UNION ALL
SELECT 'parked', b.origin, pg_catalog.min(b.sealed_at), pg_catalog.count(*),
       'blocks sealed longer than max_wait ago, waiting for their predecessor (tracelink.inbox_blocks)'
  FROM tracelink.inbox_blocks b
 WHERE b.sealed_at < pg_catalog.now() - max_wait
 GROUP BY b.origin
$$;
COMMENT ON FUNCTION tracelink.sync_alerts(interval, interval, interval) IS
    'what needs an operator, one row per alert and node: equivocation, quarantined (in the last `recent`), retryable, peer down, lag (over max_lag), waiting (apply_queue entries older than max_wait), parked (blocks older than max_wait); no row: nothing to do';

CREATE VIEW tracelink.alerts AS SELECT * FROM tracelink.sync_alerts();
COMMENT ON VIEW tracelink.alerts IS
    'tracelink.sync_alerts() with its default thresholds (lag 5 minutes, waiting 15 minutes, quarantined in the last hour): what a monitoring system polls';

GRANT EXECUTE ON FUNCTION tracelink.sync_alerts(interval, interval, interval) TO tracelink_reader;
GRANT SELECT ON tracelink.alerts TO tracelink_reader;

-- sqlsrc/60_workflow.sql: pending actions, creators filled in, revisions ordered,
-- link_versions outcome and version_status, open_ballots voters

CREATE FUNCTION tracelink._notify_pending(action text, link bytea, id bytea, nodes text[]) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF tracelink.node_name() = ANY (nodes) THEN
        PERFORM pg_notify('tracelink_pending',
                          jsonb_build_object('action', action, 'link', encode(link, 'hex'),
                                             'id', encode(id, 'hex'))::text);
    END IF;
END
$$;
COMMENT ON FUNCTION tracelink._notify_pending(text, bytea, bytea, text[]) IS
    'notifies channel tracelink_pending (action, link, id) when this node is among the nodes an action now waits for';

CREATE OR REPLACE FUNCTION tracelink._project_link_request(origin text, payload jsonb, entry_hash bytea, deps bytea[], local boolean)
    RETURNS void LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    draft tracelink.link;
    problem record;
    p text;
    n text;
BEGIN
    -- the request is a link definition without built processes
    draft := (payload - 'type')::tracelink.link;
    IF tracelink.name(draft) IS NULL OR cardinality(tracelink.process_order(draft)) = 0 THEN
        RAISE EXCEPTION 'a link design request needs a name and at least one process'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- processes are not built yet: of the TL007 problems only invitations
    -- to a process that is not in the order count
    FOR problem IN SELECT * FROM tracelink.validate(draft) v
                    WHERE v.code IN ('TL002', 'TL012', 'TL014')
                       OR (v.code = 'TL007' AND v.path LIKE '$.invitations.%') LOOP
        RAISE EXCEPTION '%', problem.message
            USING ERRCODE = problem.code, DETAIL = 'At ' || problem.path || '.';
    END LOOP;
    IF payload->'voting'->'adoption' IS NULL THEN
        RAISE EXCEPTION 'a link design request must state its adoption rule'
            USING ERRCODE = 'TL012';
    END IF;
    INSERT INTO tracelink.trace_links (link_id, name, creator, info, process_order, voting)
    VALUES (entry_hash, tracelink.name(draft), origin, tracelink.link_info(draft),
            tracelink.process_order(draft),
            jsonb_build_object('adoption', payload->'voting'->'adoption',
                               'modification', coalesce(payload->'voting'->'modification',
                                                        payload->'voting'->'adoption')));
    FOR p, n IN SELECT i.process, i.node FROM tracelink.invitations(draft) i LOOP
        IF NOT tracelink._valid_node_name(n) THEN
            RAISE EXCEPTION 'invalid node name "%"', n USING ERRCODE = 'invalid_parameter_value',
                DETAIL = format('Process "%s" invites it.', p);
        END IF;
        INSERT INTO tracelink.link_invitations (link_id, process, node, invite_entry)
        VALUES (entry_hash, p, n, entry_hash);
    END LOOP;
    -- ids only: any login that connects here can LISTEN (docs/workflow.md)
    PERFORM pg_notify('tracelink_invitation',
                      jsonb_build_object('link', encode(entry_hash, 'hex'),
                                         'entry', encode(entry_hash, 'hex'))::text);
    PERFORM tracelink._notify_pending('answer_invitation', entry_hash, entry_hash,
                                      ARRAY(SELECT i.node FROM tracelink.invitations(draft) i));
END
$$;
COMMENT ON FUNCTION tracelink._project_link_request(text, jsonb, bytea, bytea[], boolean) IS
    'projector of tl.link.request: checks the design request (name, processes, invitations, rules) and records the link and its invitations';

CREATE OR REPLACE FUNCTION tracelink._project_invitation_reply(origin text, payload jsonb, entry_hash bytea, deps bytea[], local boolean)
    RETURNS void LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    link bytea := decode(payload->>'link', 'hex');
    inv tracelink.link_invitations;
    lnk tracelink.trace_links;
BEGIN
    lnk := tracelink._projected_link(link);
    SELECT * INTO inv FROM tracelink.link_invitations i
     WHERE i.link_id = link AND i.process = payload->>'process' AND i.node = origin;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'node "%" is not invited to build process "%" of link "%"',
                        origin, payload->>'process', lnk.name
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM tracelink._require_deps(deps, ARRAY[inv.invite_entry], 'an answer to an invitation');
    IF jsonb_typeof(payload->'accept') IS DISTINCT FROM 'boolean' THEN
        RAISE EXCEPTION 'an answer to an invitation must accept (true) or decline (false)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF inv.status <> 'pending' THEN
        RAISE EXCEPTION 'node "%" already answered the invitation to build process "%" (%)',
                        origin, inv.process, inv.status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    -- while designing, or while active: a node accepted then joins the
    -- business group with the next version voted in (docs/workflow.md)
    IF local AND lnk.status NOT IN ('designing', 'active') THEN
        RAISE EXCEPTION 'link "%" is %: invitations only while it is being designed or active', lnk.name, lnk.status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    UPDATE tracelink.link_invitations i
       SET status = CASE WHEN (payload->>'accept')::boolean THEN 'accepted' ELSE 'declined' END,
           reason = payload->>'reason', reply_entry = entry_hash
     WHERE i.link_id = link AND i.process = inv.process AND i.node = origin;
END
$$;
COMMENT ON FUNCTION tracelink._project_invitation_reply(text, jsonb, bytea, bytea[], boolean) IS
    'projector of tl.link.reply: records an invited node''s first answer';


CREATE OR REPLACE FUNCTION tracelink._project_reinvite(origin text, payload jsonb, entry_hash bytea, deps bytea[], local boolean)
    RETURNS void LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    link bytea := decode(payload->>'link', 'hex');
    lnk tracelink.trace_links;
    n text;
BEGIN
    lnk := tracelink._projected_link(link, origin, 'invite nodes');
    PERFORM tracelink._require_deps(deps, ARRAY[link], 'an invitation');
    IF (payload->>'process') = ANY (lnk.process_order) IS NOT TRUE THEN
        RAISE EXCEPTION 'link "%" has no process "%"', lnk.name, payload->>'process'
            USING ERRCODE = 'TL007';
    END IF;
    IF jsonb_typeof(payload->'nodes') <> 'array' OR jsonb_array_length(payload->'nodes') = 0 THEN
        RAISE EXCEPTION 'an invitation names at least one node' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- while designing, or while active: a node accepted then joins the
    -- business group with the next version voted in (docs/workflow.md)
    IF local AND lnk.status NOT IN ('designing', 'active') THEN
        RAISE EXCEPTION 'link "%" is %: invitations only while it is being designed or active', lnk.name, lnk.status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    FOR n IN SELECT jsonb_array_elements_text(payload->'nodes') LOOP
        IF tracelink._valid_node_name(n) IS NOT TRUE THEN
            RAISE EXCEPTION 'invalid node name "%"', n USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF EXISTS (SELECT 1 FROM tracelink.link_invitations i
                    WHERE i.link_id = link AND i.process = payload->>'process' AND i.node = n) THEN
            RAISE EXCEPTION 'node "%" is already invited to build process "%"', n, payload->>'process'
                USING ERRCODE = 'duplicate_object';
        END IF;
        INSERT INTO tracelink.link_invitations (link_id, process, node, invite_entry)
        VALUES (link, payload->>'process', n, entry_hash);
    END LOOP;
    -- ids only: any login that connects here can LISTEN (docs/workflow.md)
    PERFORM pg_notify('tracelink_invitation',
                      jsonb_build_object('link', encode(link, 'hex'),
                                         'entry', encode(entry_hash, 'hex'))::text);
    PERFORM tracelink._notify_pending('answer_invitation', link, entry_hash,
                                      ARRAY(SELECT jsonb_array_elements_text(payload->'nodes')));
END
$$;
COMMENT ON FUNCTION tracelink._project_reinvite(text, jsonb, bytea, bytea[], boolean) IS
    'projector of tl.link.reinvite: the creator invites more nodes to build a process';

CREATE OR REPLACE FUNCTION tracelink._project_process_submit(origin text, payload jsonb, entry_hash bytea, deps bytea[], local boolean)
    RETURNS void LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    link bytea := decode(payload->>'link', 'hex');
    lnk tracelink.trace_links;
    def tracelink.process;
    pname text;
    cur tracelink.link_processes;
    rev integer := (payload->>'revision')::integer;
BEGIN
    lnk := tracelink._projected_link(link);
    def := (payload->'definition')::tracelink.process;
    pname := tracelink.name(def);
    IF NOT pname = ANY (lnk.process_order) THEN
        RAISE EXCEPTION 'link "%" has no process "%"', lnk.name, pname USING ERRCODE = 'TL007';
    END IF;
    PERFORM tracelink._require_deps(deps,
        ARRAY[link] || ARRAY(SELECT i.reply_entry FROM tracelink.link_invitations i
                              WHERE i.link_id = link AND i.process = pname AND i.node = origin
                                AND i.reply_entry IS NOT NULL),
        'a process submission');
    IF NOT EXISTS (SELECT 1 FROM tracelink.link_invitations i
                    WHERE i.link_id = link AND i.process = pname AND i.node = origin
                      AND i.status = 'accepted') THEN
        RAISE EXCEPTION 'node "%" has not accepted to build process "%" of link "%"', origin, pname, lnk.name
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Only an invited node that accepted can submit a process, and only its own.';
    END IF;
    IF (def::jsonb)->>'node' IS DISTINCT FROM origin THEN
        RAISE EXCEPTION 'the process definition names node "%" as its builder, but "%" submitted it',
                        (def::jsonb)->>'node', origin
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF local THEN
        IF lnk.status IN ('voting', 'active') THEN
            RAISE EXCEPTION 'link "%" is %: its processes can be revised only while it is designed, or when a modification of them is requested',
                            lnk.name, lnk.status
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        IF lnk.status = 'modifying' AND NOT EXISTS (
               SELECT 1 FROM tracelink.modifications m
                WHERE m.link_id = link AND m.status = 'revising' AND m.process = pname) THEN
            RAISE EXCEPTION 'no modification of process "%" of link "%" is requested', pname, lnk.name
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        -- several participants revising one process: a revision after a
        -- confirmation would go to the vote unseen by whoever confirmed
        SELECT * INTO cur FROM tracelink.link_processes p WHERE p.link_id = link AND p.process = pname;
        IF lnk.status = 'modifying' AND EXISTS (
               SELECT 1 FROM tracelink.modifications m
                WHERE m.link_id = link AND m.status = 'revising' AND m.process = pname
                  AND cardinality(m.confirmed_by) > 0) THEN
            RAISE EXCEPTION 'the revision of process "%" of link "%" is already confirmed by %', pname, lnk.name,
                            (SELECT string_agg(format('"%s"', x), ', ') FROM tracelink.modifications m,
                                    unnest(m.confirmed_by) x
                              WHERE m.link_id = link AND m.status = 'revising' AND m.process = pname)
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = format('They confirmed revision %s (by %s); a new revision would go to the vote without their confirmation.',
                                      cur.revision, cur.submitted_by),
                      HINT = 'Participants of one process submit their revisions first and confirm the last one after that (tracelink.pending_actions shows the working revision and who confirmed it). Now confirm this revision too and vote against it; the creator can then request the modification again.';
        END IF;
    END IF;
    SELECT * INTO cur FROM tracelink.link_processes p WHERE p.link_id = link AND p.process = pname;
    IF NOT FOUND THEN
        INSERT INTO tracelink.link_processes (link_id, process, definition, submitted_by, revision, entry_hash, template)
        VALUES (link, pname, def, origin, rev, entry_hash, payload->>'template');
    ELSIF (rev, cur.entry_hash) > (cur.revision, entry_hash) THEN
        -- a later revision wins; two submissions of one revision: the lower hash
        UPDATE tracelink.link_processes p
           SET definition = def, submitted_by = origin, revision = rev, entry_hash = _project_process_submit.entry_hash,
               template = payload->>'template'
         WHERE p.link_id = link AND p.process = pname;
    END IF;
END
$$;
COMMENT ON FUNCTION tracelink._project_process_submit(text, jsonb, bytea, bytea[], boolean) IS
    'projector of tl.process.submit: a participant''s process definition; the highest revision is the working one (ties: lowest entry hash)';

CREATE OR REPLACE FUNCTION tracelink._project_modification_request(origin text, payload jsonb, entry_hash bytea, deps bytea[], local boolean)
    RETURNS void LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    link bytea := decode(payload->>'link', 'hex');
    lnk tracelink.trace_links;
    new_order text[];
BEGIN
    lnk := tracelink._projected_link(link, origin, 'request a modification');
    IF lnk.active_version IS NULL THEN
        RAISE EXCEPTION 'link "%" has no adopted version to modify', lnk.name
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    PERFORM tracelink._require_deps(deps,
        ARRAY[link] || ARRAY(SELECT h.proposal_id FROM tracelink.link_version_history h
                              WHERE h.link_id = link AND h.version = lnk.active_version),
        'a modification request');
    IF local AND lnk.status <> 'active' THEN
        RAISE EXCEPTION 'link "%" is %: one change at a time', lnk.name, lnk.status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF payload->>'process' IS NULL AND jsonb_typeof(payload->'process_order') IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'a modification names a process to revise, a new process order, or both'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF payload->>'process' IS NOT NULL AND NOT (payload->>'process') = ANY (lnk.process_order) THEN
        RAISE EXCEPTION 'link "%" has no process "%"', lnk.name, payload->>'process' USING ERRCODE = 'TL007';
    END IF;
    IF jsonb_typeof(payload->'process_order') = 'array' THEN
        SELECT array_agg(x) INTO new_order FROM jsonb_array_elements_text(payload->'process_order') x;
        IF (SELECT array_agg(x ORDER BY x) FROM unnest(new_order) x)
           IS DISTINCT FROM (SELECT array_agg(x ORDER BY x) FROM unnest(lnk.process_order) x) THEN
            RAISE EXCEPTION 'a new process order must list the same processes' USING ERRCODE = 'TL013';
        END IF;
    END IF;
    INSERT INTO tracelink.modifications (modification_id, link_id, process, process_order, reason)
    VALUES (entry_hash, link, payload->>'process', new_order, payload->>'reason');
    UPDATE tracelink.trace_links SET status = 'modifying' WHERE link_id = link;
    IF payload->>'process' IS NULL AND local THEN
        -- nothing to revise: the vote starts at once
        PERFORM tracelink._propose(link, 'modification', NULL, entry_hash, new_order);
    ELSIF payload->>'process' IS NOT NULL THEN
        -- ids only: any login that connects here can LISTEN (docs/workflow.md)
        PERFORM pg_notify('tracelink_revision',
                          jsonb_build_object('link', encode(link, 'hex'),
                                             'modification', encode(entry_hash, 'hex'))::text);
        PERFORM tracelink._notify_pending('confirm_revision', link, entry_hash,
                                          tracelink._participants(link, payload->>'process'));
    END IF;
END
$$;
COMMENT ON FUNCTION tracelink._project_modification_request(text, jsonb, bytea, bytea[], boolean) IS
    'projector of tl.link.modify: the creator asks for a change of an active link';

CREATE FUNCTION tracelink._fill_creators(def tracelink.process, prev tracelink.process, me text)
    RETURNS tracelink.process LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    WITH ps AS (SELECT s->>'name' AS stage, s->>'creator' AS creator, s->'forms' AS forms
                  FROM pg_catalog.jsonb_array_elements(prev::jsonb->'stages') s),
         pi AS (SELECT ps.stage, f->>'name' AS form, i->>'name' AS item, i->>'creator' AS creator
                  FROM ps, pg_catalog.jsonb_array_elements(ps.forms) f,
                       pg_catalog.jsonb_array_elements(f->'items') i)
    SELECT pg_catalog.jsonb_set(def::jsonb, '{stages}', coalesce(pg_catalog.jsonb_agg(filled.stage ORDER BY filled.n), '[]'))
           ::tracelink.process
      FROM (SELECT st.n, st.s || pg_catalog.jsonb_build_object(
                       'creator', st.creator,
                       'members', CASE WHEN st.s ? 'creator' OR pg_catalog.jsonb_array_length(st.s->'members') > 0
                                       THEN st.s->'members' ELSE pg_catalog.jsonb_build_array(st.creator) END,
                       'forms', (SELECT coalesce(pg_catalog.jsonb_agg(f || pg_catalog.jsonb_build_object('items',
                                    (SELECT coalesce(pg_catalog.jsonb_agg(
                                               CASE WHEN i ? 'creator' THEN i
                                                    ELSE i || pg_catalog.jsonb_build_object('creator', coalesce(
                                                        (SELECT pi.creator FROM pi
                                                          WHERE pi.stage = st.s->>'name' AND pi.form = f->>'name'
                                                            AND pi.item = i->>'name'), me)) END
                                               ORDER BY ino), '[]')
                                       FROM pg_catalog.jsonb_array_elements(f->'items') WITH ORDINALITY AS it(i, ino)))
                                    ORDER BY fno), '[]')
                                   FROM pg_catalog.jsonb_array_elements(st.s->'forms') WITH ORDINALITY AS ft(f, fno))) AS stage
              FROM (SELECT s, n, coalesce(s->>'creator',
                                          (SELECT ps.creator FROM ps WHERE ps.stage = s->>'name'), me) AS creator
                      FROM pg_catalog.jsonb_array_elements(def::jsonb->'stages') WITH ORDINALITY AS x(s, n)) st) filled
$$;
COMMENT ON FUNCTION tracelink._fill_creators(tracelink.process, tracelink.process, text) IS
    'a submitted process with the creators it leaves out filled in: of each stage and item the node that first submitted it (from the working definition), else this node; a stage''s members default to its creator';

CREATE OR REPLACE FUNCTION tracelink.submit_process(link text, definition tracelink.process, template text DEFAULT NULL)
    RETURNS bytea LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bytea := tracelink.link_id(link);
    me text := tracelink.node_name();
    def tracelink.process := tracelink.merge_patch(tracelink._required(definition, 'definition'),
                                                   jsonb_build_object('node', me));
    rev integer;
    deps bytea[];
BEGIN
    def := tracelink._fill_creators(def, (SELECT w.definition FROM tracelink.link_processes w
                                           WHERE w.link_id = id AND w.process = tracelink.name(def)), me);
    SELECT coalesce(max(w.revision), 0) + 1 INTO rev FROM tracelink.link_processes w
     WHERE w.link_id = id AND w.process = tracelink.name(def);
    SELECT array_agg(h) INTO deps FROM (
        SELECT id AS h
        UNION SELECT i.reply_entry FROM tracelink.link_invitations i
               WHERE i.link_id = id AND i.process = tracelink.name(def) AND i.node = me AND i.reply_entry IS NOT NULL
        UNION SELECT w.entry_hash FROM tracelink.link_processes w
               WHERE w.link_id = id AND w.process = tracelink.name(def)
        UNION SELECT m.modification_id FROM tracelink.modifications m
               WHERE m.link_id = id AND m.process = tracelink.name(def) AND m.status = 'revising') x;
    RETURN tracelink._append_action('tl.process.submit', jsonb_build_object(
        'link', encode(id, 'hex'), 'definition', def::jsonb, 'revision', rev, 'template', template), deps);
END
$$;
COMMENT ON FUNCTION tracelink.submit_process(text, tracelink.process, text) IS
    'submit (or revise) the process this node was invited to build and accepted; its node is set to this node, the creators of its stages and items default to the node that first submitted them (else this node), a stage''s members to its creator';

CREATE OR REPLACE VIEW tracelink.link_versions AS
SELECT l.name AS link, p.version, p.purpose, p.scope, p.process,
       coalesce(h.status, CASE p.status WHEN 'passed' THEN 'superseded' ELSE p.status END) AS status,
       p.rule, p.threshold, p.approvals, p.rejections,
       cardinality(p.voters) - p.approvals - p.rejections AS missing,
       (SELECT coalesce(jsonb_object_agg(b.voter, b.approve ORDER BY b.voter), '{}')
          FROM tracelink.ballots b WHERE b.proposal_id = p.proposal_id) AS ballots,
       p.voters, p.proposal_id, p.digest, p.close_entry IS NOT NULL AS closed_early, l.link_id,
       p.status AS outcome, h.status AS version_status
  FROM tracelink.proposals p
  JOIN tracelink.trace_links l USING (link_id)
  LEFT JOIN tracelink.link_version_history h ON h.link_id = p.link_id AND h.proposal_id = p.proposal_id;
COMMENT ON VIEW tracelink.link_versions IS
    'every vote on every link: version, the vote''s outcome (open, passed, failed), the adopted version''s state (active, superseded; null unless passed), status (both in one word, kept for compatibility: open, failed, active, superseded), tally and who voted what';

CREATE OR REPLACE VIEW tracelink.open_ballots AS
SELECT l.name AS link, p.version, p.purpose, p.scope, p.process, p.threshold, p.approvals, p.rejections,
       p.proposal_id, p.digest, p.voters,
       ARRAY(SELECT b.voter FROM tracelink.ballots b WHERE b.proposal_id = p.proposal_id ORDER BY b.voter) AS voted,
       (SELECT m.modification_id FROM tracelink.modifications m WHERE m.proposal_id = p.proposal_id) AS modification_id
  FROM tracelink.proposals p JOIN tracelink.trace_links l USING (link_id)
 WHERE p.status = 'open' AND tracelink.node_name() = ANY (p.voters)
   AND NOT EXISTS (SELECT 1 FROM tracelink.ballots b
                    WHERE b.proposal_id = p.proposal_id AND b.voter = tracelink.node_name());
COMMENT ON VIEW tracelink.open_ballots IS
    'votes this node may cast and has not cast yet, with every voter, those who voted, and the modification request that led to the vote (LISTEN tracelink_ballot or tracelink_pending to hear of new ones)';

CREATE VIEW tracelink.pending_actions AS
SELECT 'answer_invitation'::text AS action, l.name AS link, i.process, NULL::integer AS version,
       i.invite_entry AS id, NULL::bytea AS modification_id,
       format('invited by %s', l.creator) AS detail,
       format('SELECT tracelink.reply_invitation(%L, %L, true);  -- or false, ''reason''',
              encode(l.link_id, 'hex'), i.process) AS call,
       l.link_id
  FROM tracelink.link_invitations i JOIN tracelink.trace_links l USING (link_id)
 WHERE i.node = tracelink.node_name() AND i.status = 'pending'
UNION ALL
SELECT 'vote', l.name, p.process, p.version, p.proposal_id, m.modification_id,
       format('%s %s vote for version %s: %s of %s approvals needed, %s voted so far',
              p.scope, p.purpose, p.version, p.threshold, cardinality(p.voters),
              (SELECT count(*) FROM tracelink.ballots b WHERE b.proposal_id = p.proposal_id)),
       format('SELECT tracelink.vote(''\x%s'', true);  -- or false, ''reason''', encode(p.proposal_id, 'hex')),
       l.link_id
  FROM tracelink.proposals p JOIN tracelink.trace_links l USING (link_id)
  LEFT JOIN tracelink.modifications m ON m.proposal_id = p.proposal_id
 WHERE p.status = 'open' AND tracelink.node_name() = ANY (p.voters)
   AND NOT EXISTS (SELECT 1 FROM tracelink.ballots b
                    WHERE b.proposal_id = p.proposal_id AND b.voter = tracelink.node_name())
UNION ALL
SELECT 'confirm_revision', l.name, m.process, NULL, m.modification_id, m.modification_id,
       format('working revision %s by %s; confirmed by %s; not yet by %s',
              w.revision, w.submitted_by,
              coalesce(nullif(array_to_string(m.confirmed_by, ', '), ''), 'nobody'),
              array_to_string(ARRAY(SELECT x FROM unnest(tracelink._participants(m.link_id, m.process)) x
                                     WHERE NOT x = ANY (m.confirmed_by) ORDER BY x), ', ')),
       format('SELECT tracelink.confirm_revision(%L, %L);  -- after submitting the revision, if any',
              encode(l.link_id, 'hex'), m.process),
       l.link_id
  FROM tracelink.modifications m JOIN tracelink.trace_links l USING (link_id)
  LEFT JOIN tracelink.link_processes w ON w.link_id = m.link_id AND w.process = m.process
 WHERE m.status = 'revising'
   AND tracelink.node_name() = ANY (tracelink._participants(m.link_id, m.process))
   AND NOT tracelink.node_name() = ANY (m.confirmed_by);
COMMENT ON VIEW tracelink.pending_actions IS
    'what waits for this node: invitations to answer, votes to cast (with the modification request that led to each), revisions to confirm; the id to pass and the call to make (LISTEN tracelink_pending to hear when something starts waiting)';

GRANT SELECT ON tracelink.pending_actions TO tracelink_reader;
GRANT EXECUTE ON FUNCTION tracelink._fill_creators(tracelink.process, tracelink.process, text) TO tracelink_member;

-- sqlsrc/65_votes.sql: a new ballot is also a pending action

CREATE OR REPLACE FUNCTION tracelink._project_proposal(origin text, payload jsonb, entry_hash bytea, deps bytea[], local boolean)
    RETURNS void LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    link bytea := decode(payload->>'link', 'hex');
    lnk tracelink.trace_links;
    def tracelink.link;
    voters text[];
    v text;
    rule jsonb;
    mod bytea := decode(payload->>'modification', 'hex');
    m tracelink.modifications;
    active tracelink.link;
    expected record;
BEGIN
    lnk := tracelink._projected_link(link, origin, 'put it to the vote');
    def := (payload->'definition')::tracelink.link;
    IF encode(tracelink.digest(def), 'hex') IS DISTINCT FROM payload->>'digest' THEN
        RAISE EXCEPTION 'the proposal''s digest does not match its definition' USING ERRCODE = 'data_corrupted';
    END IF;
    PERFORM tracelink.validate_strict(def);
    IF (SELECT array_agg(x ORDER BY x) FROM unnest(tracelink.process_order(def)) x)
       IS DISTINCT FROM (SELECT array_agg(x ORDER BY x) FROM unnest(lnk.process_order) x) THEN
        RAISE EXCEPTION 'a proposal must keep the processes of link "%"', lnk.name USING ERRCODE = 'TL013';
    END IF;
    IF payload->>'purpose' NOT IN ('adoption', 'modification')
       OR payload->>'scope' NOT IN ('global', 'local')
       OR (payload->>'version')::integer <> coalesce(lnk.active_version, 0) + 1
       OR (payload->>'purpose' = 'adoption') <> (lnk.active_version IS NULL) THEN
        RAISE EXCEPTION 'the proposal''s purpose, scope or version does not fit link "%" (version %)',
                        lnk.name, coalesce(lnk.active_version, 0)
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF payload->>'purpose' = 'modification' THEN
        SELECT * INTO m FROM tracelink.modifications mo WHERE mo.modification_id = mod AND mo.link_id = link;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'a modification proposal must name its modification request' USING ERRCODE = 'undefined_object';
        END IF;
    END IF;
    -- a local vote is for a change of one process that touches no key form
    -- (judged against the active version, which the proposal builds on)
    IF payload->>'scope' = 'local' THEN
        SELECT h.definition INTO active FROM tracelink.link_version_history h
         WHERE h.link_id = link AND h.version = lnk.active_version;
        IF m.process IS NULL OR m.process_order IS NOT NULL
           OR payload->>'process' IS DISTINCT FROM m.process
           OR tracelink._touches_key_forms(tracelink.process(active, m.process), tracelink.process(def, m.process)) THEN
            RAISE EXCEPTION 'this proposal for link "%" needs a global vote', lnk.name
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = 'Only a change of one process that touches no key form is voted on by that process''s participants alone.';
        END IF;
    END IF;
    rule := CASE payload->>'purpose' WHEN 'adoption' THEN lnk.voting->'adoption' ELSE lnk.voting->'modification' END;
    IF payload->'rule' IS DISTINCT FROM rule THEN
        RAISE EXCEPTION 'the proposal''s rule is not the link''s % rule', payload->>'purpose' USING ERRCODE = 'TL012';
    END IF;
    SELECT array_agg(x ORDER BY x) INTO voters FROM jsonb_array_elements_text(payload->'voters') x;
    IF voters IS NULL OR voters <> (SELECT array_agg(DISTINCT x ORDER BY x) FROM unnest(voters) x) THEN
        RAISE EXCEPTION 'a proposal needs distinct voters' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH v IN ARRAY voters LOOP
        IF NOT (v = lnk.creator AND payload->>'scope' = 'global')
           AND NOT v = ANY (tracelink._participants(link, CASE WHEN payload->>'scope' = 'local' THEN payload->>'process' END)) THEN
            RAISE EXCEPTION 'node "%" is not a participant who may vote on this proposal', v
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END LOOP;
    -- the link, and the acceptances that make its voters participants
    PERFORM tracelink._require_deps(deps,
        ARRAY[link] || ARRAY(SELECT i.reply_entry FROM tracelink.link_invitations i
                              WHERE i.link_id = link AND i.status = 'accepted' AND i.node = ANY (voters)),
        'a proposal');
    IF (payload->>'threshold')::integer <> tracelink.vote_threshold(rule, cardinality(voters)) THEN
        RAISE EXCEPTION 'the proposal''s threshold does not follow from its rule' USING ERRCODE = 'TL012';
    END IF;
    IF local AND EXISTS (SELECT 1 FROM tracelink.proposals p WHERE p.link_id = link AND p.status = 'open') THEN
        RAISE EXCEPTION 'link "%" already has an open vote', lnk.name USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    -- on the node that makes it, a proposal must be the one the link's state
    -- gives: members may append entries of any kind, but who votes on what
    -- is not theirs to choose
    IF local THEN
        SELECT * INTO expected
          FROM tracelink._proposal(link, payload->>'purpose', m.process, m.modification_id, m.process_order);
        IF expected.payload IS DISTINCT FROM payload OR NOT expected.deps <@ deps
           OR (payload->>'purpose' = 'modification'
               AND (m.status <> 'revising'
                    OR (m.process IS NOT NULL
                        AND NOT tracelink._participants(link, m.process) <@ m.confirmed_by))) THEN
            RAISE EXCEPTION 'this proposal for link "%" is not the one the link''s state gives', lnk.name
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = 'Votes are opened by tracelink.assemble() and by modification requests; voters, scope, threshold, definition and dependencies follow from the link''s state.';
        END IF;
    END IF;
    INSERT INTO tracelink.proposals (proposal_id, link_id, version, purpose, scope, process, definition,
                                     digest, rule, voters, threshold)
    VALUES (entry_hash, link, (payload->>'version')::integer, payload->>'purpose', payload->>'scope',
            payload->>'process', def, tracelink.digest(def), rule, voters,
            (payload->>'threshold')::integer);
    UPDATE tracelink.trace_links SET status = 'voting' WHERE link_id = link;
    UPDATE tracelink.modifications SET status = 'voting', proposal_id = entry_hash WHERE modification_id = mod;
    -- ids only: any login that connects here can LISTEN, and a payload must
    -- stay under 8000 bytes (docs/workflow.md)
    PERFORM pg_notify('tracelink_ballot',
                      jsonb_build_object('proposal', encode(entry_hash, 'hex'),
                                         'link', encode(link, 'hex'))::text);
    PERFORM tracelink._notify_pending('vote', link, entry_hash, voters);
END
$$;
COMMENT ON FUNCTION tracelink._project_proposal(text, jsonb, bytea, bytea[], boolean) IS
    'projector of tl.link.proposal: checks a vote''s definition, scope, rule, voters and threshold and opens it';

-- sqlsrc/70_trace.sql: trace() gains bound_version, a new result type: dropped and
-- created again, with a new C symbol (tl_trace keeps serving 0.1.0's trace())

DROP FUNCTION tracelink.trace(text, text);

CREATE FUNCTION tracelink.trace(code text, link text DEFAULT NULL)
    RETURNS TABLE (code text, relation text, depth integer, link text, version integer, process text,
                   stage text, form text, data jsonb, source text, node text,
                   occurred_at timestamptz, recorded_at timestamptz, entry_hash bytea, "position" integer,
                   commitments jsonb, bound_version integer)
    AS 'MODULE_PATHNAME', 'tl_trace_bound'
    LANGUAGE C STABLE PARALLEL SAFE ROWS 100;
COMMENT ON FUNCTION tracelink.trace(text, text) IS
    'the whole provenance of a trace code: every record of it and of the codes upstream (depth < 0) and downstream (depth > 0) through transformations, with process, stage, form, values, source, node, times, version (the link version the record was made under), (entry_hash, position) for tracelink.record_proof(), the commitments of private values (whose values show where this node holds them and the caller may read them), and bound_version (the version the code is bound to, as in trace_records)';

GRANT EXECUTE ON FUNCTION tracelink.trace(text, text) TO tracelink_reader;

-- sqlsrc/70_trace.sql: the trace views show codes and node names in the
-- default collation (codes_code_default serves lookups by code through
-- them); trace_dot() draws a line per record and a legend

-- lookups by code through the views, which show it in the default collation
CREATE INDEX codes_code_default ON tracelink.codes (code COLLATE pg_catalog."default");

-- a view column's collation cannot be replaced: dropped and created again
-- (nothing depends on them), with their comments and grants
DROP VIEW tracelink.trace_codes, tracelink.trace_records, tracelink.trace_edges;

CREATE VIEW tracelink.trace_codes AS
SELECT c.code COLLATE pg_catalog."default" AS code, l.name AS link, c.version, s.process AS first_process,
       s.origin COLLATE pg_catalog."default" AS first_node,
       'epoch'::timestamptz + c.bind_clock * interval '1 microsecond' AS first_recorded_at,
       c.bind_entry AS first_entry, c.link_id, c.code_id
  FROM tracelink.codes c
  JOIN tracelink.trace_links l ON l.link_id = c.link_id
  JOIN tracelink.record_slots s ON s.slot_id = c.bind_slot;
COMMENT ON VIEW tracelink.trace_codes IS
    'trace codes with the version they are bound to and their earliest mention (process, node, time, entry)';

CREATE VIEW tracelink.trace_records AS
-- data: the public values, and the private ones this node holds when the
-- caller may read them (tracelink_viewer); commitments show which items
-- are private, the same on every node.
SELECT c.code COLLATE pg_catalog."default" AS code, l.name AS link, s.version, s.process, s.stage, s.form,
       CASE WHEN r.commitments IS NULL
                 OR NOT pg_catalog.has_table_privilege('tracelink.private_values', 'SELECT') THEN r.data
            ELSE r.data OPERATOR(pg_catalog.||) coalesce(
                     (SELECT pg_catalog.jsonb_object_agg(v.item, v.value)
                        FROM tracelink.private_values v
                       WHERE v.entry_hash OPERATOR(pg_catalog.=) r.entry_hash
                         AND v.position OPERATOR(pg_catalog.=) r.position),
                     '{}'::jsonb) END AS data, s.source,
       s.origin COLLATE pg_catalog."default" AS node, r.occurred_at, r.recorded_at, r.entry_hash, r.position,
       c.version AS bound_version, s.link_id, r.code_id, r.commitments
  FROM tracelink.records r
  JOIN tracelink.record_slots s ON s.slot_id = r.slot_id
  JOIN tracelink.trace_links l ON l.link_id = s.link_id
  JOIN tracelink.codes c ON c.code_id = r.code_id;
COMMENT ON VIEW tracelink.trace_records IS
    'every trace record: code, link, version, process, stage, form, values (private ones where this node holds them and the caller may read them), source, recording node, times, (entry_hash, position) to prove it with tracelink.record_proof(), and the commitments of its private values';

CREATE VIEW tracelink.trace_edges AS
SELECT p.code COLLATE pg_catalog."default" AS parent, ch.code COLLATE pg_catalog."default" AS child, l.name AS link, t.quantity, t.unit,
       t.direction, s.version, s.process, s.stage, s.form, s.origin COLLATE pg_catalog."default" AS node, t.occurred_at, t.recorded_at,
       t.entry_hash, t.position, t.effective, s.link_id, t.parent_id, t.child_id
  FROM tracelink.transformations t
  JOIN tracelink.record_slots s ON s.slot_id = t.slot_id
  JOIN tracelink.trace_links l ON l.link_id = s.link_id
  JOIN tracelink.codes p ON p.code_id = t.parent_id
  JOIN tracelink.codes ch ON ch.code_id = t.child_id;
COMMENT ON VIEW tracelink.trace_edges IS
    'transformations: the parent code went into the child, with quantity and unit, stated by the record (entry_hash, position) made at process/stage/form by node';

GRANT SELECT ON tracelink.trace_codes, tracelink.trace_records, tracelink.trace_edges TO tracelink_reader;

CREATE OR REPLACE FUNCTION tracelink.trace_dot(code text, link text DEFAULT NULL) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
WITH p AS (
    SELECT * FROM tracelink._provenance(tracelink._trace_start(trace_dot.code, trace_dot.link))
), pc AS (
    SELECT p.code_id, p.relation, p.depth, c.code
      FROM p JOIN tracelink.codes c ON c.code_id = p.code_id
), labels AS (
    -- the code, then one line per record: process, node, version, time
    -- (UTC, to the second) and the signed block of the node that holds
    -- its entry (what record_proof() proves it against)
    SELECT pc.code_id,
           pc.code || coalesce((SELECT string_agg(E'\n' || s.process || ' · ' || s.origin || ' · v' || s.version
                                                  || ' · ' || pg_catalog.left(tracelink._utc(r.occurred_at), 19) || 'Z'
                                                  || ' · ' || coalesce('block ' || b.block_no || ' signed', 'not sealed'),
                                                  '' ORDER BY r.occurred_at, s.process, s.origin, r.entry_hash, r.position)
                                  FROM tracelink.records r
                                  JOIN tracelink.record_slots s ON s.slot_id = r.slot_id
                                  LEFT JOIN tracelink.ledger_entries e ON e.entry_hash = r.entry_hash
                                  LEFT JOIN tracelink.ledger_blocks b ON b.origin = e.origin AND b.tx = e.tx
                                 WHERE r.code_id = pc.code_id), '') AS label
      FROM pc
)
SELECT 'digraph provenance {' || E'\n'
    || '  rankdir=LR;' || E'\n'
    || '  node [shape=box, style=rounded, fontname="Helvetica"];' || E'\n'
    || '  edge [fontname="Helvetica", fontsize=10];' || E'\n'
    || '  labelloc=b; labeljust=l; fontname="Helvetica"; fontsize=10;' || E'\n'
    || '  label="Legend: a box per trace code (filled: the code asked about), then a line per record: process · node · link version · occurred at (UTC) · proof: block N signed (its entry is in'
    || ' that node''s signed block N; record_proof() proves it) or not sealed.\lArrows: inputs to outputs, labelled with the quantity.\l";'
    || E'\n'
    || coalesce((SELECT string_agg('  ' || tracelink._dot_string(pc.code) || ' [label='
                                    || tracelink._dot_string(labels.label)
                                    || CASE WHEN pc.relation = 'self'
                                            THEN ', style="rounded,bold,filled", fillcolor="#fff2cc"' ELSE '' END
                                    || '];', E'\n' ORDER BY pc.depth, pc.code)
                   FROM pc JOIN labels ON labels.code_id = pc.code_id), '') || E'\n'
    || coalesce((SELECT string_agg('  ' || tracelink._dot_string(a.code) || ' -> ' || tracelink._dot_string(b.code)
                                    || coalesce(' [label=' || tracelink._dot_string(nullif(
                                           trim(coalesce(t.quantity::text, '') || ' ' || coalesce(t.unit, '')), ''))
                                           || ']', '')
                                    || ';', E'\n' ORDER BY a.code, b.code, t.entry_hash, t.position)
                   FROM tracelink.transformations t
                   JOIN pc a ON a.code_id = t.parent_id
                   JOIN pc b ON b.code_id = t.child_id
                  WHERE t.effective) || E'\n', '')
    || '}' || E'\n'
$$;
COMMENT ON FUNCTION tracelink.trace_dot(text, text) IS
    'the provenance graph of a trace code in Graphviz DOT: one box per code (the code asked about filled), a line per record in it (process, node, link version, time in UTC, the signed block holding its entry), one arrow per transformation labelled with its quantity, and a legend';

-- sqlsrc/80_epcis.sql: a record made of inputs is exported as a TransformationEvent

CREATE OR REPLACE FUNCTION tracelink._epcis_record_event(code_id bigint, entry_hash bytea, "position" integer) RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    ev jsonb;
    inputs jsonb;
BEGIN
    SELECT r0.data, r0.occurred_at, r0.recorded_at, s.origin, s.link_id, s.process, s.stage, s.form, l.name AS link,
           c.code
      INTO r
      FROM tracelink.records r0
      JOIN tracelink.record_slots s ON s.slot_id = r0.slot_id
      JOIN tracelink.trace_links l ON l.link_id = s.link_id
      JOIN tracelink.codes c ON c.code_id = r0.code_id
     WHERE r0.code_id = $1 AND r0.entry_hash = $2 AND r0.position = $3;
    IF r.data ? 'event_id' THEN
        SELECT tracelink._epcis_out(e.event, e.event_id,
                                    tracelink._epcis_ledger(e.node, e.entry_hash, e.position, e.link, e.recorded_at))
          INTO ev
          FROM tracelink.epcis_imported_events e
         WHERE e.event_id = (r.data ->> 'event_id') AND e.link_id = r.link_id AND NOT e.duplicate;
        RETURN ev;
    END IF;
    SELECT coalesce(jsonb_agg(tracelink._epcis_code_uri(p.code) ORDER BY p.code), '[]')
      INTO inputs
      FROM tracelink.transformations t JOIN tracelink.codes p ON p.code_id = t.parent_id
     WHERE t.child_id = $1 AND t.entry_hash = $2 AND t.position = $3;
    -- a record made of inputs is a transformation; any other an observation
    IF jsonb_array_length(inputs) > 0 THEN
        ev := jsonb_build_object(
            'type', 'TransformationEvent',
            'eventTime', tracelink._utc(r.occurred_at),
            'eventTimeZoneOffset', '+00:00',
            'inputEPCList', inputs,
            'outputEPCList', jsonb_build_array(tracelink._epcis_code_uri(r.code)));
    ELSE
        ev := jsonb_build_object(
            'type', 'ObjectEvent',
            'eventTime', tracelink._utc(r.occurred_at),
            'eventTimeZoneOffset', '+00:00',
            'epcList', jsonb_build_array(tracelink._epcis_code_uri(r.code)),
            'action', 'OBSERVE');
    END IF;
    ev := ev || jsonb_build_object(
        'tl:record', jsonb_build_object(
            'code', r.code, 'process', r.process, 'stage', r.stage, 'form', r.form, 'data', r.data,
            'inputs', (SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object('code', p.code, 'quantity', t.quantity, 'unit', t.unit))
                                                ORDER BY p.code), '[]')
                         FROM tracelink.transformations t JOIN tracelink.codes p ON p.code_id = t.parent_id
                        WHERE t.child_id = $1 AND t.entry_hash = $2 AND t.position = $3),
            'outputs', (SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object('code', ch.code, 'quantity', t.quantity, 'unit', t.unit))
                                                 ORDER BY ch.code), '[]')
                          FROM tracelink.transformations t JOIN tracelink.codes ch ON ch.code_id = t.child_id
                         WHERE t.parent_id = $1 AND t.entry_hash = $2 AND t.position = $3)));
    RETURN tracelink._epcis_out(ev, tracelink.epcis_event_hash(ev),
                                tracelink._epcis_ledger(r.origin, $2, $3, r.link, r.recorded_at));
END
$$;
COMMENT ON FUNCTION tracelink._epcis_record_event(bigint, bytea, integer) IS
    'the exported event of one record: its imported event (the kept copy), else a TransformationEvent (inputs to the code) or an ObjectEvent of the code, with the record under "tl:record"';

-- sqlsrc/95_dump.sql: export_for_peer() through _export_addressed(); resend()
-- and the _serve_chain() it calls on a peer

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
CREATE OR REPLACE FUNCTION tracelink.export_for_peer(peer text, from_block bigint, to_block bigint DEFAULT NULL)
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

-- existing peer logins may call what their peers' resend() and catch_up()
-- ask for (_make_peer_login() grants it to new ones)
DO $$
DECLARE
    p record;
BEGIN
    FOR p IN SELECT tracelink.peer_login_name(c.name) AS login FROM tracelink.peer_connections c LOOP
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = p.login) THEN
            EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION tracelink._serve_chain(text, bigint, bigint), '
                                      'tracelink._serve_entitled(text, bigint) TO %I', p.login);
        END IF;
    END LOOP;
END
$$;

-- sqlsrc/95_dump.sql: the signing hold after point-in-time recovery, a
-- node's own blocks fetched back from its peers, a node rebuilt from them
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

-- a node made before 0.2.0 signs on the timeline it runs on now
SELECT tracelink._note_timeline() FROM tracelink.nodes n WHERE n.is_local;

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

CREATE OR REPLACE PROCEDURE tracelink.finish_restore()
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


-- sqlsrc/50_replication.sql, sqlsrc/95_dump.sql: relays (peer_relays,
-- set_relay(), pin_node()); what a node publishes for a relay's peer

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
SELECT pg_catalog.pg_extension_config_dump('tracelink.peer_relays', '');

CREATE OR REPLACE FUNCTION tracelink._publish_for_peer(peer text) RETURNS void
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


-- A peer as a relay, in either direction or both (docs/operations.md,
-- "Relays"): what this node publishes for it is set again at once.
CREATE OR REPLACE PROCEDURE tracelink.set_relay(peer text, forward boolean, accept boolean)
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

CREATE OR REPLACE FUNCTION tracelink._dangling_references()
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


-- sqlsrc/96_version.sql: tracelink.versions()
CREATE FUNCTION tracelink.versions(OUT extension text, OUT library text)
    AS 'MODULE_PATHNAME', 'tl_versions'
    LANGUAGE C STRICT STABLE PARALLEL SAFE;
COMMENT ON FUNCTION tracelink.versions() IS
    'the SQL version of tracelink installed in this database (pg_extension.extversion) and the version of the loaded library (the newest SQL version it serves); when they differ, ALTER EXTENSION tracelink UPDATE brings the SQL up to the library';
GRANT EXECUTE ON FUNCTION tracelink.versions() TO tracelink_reader;

-- sqlsrc/99_privileges.sql, last: nothing new is executable by PUBLIC.
REVOKE ALL ON ALL ROUTINES IN SCHEMA tracelink FROM PUBLIC;
