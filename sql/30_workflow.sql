-- The consortium workflow on one node (docs/workflow.md): voting rules,
-- link design requests, the whole life of a link, every refusal of the API,
-- and the scope of a change.
--
-- The local node is "alpha", initialised by 20_ledger.sql.  A node may
-- invite itself, so alpha is both creator and participant; "beta" is a
-- simulated peer (sql/include/sim_nodes.sql) whose signed blocks are built
-- here and applied with tracelink.ingest(), the replication apply path.
-- Hashes are never shown: they depend on how many transactions earlier
-- tests made.
\set ECHO none
\i sql/include/node_alpha.sql
\i sql/include/sim_nodes.sql
\set ECHO all
SELECT tracelink.node_name();
SELECT * FROM sim_node('beta');
SELECT * FROM sim_node('gamma');

--
-- Voting rules: approvals needed among n voters
--
SELECT n,
       tracelink.vote_threshold('{"rule": "unanimous"}', n) AS unanimous,
       tracelink.vote_threshold('{"rule": "majority"}', n) AS majority,
       tracelink.vote_threshold('{"rule": "fraction", "numerator": 2, "denominator": 3}', n) AS two_thirds,
       tracelink.vote_threshold('{"rule": "fraction", "numerator": 1, "denominator": 100}', n) AS one_percent,
       tracelink.vote_threshold('{"rule": "fraction", "numerator": 7, "denominator": 7}', n) AS all_of_fraction,
       tracelink.vote_threshold('{"rule": "k_of_n", "k": 1}', n) AS one_of_n
  FROM unnest(ARRAY[1, 2, 3, 4, 5, 6, 100]) n;
SELECT tracelink.vote_threshold('{"rule": "k_of_n", "k": 3}', 5) AS three_of_five,
       tracelink.vote_threshold('{"rule": "fraction", "numerator": 2000000000, "denominator": 2000000000}', 2000000000) AS no_overflow,
       tracelink.vote_threshold(NULL, 3) AS strict_rule,
       tracelink.vote_threshold('{"rule": "majority"}', NULL) AS strict_voters;
-- bad rules (TL012)
SELECT err($$ SELECT tracelink.vote_threshold('{"rule": "majority"}', 0) $$);
SELECT err($$ SELECT tracelink.vote_threshold('{"rule": "majority"}', -1) $$);
SELECT err($$ SELECT tracelink.vote_threshold('[]', 3) $$);
SELECT err($$ SELECT tracelink.vote_threshold('"majority"', 3) $$);
SELECT err($$ SELECT tracelink.vote_threshold('{}', 3) $$);
SELECT err($$ SELECT tracelink.vote_threshold('{"rule": 1}', 3) $$);
SELECT err($$ SELECT tracelink.vote_threshold('{"rule": "plurality"}', 3) $$);
SELECT err($$ SELECT tracelink.vote_threshold('{"rule": "majority", "k": 2}', 3) $$);
SELECT err($$ SELECT tracelink.vote_threshold('{"rule": "unanimous", "quorum": 2}', 3) $$);
SELECT err($$ SELECT tracelink.vote_threshold('{"rule": "fraction", "numerator": 1}', 3) $$);
SELECT err($$ SELECT tracelink.vote_threshold('{"rule": "fraction", "numerator": 1, "denominator": 2, "k": 1}', 3) $$);
SELECT err($$ SELECT tracelink.vote_threshold('{"rule": "fraction", "numerator": 3, "denominator": 2}', 3) $$);
SELECT err($$ SELECT tracelink.vote_threshold('{"rule": "fraction", "numerator": 0, "denominator": 2}', 3) $$);
SELECT err($$ SELECT tracelink.vote_threshold('{"rule": "fraction", "numerator": 1.5, "denominator": 2}', 3) $$);
SELECT err($$ SELECT tracelink.vote_threshold('{"rule": "fraction", "numerator": "1", "denominator": 2}', 3) $$);
SELECT err($$ SELECT tracelink.vote_threshold('{"rule": "fraction", "numerator": 1, "denominator": 3000000000}', 3) $$);
SELECT err($$ SELECT tracelink.vote_threshold('{"rule": "k_of_n"}', 3) $$);
SELECT err($$ SELECT tracelink.vote_threshold('{"rule": "k_of_n", "k": 0}', 3) $$);
SELECT err($$ SELECT tracelink.vote_threshold('{"rule": "k_of_n", "k": 4}', 3) $$);
SELECT err($$ SELECT tracelink.vote_threshold('{"rule": "k_of_n", "k": 2, "numerator": 1}', 3) $$);

