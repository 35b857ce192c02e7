-- The consortium workflow: link design requests, invitations, process
-- building, assembly, votes, activation, modification and versions.
--
-- Every action is a ledger entry; the API functions below only shape its
-- payload and append it.  The projectors (tracelink._project_*) decide
-- whether the action is allowed and apply it, on the node that wrote it
-- (a refusal is an error to the caller) and on every node that receives it
-- (a refusal is quarantined).  On receivers they judge only by facts in the
-- entry's causal past, so that every node ends with the same state whatever
-- the order entries arrive in (docs/workflow.md).

-- Projected state
--
-- No foreign keys between these tables: pg_restore -j loads the rows of an
-- extension's tables in parallel, in no order, after CREATE EXTENSION has
-- made their constraints (pg_dump orders them only within one script), so
-- a restore would fail on them.  The projectors keep the references; the
-- regress tests and tracelink.finish_restore() check them
-- (sqlsrc/95_dump.sql).

CREATE TABLE tracelink.trace_links (
    link_id         bytea PRIMARY KEY,
    name            text NOT NULL,
    creator         text COLLATE "C" NOT NULL,
    info            jsonb NOT NULL,
    process_order   text[] NOT NULL,
    voting          jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'designing'
                    CHECK (status IN ('designing', 'voting', 'active', 'modifying')),
    active_version  integer,
    requested_at    timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE INDEX trace_links_name ON tracelink.trace_links (name);
COMMENT ON TABLE tracelink.trace_links IS
    'trace links: requested by a creator node, designed by the invited nodes, adopted by vote';
COMMENT ON COLUMN tracelink.trace_links.link_id IS 'the hash of the link design request entry';
COMMENT ON COLUMN tracelink.trace_links.requested_at IS 'when this node applied the request (local time, not part of the shared state)';

CREATE TABLE tracelink.link_invitations (
    link_id      bytea NOT NULL,
    process      text NOT NULL,
    node         text COLLATE "C" NOT NULL,
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'declined')),
    reason       text,
    invite_entry bytea NOT NULL,
    reply_entry  bytea,
    PRIMARY KEY (link_id, process, node)
);
COMMENT ON TABLE tracelink.link_invitations IS
    'who is invited to build which process of a link, and their answer (the first answer counts)';

CREATE TABLE tracelink.link_processes (
    link_id       bytea NOT NULL,
    process       text NOT NULL,
    definition    tracelink.process NOT NULL,
    submitted_by  text COLLATE "C" NOT NULL,
    revision      integer NOT NULL,
    entry_hash    bytea NOT NULL,
    template      text,
    PRIMARY KEY (link_id, process)
);
COMMENT ON TABLE tracelink.link_processes IS
    'the working definition of each process of a link: the submission with the highest revision (ties: lowest entry hash)';

CREATE TABLE tracelink.proposals (
    proposal_id  bytea PRIMARY KEY,
    link_id      bytea NOT NULL,
    version      integer NOT NULL,
    purpose      text NOT NULL CHECK (purpose IN ('adoption', 'modification')),
    scope        text NOT NULL CHECK (scope IN ('global', 'local')),
    process      text,
    definition   tracelink.link NOT NULL,
    digest       bytea NOT NULL,
    rule         jsonb NOT NULL,
    voters       text[] NOT NULL,
    threshold    integer NOT NULL,
    approvals    integer NOT NULL DEFAULT 0,
    rejections   integer NOT NULL DEFAULT 0,
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'passed', 'failed')),
    close_entry  bytea
);
CREATE INDEX proposals_link ON tracelink.proposals (link_id);
COMMENT ON TABLE tracelink.proposals IS
    'votes: the link version proposed, its eligible voters, rule and threshold (fixed when proposed), and the running tally';

CREATE TABLE tracelink.ballots (
    proposal_id  bytea NOT NULL,
    voter        text COLLATE "C" NOT NULL,
    approve      boolean NOT NULL,
    reason       text,
    entry_hash   bytea NOT NULL,
    PRIMARY KEY (proposal_id, voter)
);
COMMENT ON TABLE tracelink.ballots IS 'the ballot that counts for each voter of each proposal (its first)';

