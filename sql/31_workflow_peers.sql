-- The workflow as a receiving node sees it: a link created by a peer, in
-- which alpha builds one process.  Every entry of the simulated peers
-- (sql/include/sim_nodes.sql) goes through the
-- replication apply path; a refused one stays in the ledger and its effect
-- is quarantined with the reason.  Receivers judge an entry only by its
-- causal past (its dependencies and its origin's earlier entries), so
-- refusals based on the link's status apply to local callers only.
\set ECHO none
\i sql/include/node_alpha.sql
\i sql/include/sim_beta_gamma.sql
\set ECHO all
SELECT * FROM sim_node('delta');
SELECT * FROM sim_node('epsilon');
SELECT coalesce(max(id), 0) AS q0 FROM tracelink.quarantine \gset
CREATE VIEW new_quarantine AS
SELECT what, origin, reason FROM tracelink.quarantine WHERE id > :q0 ORDER BY id;

--
-- beta requests "Harbour": alpha builds Fishing, gamma and delta Landing
--
SELECT entry_hash AS harbour, lines AS request FROM sim_action('beta', 'tl.link.request', '{
    "name": "Harbour", "info": {"product": "tuna"}, "creator": "beta",
    "process_order": ["Fishing", "Landing"],
    "invitations": {"Fishing": ["alpha"], "Landing": ["gamma", "delta"]},
    "voting": {"adoption": {"rule": "majority"}, "modification": {"rule": "unanimous"}}}') \gset
SELECT * FROM tracelink.ingest(:'request');
SELECT name, creator, status, process_order, voting FROM tracelink.links WHERE link_id = :'harbour';
SELECT link, process, creator FROM tracelink.pending_invitations WHERE link_id = :'harbour';

-- what only the creator may do
SELECT err($$ SELECT tracelink.assemble('Harbour') $$);
SELECT err($$ SELECT tracelink.reinvite('Harbour', 'Landing', ARRAY['epsilon']) $$);
SELECT err($$ SELECT tracelink.request_modification('Harbour', 'Fishing') $$);

-- answers, processes
SELECT tracelink.reply_invitation('Harbour', 'Fishing', true) IS NOT NULL AS accepted;
-- an action must depend on the entries it relies on, or every node refuses
-- it: an answer that does not name its invitation
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_action('gamma', 'tl.link.reply',
    jsonb_build_object('link', encode(:'harbour', 'hex'), 'process', 'Landing', 'accept', true, 'reason', NULL))));
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_reply('gamma', :'harbour', 'Landing', true)));
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_reply('delta', :'harbour', 'Landing', true)));
-- epsilon was not invited
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_reply('epsilon', :'harbour', 'Landing', true)));
SELECT * FROM new_quarantine;
SELECT participants FROM tracelink.links WHERE link_id = :'harbour';
SELECT tracelink.submit_process('Harbour', '{"name": "Fishing", "stages": [{"name": "Catch", "forms": [
    {"name": "Catch log", "key": true, "items": [{"name": "haul", "type": "text", "required": true, "trace_code": true}]}]}],
    "outputs": [{"name": "fish", "level": 3}]}') IS NOT NULL AS submitted;
-- a submission that does not name its builder's acceptance
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_action('gamma', 'tl.process.submit', jsonb_build_object(
    'link', encode(:'harbour', 'hex'), 'revision', 1, 'template', NULL,
    'definition', '{"name": "Landing", "node": "gamma", "stages": []}'::jsonb), ARRAY[:'harbour'::bytea])));
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_submit('gamma', :'harbour', jsonb_build_object(
    'link', encode(:'harbour', 'hex'), 'revision', 1, 'template', NULL,
    'definition', '{"name": "Landing", "node": "gamma", "stages": [{"name": "Quay", "forms": [
        {"name": "Landing slip", "key": true, "items": [{"name": "crate", "type": "text", "required": true, "trace_code": true}]},
        {"name": "Weather", "items": [{"name": "wind", "type": "numeric"}]}]}],
        "inputs": [{"name": "fish", "from": "Fishing", "output": "fish", "level": 3}]}'::jsonb),
    ARRAY[:'harbour'::bytea])));