--
-- Link design requests: validation (nothing is appended when refused)
--
SELECT count(*) AS entries_before FROM tracelink.ledger_entries \gset
SELECT err($$ SELECT tracelink.request_link('Tea', ARRAY['Growing', 'Growing'], '{"Growing": ["alpha"]}') $$);
SELECT err($$ SELECT tracelink.request_link('Tea', ARRAY['Growing', 'Packing'], '{"Growing": ["alpha"]}') $$);
SELECT err($$ SELECT tracelink.request_link('Tea', ARRAY['Growing'], '{"Growing": []}') $$);
SELECT err($$ SELECT tracelink.request_link('Tea', ARRAY['Growing'], '{"Growing": ["alpha", "alpha"]}') $$);
SELECT err($$ SELECT tracelink.request_link('Tea', ARRAY['Growing'], '{"Growing": ["alpha"], "Roasting": ["beta"]}') $$);
SELECT err($$ SELECT tracelink.request_link('Tea', ARRAY['Growing'], '{"Growing": ["Beta Farm"]}') $$);
SELECT err($$ SELECT tracelink.request_link('Tea', ARRAY['Growing'], '{"Growing": "alpha"}') $$);
SELECT err($$ SELECT tracelink.request_link('Tea', ARRAY['Growing'], '["alpha"]') $$);
SELECT err($$ SELECT tracelink.request_link('Tea', ARRAY['Growing'], NULL) $$);
SELECT err($$ SELECT tracelink.request_link('Tea', ARRAY[]::text[], '{}') $$);
SELECT err($$ SELECT tracelink.request_link('Tea', NULL, '{}') $$);
SELECT err($$ SELECT tracelink.request_link(NULL, ARRAY['Growing'], '{"Growing": ["alpha"]}') $$);
SELECT err($$ SELECT tracelink.request_link(' Tea', ARRAY['Growing'], '{"Growing": ["alpha"]}') $$);
SELECT err($$ SELECT tracelink.request_link('Tea', ARRAY['Growing'], '{"Growing": ["alpha"]}', '[]') $$);
SELECT err($$ SELECT tracelink.request_link('Tea', ARRAY['Growing'], '{"Growing": ["alpha"]}', '{}', '{"rule": "plurality"}') $$);
SELECT err($$ SELECT tracelink.request_link('Tea', ARRAY['Growing'], '{"Growing": ["alpha"]}', '{}', '{"rule": "majority", "k": 2}') $$);
SELECT err($$ SELECT tracelink.request_link('Tea', ARRAY['Growing'], '{"Growing": ["alpha"]}', '{}', '{"rule": "majority"}', '{"rule": "k_of_n"}') $$);
SELECT err($$ SELECT tracelink.request_link('Tea', ARRAY['Growing'], '{"Growing": ["alpha"]}', '{}', '{"rule": "fraction", "numerator": 3, "denominator": 2}') $$);
SELECT err($$ SELECT tracelink.request_link('Tea', ARRAY['Growing'], '{"Growing": ["alpha"]}', '{}', '{"rule": "k_of_n", "k": 1.5}') $$);
-- the default rule comes from tracelink.default_voting_rule, and is checked as well
SET tracelink.default_voting_rule = '{"rule": "k_of_n", "k": 0}';
SELECT err($$ SELECT tracelink.request_link('Tea', ARRAY['Growing'], '{"Growing": ["alpha"]}') $$);
SET tracelink.default_voting_rule = 'majority';
SELECT err($$ SELECT tracelink.request_link('Tea', ARRAY['Growing'], '{"Growing": ["alpha"]}') $$);
RESET tracelink.default_voting_rule;
SELECT count(*) - :entries_before AS appended FROM tracelink.ledger_entries;

-- the rules a link gets: given, defaulted, modification defaulting to adoption
SET tracelink.default_voting_rule = '{"rule": "fraction", "numerator": 2, "denominator": 3}';
SELECT tracelink.request_link('Rules A', ARRAY['P'], '{"P": ["alpha"]}') IS NOT NULL AS requested;
RESET tracelink.default_voting_rule;
SELECT tracelink.request_link('Rules B', ARRAY['P'], '{"P": ["alpha"]}', adoption_rule => '{"rule": "unanimous"}') IS NOT NULL AS requested;
SELECT tracelink.request_link('Rules C', ARRAY['P'], '{"P": ["alpha"]}', NULL, '{"rule": "majority"}', '{"rule": "k_of_n", "k": 1}') IS NOT NULL AS requested;
SELECT tracelink.request_link('Rules D', ARRAY['P'], '{"P": ["alpha"]}') IS NOT NULL AS requested;
SELECT name, info, voting, status, creator FROM tracelink.links WHERE name LIKE 'Rules %' ORDER BY name;

--
-- Invitations and assembly while a link is designed
--
SELECT tracelink.request_link('Assembly', ARRAY['A', 'B'], '{"A": ["alpha"], "B": ["gamma"]}',
                              adoption_rule => '{"rule": "k_of_n", "k": 3}') AS asm \gset
SELECT err($$ SELECT tracelink.reply_invitation('Assembly', 'A', NULL) $$);
SELECT err($$ SELECT tracelink.reply_invitation('Assembly', 'B', true) $$);
SELECT err($$ SELECT tracelink.reply_invitation('Assembly', NULL, true) $$);
SELECT err($$ SELECT tracelink.reinvite('Assembly', NULL, ARRAY['beta']) $$);
SELECT err($$ SELECT tracelink.reinvite('Assembly', 'C', ARRAY['beta']) $$);
SELECT err($$ SELECT tracelink.reinvite('Assembly', 'B', ARRAY[]::text[]) $$);
SELECT err($$ SELECT tracelink.reinvite('Assembly', 'B', NULL) $$);
SELECT err($$ SELECT tracelink.reinvite('Assembly', 'B', ARRAY[NULL]) $$);
SELECT err($$ SELECT tracelink.reinvite('Assembly', 'B', ARRAY['Beta']) $$);
SELECT err($$ SELECT tracelink.reinvite('Assembly', 'B', ARRAY['gamma']) $$);
SELECT err($$ SELECT tracelink.assemble('Assembly') $$);
SELECT tracelink.reply_invitation('Assembly', 'A', true, 'glad to') IS NOT NULL AS accepted;
SELECT err($$ SELECT tracelink.assemble('Assembly') $$);
-- a process may be stored unfinished; assembly validates the whole link
SELECT tracelink.submit_process('Assembly', '{"name": "A", "stages": [{"name": "S", "forms": [
    {"name": "F", "items": [{"name": "note", "type": "text"}]}]}]}') IS NOT NULL AS submitted;