CREATE TABLE tracelink.link_version_history (
    link_id      bytea NOT NULL,
    version      integer NOT NULL,
    proposal_id  bytea NOT NULL,
    definition   tracelink.link NOT NULL,
    digest       bytea NOT NULL,
    status       text NOT NULL CHECK (status IN ('active', 'superseded')),
    PRIMARY KEY (link_id, version)
);
COMMENT ON TABLE tracelink.link_version_history IS
    'adopted versions of each link; trace codes first recorded under a version stay bound to it';

CREATE TABLE tracelink.modifications (
    modification_id  bytea PRIMARY KEY,
    link_id          bytea NOT NULL,
    process          text,
    process_order    text[],
    reason           text,
    confirmed_by     text[] COLLATE "C" NOT NULL DEFAULT '{}',
    status           text NOT NULL DEFAULT 'revising'
                     CHECK (status IN ('revising', 'voting', 'passed', 'failed')),
    proposal_id      bytea
);
COMMENT ON TABLE tracelink.modifications IS
    'requested changes of an active link: the participants of the process revise and confirm it, then a vote runs';

-- Helpers

-- API arguments that must be given: a clear error, not a confusing one later
CREATE FUNCTION tracelink._required(value anyelement, argument text) RETURNS anyelement
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF value IS NULL THEN
        RAISE EXCEPTION 'argument "%" must not be null', argument USING ERRCODE = 'null_value_not_allowed';
    END IF;
    RETURN value;
END
$$;
COMMENT ON FUNCTION tracelink._required(anyelement, text) IS
    'returns its value, or raises 22004 naming the API argument that is null';

-- One lookup in C (src/trace_model.c), which recording and trace() use too.
CREATE FUNCTION tracelink.link_id(link text) RETURNS bytea
    AS 'MODULE_PATHNAME', 'tl_link_id'
    LANGUAGE C STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION tracelink.link_id(text) IS 'a link''s id from its name or its id in hex';

CREATE FUNCTION tracelink._participants(p_link bytea, p_process text DEFAULT NULL) RETURNS text[]
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    RETURN (SELECT coalesce(array_agg(DISTINCT i.node ORDER BY i.node), '{}')
              FROM tracelink.link_invitations i
             WHERE i.link_id = p_link AND i.status = 'accepted'
               AND (p_process IS NULL OR i.process = p_process));
COMMENT ON FUNCTION tracelink._participants(bytea, text) IS
    'nodes that accepted to build a process of the link (or the given process)';

-- Does a change from one process definition to another touch a key form, or
-- an audience?  Who may read a form's or an item's values is always a key
-- change: the audience of any form or item (of a key form or not) added,
-- removed or changed, including with the form or item that carries it.
CREATE FUNCTION tracelink._touches_key_forms(old_def tracelink.process, new_def tracelink.process) RETURNS boolean
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    -- tracelink.name(s), not s.name: on a base type that would be a cast to
    -- type name (the first 63 bytes of the stage's JSON).  item_audiences:
    -- [name, audience] of each item that has one, in a fixed order.
    WITH o AS (SELECT tracelink.name(s) AS stage, f.name AS form, f.key, f.items, f.description, f.audience,
                      (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(i->'name', i->'audience')
                                                   ORDER BY i->>'name', (i->'audience')::text)
                         FROM pg_catalog.jsonb_array_elements(f.items) i
                        WHERE i ? 'audience') AS item_audiences
                 FROM tracelink.stages(old_def) s, tracelink.forms(s) f),
         n AS (SELECT tracelink.name(s) AS stage, f.name AS form, f.key, f.items, f.description, f.audience,
                      (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(i->'name', i->'audience')
                                                   ORDER BY i->>'name', (i->'audience')::text)
                         FROM pg_catalog.jsonb_array_elements(f.items) i
                        WHERE i ? 'audience') AS item_audiences
                 FROM tracelink.stages(new_def) s, tracelink.forms(s) f)
    SELECT EXISTS (SELECT 1 FROM o FULL JOIN n USING (stage, form)
                    WHERE ((coalesce(o.key, false) OR coalesce(n.key, false))
                           AND (o.form IS NULL OR n.form IS NULL OR o.key IS DISTINCT FROM n.key
                                OR o.items IS DISTINCT FROM n.items OR o.description IS DISTINCT FROM n.description))
                       OR o.audience IS DISTINCT FROM n.audience
                       OR o.item_audiences IS DISTINCT FROM n.item_audiences)
