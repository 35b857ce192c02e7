-- Roles inside a node (docs/privacy.md, "Roles"): what each of tracelink's
-- roles reaches, recorder grants allowing and refusing record(),
-- record_batch() and record_staged(), the refusals of grant_recorder() and
-- revoke_recorder(), and the private entries (kind tl.trace.private) that
-- row security hides from roles that are not viewers.  Works on node alpha
-- (from sql/include/) and a link of its own, "Roles tea": two processes
-- alpha builds alone, Growing feeding Processing.
\set ECHO none
\i sql/include/node_alpha.sql
\o /dev/null
SELECT tracelink.request_link('Roles tea', ARRAY['Growing', 'Processing'],
    '{"Growing": ["alpha"], "Processing": ["alpha"]}', '{"product": "sencha"}', '{"rule": "unanimous"}');
SELECT tracelink.reply_invitation('Roles tea', p, true) FROM unnest(ARRAY['Growing', 'Processing']) p;
SELECT tracelink.submit_process('Roles tea', '{"name": "Growing",
  "stages": [{"name": "Harvest", "forms": [
    {"name": "Harvest record", "key": true, "items": [
      {"name": "lot", "type": "text", "required": true, "trace_code": true},
      {"name": "weight kg", "type": "numeric", "required": true}]}]}],
  "outputs": [{"name": "fresh leaves", "level": 2}]}');
SELECT tracelink.submit_process('Roles tea', '{"name": "Processing",
  "stages": [{"name": "Steaming", "forms": [
    {"name": "Batch sheet", "key": true, "items": [
      {"name": "batch", "type": "text", "required": true, "trace_code": true}]}]}],
  "inputs": [{"name": "leaves", "from": "Growing", "output": "fresh leaves", "level": 2}],
  "outputs": [{"name": "tea batch", "level": 2}]}');
SELECT tracelink.vote(tracelink.assemble('Roles tea'), true);
\o
\set ECHO all
SELECT name, status, active_version FROM tracelink.links WHERE name = 'Roles tea';

-- 1. The roles and what they are granted (roles are cluster-wide, made
--    when missing)
SELECT r.rolname, r.rolcanlogin,
       ARRAY(SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
              WHERE m.member = r.oid ORDER BY 1) AS member_of
  FROM pg_roles r WHERE r.rolname LIKE 'tracelink\_%' AND r.rolname NOT LIKE 'tracelink\_peer\_%'
 ORDER BY 1;

SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_roles_reader, regress_roles_auditor, regress_roles_viewer,
                    regress_roles_recorder, regress_roles_crewman, regress_roles_crew,
                    regress_roles_member, regress_roles_nobody;
RESET client_min_messages;
CREATE ROLE regress_roles_reader IN ROLE tracelink_reader;
CREATE ROLE regress_roles_auditor IN ROLE tracelink_auditor;
CREATE ROLE regress_roles_viewer IN ROLE tracelink_viewer;
CREATE ROLE regress_roles_recorder IN ROLE tracelink_recorder;
CREATE ROLE regress_roles_crew IN ROLE tracelink_recorder;     -- a group of recorders
CREATE ROLE regress_roles_crewman IN ROLE regress_roles_crew;
CREATE ROLE regress_roles_member IN ROLE tracelink_member;
CREATE ROLE regress_roles_nobody;
-- tie the writers to this database, in case the server holds other
-- tracelink databases (docs/operations.md)
GRANT CONNECT ON DATABASE :"DBNAME" TO regress_roles_recorder, regress_roles_crew, regress_roles_member;