SELECT err($$ SELECT tracelink.assemble('Assembly') $$);
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_reply('gamma', :'asm', 'B', false)));
SELECT err($$ SELECT tracelink.assemble('Assembly') $$);
SELECT tracelink.reinvite('Assembly', 'B', ARRAY['beta', 'alpha']) IS NOT NULL AS reinvited;
SELECT process, node, status, reason, invite_entry = :'asm'::bytea AS invited_by_request
  FROM tracelink.link_invitations WHERE link_id = :'asm' ORDER BY process, node;
SELECT tracelink.reply_invitation('Assembly', 'B', true) IS NOT NULL AS accepted;
SELECT err($$ SELECT tracelink.assemble('Assembly') $$);
SELECT tracelink.submit_process('Assembly', '{"name": "B", "stages": [{"name": "S", "forms": [
    {"name": "F", "key": true, "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}]}]}]}') IS NOT NULL AS submitted;
SELECT err($$ SELECT tracelink.assemble('Assembly') $$);
SELECT tracelink.submit_process('Assembly', '{"name": "A", "stages": [{"name": "S", "forms": [
    {"name": "F", "key": true, "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}]}]}],
    "inputs": [{"name": "x", "from": "B", "output": "y"}], "outputs": [{"name": "y"}]}') IS NOT NULL AS submitted;
SELECT tracelink.submit_process('Assembly', '{"name": "B", "stages": [{"name": "S", "forms": [
    {"name": "F", "key": true, "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}]}]}],
    "inputs": [{"name": "x", "from": "A", "output": "y"}], "outputs": [{"name": "y"}]}') IS NOT NULL AS submitted;
SELECT err($$ SELECT tracelink.assemble('Assembly') $$);
SELECT tracelink.submit_process('Assembly', '{"name": "B", "stages": [{"name": "S", "forms": [
    {"name": "F", "key": true, "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}]}]}],
    "outputs": [{"name": "y"}]}') IS NOT NULL AS submitted;
-- alpha, creator and only participant, is the only voter: k = 3 cannot be met
SELECT err($$ SELECT tracelink.assemble('Assembly') $$);
SELECT process, revision, submitted_by FROM tracelink.link_processes WHERE link_id = :'asm' ORDER BY process;
SELECT status, active_version, open_proposal FROM tracelink.links WHERE name = 'Assembly';

--
-- The life of a link: alpha requests it and builds Growing; beta builds Packing
--
SELECT tracelink.request_link('Spring tea', ARRAY['Growing', 'Packing'],
                              '{"Growing": ["alpha"], "Packing": ["beta", "gamma"]}',
                              '{"product": "green tea", "season": 2026}',
                              '{"rule": "unanimous"}', '{"rule": "majority"}') AS tea \gset
SELECT name, creator, status, active_version, process_order, info, voting, participants, open_proposal
  FROM tracelink.links WHERE name = 'Spring tea';
SELECT process, node, status, reason, invite_entry = :'tea'::bytea AS invited_by_request
  FROM tracelink.link_invitations WHERE link_id = :'tea' ORDER BY process, node;
SELECT link, process, creator, link_id = :'tea'::bytea AS same_id FROM tracelink.pending_invitations ORDER BY link, process;
SELECT tracelink.link_id('Spring tea') = :'tea'::bytea AS by_name,
       tracelink.link_id(encode(:'tea', 'hex')) = :'tea'::bytea AS by_hex,
       tracelink.link_id('\x' || encode(:'tea', 'hex')) = :'tea'::bytea AS by_bytea_text;
-- link_id() refuses what names no link (an unknown name, hex of no link,
-- the empty name, NULL)
SELECT err($$ SELECT tracelink.link_id('No such link') $$);
SELECT err($$ SELECT tracelink.link_id(repeat('ab', 32)) $$);
SELECT err($$ SELECT tracelink.link_id('') $$);
SELECT err($$ SELECT tracelink.link_id(NULL) $$);

-- answers
SELECT tracelink.reply_invitation('Spring tea', 'Growing', true) IS NOT NULL AS accepted;
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_reply('beta', :'tea', 'Packing', true)));
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_reply('gamma', :'tea', 'Packing', false)));
SELECT process, node, status FROM tracelink.link_invitations WHERE link_id = :'tea' ORDER BY process, node;
SELECT participants FROM tracelink.links WHERE name = 'Spring tea';
SELECT count(*) AS pending_for_alpha FROM tracelink.pending_invitations WHERE link = 'Spring tea';

-- processes: alpha submits Growing twice (revisions), beta submits Packing
SELECT tracelink.submit_process('Spring tea', '{"name": "Growing",
   "stages": [{"name": "Harvest", "role": "raw-material supplier", "forms": [
     {"name": "Harvest record", "key": true, "items": [
       {"name": "lot", "type": "text", "required": true, "trace_code": true},
       {"name": "weight kg", "type": "numeric", "required": true}]},
     {"name": "Weather", "items": [{"name": "rain mm", "type": "numeric"}]}]}],
   "outputs": [{"name": "fresh leaves", "level": 2}]}') IS NOT NULL AS submitted;
SELECT tracelink.save_template('wf-growing', definition) FROM tracelink.link_processes WHERE link_id = :'tea';
SELECT tracelink.submit_process_from_template('Spring tea', 'Growing', 'wf-growing',
                                              '{"description": "tea garden"}') IS NOT NULL AS submitted;
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_submit('beta', :'tea', jsonb_build_object(
    'link', encode(:'tea', 'hex'), 'revision', 1, 'template', NULL,
    'definition', '{"name": "Packing", "node": "beta",
       "stages": [{"name": "Boxing", "role": "packer", "forms": [
         {"name": "Pack label", "key": true, "items": [
           {"name": "pack", "type": "text", "required": true, "trace_code": true}]},
         {"name": "Remarks", "items": [{"name": "remark", "type": "text"}]}]}],
       "inputs": [{"name": "leaves", "from": "Growing", "output": "fresh leaves", "level": 2}]}'::jsonb),
    ARRAY[:'tea'::bytea, (SELECT reply_entry FROM tracelink.link_invitations
                           WHERE link_id = :'tea' AND node = 'beta')])));