$$;
COMMENT ON FUNCTION tracelink._touches_key_forms(tracelink.process, tracelink.process) IS
    'true when a key form is added, removed or changed (or a form becomes or stops being key), or the audience of any form or item is added, removed or changed';

CREATE FUNCTION tracelink._append_action(kind text, payload jsonb, deps bytea[] DEFAULT '{}') RETURNS bytea
    AS 'MODULE_PATHNAME', 'tl_append_action'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION tracelink._append_action(text, jsonb, bytea[]) IS
    'appends a workflow entry (tl.link.* / tl.process.*); its projector checks it is allowed';

-- An action must list, among its dependencies, the entries it relies on:
-- then every node judges it only once they have taken effect there, and a
-- forged action without them is refused alike everywhere.
CREATE FUNCTION tracelink._require_deps(deps bytea[], needed bytea[], what text) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT coalesce(needed, '{}') <@ coalesce(deps, '{}') THEN
        RAISE EXCEPTION '% must depend on the entries it relies on', what
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'It lacks ' || (SELECT string_agg(encode(n, 'hex'), ', ') FROM unnest(needed) n
                                            WHERE NOT n = ANY (coalesce(deps, '{}'))) || '.';
    END IF;
END
$$;
COMMENT ON FUNCTION tracelink._require_deps(bytea[], bytea[], text) IS
    'refuses an action that does not depend on the entries it relies on';

-- The link an action names, as this node projected it; with `action`, only
-- its creator may take that action.  One rule for every projector.
CREATE FUNCTION tracelink._projected_link(link bytea, origin text DEFAULT NULL, action text DEFAULT NULL)
    RETURNS tracelink.trace_links LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    lnk tracelink.trace_links;
BEGIN
    SELECT * INTO lnk FROM tracelink.trace_links WHERE link_id = link;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown trace link' USING ERRCODE = 'undefined_object';
    END IF;
    IF action IS NOT NULL AND origin <> lnk.creator THEN
        RAISE EXCEPTION 'only the creator of link "%" (%) can %', lnk.name, lnk.creator, action
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN lnk;
END
$$;
COMMENT ON FUNCTION tracelink._projected_link(bytea, text, text) IS
    'the trace link an action names (undefined_object if unknown); with an action, refuses it unless origin created the link';

-- Something starts waiting for this node (an invitation to answer, a
-- ballot to cast, a revision to confirm; tracelink.pending_actions): a
-- notice on tracelink_pending, on this node only, at commit.  Ids only:
-- any login that connects here can LISTEN (docs/workflow.md).
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

-- Projectors

CREATE FUNCTION tracelink._project_link_request(origin text, payload jsonb, entry_hash bytea, deps bytea[], local boolean)
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

CREATE FUNCTION tracelink._project_invitation_reply(origin text, payload jsonb, entry_hash bytea, deps bytea[], local boolean)
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

CREATE FUNCTION tracelink._project_reinvite(origin text, payload jsonb, entry_hash bytea, deps bytea[], local boolean)
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

CREATE FUNCTION tracelink._project_process_submit(origin text, payload jsonb, entry_hash bytea, deps bytea[], local boolean)
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

-- The definition a proposal puts to the vote: the link with its current
-- working processes (for a modification of one process: the active version
-- with that process replaced), and the nodes that accepted as invitees.
CREATE FUNCTION tracelink._proposed_definition(p_link bytea, p_process text, p_order text[])
    RETURNS tracelink.link LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    lnk tracelink.trace_links;
    active tracelink.link;
    procs jsonb;