-- 2. Each role's reach
SELECT r AS role,
       has_table_privilege(r, 'tracelink.ledger_entries', 'SELECT') AS ledger,
       has_table_privilege(r, 'tracelink.recorders', 'SELECT') AS recorders,
       has_function_privilege(r, 'tracelink.verify(text)', 'EXECUTE') AS verify,
       has_function_privilege(r, 'tracelink.record_proof(bytea, integer)', 'EXECUTE') AS proofs,
       tracelink_sees_private AS private,
       has_function_privilege(r, 'tracelink.record(text, text, text, text, text, jsonb, text, jsonb, jsonb, timestamptz)', 'EXECUTE') AS record,
       has_table_privilege(r, 'tracelink.record_staging', 'INSERT') AS staging,
       has_function_privilege(r, 'tracelink.append(text, jsonb, bytea[])', 'EXECUTE') AS append,
       has_function_privilege(r, 'tracelink.grant_recorder(name, text, text)', 'EXECUTE') AS grant_recorder
  FROM unnest(ARRAY['regress_roles_nobody', 'regress_roles_reader', 'regress_roles_auditor',
                    'regress_roles_viewer', 'regress_roles_recorder', 'regress_roles_member',
                    'tracelink_admin']) WITH ORDINALITY AS u(r, n),
       LATERAL (SELECT pg_has_role(r, 'tracelink_viewer', 'USAGE') AS tracelink_sees_private) s
 ORDER BY n;