SELECT process, submitted_by, revision, template, tracelink.name(definition) AS name,
       definition::jsonb->>'node' AS node, definition::jsonb->>'description' AS description
  FROM tracelink.link_processes WHERE link_id = :'tea' ORDER BY process;

-- assembly opens the adoption vote: voters are the participants and the creator
SELECT tracelink.assemble('Spring tea') AS p1 \gset
SELECT version, purpose, scope, process, status, rule, threshold, approvals, rejections, missing, ballots, voters, closed_early
  FROM tracelink.link_versions WHERE link_id = :'tea';
SELECT status, open_proposal = :'p1'::bytea AS open_is_p1 FROM tracelink.links WHERE name = 'Spring tea';
SELECT link, version, purpose, scope, threshold, proposal_id = :'p1'::bytea AS is_p1 FROM tracelink.open_ballots;
SELECT tracelink.process_order(definition), tracelink.invitations(definition)
  FROM tracelink.proposals WHERE proposal_id = :'p1';
SELECT p.digest = tracelink.digest(p.definition) AS digest_ok,
       (SELECT count(*) FROM tracelink.mesh(p.definition)) AS mesh_edges,
       (SELECT array_agg(d ORDER BY d) FROM tracelink.ledger_entries e, unnest(e.deps) d WHERE e.entry_hash = :'p1')
       @> ARRAY[:'tea'::bytea] AS depends_on_request
  FROM tracelink.proposals p WHERE proposal_id = :'p1';

-- the vote: alpha approves, beta approves: unanimous, version 1 is active
SELECT tracelink.vote(:'p1', true, 'looks right') IS NOT NULL AS voted;
SELECT err(format('SELECT tracelink.vote(%L, false)', :'p1'));
SELECT status, approvals, missing FROM tracelink.link_versions WHERE proposal_id = :'p1';
SELECT count(*) AS open_ballots_left FROM tracelink.open_ballots;
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_vote('beta', :'p1', true)));
SELECT version, status, approvals, rejections, missing, ballots FROM tracelink.link_versions WHERE link_id = :'tea';
SELECT status, active_version, open_proposal FROM tracelink.links WHERE name = 'Spring tea';
SELECT version, status, proposal_id = :'p1'::bytea AS from_p1, digest = tracelink.digest(definition) AS digest_ok
  FROM tracelink.link_version_history WHERE link_id = :'tea';
SELECT voter, approve, reason FROM tracelink.ballots WHERE proposal_id = :'p1' ORDER BY voter;

