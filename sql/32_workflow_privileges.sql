-- Privileges of the workflow: readers read, members act through the API,
-- nobody writes the projection tables, and what a member appends directly
-- is held to the same rules as what the API appends.
\set ECHO none
\i sql/include/spring_tea.sql
\set ECHO all

CREATE TEMP TABLE wf_functions (f regprocedure, grantee text);
INSERT INTO wf_functions
SELECT p::regprocedure, 'reader' FROM unnest(ARRAY[
    'tracelink.vote_threshold(jsonb,integer)', 'tracelink.link_id(text)',
    'tracelink._participants(bytea,text)', 'tracelink.state_digest()']) p
UNION ALL
SELECT p::regprocedure, 'member' FROM unnest(ARRAY[
    'tracelink.request_link(text,text[],jsonb,jsonb,jsonb,jsonb)',
    'tracelink.reply_invitation(text,text,boolean,text)', 'tracelink.reinvite(text,text,text[])',
    'tracelink.submit_process(text,tracelink.process,text)',
    'tracelink.submit_process_from_template(text,text,text,jsonb)',
    'tracelink.assemble(text)', 'tracelink.vote(bytea,boolean,text)', 'tracelink.close_vote(bytea)',
    'tracelink.request_modification(text,text,text,text[])', 'tracelink.confirm_revision(text,text)',
    'tracelink._append_action(text,jsonb,bytea[])',
    'tracelink._touches_key_forms(tracelink.process,tracelink.process)',
    'tracelink._fill_creators(tracelink.process,tracelink.process,text)',
    'tracelink._proposed_definition(bytea,text,text[])',
    'tracelink._proposal(bytea,text,text,bytea,text[])',
    'tracelink._propose(bytea,text,text,bytea,text[])']) p
UNION ALL
SELECT p::regprocedure, 'admin' FROM unnest(ARRAY['tracelink.ingest(text)']) p
UNION ALL
SELECT p.oid::regprocedure, 'nobody' FROM pg_proc p
 WHERE p.pronamespace = 'tracelink'::regnamespace
   AND (p.proname LIKE '\_project\_%'
        OR p.proname IN ('_decide', '_undecide', '_vote_rule_integer', '_vote_proposal', '_vote_lock',
                         '_notify_pending'));

-- every function of sqlsrc/60_workflow.sql and 65_votes.sql is in the list
SELECT p.oid::regprocedure AS missing_from_list
  FROM pg_proc p
 WHERE p.pronamespace = 'tracelink'::regnamespace
   AND p.proname IN ('vote_threshold', 'link_id', '_participants', '_touches_key_forms', '_append_action',
                     '_fill_creators', '_notify_pending',
                     '_proposed_definition', '_proposal', '_propose', '_decide', '_undecide',
                     'request_link', 'reply_invitation', 'reinvite', 'submit_process',
                     'submit_process_from_template', 'assemble', 'vote', 'close_vote',
                     'request_modification', 'confirm_revision')
   AND p.oid NOT IN (SELECT f FROM wf_functions);
SELECT count(*), grantee FROM wf_functions GROUP BY grantee ORDER BY grantee;

-- nothing for PUBLIC; each role executes exactly its functions
SELECT f, grantee FROM wf_functions
 WHERE has_function_privilege('public', f, 'EXECUTE')
    OR (grantee = 'reader') <> has_function_privilege('tracelink_reader', f, 'EXECUTE')
    OR (grantee IN ('reader', 'member')) <> has_function_privilege('tracelink_member', f, 'EXECUTE')
    OR (grantee <> 'nobody') <> has_function_privilege('tracelink_admin', f, 'EXECUTE');

-- no SECURITY DEFINER (projectors run as the extension owner, from C);
-- every function has a fixed search_path and a comment
SELECT f AS without_search_path FROM wf_functions JOIN pg_proc p ON p.oid = f
 WHERE p.prolang <> (SELECT oid FROM pg_language WHERE lanname = 'c')
   AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false);