-- a process definition names its builder: delta cannot submit it as gamma's
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_submit('delta', :'harbour', jsonb_build_object(
    'link', encode(:'harbour', 'hex'), 'revision', 9, 'template', NULL,
    'definition', '{"name": "Landing", "node": "gamma", "stages": []}'::jsonb), ARRAY[:'harbour'::bytea])));
SELECT * FROM new_quarantine;
SELECT process, submitted_by, revision FROM tracelink.link_processes WHERE link_id = :'harbour' ORDER BY process;

--
-- beta opens the vote (its proposal is what alpha's state gives, since
-- alpha holds everything beta saw); delta's ballot arrives first and waits
--
SELECT entry_hash AS p1, lines AS p1_lines
  FROM tracelink._proposal(:'harbour', 'adoption', NULL, NULL, NULL) p, sim_action('beta', 'tl.link.proposal', p.payload, p.deps) \gset
SELECT entry_hash AS b_delta, lines AS b_delta_lines FROM sim_vote('delta', :'p1', true) \gset
SELECT * FROM tracelink.ingest(:'b_delta_lines');
SELECT count(*) AS waiting, bool_and(q.waiting_for = ARRAY[:'p1'::bytea]) AS for_the_proposal
  FROM tracelink.apply_queue q WHERE q.entry_hash = :'b_delta';
SELECT * FROM tracelink.ingest(:'p1_lines');
SELECT count(*) AS waiting FROM tracelink.apply_queue;
SELECT version, purpose, scope, status, rule, threshold, approvals, voters
  FROM tracelink.link_versions WHERE proposal_id = :'p1';
SELECT link, version, purpose FROM tracelink.open_ballots WHERE proposal_id = :'p1';
SELECT err(format('SELECT tracelink.close_vote(%L)', :'p1'));

-- while the vote is open alpha may not revise its process, but a peer's
-- revision is applied: the status is not in that revision's causal past
SELECT err($$ SELECT tracelink.submit_process('Harbour', tracelink.process(definition, 'Fishing'))
                FROM tracelink.proposals WHERE link_id = tracelink.link_id('Harbour') $$);
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_submit('gamma', :'harbour', jsonb_build_object(
    'link', encode(:'harbour', 'hex'), 'revision', 2, 'template', NULL,
    'definition', '{"name": "Landing", "node": "gamma", "description": "revised during the vote", "stages": [{"name": "Quay", "forms": [
        {"name": "Landing slip", "key": true, "items": [{"name": "crate", "type": "text", "required": true, "trace_code": true}]}]}],
        "inputs": [{"name": "fish", "from": "Fishing", "output": "fish", "level": 3}]}'::jsonb),
    ARRAY[:'harbour'::bytea])));
SELECT process, revision FROM tracelink.link_processes WHERE link_id = :'harbour' ORDER BY process;

-- ballots: gamma twice (only its first counts), epsilon (not a voter)
SELECT entry_hash AS b_gamma, lines AS b_gamma_lines FROM sim_vote('gamma', :'p1', true) \gset
SELECT * FROM tracelink.ingest(:'b_gamma_lines');
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_vote('gamma', :'p1', false)));
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_vote('epsilon', :'p1', true)));
SELECT * FROM new_quarantine;
SELECT status, approvals, rejections, missing, ballots FROM tracelink.link_versions WHERE proposal_id = :'p1';

-- alpha's approval is the third of four: majority, version 1 is active here
SELECT tracelink.vote(:'p1', true) AS b_alpha \gset
SELECT status, approvals, ballots FROM tracelink.link_versions WHERE proposal_id = :'p1';
SELECT status, active_version FROM tracelink.links WHERE link_id = :'harbour';

-- but beta closed the vote having seen delta's and gamma's ballots only:
-- the close wins, alpha's ballot is late and withdrawn, the decision is
-- taken again on what beta saw (2 of 3 needed): failed
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_action('beta', 'tl.link.close_vote',
    jsonb_build_object('proposal', encode(:'p1', 'hex')), ARRAY[:'p1'::bytea, :'b_delta'::bytea, :'b_gamma'::bytea])));