BEGIN
    SELECT * INTO lnk FROM tracelink.trace_links WHERE link_id = p_link;
    SELECT h.definition INTO active FROM tracelink.link_version_history h
     WHERE h.link_id = p_link AND h.version = lnk.active_version;
    SELECT jsonb_agg(CASE WHEN active IS NULL OR w.process = p_process THEN w.definition::jsonb
                          ELSE tracelink.process(active, w.process)::jsonb END
                     ORDER BY array_position(coalesce(p_order, lnk.process_order), w.process))
      INTO procs
      FROM tracelink.link_processes w WHERE w.link_id = p_link;
    RETURN jsonb_build_object(
        'name', lnk.name, 'info', lnk.info, 'creator', lnk.creator,
        'process_order', to_jsonb(coalesce(p_order, lnk.process_order)),
        'invitations', (SELECT coalesce(jsonb_object_agg(process, nodes), '{}')
                          FROM (SELECT i.process, jsonb_agg(i.node ORDER BY i.node) AS nodes
                                  FROM tracelink.link_invitations i
                                 WHERE i.link_id = p_link AND i.status = 'accepted'
                                 GROUP BY i.process) x),
        'voting', lnk.voting,
        'processes', coalesce(procs, '[]'))::tracelink.link;
END
$$;
COMMENT ON FUNCTION tracelink._proposed_definition(bytea, text, text[]) IS
    'the link definition a proposal puts to the vote: the working processes (for a modification of one process, the active version with that process replaced) and the accepted invitations';

CREATE FUNCTION tracelink._project_modification_request(origin text, payload jsonb, entry_hash bytea, deps bytea[], local boolean)
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

CREATE FUNCTION tracelink._project_process_confirm(origin text, payload jsonb, entry_hash bytea, deps bytea[], local boolean)
    RETURNS void LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m tracelink.modifications;
    lnk tracelink.trace_links;
    everyone text[];
BEGIN
    SELECT * INTO m FROM tracelink.modifications WHERE modification_id = decode(payload->>'modification', 'hex');
    IF NOT FOUND OR m.process IS NULL THEN
        RAISE EXCEPTION 'unknown modification request' USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM tracelink._require_deps(deps, ARRAY[m.modification_id], 'a confirmation');
    SELECT * INTO lnk FROM tracelink.trace_links WHERE link_id = m.link_id;
    everyone := tracelink._participants(m.link_id, m.process);
    IF NOT origin = ANY (everyone) THEN
        RAISE EXCEPTION 'node "%" does not build process "%" of link "%"', origin, m.process, lnk.name
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF origin = ANY (m.confirmed_by) THEN
        RAISE EXCEPTION 'node "%" already confirmed its revision of process "%"', origin, m.process
            USING ERRCODE = 'duplicate_object';
    END IF;
    IF local AND m.status <> 'revising' THEN
        RAISE EXCEPTION 'the modification of process "%" is no longer being revised (%)', m.process, m.status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    -- the revision must make a valid proposal: checked where it is
    -- confirmed, so that the creator's node, which opens the vote when the
    -- last confirmation reaches it, does not refuse the confirmation alone
    IF local THEN
        PERFORM tracelink._proposal(m.link_id, 'modification', m.process, m.modification_id, m.process_order);
    END IF;
    -- sorted, so that every node holds the same array whatever the order
    -- the confirmations arrive in
    UPDATE tracelink.modifications
       SET confirmed_by = ARRAY(SELECT x FROM unnest(confirmed_by || origin) x ORDER BY x)
     WHERE modification_id = m.modification_id;
    -- everyone has confirmed: the creator's node starts the vote
    IF m.status = 'revising' AND everyone <@ (m.confirmed_by || origin)
       AND tracelink.node_name() = lnk.creator THEN
        PERFORM tracelink._propose(m.link_id, 'modification', m.process, m.modification_id, m.process_order);
    END IF;
END
$$;
COMMENT ON FUNCTION tracelink._project_process_confirm(text, jsonb, bytea, bytea[], boolean) IS
    'projector of tl.process.confirm: a participant confirms its revision; on the creator''s node the last confirmation opens the vote';

-- API: each function shapes a payload and appends it; the projector decides.

CREATE FUNCTION tracelink.request_link(name text, process_order text[], invitations jsonb,
                                       info jsonb DEFAULT '{}', adoption_rule jsonb DEFAULT NULL,
                                       modification_rule jsonb DEFAULT NULL)
    RETURNS bytea LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me text := tracelink.node_name();
    adoption jsonb := coalesce(adoption_rule, current_setting('tracelink.default_voting_rule')::jsonb);