--
-- Refusals while the link is active (API errors: nothing is appended)
--
SELECT count(*) AS entries_before FROM tracelink.ledger_entries \gset
-- unknown or ambiguous links
SELECT err($$ SELECT tracelink.assemble('No such link') $$);
SELECT err($$ SELECT tracelink.reply_invitation('No such link', 'Growing', true) $$);
SELECT err($$ SELECT tracelink.submit_process('No such link', '{"name": "Growing"}') $$);
SELECT err($$ SELECT tracelink.request_modification('No such link', 'Growing') $$);
SELECT err($$ SELECT tracelink.confirm_revision('No such link', 'Growing') $$);
SELECT err($$ SELECT tracelink.reinvite('No such link', 'Growing', ARRAY['beta']) $$);
SELECT err(format('SELECT tracelink.assemble(%L)', encode(sha256('no such link'), 'hex')));
SELECT tracelink.request_link('Rules A', ARRAY['P'], '{"P": ["alpha"]}') IS NOT NULL AS same_name_again;
SELECT err($$ SELECT tracelink.reply_invitation('Rules A', 'P', true) $$);
SELECT count(*) AS rules_a_links FROM tracelink.links WHERE name = 'Rules A';
SELECT count(*) AS entries_before FROM tracelink.ledger_entries \gset
-- invitations
SELECT err($$ SELECT tracelink.reply_invitation('Spring tea', 'Growing', false) $$);
SELECT err($$ SELECT tracelink.reply_invitation('Spring tea', 'Packing', true) $$);
SELECT err($$ SELECT tracelink.reply_invitation('Spring tea', 'Roasting', true) $$);
SELECT err($$ SELECT tracelink.reinvite('Spring tea', 'Growing', ARRAY['alpha']) $$);
-- processes
SELECT err($$ SELECT tracelink.submit_process('Spring tea', '{"name": "Packing"}') $$);
SELECT err($$ SELECT tracelink.submit_process('Spring tea', '{"name": "Roasting"}') $$);
SELECT err($$ SELECT tracelink.submit_process('Spring tea', tracelink.template('wf-growing')) $$);
SELECT err($$ SELECT tracelink.submit_process('Spring tea', NULL) $$);
SELECT err($$ SELECT tracelink.submit_process_from_template('Spring tea', 'Growing', 'no-such-template') $$);
-- assembly and votes
SELECT err($$ SELECT tracelink.assemble('Spring tea') $$);
SELECT err(format('SELECT tracelink.vote(%L, true)', :'p1'));
SELECT err(format('SELECT tracelink.vote(%L, false)', :'p1'));
SELECT err(format('SELECT tracelink.close_vote(%L)', :'p1'));
SELECT err(format('SELECT tracelink.vote(%L, true)', :'tea'));
SELECT err(format('SELECT tracelink.close_vote(%L)', :'tea'));
SELECT err(format('SELECT tracelink.vote(%L, true)', sha256('no such proposal')));
SELECT err($$ SELECT tracelink.vote('\x00', true) $$);
SELECT err($$ SELECT tracelink.vote(NULL, true) $$);
SELECT err(format('SELECT tracelink.vote(%L, NULL)', :'p1'));
SELECT err($$ SELECT tracelink.close_vote(NULL) $$);
-- modifications
SELECT err($$ SELECT tracelink.confirm_revision('Spring tea', 'Growing') $$);
SELECT err($$ SELECT tracelink.request_modification('Spring tea') $$);
SELECT err($$ SELECT tracelink.request_modification('Spring tea', 'Roasting') $$);
SELECT err($$ SELECT tracelink.request_modification('Spring tea', process_order => ARRAY['Growing']) $$);
SELECT err($$ SELECT tracelink.request_modification('Spring tea', process_order => ARRAY['Growing', 'Roasting']) $$);
SELECT err($$ SELECT tracelink.request_modification('Rules B', 'P') $$);
-- appending workflow entries directly
SELECT err($$ SELECT tracelink._append_action('acme.scan', '{}') $$);
SELECT err($$ SELECT tracelink._append_action('tl.link.unknown', '{}') $$);
SELECT err($$ SELECT tracelink._append_action(NULL, '{}') $$);
SELECT err(format('SELECT tracelink._append_action(%L, %L)', 'tl.link.ballot',
                  jsonb_build_object('proposal', encode(:'p1', 'hex'), 'approve', true)));
SELECT err(format('SELECT tracelink._append_action(%L, %L, %L)', 'tl.link.ballot',
                  jsonb_build_object('proposal', encode(:'p1', 'hex'), 'approve', 'yes'), ARRAY[:'p1'::bytea]));
SELECT err($$ SELECT tracelink._append_action('tl.link.ballot', '{"proposal": "00", "approve": true}') $$);
SELECT count(*) - :entries_before AS appended FROM tracelink.ledger_entries;