SELECT f AS security_definer FROM wf_functions JOIN pg_proc p ON p.oid = f WHERE p.prosecdef;
SELECT f AS without_comment FROM wf_functions WHERE obj_description(f, 'pg_proc') IS NULL;
SELECT f, provolatile, proisstrict, proparallel FROM wf_functions JOIN pg_proc p ON p.oid = f
 WHERE grantee = 'reader' ORDER BY f::text;

-- tables and views: SELECT for readers, writes for nobody but the owner
SELECT c.oid::regclass AS relation, c.relkind,
       has_table_privilege('public', c.oid, 'SELECT') AS public_reads,
       has_table_privilege('tracelink_reader', c.oid, 'SELECT') AS reader_reads,
       has_table_privilege('tracelink_admin', c.oid, 'INSERT,UPDATE,DELETE,TRUNCATE') AS admin_writes,
       obj_description(c.oid, 'pg_class') IS NOT NULL AS commented
  FROM pg_class c
 WHERE c.relnamespace = 'tracelink'::regnamespace
   AND c.relname IN ('trace_links', 'link_invitations', 'link_processes', 'proposals', 'ballots',
                     'link_version_history', 'modifications', 'links', 'link_versions',
                     'pending_invitations', 'open_ballots', 'pending_actions')
 ORDER BY c.relname;

--
-- The same, by role
--
SET client_min_messages = warning;
DROP ROLE IF EXISTS tl_wf_reader, tl_wf_member, tl_wf_nobody;
RESET client_min_messages;
CREATE ROLE tl_wf_reader LOGIN IN ROLE tracelink_reader;
CREATE ROLE tl_wf_member LOGIN IN ROLE tracelink_member;
CREATE ROLE tl_wf_nobody LOGIN;
-- roles are cluster-wide: tie the writers to this database, in case the
-- server holds other tracelink databases (docs/operations.md)
GRANT CONNECT ON DATABASE :"DBNAME" TO tl_wf_member;

SET ROLE tl_wf_nobody;
SELECT err($$ SELECT count(*) FROM tracelink.links $$);
SELECT err($$ SELECT tracelink.request_link('By nobody', ARRAY['P'], '{"P": ["alpha"]}') $$);
RESET ROLE;

SET ROLE tl_wf_reader;
SELECT name, status, participants FROM tracelink.links WHERE name = 'Spring tea';
SELECT count(*) > 0 AS reads_versions FROM tracelink.link_versions;
SELECT count(*) >= 0 AS reads_views FROM tracelink.pending_invitations, tracelink.open_ballots, tracelink.pending_actions;
SELECT err($$ SELECT tracelink.request_link('By reader', ARRAY['P'], '{"P": ["alpha"]}') $$);
SELECT err($$ SELECT tracelink.reply_invitation('Rules D', 'P', true) $$);
SELECT err(format('SELECT tracelink.vote(%L, true)', (SELECT proposal_id FROM tracelink.proposals LIMIT 1)));
SELECT err($$ SELECT tracelink._append_action('tl.link.request', '{}') $$);
SELECT err($$ INSERT INTO tracelink.trace_links (link_id, name, creator, info, process_order, voting)
              VALUES ('\x01', 'Forged', 'alpha', '{}', '{P}', '{}') $$);
RESET ROLE;

-- a member runs the whole life of a link through the API
SET ROLE tl_wf_member;
SELECT tracelink.request_link('Member link', ARRAY['P'], '{"P": ["alpha", "beta"]}',
                              adoption_rule => '{"rule": "unanimous"}') AS ml \gset
SELECT tracelink.reply_invitation('Member link', 'P', true) IS NOT NULL AS accepted;
RESET ROLE;
SELECT lines AS beta_reply FROM sim_reply('beta', :'ml', 'P', true) \gset
SET ROLE tl_wf_member;
-- applying peers' entries is for administrators
SELECT err(format('SELECT * FROM tracelink.ingest(%L)', :'beta_reply'));
RESET ROLE;
SELECT * FROM tracelink.ingest(:'beta_reply');
SET ROLE tl_wf_member;
SELECT tracelink.submit_process('Member link', '{"name": "P", "stages": [{"name": "S", "forms": [
    {"name": "K", "key": true, "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}]},
    {"name": "N", "items": [{"name": "note", "type": "text"}]}]}]}') IS NOT NULL AS submitted;
