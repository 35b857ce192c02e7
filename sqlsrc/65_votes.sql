-- Votes on link versions: eligibility, thresholds, proposals, the ballot
-- tally, closing early, and the outcome (docs/workflow.md).  All the vote
-- rules are here, in one language, so that a rule that must give the same
-- answer on every node is read in one place; the API functions only shape
-- payloads and append them (sqlsrc/60_workflow.sql, _append_action in
-- src/workflow.c), and the projectors below (run by src/project.c as the
-- extension's owner, on the writing node and on every receiver) decide.
--
-- A proposal fixes its eligible voters, rule and threshold when it is made.
-- Each ballot is tallied as it takes effect, in O(1): the proposal row is
-- locked, the ballot inserted (the first ballot of a voter counts; a
-- voter's ballots reach every node in the order of the voter's chain, so
-- "first" is the same everywhere), and the counters moved.  The proposal
-- passes as soon as approvals reach the threshold and fails as soon as they
-- no longer can; both are final, so the outcome depends only on the set of
-- ballots.  Ballots cast after the decision are still recorded (they change
-- nothing), so that every node ends with the same ballots whatever the
-- arrival order.
--
-- Closing early: the creator's close names, as its dependencies, the
-- ballots it has seen; the vote is decided on exactly those, missing
-- ballots counting as rejections.  A ballot the creator had not seen is
-- late, on every node: refused if it comes after the close, withdrawn if it
-- came before (and a decision it caused is undone: the close overrules it).

-- Approvals a rule needs among n voters.  The rule is read as canonical
-- JSON first (tracelink.jcs), so that it meets the size and depth limits of
-- every JSON tracelink reads (54000, 54001); a parameter the rule does not
-- take is refused, as link validation refuses it (TL012), so that no rule
-- means one thing here and is refused there; parameters are reported in
-- canonical (JCS) key order.
CREATE FUNCTION tracelink.vote_threshold(rule jsonb, voters integer) RETURNS integer
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r text;
    takes text[];
    extra text;
    num bigint;
    den bigint;
    k bigint;
BEGIN
    PERFORM tracelink.jcs(rule);
    IF voters < 1 THEN
        RAISE EXCEPTION 'a vote needs at least one voter' USING ERRCODE = 'TL012';
    END IF;
    IF jsonb_typeof(rule) IS DISTINCT FROM 'object' OR jsonb_typeof(rule->'rule') IS DISTINCT FROM 'string' THEN
        RAISE EXCEPTION 'voting rule must be an object with a "rule" name' USING ERRCODE = 'TL012',
            HINT = 'Rules: unanimous, majority, fraction (numerator, denominator), k_of_n (k).';
    END IF;
    r := rule->>'rule';
    takes := CASE r WHEN 'fraction' THEN ARRAY['numerator', 'denominator']
                    WHEN 'k_of_n' THEN ARRAY['k']
                    WHEN 'unanimous' THEN ARRAY[]::text[]
                    WHEN 'majority' THEN ARRAY[]::text[] END;
    IF takes IS NOT NULL THEN
        SELECT key INTO extra FROM jsonb_object_keys(rule) key
         WHERE key <> 'rule' AND NOT key = ANY (takes)
         ORDER BY key COLLATE "C" LIMIT 1;
        IF extra IS NOT NULL THEN
            RAISE EXCEPTION 'voting rule "%" takes no parameter "%"', r, extra USING ERRCODE = 'TL012';
        END IF;
    END IF;
    CASE r
    WHEN 'unanimous' THEN
        RETURN voters;
    WHEN 'majority' THEN
        RETURN voters / 2 + 1;
    WHEN 'fraction' THEN
        num := tracelink._vote_rule_integer(rule, 'numerator');
        den := tracelink._vote_rule_integer(rule, 'denominator');
        IF num > den THEN
            RAISE EXCEPTION 'a fraction rule needs numerator <= denominator' USING ERRCODE = 'TL012';
        END IF;
        -- at least num/den of the voters, rounded up
        RETURN greatest(1, (voters * num + den - 1) / den);
    WHEN 'k_of_n' THEN
        k := tracelink._vote_rule_integer(rule, 'k');
        IF k > voters THEN
            RAISE EXCEPTION 'a k_of_n rule with k = % cannot be met by % %', k, voters,
                            CASE WHEN voters = 1 THEN 'voter' ELSE 'voters' END
                USING ERRCODE = 'TL012';
        END IF;
        RETURN k;
    ELSE
        RAISE EXCEPTION 'unknown voting rule "%"', r USING ERRCODE = 'TL012',
            HINT = 'Rules: unanimous, majority, fraction (numerator, denominator), k_of_n (k).';
    END CASE;
END
$$;
COMMENT ON FUNCTION tracelink.vote_threshold(jsonb, integer) IS
    'approvals a rule needs among this many voters: unanimous = all, majority = more than half, fraction n/d = at least that share (rounded up), k_of_n = k';

-- A rule's parameter: a positive integer that fits in an int4, read as
-- canonical JSON reads numbers (a double: 2.0 is 2).
CREATE FUNCTION tracelink._vote_rule_integer(rule jsonb, key text) RETURNS bigint
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v double precision;
BEGIN
    IF jsonb_typeof(rule->key) = 'number' THEN
        v := (rule->>key)::double precision;
        IF v = floor(v) AND v >= 1 AND v <= 2147483647 THEN
            RETURN v::bigint;
        END IF;
    END IF;
    RAISE EXCEPTION 'voting rule needs a positive integer "%"', key USING ERRCODE = 'TL012';
END
$$;
COMMENT ON FUNCTION tracelink._vote_rule_integer(jsonb, text) IS
    'a parameter of a voting rule (numerator, denominator, k): a positive integer, or TL012';

-- The proposal that puts a link version to the vote, as this node's state
-- gives it: the payload of the tl.link.proposal entry and the entries it
-- rests on.  _propose appends it; the proposal's projector recomputes it on
-- the node that makes it, so that a proposal appended any other way must be
-- the same.
CREATE FUNCTION tracelink._proposal(p_link bytea, p_purpose text, p_process text,
                                    p_modification bytea, p_order text[],
                                    OUT payload jsonb, OUT deps bytea[])
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    lnk tracelink.trace_links;
    def tracelink.link;
    voters text[];
    scope text := 'global';
    rule jsonb;
    old_def tracelink.process;
    new_def tracelink.process;
BEGIN
    SELECT * INTO lnk FROM tracelink.trace_links WHERE link_id = p_link;
    def := tracelink._proposed_definition(p_link, p_process, p_order);
    PERFORM tracelink.validate_strict(def);
    PERFORM count(*) FROM tracelink.mesh(def);
    IF p_purpose = 'modification' AND p_process IS NOT NULL AND p_order IS NULL THEN
        SELECT tracelink.process(h.definition, p_process) INTO old_def
          FROM tracelink.link_version_history h
         WHERE h.link_id = p_link AND h.version = lnk.active_version;
        new_def := tracelink.process(def, p_process);
        IF NOT tracelink._touches_key_forms(old_def, new_def) THEN
            scope := 'local';
        END IF;
    END IF;
    IF scope = 'local' THEN
        voters := tracelink._participants(p_link, p_process);
    ELSE
        SELECT array_agg(DISTINCT v ORDER BY v) INTO voters
          FROM unnest(tracelink._participants(p_link) || lnk.creator) v;
    END IF;
    rule := CASE p_purpose WHEN 'adoption' THEN lnk.voting->'adoption' ELSE lnk.voting->'modification' END;
    -- what the vote rests on: the request, invitations and answers, the
    -- processes proposed, the modification and its confirmations, and the
    -- ballots of earlier votes
    SELECT array_agg(DISTINCT h) INTO deps FROM (
        SELECT p_link AS h
        UNION SELECT i.reply_entry FROM tracelink.link_invitations i
               WHERE i.link_id = p_link AND i.reply_entry IS NOT NULL
        UNION SELECT i.invite_entry FROM tracelink.link_invitations i WHERE i.link_id = p_link
        UNION SELECT w.entry_hash FROM tracelink.link_processes w WHERE w.link_id = p_link
        UNION SELECT p.proposal_id FROM tracelink.proposals p WHERE p.link_id = p_link
        UNION SELECT p.close_entry FROM tracelink.proposals p WHERE p.link_id = p_link AND p.close_entry IS NOT NULL
        UNION SELECT b.entry_hash FROM tracelink.ballots b JOIN tracelink.proposals p USING (proposal_id)
               WHERE p.link_id = p_link
        UNION SELECT p_modification WHERE p_modification IS NOT NULL) x
     WHERE h IS NOT NULL;
    payload := jsonb_build_object(
        'link', encode(p_link, 'hex'),
        'version', coalesce(lnk.active_version, 0) + 1,
        'purpose', p_purpose, 'scope', scope, 'process', p_process,
        'modification', encode(p_modification, 'hex'),
        'definition', def::jsonb, 'digest', encode(tracelink.digest(def), 'hex'),
        'rule', rule, 'voters', to_jsonb(voters),
        'threshold', tracelink.vote_threshold(rule, cardinality(voters)));
END
$$;
COMMENT ON FUNCTION tracelink._proposal(bytea, text, text, bytea, text[]) IS
    'the payload and dependencies of the proposal this node''s state gives for a link (validated, mesh built, threshold computed)';

-- Put a link version to the vote (the creator's node only).
CREATE FUNCTION tracelink._propose(p_link bytea, p_purpose text, p_process text,
                                   p_modification bytea, p_order text[])
    RETURNS bytea LANGUAGE sql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
    RETURN (SELECT tracelink._append_action('tl.link.proposal', p.payload, p.deps)
              FROM tracelink._proposal(p_link, p_purpose, p_process, p_modification, p_order) p);
COMMENT ON FUNCTION tracelink._propose(bytea, text, text, bytea, text[]) IS
    'appends the proposal tracelink._proposal() gives: opens a vote on a link version';

CREATE FUNCTION tracelink._project_proposal(origin text, payload jsonb, entry_hash bytea, deps bytea[], local boolean)
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

-- The outcome of a vote (called by the tally below).
CREATE FUNCTION tracelink._decide(p_proposal bytea, p_passed boolean) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    prop tracelink.proposals;
    lnk tracelink.trace_links;
BEGIN
    SELECT * INTO prop FROM tracelink.proposals WHERE proposal_id = p_proposal;
    SELECT * INTO lnk FROM tracelink.trace_links WHERE link_id = prop.link_id;
    UPDATE tracelink.proposals SET status = CASE WHEN p_passed THEN 'passed' ELSE 'failed' END
     WHERE proposal_id = p_proposal;
    IF p_passed THEN
        UPDATE tracelink.link_version_history SET status = 'superseded'
         WHERE link_id = prop.link_id AND status = 'active';
        INSERT INTO tracelink.link_version_history (link_id, version, proposal_id, definition, digest, status)
        VALUES (prop.link_id, prop.version, p_proposal, prop.definition, prop.digest, 'active');
        UPDATE tracelink.trace_links
           SET status = 'active', active_version = prop.version,
               process_order = tracelink.process_order(prop.definition)
         WHERE link_id = prop.link_id;
        UPDATE tracelink.modifications SET status = 'passed' WHERE proposal_id = p_proposal;
        -- the working definitions are now the adopted ones
        UPDATE tracelink.link_processes w SET definition = tracelink.process(prop.definition, w.process)
         WHERE w.link_id = prop.link_id;
    ELSE
        UPDATE tracelink.trace_links
           SET status = CASE WHEN lnk.active_version IS NULL THEN 'designing' ELSE 'active' END
         WHERE link_id = prop.link_id;
        UPDATE tracelink.modifications SET status = 'failed' WHERE proposal_id = p_proposal;
        IF lnk.active_version IS NOT NULL THEN
            UPDATE tracelink.link_processes w
               SET definition = tracelink.process(h.definition, w.process)
              FROM tracelink.link_version_history h
             WHERE w.link_id = prop.link_id AND h.link_id = w.link_id AND h.version = lnk.active_version;
        END IF;
    END IF;
    -- ids only: any login that connects here can LISTEN (docs/workflow.md)
    PERFORM pg_notify('tracelink_link',
                      jsonb_build_object('link', encode(prop.link_id, 'hex'),
                                         'proposal', encode(p_proposal, 'hex'))::text);
END
$$;
COMMENT ON FUNCTION tracelink._decide(bytea, boolean) IS
    'records the outcome of a vote (called by the ballot and close projectors): a passed vote makes its version active';

-- Undo a decision that a close of the vote overrules (_project_close_vote).
CREATE FUNCTION tracelink._undecide(p_proposal bytea) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    prop tracelink.proposals;
    previous integer;
BEGIN
    SELECT * INTO prop FROM tracelink.proposals WHERE proposal_id = p_proposal;
    IF prop.status = 'passed' THEN
        DELETE FROM tracelink.link_version_history WHERE link_id = prop.link_id AND version = prop.version;
        SELECT max(version) INTO previous FROM tracelink.link_version_history WHERE link_id = prop.link_id;
        UPDATE tracelink.link_version_history SET status = 'active'
         WHERE link_id = prop.link_id AND version = previous;
        UPDATE tracelink.trace_links l
           SET active_version = previous,
               process_order = coalesce((SELECT tracelink.process_order(h.definition)
                                           FROM tracelink.link_version_history h
                                          WHERE h.link_id = l.link_id AND h.version = previous),
                                        l.process_order)
         WHERE l.link_id = prop.link_id;
    END IF;
    UPDATE tracelink.proposals SET status = 'open' WHERE proposal_id = p_proposal;
    UPDATE tracelink.trace_links SET status = 'voting' WHERE link_id = prop.link_id;
    UPDATE tracelink.modifications SET status = 'voting' WHERE proposal_id = p_proposal;
END
$$;
COMMENT ON FUNCTION tracelink._undecide(bytea) IS
    'reopens a vote whose decision a close overrules (_project_close_vote), restoring the version active before it';

-- The proposal a ballot or close names, which it must list among its
-- dependencies: that keeps every node from judging it before the proposal
-- has taken effect there.
CREATE FUNCTION tracelink._vote_proposal(payload jsonb, deps bytea[]) RETURNS bytea
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    proposal bytea;
BEGIN
    IF jsonb_typeof(payload->'proposal') IS DISTINCT FROM 'string'
       OR octet_length(payload->>'proposal') <> 64 THEN
        RAISE EXCEPTION 'a ballot names its proposal by its 32-byte hash' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    proposal := decode(payload->>'proposal', 'hex');
    IF proposal = ANY (deps) IS NOT TRUE THEN
        RAISE EXCEPTION 'a ballot or close must depend on the proposal it names' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN proposal;
END
$$;
COMMENT ON FUNCTION tracelink._vote_proposal(jsonb, bytea[]) IS
    'the proposal a ballot or close names, which must be among its dependencies';

-- A proposal, locked for the tally, with its link's name and creator.
CREATE FUNCTION tracelink._vote_lock(p_proposal bytea, OUT prop tracelink.proposals,
                                     OUT link_name text, OUT creator text)
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    SELECT l.name, l.creator INTO link_name, creator
      FROM tracelink.proposals p JOIN tracelink.trace_links l USING (link_id)
     WHERE p.proposal_id = p_proposal FOR UPDATE OF p;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown proposal' USING ERRCODE = 'undefined_object';
    END IF;
    SELECT * INTO prop FROM tracelink.proposals p WHERE p.proposal_id = p_proposal;
END
$$;
COMMENT ON FUNCTION tracelink._vote_lock(bytea) IS
    'locks a proposal for the tally and reads it, with its link''s name and creator';

CREATE FUNCTION tracelink._project_ballot(origin text, payload jsonb, entry_hash bytea, deps bytea[], local boolean)
    RETURNS void LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    proposal bytea := tracelink._vote_proposal(payload, deps);
    approve boolean;
    v record;
    approvals integer;
    rejections integer;
BEGIN
    IF jsonb_typeof(payload->'approve') IS DISTINCT FROM 'boolean' THEN
        RAISE EXCEPTION 'a ballot must approve (true) or reject (false)' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    approve := (payload->'approve')::boolean;
    SELECT * INTO v FROM tracelink._vote_lock(proposal);
    IF NOT origin = ANY ((v.prop).voters) THEN
        RAISE EXCEPTION 'node "%" is not an eligible voter on this proposal for link "%"', origin, v.link_name
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (v.prop).close_entry IS NOT NULL THEN
        RAISE EXCEPTION 'the vote on this proposal for link "%" was closed', v.link_name
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF local AND (v.prop).status <> 'open' THEN
        RAISE EXCEPTION 'the vote on this proposal for link "%" is already decided (%)', v.link_name, (v.prop).status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    INSERT INTO tracelink.ballots (proposal_id, voter, approve, reason, entry_hash)
    VALUES (proposal, origin, approve,
            CASE WHEN jsonb_typeof(payload->'reason') = 'string' THEN payload->>'reason' END, entry_hash)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'node "%" already voted on this proposal for link "%"', origin, v.link_name
            USING ERRCODE = 'unique_violation', DETAIL = 'Only a voter''s first ballot counts.';
    END IF;
    UPDATE tracelink.proposals p
       SET approvals = p.approvals + approve::integer, rejections = p.rejections + 1 - approve::integer
     WHERE p.proposal_id = proposal
    RETURNING p.approvals, p.rejections INTO approvals, rejections;
    -- decided as soon as it is certain, and only once
    IF (v.prop).status = 'open' THEN
        IF approvals >= (v.prop).threshold THEN
            PERFORM tracelink._decide(proposal, true);
        ELSIF approvals + (cardinality((v.prop).voters) - approvals - rejections) < (v.prop).threshold THEN
            PERFORM tracelink._decide(proposal, false);
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION tracelink._project_ballot(text, jsonb, bytea, bytea[], boolean) IS
    'projector of tl.link.ballot: records an eligible voter''s first ballot and decides the vote as soon as the outcome is certain';

CREATE FUNCTION tracelink._project_close_vote(origin text, payload jsonb, entry_hash bytea, deps bytea[], local boolean)
    RETURNS void LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    proposal bytea := tracelink._vote_proposal(payload, deps);
    v record;
    approvals integer;
BEGIN
    SELECT * INTO v FROM tracelink._vote_lock(proposal);
    IF origin <> v.creator THEN
        RAISE EXCEPTION 'only the creator of link "%" (%) can close its vote', v.link_name, v.creator
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (v.prop).close_entry IS NOT NULL THEN
        RAISE EXCEPTION 'the vote on this proposal for link "%" is already closed', v.link_name
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF local AND (v.prop).status <> 'open' THEN
        RAISE EXCEPTION 'the vote on this proposal for link "%" is already decided (%)', v.link_name, (v.prop).status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    -- a decision taken on ballots the creator had not seen is overruled
    IF (v.prop).status <> 'open' THEN
        PERFORM tracelink._undecide(proposal);
    END IF;
    -- ballots the creator had not seen are late: withdrawn
    WITH late AS (DELETE FROM tracelink.ballots b
                   WHERE b.proposal_id = proposal AND NOT b.entry_hash = ANY (deps)
                  RETURNING b.*)
    INSERT INTO tracelink.quarantine (what, origin, entry_hash, reason, row_data)
    SELECT 'effect', late.voter, late.entry_hash,
           'ballot arrived after the creator closed the vote', to_jsonb(late)
      FROM late;
    UPDATE tracelink.proposals p
       SET approvals = (SELECT count(*) FILTER (WHERE b.approve) FROM tracelink.ballots b
                         WHERE b.proposal_id = p.proposal_id),
           rejections = (SELECT count(*) FILTER (WHERE NOT b.approve) FROM tracelink.ballots b
                          WHERE b.proposal_id = p.proposal_id),
           close_entry = entry_hash
     WHERE p.proposal_id = proposal
    RETURNING p.approvals INTO approvals;
    -- missing ballots count as rejections
    PERFORM tracelink._decide(proposal, approvals >= (v.prop).threshold);
END
$$;
COMMENT ON FUNCTION tracelink._project_close_vote(text, jsonb, bytea, bytea[], boolean) IS
    'projector of tl.link.close_vote: the creator decides the vote on the ballots it has seen; later ones are withdrawn';

CREATE FUNCTION tracelink.vote(proposal bytea, approve boolean, reason text DEFAULT NULL)
    RETURNS bytea LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
    RETURN tracelink._append_action('tl.link.ballot', jsonb_build_object(
        'proposal', encode(tracelink._required(proposal, 'proposal'), 'hex'),
        'approve', tracelink._required(approve, 'approve'), 'reason', reason), ARRAY[proposal]);
COMMENT ON FUNCTION tracelink.vote(bytea, boolean, text) IS
    'this node''s ballot on a proposal (only the first ballot of each eligible voter counts)';

CREATE FUNCTION tracelink.close_vote(proposal bytea) RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM tracelink._required(proposal, 'proposal');
    PERFORM tracelink._append_action('tl.link.close_vote',
        jsonb_build_object('proposal', encode(proposal, 'hex')),
        ARRAY[proposal] || (SELECT coalesce(array_agg(b.entry_hash), '{}') FROM tracelink.ballots b
                             WHERE b.proposal_id = proposal));
    RETURN (SELECT p.status FROM tracelink.proposals p WHERE p.proposal_id = proposal);
END
$$;
COMMENT ON FUNCTION tracelink.close_vote(bytea) IS
    'the creator closes a vote early: it is decided on the ballots cast so far, missing ballots counting as rejections; returns the outcome';

GRANT EXECUTE ON FUNCTION tracelink.vote_threshold(jsonb, integer) TO tracelink_reader;
GRANT EXECUTE ON FUNCTION tracelink.vote(bytea, boolean, text), tracelink.close_vote(bytea),
                 tracelink._proposal(bytea, text, text, bytea, text[]),
                 tracelink._propose(bytea, text, text, bytea, text[])
    TO tracelink_member;