SELECT status, approvals, rejections, missing, ballots, closed_early FROM tracelink.link_versions WHERE proposal_id = :'p1';
SELECT status, active_version FROM tracelink.links WHERE link_id = :'harbour';
SELECT count(*) AS versions FROM tracelink.link_version_history WHERE link_id = :'harbour';
SELECT q.what, q.origin, q.reason, q.entry_hash = :'b_alpha'::bytea AS alpha_ballot
  FROM tracelink.quarantine q WHERE q.id > :q0 AND q.origin = 'alpha';
SELECT err(format('SELECT tracelink.vote(%L, true)', :'p1'));

--
-- The second vote reuses version number 1 and passes
--
SELECT entry_hash AS p2, lines AS p2_lines
  FROM tracelink._proposal(:'harbour', 'adoption', NULL, NULL, NULL) p, sim_action('beta', 'tl.link.proposal', p.payload, p.deps) \gset
SELECT * FROM tracelink.ingest(:'p2_lines');
SELECT tracelink.vote(:'p2', true) IS NOT NULL AS voted;
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_vote('gamma', :'p2', true)));
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_vote('delta', :'p2', true)));
-- a ballot after the decision is recorded and changes nothing
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_vote('beta', :'p2', false)));
SELECT version, status, approvals, rejections, ballots FROM tracelink.link_versions WHERE link_id = :'harbour' ORDER BY proposal_id = :'p2';
SELECT status, active_version FROM tracelink.links WHERE link_id = :'harbour';
SELECT version, status FROM tracelink.link_version_history WHERE link_id = :'harbour';

--
-- beta asks for a key-form change of Landing: gamma and delta confirm
--
-- (a request that does not name the adopted version it modifies is refused)
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_action('beta', 'tl.link.modify',
    jsonb_build_object('link', encode(:'harbour', 'hex'), 'process', 'Landing', 'reason', 'no version named', 'process_order', NULL),
    ARRAY[:'harbour'::bytea])));
SELECT * FROM new_quarantine WHERE reason LIKE '%must depend%';
SELECT entry_hash AS m1, lines AS m1_lines FROM sim_action('beta', 'tl.link.modify',
    jsonb_build_object('link', encode(:'harbour', 'hex'), 'process', 'Landing', 'reason', 'crates get seals', 'process_order', NULL),
    ARRAY[:'harbour'::bytea, :'p1'::bytea, :'p2'::bytea]) \gset
SELECT * FROM tracelink.ingest(:'m1_lines');
SELECT status FROM tracelink.links WHERE link_id = :'harbour';
SELECT process, reason, status, confirmed_by FROM tracelink.modifications WHERE modification_id = :'m1';
SELECT err($$ SELECT tracelink.confirm_revision('Harbour', 'Landing') $$);
SELECT err($$ SELECT tracelink.confirm_revision('Harbour', 'Fishing') $$);
SELECT err($$ SELECT tracelink.submit_process('Harbour', tracelink.process(definition, 'Fishing'))
                FROM tracelink.link_version_history WHERE link_id = tracelink.link_id('Harbour') $$);
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_submit('gamma', :'harbour', jsonb_build_object(
    'link', encode(:'harbour', 'hex'), 'revision', 3, 'template', NULL,
    'definition', '{"name": "Landing", "node": "gamma", "stages": [{"name": "Quay", "forms": [
        {"name": "Landing slip", "key": true, "items": [{"name": "crate", "type": "text", "required": true, "trace_code": true},
                                                        {"name": "seal", "type": "text", "required": true}]}]}],
        "inputs": [{"name": "fish", "from": "Fishing", "output": "fish", "level": 3}]}'::jsonb),
    ARRAY[:'m1'::bytea])));
-- a confirmation that does not name the request it confirms is refused
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_action('gamma', 'tl.process.confirm', jsonb_build_object(
    'link', encode(:'harbour', 'hex'), 'process', 'Landing', 'modification', encode(:'m1', 'hex')), ARRAY[:'harbour'::bytea])));