-- refusals, with their SQLSTATE
SET ROLE regress_roles_nobody;
SELECT err($$ SELECT count(*) FROM tracelink.ledger_entries $$);
SELECT err($$ SELECT * FROM tracelink.verify() $$);
RESET ROLE;
SET ROLE regress_roles_auditor;
SELECT count(*) > 0 AS reads_chain FROM tracelink.ledger;
SELECT bool_and(ok) AS verifies FROM tracelink.verify();
SELECT err($$ SELECT tracelink.record('Roles tea', 'R-1', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1}') $$);
SELECT err($$ INSERT INTO tracelink.record_staging (link, code, process, stage, form) VALUES ('Roles tea', 'R-1', 'Growing', 'Harvest', 'Harvest record') $$);
SELECT err($$ SELECT tracelink.grant_recorder('regress_roles_auditor', 'Roles tea', 'Growing') $$);
RESET ROLE;
SET ROLE regress_roles_viewer;
SELECT err($$ SELECT tracelink.record('Roles tea', 'R-1', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1}') $$);
RESET ROLE;

-- 3. Recorder grants: for tracelink_admin, by link name or hex id; a new
--    grant returns true, an existing one false
SELECT tracelink.grant_recorder('regress_roles_recorder', 'Roles tea', 'Growing') AS granted;
SELECT tracelink.grant_recorder('regress_roles_recorder', encode(tracelink.link_id('Roles tea'), 'hex'), 'Growing') AS granted_again;
SELECT tracelink.grant_recorder('regress_roles_crew', 'Roles tea', 'Processing') AS granted_to_group;
SELECT role_name, link, process, granted_by = current_user AS by_me, role_exists
  FROM tracelink.recorders ORDER BY role_name, process;

-- a recorder records for its granted process, by record(), record_batch()
-- and record_staged() ...
SET ROLE regress_roles_recorder;
SELECT length(tracelink.record('Roles tea', 'R-LOT-1', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 3}')) AS recorded;
SELECT tracelink.record_batch('Roles tea', '[{"code": "R-LOT-2", "process": "Growing", "stage": "Harvest", "form": "Harvest record", "data": {"weight kg": 4}}]') AS batch;
INSERT INTO tracelink.record_staging (link, code, process, stage, form, data)
VALUES ('Roles tea', 'R-LOT-3', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 5}');
SELECT tracelink.record_staged('Roles tea') AS staged;
-- ... and for no other: every path refuses, naming role, link and process
SELECT err($$ SELECT tracelink.record('Roles tea', 'R-B-1', 'Processing', 'Steaming', 'Batch sheet', '{}') $$);
SELECT hint_of($$ SELECT tracelink.record('Roles tea', 'R-B-1', 'Processing', 'Steaming', 'Batch sheet', '{}') $$);
SELECT err($$ SELECT tracelink.record_batch('Roles tea', '[{"code": "R-LOT-4", "process": "Growing", "stage": "Harvest", "form": "Harvest record", "data": {"weight kg": 4}},
                                                          {"code": "R-B-1", "process": "Processing", "stage": "Steaming", "form": "Batch sheet"}]') $$);
INSERT INTO tracelink.record_staging (link, code, process, stage, form)
VALUES ('Roles tea', 'R-B-1', 'Processing', 'Steaming', 'Batch sheet');
SELECT err($$ SELECT tracelink.record_staged('Roles tea') $$);
DELETE FROM tracelink.record_staging;
RESET ROLE;
-- nothing of the refused calls was recorded
SELECT c.code FROM tracelink.records r JOIN tracelink.codes c ON c.code_id = r.code_id
 WHERE c.code LIKE 'R-%' ORDER BY 1;

-- a grant to a group reaches its members
SET ROLE regress_roles_crewman;
SELECT length(tracelink.record('Roles tea', 'R-B-1', 'Processing', 'Steaming', 'Batch sheet', '{}',
                               inputs => '["R-LOT-1"]')) AS recorded_by_group_member;
SELECT err($$ SELECT tracelink.record('Roles tea', 'R-LOT-5', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1}') $$);
RESET ROLE;

-- a member records everywhere, without a grant
SET ROLE regress_roles_member;
SELECT length(tracelink.record('Roles tea', 'R-B-2', 'Processing', 'Steaming', 'Batch sheet', '{}')) AS recorded_by_member;
RESET ROLE;

-- revoked, the recorder is refused again; a second revoke finds nothing
SELECT tracelink.revoke_recorder('regress_roles_recorder', 'Roles tea', 'Growing') AS revoked;
SELECT tracelink.revoke_recorder('regress_roles_recorder', 'Roles tea', 'Growing') AS revoked_again;
SET ROLE regress_roles_recorder;
SELECT err($$ SELECT tracelink.record('Roles tea', 'R-LOT-6', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1}') $$);
RESET ROLE;

-- 4. grant_recorder() and revoke_recorder() refuse: a caller that is not
--    an admin, an unknown role, link or process, NULL
SET ROLE regress_roles_member;
SELECT err($$ SELECT tracelink.grant_recorder('regress_roles_recorder', 'Roles tea', 'Growing') $$);
SELECT err($$ SELECT tracelink.revoke_recorder('regress_roles_crew', 'Roles tea', 'Processing') $$);
RESET ROLE;
SET ROLE regress_roles_recorder;
SELECT err($$ SELECT tracelink.grant_recorder('regress_roles_recorder', 'Roles tea', 'Growing') $$);
SELECT err($$ DELETE FROM tracelink.recorder_grants $$);
RESET ROLE;
SELECT err($$ SELECT tracelink.grant_recorder('regress_roles_nosuch', 'Roles tea', 'Growing') $$);
SELECT err($$ SELECT tracelink.grant_recorder('regress_roles_recorder', 'No such link', 'Growing') $$);
SELECT err($$ SELECT tracelink.grant_recorder('regress_roles_recorder', 'Roles tea', 'No such process') $$);
SELECT err($$ SELECT tracelink.revoke_recorder('regress_roles_recorder', 'Roles tea', 'No such process') $$);
SELECT err($$ SELECT tracelink.grant_recorder(NULL, 'Roles tea', 'Growing') $$);
SELECT err($$ SELECT tracelink.grant_recorder('regress_roles_recorder', NULL, 'Growing') $$);

-- 5. Private entries: row security on the tables that hold entries as
--    they are
SELECT tablename, policyname, permissive, roles, cmd
  FROM pg_policies WHERE schemaname = 'tracelink' ORDER BY 1, 2;
SELECT relname, relrowsecurity FROM pg_class
 WHERE relnamespace = 'tracelink'::regnamespace AND relrowsecurity ORDER BY 1;

-- The lead's private entries are not recordable here yet: an entry of kind
-- tl.trace.private is forged into each table (triggers off, in a
-- transaction that rolls back), in a block of alpha's chain.
BEGIN;
ALTER TABLE tracelink.ledger_entries DISABLE TRIGGER USER;
INSERT INTO tracelink.ledger_entries (origin, tx, seq, kind, payload, deps, audience, entry_hash)
SELECT b.origin, b.tx, b.entry_count, 'tl.trace.private', '{"values":{"price":12.5},"salt":"00"}', NULL,
       ARRAY['alpha'], sha256('forged private entry')
  FROM tracelink.ledger_blocks b WHERE b.origin = 'alpha' ORDER BY b.block_no DESC LIMIT 1;
INSERT INTO tracelink.inbox_entries (origin, tx, seq, kind, payload, deps, audience, entry_hash)
VALUES ('beta', 99, 0, 'tl.trace.private', '{"values":{"price":13}}', NULL, ARRAY['alpha'], sha256('forged inbox entry'));
INSERT INTO tracelink.quarantine (what, origin, reason, row_data)
VALUES ('entry', 'beta', 'forged', '{"kind": "tl.trace.private", "payload": "{\"values\":{\"price\":14}}"}');
CREATE TEMP TABLE seen (role name, ledger_entries boolean, ledger boolean, inbox boolean, quarantine boolean, exported boolean, verify_ok boolean);
GRANT INSERT ON seen TO PUBLIC;
-- which roles see any private row (the forged ones, and in the whole suite
-- those of 44_private) in each table, the ledger view and alpha's export;
-- the statements, one per role, are not echoed
\set ECHO none
SELECT format($$SET ROLE %I;
INSERT INTO seen SELECT current_user,
    EXISTS (SELECT FROM tracelink.ledger_entries WHERE kind = 'tl.trace.private'),
    EXISTS (SELECT FROM tracelink.ledger WHERE kind = 'tl.trace.private'),
    EXISTS (SELECT FROM tracelink.inbox_entries WHERE kind = 'tl.trace.private'),
    EXISTS (SELECT FROM tracelink.quarantine WHERE row_data ->> 'kind' = 'tl.trace.private'),
    EXISTS (SELECT FROM tracelink.export('alpha') l WHERE l LIKE '%%tl.trace.private%%'),
    (SELECT ok FROM tracelink.verify('alpha'));
RESET ROLE;$$, r)
  FROM unnest(ARRAY['regress_roles_reader', 'regress_roles_auditor', 'regress_roles_viewer',
                    'regress_roles_recorder', 'regress_roles_member', 'tracelink_admin']) r \gexec
\set ECHO all
SELECT * FROM seen;
-- verify() runs as the owner: every role's verify() sees the forged entry
-- that its block does not seal, also where the role cannot read it
SET ROLE regress_roles_auditor;
SELECT ok, reason FROM tracelink.verify('alpha');
RESET ROLE;
ROLLBACK;

SET ROLE regress_roles_auditor;
SELECT bool_and(ok) AS verifies_after FROM tracelink.verify();
RESET ROLE;

-- 6. The roles go; a grant of a dropped role grants nothing and shows so
DELETE FROM tracelink.recorder_grants WHERE role_name LIKE 'regress_roles\_%' AND process = 'Growing';
REVOKE CONNECT ON DATABASE :"DBNAME" FROM regress_roles_recorder, regress_roles_crew, regress_roles_member;
DROP ROLE regress_roles_reader, regress_roles_auditor, regress_roles_viewer, regress_roles_recorder,
          regress_roles_crewman, regress_roles_crew, regress_roles_member, regress_roles_nobody;
SELECT role_name, link, process, role_exists FROM tracelink.recorders WHERE role_name LIKE 'regress_roles\_%';
SELECT tracelink.revoke_recorder('regress_roles_crew', 'Roles tea', 'Processing') AS revoke_of_dropped;
DELETE FROM tracelink.recorder_grants WHERE role_name LIKE 'regress_roles\_%';