BEGIN
    PERFORM tracelink._required(name, 'name'), tracelink._required(process_order, 'process_order'),
            tracelink._required(invitations, 'invitations');
    IF me IS NULL THEN
        RAISE EXCEPTION 'this database is not a tracelink node yet' USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF jsonb_typeof(invitations) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'invitations must map each process to the nodes invited to build it'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'For example {"Growing": ["farm"], "Processing": ["factory"]}.';
    END IF;
    RETURN tracelink._append_action('tl.link.request', jsonb_build_object(
        'name', request_link.name, 'info', coalesce(info, '{}'), 'creator', me,
        'process_order', to_jsonb(process_order), 'invitations', invitations,
        'voting', jsonb_build_object('adoption', adoption,
                                     'modification', coalesce(modification_rule, adoption))));
END
$$;
COMMENT ON FUNCTION tracelink.request_link(text, text[], jsonb, jsonb, jsonb, jsonb) IS
    'a link design request by this node: name, ordered processes, invited nodes per process, voting rules (default: tracelink.default_voting_rule; modifications default to the adoption rule); returns the link id';

CREATE FUNCTION tracelink.reply_invitation(link text, process text, accept boolean, reason text DEFAULT NULL)
    RETURNS bytea LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bytea := tracelink.link_id(link);
    invite bytea;
BEGIN
    PERFORM tracelink._required(process, 'process'), tracelink._required(accept, 'accept');
    SELECT i.invite_entry INTO invite FROM tracelink.link_invitations i
     WHERE i.link_id = id AND i.process = reply_invitation.process AND i.node = tracelink.node_name();
    RETURN tracelink._append_action('tl.link.reply', jsonb_build_object(
        'link', encode(id, 'hex'), 'process', process, 'accept', accept, 'reason', reason),
        CASE WHEN invite IS NULL THEN ARRAY[id] ELSE ARRAY[invite] END);
END
$$;
COMMENT ON FUNCTION tracelink.reply_invitation(text, text, boolean, text) IS
    'accept or decline this node''s invitation to build a process of a link (the first answer counts)';

CREATE FUNCTION tracelink.reinvite(link text, process text, nodes text[])
    RETURNS bytea LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
    RETURN tracelink._append_action('tl.link.reinvite', jsonb_build_object(
        'link', encode(tracelink.link_id(link), 'hex'), 'process', tracelink._required(process, 'process'),
        'nodes', to_jsonb(tracelink._required(nodes, 'nodes'))),
        ARRAY[tracelink.link_id(link)]);
COMMENT ON FUNCTION tracelink.reinvite(text, text, text[]) IS
    'the creator invites more nodes to build a process (for example after every invitee declined)';

-- Who created what, where a submitted definition leaves it out (the source
-- design): a stage's creator and an item's creator are the node that added
-- them, that is the one that first submitted them (kept from the working
-- definition `prev`, by stage, form and item name), else this node; a
-- stage's members default to its creator.  Recording at a stage is then
-- limited to its members by the record check (src/trace_project.c).
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

CREATE FUNCTION tracelink.submit_process(link text, definition tracelink.process, template text DEFAULT NULL)
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

CREATE FUNCTION tracelink.submit_process_from_template(link text, process text, template text, changes jsonb DEFAULT NULL)
    RETURNS bytea LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
    RETURN tracelink.submit_process(link, tracelink.instantiate_template(tracelink._required(template, 'template'),
                                                                        tracelink._required(process, 'process'), changes),
                                    template);
COMMENT ON FUNCTION tracelink.submit_process_from_template(text, text, text, jsonb) IS
    'submit a process built from one of this node''s templates, as is or with an RFC 7386 merge patch of changes';

CREATE FUNCTION tracelink.assemble(link text) RETURNS bytea
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bytea := tracelink.link_id(link);
    lnk tracelink.trace_links;
    p text;