--
-- Scope of a change: does it touch a key form?
--
CREATE TEMP TABLE scope_cases (name text, def tracelink.process);
INSERT INTO scope_cases
SELECT c.name, (jsonb_build_object('name', 'P', 'stages', jsonb_build_array(
           jsonb_build_object('name', coalesce(c.stage, 'S'), 'role', coalesce(c.role, 'maker'), 'forms', c.forms))))::tracelink.process
  FROM (VALUES
    ('unchanged', NULL, NULL, '[{"name": "K", "key": true, "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}]},
                                {"name": "N", "items": [{"name": "note", "type": "text"}]}]'::jsonb),
    ('non-key item added', NULL, NULL, '[{"name": "K", "key": true, "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}]},
                                {"name": "N", "items": [{"name": "note", "type": "text"}, {"name": "photo", "type": "image"}]}]'),
    ('non-key form added', NULL, NULL, '[{"name": "K", "key": true, "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}]},
                                {"name": "N", "items": [{"name": "note", "type": "text"}]},
                                {"name": "N2", "items": [{"name": "extra", "type": "text"}]}]'),
    ('non-key form removed', NULL, NULL, '[{"name": "K", "key": true, "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}]}]'),
    ('non-key form reordered', NULL, NULL, '[{"name": "N", "items": [{"name": "note", "type": "text"}]},
                                {"name": "K", "key": true, "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}]}]'),
    ('stage role changed', NULL, 'packer', '[{"name": "K", "key": true, "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}]},
                                {"name": "N", "items": [{"name": "note", "type": "text"}]}]'),
    ('key form added', NULL, NULL, '[{"name": "K", "key": true, "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}]},
                                {"name": "N", "items": [{"name": "note", "type": "text"}]},
                                {"name": "K2", "key": true, "items": [{"name": "seal", "type": "text"}]}]'),
    ('key form removed', NULL, NULL, '[{"name": "N", "items": [{"name": "note", "type": "text"}, {"name": "lot", "type": "text", "required": true, "trace_code": true}]}]'),
    ('key item changed', NULL, NULL, '[{"name": "K", "key": true, "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true, "sources": ["device"]}]},
                                {"name": "N", "items": [{"name": "note", "type": "text"}]}]'),
    ('key item added', NULL, NULL, '[{"name": "K", "key": true, "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}, {"name": "grade", "type": "text"}]},
                                {"name": "N", "items": [{"name": "note", "type": "text"}]}]'),
    ('key form description', NULL, NULL, '[{"name": "K", "key": true, "description": "the lot", "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}]},
                                {"name": "N", "items": [{"name": "note", "type": "text"}]}]'),
    ('non-key form becomes key', NULL, NULL, '[{"name": "K", "key": true, "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}]},
                                {"name": "N", "key": true, "items": [{"name": "note", "type": "text"}]}]'),
    ('key form becomes non-key', NULL, NULL, '[{"name": "K", "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}]},
                                {"name": "N", "items": [{"name": "note", "type": "text"}]}]'),
    ('non-key form audience added', NULL, NULL, '[{"name": "K", "key": true, "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}]},
                                {"name": "N", "audience": "process", "items": [{"name": "note", "type": "text"}]}]'),
    ('non-key item audience added', NULL, NULL, '[{"name": "K", "key": true, "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}]},
                                {"name": "N", "items": [{"name": "note", "type": "text", "audience": ["n1"]}]}]'),
    ('non-key item with an audience added', NULL, NULL, '[{"name": "K", "key": true, "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}]},
                                {"name": "N", "items": [{"name": "note", "type": "text"}, {"name": "price", "type": "numeric", "audience": "process"}]}]'),
    ('key item audience "public" added', NULL, NULL, '[{"name": "K", "key": true, "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true, "audience": "public"}]},
                                {"name": "N", "items": [{"name": "note", "type": "text"}]}]'),
    ('stage renamed', 'S2', NULL, '[{"name": "K", "key": true, "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}]},
                                {"name": "N", "items": [{"name": "note", "type": "text"}]}]')
  ) AS c(name, stage, role, forms);
-- two stages with a key form of the same name: each stage's forms are its own
INSERT INTO scope_cases
SELECT c.name, (jsonb_build_object('name', 'P', 'stages', c.stages))::tracelink.process
  FROM (VALUES
    ('two stages', '[{"name": "S", "forms": [{"name": "Record", "key": true, "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}]},
                                           {"name": "N", "items": [{"name": "note", "type": "text"}]}]},
                     {"name": "T", "forms": [{"name": "Record", "key": true, "items": [{"name": "weight", "type": "numeric"}]}]}]'::jsonb),
    ('two stages, non-key item added', '[{"name": "S", "forms": [{"name": "Record", "key": true, "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}]},
                                           {"name": "N", "items": [{"name": "note", "type": "text"}, {"name": "photo", "type": "image"}]}]},
                     {"name": "T", "forms": [{"name": "Record", "key": true, "items": [{"name": "weight", "type": "numeric"}]}]}]'),
    ('two stages, key forms swapped', '[{"name": "S", "forms": [{"name": "Record", "key": true, "items": [{"name": "weight", "type": "numeric"}]},
                                           {"name": "N", "items": [{"name": "note", "type": "text"}]}]},
                     {"name": "T", "forms": [{"name": "Record", "key": true, "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}]}]}]')
  ) AS c(name, stages);
SELECT c.name, tracelink._touches_key_forms(o.def, c.def) AS touches_key_form
  FROM scope_cases c, scope_cases o
 WHERE o.name = CASE WHEN c.name LIKE 'two stages%' THEN 'two stages' ELSE 'unchanged' END
 ORDER BY 2, 1;
-- an audience changed or removed, in a form that is not key, is a key change
-- too; the same audiences (item order aside) are not
SELECT v.name, tracelink._touches_key_forms(
         (jsonb_build_object('name', 'P', 'stages', jsonb_build_array(jsonb_build_object('name', 'S', 'forms', jsonb_build_array(k.form, v.old_form)))))::tracelink.process,
         (jsonb_build_object('name', 'P', 'stages', jsonb_build_array(jsonb_build_object('name', 'S', 'forms', jsonb_build_array(k.form, v.new_form)))))::tracelink.process)
         AS touches_key_form
  FROM (VALUES ('{"name": "K", "key": true, "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}]}'::jsonb)) k(form),
       (VALUES
    ('form audience changed', '{"name": "N", "audience": "process", "items": [{"name": "note", "type": "text"}]}'::jsonb,
                              '{"name": "N", "audience": ["n1"], "items": [{"name": "note", "type": "text"}]}'::jsonb),
    ('form audience removed', '{"name": "N", "audience": "process", "items": [{"name": "note", "type": "text"}]}',
                              '{"name": "N", "items": [{"name": "note", "type": "text"}]}'),
    ('item audience changed', '{"name": "N", "items": [{"name": "note", "type": "text", "audience": "process"}]}',
                              '{"name": "N", "items": [{"name": "note", "type": "text", "audience": ["n1", "n2"]}]}'),
    ('item audience nodes reordered', '{"name": "N", "items": [{"name": "note", "type": "text", "audience": ["n1", "n2"]}]}',
                              '{"name": "N", "items": [{"name": "note", "type": "text", "audience": ["n2", "n1"]}]}'),
    ('item audience removed', '{"name": "N", "items": [{"name": "note", "type": "text", "audience": "process"}]}',
                              '{"name": "N", "items": [{"name": "note", "type": "text"}]}'),
    ('same audiences, items reordered', '{"name": "N", "audience": "process", "items": [{"name": "a", "type": "text", "audience": ["n1"]}, {"name": "b", "type": "text", "audience": "public"}]}',
                              '{"name": "N", "audience": "process", "items": [{"name": "b", "type": "text", "audience": "public"}, {"name": "a", "type": "text", "audience": ["n1"]}]}'),
    ('same audiences, description changed', '{"name": "N", "audience": "process", "items": [{"name": "note", "type": "text", "audience": ["n1"]}]}',
                              '{"name": "N", "audience": "process", "description": "notes", "items": [{"name": "note", "type": "text", "audience": ["n1"]}]}')
  ) v(name, old_form, new_form)
 ORDER BY 2, 1;
SELECT tracelink._touches_key_forms(NULL, def) AS new_process_with_key_form,
       tracelink._touches_key_forms(def, NULL) AS process_removed
  FROM scope_cases WHERE name = 'unchanged';

--
-- Modifications of the active link
--
-- (1) a non-key form of Growing: a local vote of Growing's participants
SELECT tracelink.request_modification('Spring tea', 'Growing', 'record the rain in the tea garden') AS m1 \gset
SELECT process, process_order, reason, confirmed_by, status FROM tracelink.modifications WHERE modification_id = :'m1';
SELECT status FROM tracelink.links WHERE name = 'Spring tea';
SELECT err($$ SELECT tracelink.request_modification('Spring tea', 'Packing') $$);
SELECT err($$ SELECT tracelink.submit_process('Spring tea', tracelink.process(definition, 'Packing'))
                FROM tracelink.link_version_history WHERE link_id = tracelink.link_id('Spring tea') $$);
SELECT tracelink.submit_process('Spring tea', tracelink.merge_patch(tracelink.process(definition, 'Growing'),
         '{"stages": [{"name": "Harvest", "role": "raw-material supplier", "forms": [
            {"name": "Harvest record", "key": true, "items": [
              {"name": "lot", "type": "text", "required": true, "trace_code": true},
              {"name": "weight kg", "type": "numeric", "required": true}]},
            {"name": "Weather", "items": [{"name": "rain mm", "type": "numeric", "required": true}]}]}]}'))
       IS NOT NULL AS revised
  FROM tracelink.link_version_history WHERE link_id = :'tea' AND status = 'active';
