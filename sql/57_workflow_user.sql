-- The workflow as a user drives it (docs/workflow.md): who created a stage
-- or an item and who may record at a stage (filled in by submit_process,
-- enforced by the record check, on the recording node and on receivers);
-- what waits for this node (pending_actions), open ballots with their
-- voters, a vote's outcome apart from the version's state, trace()'s
-- bound version, and two participants revising one process.
--
-- The local node is "alpha"; "beta" is a simulated peer whose entries go
-- through the replication apply path (tracelink.ingest()).  Hashes are
-- never shown.
\set ECHO none
\i sql/include/node_alpha.sql
\i sql/include/sim_beta_gamma.sql
\set ECHO all
SELECT coalesce(max(id), 0) AS q0 FROM tracelink.quarantine \gset
CREATE VIEW wu_new_quarantine AS
SELECT what, origin, reason FROM tracelink.quarantine WHERE id > :q0 ORDER BY id;
-- what waits for alpha on this file's link, ids and hex left out
CREATE VIEW wu_pending AS
SELECT action, process, version, detail,
       replace(replace(call, encode(link_id, 'hex'), '<link>'), encode(id, 'hex'), '<id>') AS call
  FROM tracelink.pending_actions WHERE link = 'Member tea' ORDER BY action, process;

--
-- 1. A link whose one process alpha and beta build together; the
--    invitation waits for alpha
--
SELECT tracelink.request_link('Member tea', ARRAY['Growing'], '{"Growing": ["alpha", "beta"]}',
                              '{}', '{"rule": "unanimous"}') AS mt \gset
SELECT * FROM wu_pending;
SELECT id = :'mt'::bytea AS id_is_the_inviting_entry FROM tracelink.pending_actions WHERE link = 'Member tea';
SELECT tracelink.reply_invitation('Member tea', 'Growing', true) IS NOT NULL AS accepted;
SELECT count(*) AS applied FROM tracelink.ingest((SELECT lines FROM sim_reply('beta', :'mt', 'Growing', true)));
SELECT count(*) AS waiting FROM wu_pending;