-- confirmations arrive gamma first, delta second; every node lists them sorted
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_action('gamma', 'tl.process.confirm', jsonb_build_object(
    'link', encode(:'harbour', 'hex'), 'process', 'Landing', 'modification', encode(:'m1', 'hex')), ARRAY[:'m1'::bytea])));
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_action('delta', 'tl.process.confirm', jsonb_build_object(
    'link', encode(:'harbour', 'hex'), 'process', 'Landing', 'modification', encode(:'m1', 'hex')), ARRAY[:'m1'::bytea])));
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_action('delta', 'tl.process.confirm', jsonb_build_object(
    'link', encode(:'harbour', 'hex'), 'process', 'Landing', 'modification', encode(:'m1', 'hex')), ARRAY[:'m1'::bytea])));
SELECT * FROM new_quarantine;
SELECT status, confirmed_by FROM tracelink.modifications WHERE modification_id = :'m1';

-- beta puts the key-form change to a local vote of Landing's builders:
-- refused everywhere, it needs a global vote
SELECT entry_hash AS p3_local, lines AS p3_local_lines
  FROM tracelink._proposal(:'harbour', 'modification', 'Landing', :'m1', NULL) p,
       sim_action('beta', 'tl.link.proposal',
                  p.payload || '{"scope": "local", "voters": ["delta", "gamma"], "threshold": 2}', p.deps) \gset
SELECT * FROM tracelink.ingest(:'p3_local_lines');
SELECT * FROM new_quarantine;
SELECT count(*) AS proposals FROM tracelink.proposals WHERE proposal_id = :'p3_local';
-- the global vote: unanimous among alpha, beta, delta, gamma
SELECT entry_hash AS p3, lines AS p3_lines
  FROM tracelink._proposal(:'harbour', 'modification', 'Landing', :'m1', NULL) p,
       sim_action('beta', 'tl.link.proposal', p.payload, p.deps) \gset
SELECT * FROM tracelink.ingest(:'p3_lines');
SELECT version, scope, process, rule, threshold, voters FROM tracelink.link_versions WHERE proposal_id = :'p3';
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_vote('beta', :'p3', true)));
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_vote('gamma', :'p3', true)));
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_vote('delta', :'p3', true)));
SELECT status, approvals, missing FROM tracelink.link_versions WHERE proposal_id = :'p3';
SELECT tracelink.vote(:'p3', true) IS NOT NULL AS voted;
SELECT version, status FROM tracelink.link_versions WHERE link_id = :'harbour' ORDER BY version, status;
SELECT status, active_version FROM tracelink.links WHERE link_id = :'harbour';
SELECT status FROM tracelink.modifications WHERE modification_id = :'m1';

--
-- A vote of many voters with long names opens: a NOTIFY payload must stay
-- under 8000 bytes, and tracelink_ballot carries ids only, never who votes
--
SELECT count(*) AS peers, sum(s.quarantined) AS quarantined
  FROM generate_series(1, 130) g, sim_node('crowd_' || lpad(g::text, 57, '0')) s;
SELECT tracelink.request_link('Crowd', ARRAY['P'],
           jsonb_build_object('P', (SELECT jsonb_agg(node ORDER BY node) FROM sim_chain WHERE node LIKE 'crowd%'))) AS crowd \gset
SELECT count(*) AS replies, sum(i.quarantined) AS quarantined
  FROM sim_chain c, sim_reply(c.node, :'crowd', 'P', true) r, tracelink.ingest(r.lines) i
 WHERE c.node LIKE 'crowd%';
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_submit('crowd_' || lpad('1', 57, '0'), :'crowd',
    jsonb_build_object('link', encode(:'crowd', 'hex'), 'revision', 1, 'template', NULL,
      'definition', jsonb_build_object('name', 'P', 'node', 'crowd_' || lpad('1', 57, '0'), 'stages', '[{"name": "S", "forms": [
          {"name": "F", "key": true, "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}]}]}]'::jsonb)),
    ARRAY[:'crowd'::bytea])));
SELECT tracelink.assemble('Crowd') AS crowd_vote \gset
SELECT cardinality(voters) AS voters, octet_length(array_to_string(voters, ',')) > 8000 AS names_exceed_a_notification, threshold
  FROM tracelink.proposals WHERE proposal_id = :'crowd_vote';

-- every peer's chain verifies
SELECT count(*) AS origins, bool_and(ok) AS all_ok FROM tracelink.verify();
DROP VIEW new_quarantine;