SELECT process, revision FROM tracelink.link_processes WHERE link_id = :'tea' ORDER BY process;
SELECT tracelink.confirm_revision('Spring tea', 'Growing') IS NOT NULL AS confirmed;
SELECT version, purpose, scope, process, status, threshold, voters FROM tracelink.link_versions WHERE link_id = :'tea' ORDER BY version, status;
SELECT confirmed_by, status, proposal_id IS NOT NULL AS has_vote FROM tracelink.modifications WHERE modification_id = :'m1';
SELECT err($$ SELECT tracelink.confirm_revision('Spring tea', 'Growing') $$);
SELECT proposal_id AS p2 FROM tracelink.proposals WHERE link_id = :'tea' AND status = 'open' \gset
-- beta does not build Growing: its ballot is refused where it arrives
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_vote('beta', :'p2', true)));
SELECT what, origin, reason FROM tracelink.quarantine WHERE origin = 'beta' ORDER BY id;
SELECT tracelink.vote(:'p2', true) IS NOT NULL AS voted;
SELECT version, scope, status, approvals, voters FROM tracelink.link_versions WHERE link_id = :'tea' ORDER BY version, status;
SELECT status, active_version FROM tracelink.links WHERE name = 'Spring tea';
SELECT status FROM tracelink.modifications WHERE modification_id = :'m1';
SELECT process, (definition::jsonb #> '{stages,0,forms,1,items,0,required}') AS rain_required
  FROM tracelink.link_processes WHERE link_id = :'tea' AND process = 'Growing';

-- (2) a key form of Growing: a global vote of every participant and the
-- creator under the modification rule (majority of 2 = 2); beta rejects
SELECT tracelink.request_modification('Spring tea', 'Growing', 'weigh in grams') AS m2 \gset
SELECT tracelink.submit_process('Spring tea', tracelink.merge_patch(tracelink.process(definition, 'Growing'),
         '{"stages": [{"name": "Harvest", "role": "raw-material supplier", "forms": [
            {"name": "Harvest record", "key": true, "items": [
              {"name": "lot", "type": "text", "required": true, "trace_code": true},
              {"name": "weight g", "type": "numeric", "required": true}]},
            {"name": "Weather", "items": [{"name": "rain mm", "type": "numeric", "required": true}]}]}]}'))
       IS NOT NULL AS revised
  FROM tracelink.link_version_history WHERE link_id = :'tea' AND status = 'active';
SELECT tracelink.confirm_revision('Spring tea', 'Growing') IS NOT NULL AS confirmed;
SELECT proposal_id AS p3 FROM tracelink.proposals WHERE link_id = :'tea' AND status = 'open' \gset
SELECT version, scope, process, status, rule, threshold, voters FROM tracelink.link_versions WHERE proposal_id = :'p3';
SELECT tracelink.vote(:'p3', true) IS NOT NULL AS voted;
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_vote('beta', :'p3', false)));
SELECT version, scope, status, approvals, rejections, missing, ballots FROM tracelink.link_versions WHERE proposal_id = :'p3';
SELECT status, active_version FROM tracelink.links WHERE name = 'Spring tea';
SELECT status FROM tracelink.modifications WHERE modification_id = :'m2';
-- after the failed vote the working definition is the active one again
SELECT definition::jsonb #>> '{stages,0,forms,0,items,1,name}' AS weight_item
  FROM tracelink.link_processes WHERE link_id = :'tea' AND process = 'Growing';

-- (3) the process order alone: the vote starts at once (global); closed
-- early with beta's ballot missing, it fails; the version number is reused
SELECT tracelink.request_modification('Spring tea', process_order => ARRAY['Growing', 'Packing'],
                                      reason => 'confirm the order') AS m3 \gset