BEGIN
    SELECT * INTO lnk FROM tracelink.trace_links WHERE link_id = id;
    IF lnk.creator IS DISTINCT FROM tracelink.node_name() THEN
        RAISE EXCEPTION 'only the creator of link "%" (%) can assemble it', lnk.name, lnk.creator
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF lnk.status <> 'designing' THEN
        RAISE EXCEPTION 'link "%" is %, not being designed', lnk.name, lnk.status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    FOREACH p IN ARRAY lnk.process_order LOOP
        IF cardinality(tracelink._participants(id, p)) = 0 THEN
            RAISE EXCEPTION 'process "%" of link "%" has no participant', p, lnk.name
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = CASE WHEN EXISTS (SELECT 1 FROM tracelink.link_invitations i
                                                  WHERE i.link_id = id AND i.process = p AND i.status = 'pending')
                                    THEN 'Its invitations are still pending.'
                                    ELSE 'Every node invited to build it declined.' END,
                      HINT = 'Wait for the answers, or invite another node with tracelink.reinvite().';
        END IF;
        IF NOT EXISTS (SELECT 1 FROM tracelink.link_processes w WHERE w.link_id = id AND w.process = p) THEN
            RAISE EXCEPTION 'process "%" of link "%" has not been submitted yet', p, lnk.name
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
    END LOOP;
    RETURN tracelink._propose(id, 'adoption', NULL, NULL, NULL);
END
$$;
COMMENT ON FUNCTION tracelink.assemble(text) IS
    'the creator assembles the link from the submitted processes, validates it and builds its mesh, and opens the adoption vote; returns the proposal id';

CREATE FUNCTION tracelink.request_modification(link text, process text DEFAULT NULL, reason text DEFAULT NULL,
                                               process_order text[] DEFAULT NULL)
    RETURNS bytea LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bytea := tracelink.link_id(link);
    deps bytea[];
BEGIN
    SELECT array_agg(h) INTO deps FROM (
        SELECT id AS h
        UNION SELECT p.proposal_id FROM tracelink.proposals p WHERE p.link_id = id
        UNION SELECT b.entry_hash FROM tracelink.ballots b JOIN tracelink.proposals p USING (proposal_id)
               WHERE p.link_id = id
        UNION SELECT p.close_entry FROM tracelink.proposals p WHERE p.link_id = id AND p.close_entry IS NOT NULL) x;
    RETURN tracelink._append_action('tl.link.modify', jsonb_build_object(
        'link', encode(id, 'hex'), 'process', process, 'reason', reason,
        'process_order', to_jsonb(process_order)), deps);
END
$$;
COMMENT ON FUNCTION tracelink.request_modification(text, text, text, text[]) IS
    'the creator requests a change of an active link: a process (its participants revise and confirm it, then a vote starts) and/or the process order (the vote starts at once); returns the modification id';

CREATE FUNCTION tracelink.confirm_revision(link text, process text) RETURNS bytea
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bytea := tracelink.link_id(link);
    m tracelink.modifications;
    deps bytea[];
BEGIN
    PERFORM tracelink._required(process, 'process');
    SELECT * INTO m FROM tracelink.modifications mo
     WHERE mo.link_id = id AND mo.process = confirm_revision.process AND mo.status = 'revising';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no modification of process "%" is being revised', process
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    SELECT array_agg(h) INTO deps FROM (
        SELECT m.modification_id AS h
        UNION SELECT w.entry_hash FROM tracelink.link_processes w
               WHERE w.link_id = id AND w.process = confirm_revision.process) x;
    RETURN tracelink._append_action('tl.process.confirm', jsonb_build_object(
        'link', encode(id, 'hex'), 'process', process,
        'modification', encode(m.modification_id, 'hex')), deps);
END
$$;
COMMENT ON FUNCTION tracelink.confirm_revision(text, text) IS
    'a participant of a process confirms its revision; when all have, the creator''s node starts the vote';

-- Views

CREATE VIEW tracelink.links AS
SELECT l.link_id, l.name, l.creator, l.status, l.active_version, l.process_order, l.info, l.voting,
       tracelink._participants(l.link_id) AS participants,
       (SELECT p.proposal_id FROM tracelink.proposals p WHERE p.link_id = l.link_id AND p.status = 'open'
         ORDER BY p.version DESC LIMIT 1) AS open_proposal
  FROM tracelink.trace_links l;
COMMENT ON VIEW tracelink.links IS 'trace links with their status, active version, participants and open vote';