--
-- 2. submit_process fills in who created each stage and item and the
--    stage's members: left out, they are this node; given, they stay
--
SELECT tracelink.submit_process('Member tea', '{"name": "Growing",
  "stages": [
    {"name": "Harvest", "forms": [
      {"name": "Harvest record", "key": true, "items": [
        {"name": "lot", "type": "text", "required": true, "trace_code": true},
        {"name": "weight kg", "type": "numeric", "creator": "beta"}]}]},
    {"name": "Audit", "members": ["beta"], "forms": [
      {"name": "Audit", "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}]}]},
    {"name": "Shared", "creator": "beta", "members": ["alpha", "beta"], "forms": [
      {"name": "Note", "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}]}]}],
  "outputs": [{"name": "leaves", "level": 2}]}') IS NOT NULL AS submitted;
SELECT tracelink.name(s) AS stage, (s::jsonb)->>'creator' AS creator, (s::jsonb)->'members' AS members
  FROM tracelink.link_processes w, tracelink.stages(w.definition) s
 WHERE w.link_id = :'mt' ORDER BY 1;
SELECT stage, form, item, creator FROM tracelink.link_processes w, tracelink.data_items(w.definition)
 WHERE w.link_id = :'mt' ORDER BY 1, 2, 3;

--
-- 3. The adoption vote: alpha's ballot waits for it; open_ballots shows
--    the voters and who voted; link_versions the outcome and the version
--
SELECT tracelink.assemble('Member tea') AS p1 \gset
SELECT * FROM wu_pending;
SELECT link, version, voters, voted, modification_id FROM tracelink.open_ballots WHERE link = 'Member tea';
SELECT count(*) AS applied FROM tracelink.ingest((SELECT lines FROM sim_vote('beta', :'p1', true)));
SELECT link, voters, voted FROM tracelink.open_ballots WHERE link = 'Member tea';
SELECT version, status, outcome, version_status FROM tracelink.link_versions WHERE proposal_id = :'p1';
SELECT tracelink.vote(:'p1', true) IS NOT NULL AS voted;
SELECT count(*) AS open_ballots_left FROM tracelink.open_ballots WHERE link = 'Member tea';
SELECT version, status, outcome, version_status FROM tracelink.link_versions WHERE proposal_id = :'p1';

--
-- 4. Recording is limited to a stage's members: alpha records at Harvest
--    and Shared, not at Audit (beta's alone)
--
SELECT tracelink.record('Member tea', 'M-1', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 3}') IS NOT NULL AS recorded;
SELECT tracelink.record('Member tea', 'M-2', 'Growing', 'Shared', 'Note') IS NOT NULL AS recorded;
SELECT err($$ SELECT tracelink.record('Member tea', 'M-3', 'Growing', 'Audit', 'Audit') $$);
-- the same check on receivers: beta's record at Harvest (alpha's alone) is
-- quarantined with the reason, its records at Audit and Shared are applied
CREATE FUNCTION wu_record(p_code text, p_stage text, p_form text, OUT entry_hash bytea, OUT lines text)
LANGUAGE plpgsql AS $$
DECLARE
    h tracelink.link_version_history;
BEGIN
    SELECT v.* INTO h FROM tracelink.link_version_history v JOIN tracelink.trace_links l USING (link_id)
     WHERE l.name = 'Member tea' AND v.version = 1;
    SELECT * INTO entry_hash, lines FROM sim_action('beta', 'tl.trace.record', jsonb_build_object(
        'clock', (extract(epoch FROM clock_timestamp()) * 1000000)::bigint, 'link', encode(h.link_id, 'hex'),
        'records', jsonb_build_array(jsonb_build_object('code', p_code, 'data', jsonb_build_object('lot', p_code),
            'form', p_form, 'process', 'Growing', 'source', 'manual', 'stage', p_stage, 'version', 1))),
        ARRAY[h.proposal_id] || ARRAY(SELECT b.entry_hash FROM tracelink.ballots b WHERE b.proposal_id = h.proposal_id),
        ARRAY['alpha', 'beta']);
END
$$;
SELECT count(*) AS applied FROM tracelink.ingest((SELECT lines FROM wu_record('B-1', 'Harvest', 'Harvest record')));
SELECT count(*) AS applied FROM tracelink.ingest((SELECT lines FROM wu_record('B-2', 'Audit', 'Audit')));
SELECT count(*) AS applied FROM tracelink.ingest((SELECT lines FROM wu_record('B-3', 'Shared', 'Note')));
SELECT * FROM wu_new_quarantine;
SELECT code, stage, node FROM tracelink.trace_records WHERE link = 'Member tea' ORDER BY code;

--
-- 5. trace() shows each record's version and the version its code is
--    bound to
--
SELECT code, relation, version, bound_version, stage, node FROM tracelink.trace('M-1', 'Member tea');

--
-- 6. Two participants revising one process.  The modification id that
--    request_modification returns finds the confirmation, then the vote.
--
SELECT tracelink.request_modification('Member tea', 'Growing', 'add a grade') AS m1 \gset
SELECT * FROM wu_pending;
SELECT id = :'m1'::bytea AS id_is_the_modification FROM tracelink.pending_actions WHERE link = 'Member tea';
-- alpha revises first: what it leaves out keeps its creator (the node
-- that added it), a new item is alpha's
SELECT tracelink.submit_process('Member tea', tracelink.merge_patch(
    (SELECT w.definition FROM tracelink.link_processes w WHERE w.link_id = :'mt'),
    '{"stages": [
       {"name": "Harvest", "forms": [
         {"name": "Harvest record", "key": true, "items": [
           {"name": "lot", "type": "text", "required": true, "trace_code": true},
           {"name": "weight kg", "type": "numeric"}]}]},
       {"name": "Audit", "members": ["beta"], "forms": [
         {"name": "Audit", "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true},
                                     {"name": "grade", "type": "text"}]}]},
       {"name": "Shared", "members": ["alpha", "beta"], "forms": [
         {"name": "Note", "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}]}]}]}'))
  IS NOT NULL AS revised;
SELECT stage, form, item, creator FROM tracelink.link_processes w, tracelink.data_items(w.definition)
 WHERE w.link_id = :'mt' ORDER BY 1, 2, 3;
SELECT tracelink.name(s) AS stage, (s::jsonb)->>'creator' AS creator, (s::jsonb)->'members' AS members
  FROM tracelink.link_processes w, tracelink.stages(w.definition) s
 WHERE w.link_id = :'mt' ORDER BY 1;
-- beta confirms alpha's revision (through replication) ...
SELECT count(*) AS applied FROM tracelink.ingest((SELECT lines FROM sim_action('beta', 'tl.process.confirm', jsonb_build_object(
    'link', encode(:'mt', 'hex'), 'process', 'Growing', 'modification', encode(:'m1', 'hex')),
    ARRAY[:'m1'::bytea, (SELECT w.entry_hash FROM tracelink.link_processes w WHERE w.link_id = :'mt')])));
SELECT * FROM wu_pending;
-- ... so a new revision by alpha would go to the vote unseen by beta:
-- refused, with what to do
SELECT err(format('SELECT tracelink.submit_process(%L, %L)', 'Member tea',
    (SELECT w.definition FROM tracelink.link_processes w WHERE w.link_id = :'mt')));
SELECT hint_of(format('SELECT tracelink.submit_process(%L, %L)', 'Member tea',
    (SELECT w.definition FROM tracelink.link_processes w WHERE w.link_id = :'mt')));
-- alpha confirms; the vote opens here (alpha created the link) and waits
-- for alpha, found by the modification id
SELECT tracelink.confirm_revision('Member tea', 'Growing') IS NOT NULL AS confirmed;
SELECT * FROM wu_pending;
SELECT modification_id = :'m1'::bytea AS found_by_modification, voters, voted
  FROM tracelink.open_ballots WHERE link = 'Member tea';
SELECT version, scope, status, outcome, version_status FROM tracelink.link_versions
 WHERE link = 'Member tea' ORDER BY version;
-- passed: version 1 is superseded, its vote stays passed
SELECT proposal_id AS p2 FROM tracelink.open_ballots WHERE link = 'Member tea' \gset
SELECT tracelink.vote(:'p2', true) IS NOT NULL AS voted;
SELECT count(*) AS applied FROM tracelink.ingest((SELECT lines FROM sim_vote('beta', :'p2', true)));
SELECT version, scope, status, outcome, version_status FROM tracelink.link_versions
 WHERE link = 'Member tea' ORDER BY version;
SELECT count(*) AS waiting FROM wu_pending;

-- nothing of this file is left quarantined but beta's record at Harvest
SELECT count(*) AS quarantined FROM wu_new_quarantine;
DROP FUNCTION wu_record(text, text, text);
DROP VIEW wu_pending;
DROP VIEW wu_new_quarantine;