-- the projection tables are written by the ledger only
SELECT err($$ INSERT INTO tracelink.ballots VALUES ('\x01', 'alpha', true, NULL, '\x01') $$);
SELECT err($$ UPDATE tracelink.proposals SET status = 'passed' $$);
SELECT err($$ UPDATE tracelink.link_invitations SET status = 'accepted' $$);
SELECT err($$ DELETE FROM tracelink.trace_links $$);
SELECT err($$ TRUNCATE tracelink.link_version_history $$);
SELECT err(format('SELECT tracelink._decide(%L, true)', :'ml'));
SELECT err(format('SELECT tracelink._undecide(%L)', :'ml'));
SELECT err(format($$ SELECT tracelink._project_link_request('alpha', '{}', %L, '{}', true) $$, :'ml'));
SELECT err($$ SET tracelink.default_voting_rule = '{"rule": "k_of_n", "k": 1}' $$);
-- a member may append workflow entries, but only what the rules accept:
-- a proposal with fewer voters than the link's state gives is refused
SELECT err(format('SELECT tracelink._append_action(%L, %L, %L)', 'tl.link.proposal',
                  p.payload || '{"voters": ["alpha"], "threshold": 1}', p.deps))
  FROM tracelink._proposal(:'ml', 'adoption', NULL, NULL, NULL) p;
-- as is one with the voters but fewer dependencies
-- (the detail names the two acceptances it lacks)
SELECT split_part(e, ' [', 1) AS err,
       array_length(regexp_split_to_array(substring(e FROM '\[It lacks (.*)\.\]$'), ', '), 1) AS lacking
  FROM tracelink._proposal(:'ml', 'adoption', NULL, NULL, NULL) p,
       err(format('SELECT tracelink._append_action(%L, %L, %L)', 'tl.link.proposal', p.payload, ARRAY[:'ml'::bytea])) e;
SELECT count(*) AS proposals FROM tracelink.proposals WHERE link_id = :'ml';
SELECT tracelink.assemble('Member link') AS mp \gset
SELECT voters, threshold FROM tracelink.proposals WHERE proposal_id = :'mp';
SELECT tracelink.vote(:'mp', true) IS NOT NULL AS voted;
RESET ROLE;
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_vote('beta', :'mp', true)));
SET ROLE tl_wf_member;
SELECT status, active_version FROM tracelink.links WHERE name = 'Member link';
-- a modification: the member may not open the vote before every builder
-- of the process has confirmed
SELECT tracelink.request_modification('Member link', 'P', 'a photo') AS mm \gset
SELECT tracelink.submit_process('Member link', '{"name": "P", "stages": [{"name": "S", "forms": [
    {"name": "K", "key": true, "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}]},
    {"name": "N", "items": [{"name": "note", "type": "text"}, {"name": "photo", "type": "image"}]}]}]}') IS NOT NULL AS submitted;
SELECT tracelink.confirm_revision('Member link', 'P') IS NOT NULL AS confirmed;
SELECT err(format('SELECT tracelink._propose(%L, %L, %L, %L, NULL)', :'ml', 'modification', 'P', :'mm'));
SELECT status, confirmed_by FROM tracelink.modifications WHERE modification_id = :'mm';
RESET ROLE;
-- beta's confirmation opens the local vote (on this node, the creator's)
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_action('beta', 'tl.process.confirm', jsonb_build_object(
    'link', encode(:'ml', 'hex'), 'process', 'P', 'modification', encode(:'mm', 'hex')), ARRAY[:'mm'::bytea])));
SELECT version, scope, status, threshold, voters FROM tracelink.link_versions WHERE link_id = :'ml' AND version = 2;

REVOKE CONNECT ON DATABASE :"DBNAME" FROM tl_wf_member;
DROP ROLE tl_wf_reader, tl_wf_member, tl_wf_nobody;