CREATE VIEW tracelink.link_versions AS
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

CREATE VIEW tracelink.pending_invitations AS
SELECT l.name AS link, i.process, l.creator, i.link_id
  FROM tracelink.link_invitations i JOIN tracelink.trace_links l USING (link_id)
 WHERE i.node = tracelink.node_name() AND i.status = 'pending';
COMMENT ON VIEW tracelink.pending_invitations IS 'invitations to this node that await its answer';

CREATE VIEW tracelink.open_ballots AS
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

-- What waits for this node, in one place; tracelink_pending tells when
-- something starts waiting (tracelink._notify_pending).
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

-- The workflow's part of the shared state (state_digest(), sqlsrc/90_state.sql)
CREATE FUNCTION tracelink._workflow_state() RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
SELECT jsonb_build_object(
    'links', (SELECT coalesce(jsonb_agg(jsonb_build_array(encode(link_id, 'hex'), name, creator, status,
                                                          active_version, process_order, voting)
                                        ORDER BY link_id), '[]')
                FROM tracelink.trace_links),
    'invitations', (SELECT coalesce(jsonb_agg(jsonb_build_array(encode(link_id, 'hex'), process, node, status)
                                              ORDER BY link_id, process, node), '[]')
                      FROM tracelink.link_invitations),
    'processes', (SELECT coalesce(jsonb_agg(jsonb_build_array(encode(link_id, 'hex'), process,
                                                              encode(tracelink.digest(definition), 'hex'),
                                                              submitted_by, revision)
                                            ORDER BY link_id, process), '[]')
                    FROM tracelink.link_processes),
    'proposals', (SELECT coalesce(jsonb_agg(jsonb_build_array(encode(proposal_id, 'hex'), version, scope,
                                                              status, approvals, rejections, threshold)
                                            ORDER BY proposal_id), '[]')
                    FROM tracelink.proposals),
    'ballots', (SELECT coalesce(jsonb_agg(jsonb_build_array(encode(proposal_id, 'hex'), voter, approve)
                                          ORDER BY proposal_id, voter), '[]')
                  FROM tracelink.ballots),
    'versions', (SELECT coalesce(jsonb_agg(jsonb_build_array(encode(link_id, 'hex'), version, status,
                                                             encode(digest, 'hex'))
                                           ORDER BY link_id, version), '[]')
                   FROM tracelink.link_version_history),
    'modifications', (SELECT coalesce(jsonb_agg(jsonb_build_array(encode(modification_id, 'hex'), process,
                                                                  status, confirmed_by)
                                                ORDER BY modification_id), '[]')
                        FROM tracelink.modifications))
$$;
COMMENT ON FUNCTION tracelink._workflow_state() IS
    'the workflow''s part of the state state_digest() hashes: links, invitations, processes, proposals, ballots, versions, modifications';

GRANT SELECT ON tracelink.trace_links, tracelink.link_invitations, tracelink.link_processes,
                tracelink.proposals, tracelink.ballots, tracelink.link_version_history,
                tracelink.modifications, tracelink.links, tracelink.link_versions,
                tracelink.pending_invitations, tracelink.open_ballots, tracelink.pending_actions TO tracelink_reader;
GRANT EXECUTE ON FUNCTION tracelink.link_id(text), tracelink._required(anyelement, text),
                 tracelink._participants(bytea, text), tracelink._workflow_state() TO tracelink_reader;
GRANT EXECUTE ON FUNCTION tracelink._append_action(text, jsonb, bytea[]),
                 tracelink.request_link(text, text[], jsonb, jsonb, jsonb, jsonb),
                 tracelink.reply_invitation(text, text, boolean, text),
                 tracelink.reinvite(text, text, text[]),
                 tracelink.submit_process(text, tracelink.process, text),
                 tracelink._fill_creators(tracelink.process, tracelink.process, text),
                 tracelink.submit_process_from_template(text, text, text, jsonb),
                 tracelink.assemble(text),
                 tracelink.request_modification(text, text, text, text[]),
                 tracelink.confirm_revision(text, text),
                 tracelink._proposed_definition(bytea, text, text[]),
                 tracelink._touches_key_forms(tracelink.process, tracelink.process)
    TO tracelink_member;