SELECT proposal_id AS p4 FROM tracelink.proposals WHERE link_id = :'tea' AND status = 'open' \gset
SELECT version, purpose, scope, process, status, threshold, voters FROM tracelink.link_versions WHERE proposal_id = :'p4';
SELECT tracelink.vote(:'p4', true) IS NOT NULL AS voted;
SELECT tracelink.close_vote(:'p4') AS outcome;
SELECT version, status, approvals, rejections, missing, closed_early FROM tracelink.link_versions WHERE proposal_id = :'p4';
SELECT err(format('SELECT tracelink.close_vote(%L)', :'p4'));
SELECT err(format('SELECT tracelink.vote(%L, true)', :'p4'));
-- beta's ballot comes after the close: refused, quarantined as an effect
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_vote('beta', :'p4', true)));
SELECT what, origin, reason FROM tracelink.quarantine
 WHERE what = 'effect' AND origin = 'beta' ORDER BY id DESC LIMIT 1;
SELECT status, active_version FROM tracelink.links WHERE name = 'Spring tea';

-- (4) the order again, adopted: version 3 (versions count adoptions)
SELECT tracelink.request_modification('Spring tea', process_order => ARRAY['Growing', 'Packing']) AS m4 \gset
SELECT proposal_id AS p5 FROM tracelink.proposals WHERE link_id = :'tea' AND status = 'open' \gset
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_vote('beta', :'p5', true)));
SELECT tracelink.vote(:'p5', true) IS NOT NULL AS voted;
SELECT version, purpose, scope, process, status, approvals, rejections, closed_early
  FROM tracelink.link_versions WHERE link_id = :'tea' ORDER BY version, proposal_id = :'p5', status, closed_early;
SELECT version, status FROM tracelink.link_version_history WHERE link_id = :'tea' ORDER BY version;
SELECT m.reason, m.status, p.version FROM tracelink.modifications m JOIN tracelink.proposals p USING (proposal_id)
 WHERE m.link_id = :'tea' ORDER BY p.version, m.status, m.reason;

-- (5) a non-key form of beta's Packing: beta revises and confirms; its
-- confirmation reaching alpha, the creator, opens the local vote there
SELECT tracelink.request_modification('Spring tea', 'Packing', 'longer remarks') AS m5 \gset
SELECT i.* FROM tracelink.link_version_history h, tracelink.ingest((SELECT lines FROM sim_submit('beta', :'tea',
    jsonb_build_object('link', encode(:'tea', 'hex'), 'revision', 2, 'template', NULL,
      'definition', tracelink.merge_patch(tracelink.process(h.definition, 'Packing'),
        '{"stages": [{"name": "Boxing", "role": "packer", "forms": [
           {"name": "Pack label", "key": true, "items": [
             {"name": "pack", "type": "text", "required": true, "trace_code": true}]},
           {"name": "Remarks", "items": [{"name": "remark", "type": "text", "widget": "textarea"}]}]}]}')::jsonb),
    ARRAY[:'m5'::bytea]))) i
 WHERE h.link_id = :'tea' AND h.status = 'active';
SELECT status, confirmed_by FROM tracelink.modifications WHERE modification_id = :'m5';
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_action('beta', 'tl.process.confirm', jsonb_build_object(
    'link', encode(:'tea', 'hex'), 'process', 'Packing', 'modification', encode(:'m5', 'hex')), ARRAY[:'m5'::bytea])));
SELECT status, confirmed_by FROM tracelink.modifications WHERE modification_id = :'m5';
SELECT proposal_id AS p6 FROM tracelink.proposals WHERE link_id = :'tea' AND status = 'open' \gset
SELECT version, scope, process, status, threshold, voters FROM tracelink.link_versions WHERE proposal_id = :'p6';
SELECT count(*) AS alpha_may_vote FROM tracelink.open_ballots;
SELECT err(format('SELECT tracelink.vote(%L, true)', :'p6'));
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_vote('beta', :'p6', true)));
SELECT status, active_version FROM tracelink.links WHERE name = 'Spring tea';
SELECT definition::jsonb #>> '{stages,0,forms,1,items,0,widget}' AS remark_widget
  FROM tracelink.link_processes WHERE link_id = :'tea' AND process = 'Packing';

-- more arguments the API needs, given as NULL: 22004 naming them, nothing appended
SELECT count(*) AS entries_before FROM tracelink.ledger_entries \gset
SELECT err($$ SELECT tracelink.reply_invitation(NULL, 'Packing', true) $$);
SELECT err($$ SELECT tracelink.submit_process_from_template('Spring tea', 'Growing', NULL) $$);
SELECT err($$ SELECT tracelink.submit_process_from_template('Spring tea', NULL, 'garden') $$);
SELECT err($$ SELECT tracelink.assemble(NULL) $$);
SELECT err($$ SELECT tracelink.request_modification(NULL) $$);
SELECT err($$ SELECT tracelink.confirm_revision('Spring tea', NULL) $$);
SELECT count(*) - :entries_before AS appended FROM tracelink.ledger_entries;

-- the ledger holds every step, and verifies
SELECT kind, count(*) FROM tracelink.ledger_entries
 WHERE origin = 'alpha' AND kind LIKE 'tl.%' AND kind <> 'tl.genesis' AND kind <> 'tl.key_rotation'
 GROUP BY kind ORDER BY kind;
SELECT origin, ok FROM tracelink.verify() ORDER BY origin;
