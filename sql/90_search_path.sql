-- No member can make tracelink run objects of its own (docs/security.md).
--
-- A member who can create objects in some schema puts it first in
-- search_path, before pg_catalog, with a function, aggregate or operator of
-- the same name and argument types as each one pg_catalog has
-- (sql/include/plant_shadows.sql): each notes in evil.ran that it ran, and
-- as whom.  Then that member (an admin: members and readers can call less)
-- calls every routine granted to tracelink's roles, through a whole trace
-- link's life.  None of the planted objects may run: every SQL function of
-- tracelink pins search_path, and every SQL that C code runs does too
-- (src/safe_spi.c).  The check at the end also proves every routine was
-- called here (pg_stat_user_functions), so a routine added later without a
-- test here fails this file.
--
-- A database of its own: this file needs nothing from the others.
SET client_min_messages = warning;
SELECT current_database() AS regress_db \gset
CREATE DATABASE tl_search_path;
-- this run's key files apart from earlier runs' on the same cluster
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE tl_search_path SET tracelink.key_directory = %L',
                   'pg_tracelink_regress_sp_' || pg_backend_pid() || '_' || (extract(epoch FROM clock_timestamp()) * 1000)::bigint);
END
$$;
\c tl_search_path
SET client_min_messages = warning;
CREATE EXTENSION tracelink;
DROP ROLE IF EXISTS regress_sp_admin;
CREATE ROLE regress_sp_admin IN ROLE tracelink_admin;
-- its own CONNECT grant: tracelink's roles are cluster-wide (docs/operations.md)
GRANT CONNECT ON DATABASE tl_search_path TO regress_sp_admin;
CREATE SCHEMA evil AUTHORIZATION regress_sp_admin;
GRANT CREATE ON SCHEMA public TO regress_sp_admin;
-- a recorder (sqlsrc/80_roles.sql), which reaches the planted schema too
DROP ROLE IF EXISTS regress_sp_recorder;
CREATE ROLE regress_sp_recorder IN ROLE tracelink_recorder;
GRANT CONNECT ON DATABASE tl_search_path TO regress_sp_recorder;
GRANT USAGE ON SCHEMA evil TO regress_sp_recorder;

-- A simulated peer, "beta" (sql/include/sim_nodes.sql), whose blocks the
-- member applies with tracelink.ingest(); set up by the superuser.
\set ECHO none
\i sql/include/sim_nodes.sql
\set ECHO all
INSERT INTO tracelink.nodes (name, public_key)
SELECT 'beta', tracelink.ed25519_public_key(sha256(convert_to('tracelink simulated node beta', 'UTF8')));
INSERT INTO sim_chain (node, seed) VALUES ('beta', sha256(convert_to('tracelink simulated node beta', 'UTF8')));
SELECT lines AS beta_genesis FROM sim_action('beta', 'tl.genesis', jsonb_build_object(
    'node', 'beta', 'public_key', encode(tracelink.ed25519_public_key(
        sha256(convert_to('tracelink simulated node beta', 'UTF8'))), 'hex'))) \gset

-- err(sql): the SQLSTATE and message a statement raised.  It names only
-- schema-qualified functions and no operator, and has no SET clause, so the
-- statement runs with the caller's search_path.
CREATE FUNCTION public.err(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    state text;
    msg text;
BEGIN
    EXECUTE sql;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    RETURN pg_catalog.concat_ws(': ', state, msg);
END
$$;

-- the member plants its objects
SET ROLE regress_sp_admin;
SET search_path = pg_catalog;
\set ECHO none
\i sql/include/plant_shadows.sql
\set ECHO all
RESET ROLE;

-- From here, statements run as the member with the planted schema first,
-- and count function calls; \set lines switch to the superuser and back
-- around the simulated peer's steps.  The statements themselves use no
-- function or operator by name (only tracelink.*, literals, IS NOT NULL and
-- EXISTS), so that anything noted in evil.ran came from inside tracelink.
\set as_member 'SET track_functions = "all"; SET ROLE regress_sp_admin; SET search_path = evil, pg_catalog, public;'
\set as_superuser 'RESET ROLE; SET track_functions = "none"; SET search_path = public, pg_catalog;'
:as_member

-- node, keys, canonical JSON, hashes, signatures, Merkle trees
SELECT tracelink.init_node('spnode') IS NOT NULL AS initialised;
SELECT tracelink.node_name(), tracelink.node_public_key() IS NOT NULL AS has_key;
SELECT * FROM tracelink.ingest(:'beta_genesis');
SELECT tracelink.witness() IS NOT NULL AS witnessed;
SELECT tracelink.jcs('{"b": [1, 2.50, "x"], "a": null}'::text), tracelink.jcs('{"b": 1e2, "a": true}'::jsonb);
SELECT tracelink.digest('{"a": 1}'::jsonb) IS NOT NULL AS digest, tracelink.sha256_digest('\x00') IS NOT NULL AS sha256;
SELECT tracelink.epcis_prehash('{"type": "ObjectEvent", "action": "OBSERVE", "eventTime": "2024-05-01T10:00:00+02:00", "epcList": ["urn:epc:id:sgtin:9521141.012345.1"]}') AS epcis_prehash,
       tracelink.epcis_event_hash('{"type": "ObjectEvent", "action": "OBSERVE", "eventTime": "2024-05-01T10:00:00+02:00"}') AS epcis_event_hash;
SELECT tracelink.ed25519_public_key('\x0000000000000000000000000000000000000000000000000000000000000000') AS pk \gset
SELECT tracelink.ed25519_sign('\x0000000000000000000000000000000000000000000000000000000000000000', '\x01') AS sig \gset
SELECT tracelink.ed25519_verify(:'pk', '\x01', :'sig') AS signature_verifies;
SELECT tracelink.merkle_leaf_hash('\x01') IS NOT NULL AS leaf,
       tracelink.merkle_root(ARRAY['\x01', '\x02', '\x03']::bytea[]) AS root3,
       tracelink.merkle_root(ARRAY['\x01', '\x02']::bytea[]) AS root2 \gset
SELECT tracelink.verify_inclusion(1, 3, tracelink.merkle_leaf_hash('\x02'),
           tracelink.merkle_inclusion_proof(ARRAY['\x01', '\x02', '\x03']::bytea[], 1), :'root3') AS inclusion_verifies,
       tracelink.verify_consistency(2, 3, :'root2', :'root3',
           tracelink.merkle_consistency_proof(ARRAY['\x01', '\x02', '\x03']::bytea[], 2)) AS consistency_verifies;
SELECT tracelink.entry_preimage('app.note', '{"a": 1}', NULL, 'spnode', 1, 0) IS NOT NULL AS preimage;
SELECT tracelink.vote_threshold('{"rule": "majority"}', 3) AS majority_of_3;
SELECT tracelink.append('app.note', '{"text": "hello", "n": 1}') IS NOT NULL AS appended;

-- definitions: the three types, their accessors, operators and templates
SELECT tracelink.stage_in('{"name": "Harvest", "forms": [{"name": "Lot", "items": [{"name": "lot", "type": "text"}]}]}') AS stage_text \gset
SELECT tracelink.stage_out(:'stage_text') IS NOT NULL AS stage_out,
       tracelink.stage_send(:'stage_text') IS NOT NULL AS stage_send,
       tracelink.name(tracelink.stage('{"name": "S"}'::jsonb)) AS stage_name,
       EXISTS (SELECT FROM tracelink.forms(:'stage_text'::tracelink.stage)) AS forms,
       EXISTS (SELECT FROM tracelink.data_items(:'stage_text'::tracelink.stage)) AS stage_items,
       EXISTS (SELECT FROM tracelink.validate(:'stage_text'::tracelink.stage)) AS stage_problems,
       tracelink.validate_strict(:'stage_text'::tracelink.stage) IS NOT NULL AS stage_valid,
       tracelink.jsonb(:'stage_text'::tracelink.stage) IS NOT NULL AS stage_jsonb,
       tracelink.digest(:'stage_text'::tracelink.stage) IS NOT NULL AS stage_digest,
       tracelink.definition_hash(:'stage_text'::tracelink.stage) IS NOT NULL AS stage_hash,
       tracelink.definition_hash_extended(:'stage_text'::tracelink.stage, 7) IS NOT NULL AS stage_hash_ext,
       tracelink.definition_eq(:'stage_text'::tracelink.stage, :'stage_text'::tracelink.stage) AS stage_eq,
       tracelink.definition_ne(:'stage_text'::tracelink.stage, :'stage_text'::tracelink.stage) AS stage_ne,
       tracelink.merge_patch(:'stage_text'::tracelink.stage, '{"role": "grower"}') IS NOT NULL AS stage_patched;
SELECT tracelink.process_in('{"name": "Growing", "outputs": [{"name": "leaves", "level": 2}],
    "stages": [{"name": "Harvest", "forms": [{"name": "Lot", "key": true, "items": [
        {"name": "lot", "type": "text", "required": true, "trace_code": true}]}]}]}') AS growing \gset
SELECT tracelink.process_in('{"name": "Packing",
    "inputs": [{"name": "leaves", "from": "Growing", "output": "leaves", "level": 2}],
    "stages": [{"name": "Boxing", "forms": [{"name": "Label", "key": true, "items": [
        {"name": "pack", "type": "text", "required": true, "trace_code": true},
        {"name": "note", "type": "text", "audience": "process"}]}]}]}') AS packing \gset
SELECT tracelink.process_out(:'growing') IS NOT NULL AS process_out,
       tracelink.process_send(:'growing') IS NOT NULL AS process_send,
       tracelink.name(:'growing'::tracelink.process) AS process_name,
       tracelink.name(tracelink.process('{"name": "P"}'::jsonb)) AS process_from_jsonb,
       EXISTS (SELECT FROM tracelink.stages(:'growing'::tracelink.process)) AS stages,
       EXISTS (SELECT FROM tracelink.data_items(:'growing'::tracelink.process)) AS process_items,
       EXISTS (SELECT FROM tracelink.trace_code_items(:'growing'::tracelink.process)) AS trace_code_items,
       EXISTS (SELECT FROM tracelink.inputs(:'packing'::tracelink.process)) AS inputs,
       EXISTS (SELECT FROM tracelink.outputs(:'growing'::tracelink.process)) AS outputs,
       EXISTS (SELECT FROM tracelink.validate(:'growing'::tracelink.process)) AS process_problems,
       tracelink.validate_strict(:'growing'::tracelink.process) IS NOT NULL AS process_valid,
       tracelink.jsonb(:'growing'::tracelink.process) IS NOT NULL AS process_jsonb,
       tracelink.digest(:'growing'::tracelink.process) IS NOT NULL AS process_digest,
       tracelink.definition_hash(:'growing'::tracelink.process) IS NOT NULL AS process_hash,
       tracelink.definition_hash_extended(:'growing'::tracelink.process, 7) IS NOT NULL AS process_hash_ext,
       tracelink.definition_eq(:'growing'::tracelink.process, :'packing'::tracelink.process) AS process_eq,
       tracelink.definition_ne(:'growing'::tracelink.process, :'packing'::tracelink.process) AS process_ne,
       tracelink.merge_patch(:'growing'::tracelink.process, '{"node": "spnode"}') IS NOT NULL AS process_patched,
       tracelink._touches_key_forms(:'growing'::tracelink.process, :'packing'::tracelink.process) AS touches_key_forms;
SELECT tracelink.link_in('{"name": "Tea", "process_order": ["Growing", "Packing"],
    "invitations": {"Growing": ["spnode"], "Packing": ["spnode"]}}') AS tea_design \gset
SELECT tracelink.with_process(tracelink.with_process(:'tea_design'::tracelink.link, :'growing'), :'packing') AS tea_def \gset
SELECT tracelink.link_out(:'tea_def') IS NOT NULL AS link_out,
       tracelink.link_send(:'tea_def') IS NOT NULL AS link_send,
       tracelink.name(:'tea_def'::tracelink.link) AS link_name,
       tracelink.name(tracelink.link('{"name": "L"}'::jsonb)) AS link_from_jsonb,
       tracelink.link_info(:'tea_def') IS NOT NULL AS link_info,
       EXISTS (SELECT FROM tracelink.invitations(:'tea_def'::tracelink.link)) AS invitations,
       tracelink.process_order(:'tea_def'::tracelink.link) AS process_order,
       EXISTS (SELECT FROM tracelink.processes(:'tea_def'::tracelink.link)) AS processes,
       tracelink.name(tracelink.process(:'tea_def'::tracelink.link, 'Packing')) AS process_of_link,
       EXISTS (SELECT FROM tracelink.mesh(:'tea_def'::tracelink.link)) AS mesh,
       EXISTS (SELECT FROM tracelink.mesh_layers(:'tea_def'::tracelink.link)) AS mesh_layers,
       tracelink.voting_rule(:'tea_def'::tracelink.link, 'adoption') AS adoption_rule,
       EXISTS (SELECT FROM tracelink.validate(:'tea_def'::tracelink.link)) AS link_problems,
       tracelink.validate_strict(:'tea_def'::tracelink.link) IS NOT NULL AS link_valid,
       tracelink.jsonb(:'tea_def'::tracelink.link) IS NOT NULL AS link_jsonb,
       tracelink.digest(:'tea_def'::tracelink.link) IS NOT NULL AS link_digest,
       tracelink.definition_hash(:'tea_def'::tracelink.link) IS NOT NULL AS link_hash,
       tracelink.definition_hash_extended(:'tea_def'::tracelink.link, 7) IS NOT NULL AS link_hash_ext,
       tracelink.definition_eq(:'tea_def'::tracelink.link, :'tea_design'::tracelink.link) AS link_eq,
       tracelink.definition_ne(:'tea_def'::tracelink.link, :'tea_design'::tracelink.link) AS link_ne,
       tracelink.merge_patch(:'tea_def'::tracelink.link, '{"info": {"product": "tea"}}') IS NOT NULL AS link_patched;
SELECT tracelink.save_template('sp-growing', :'growing', 'growing, as a template');
SELECT tracelink.name(tracelink.template('sp-growing')) AS template,
       tracelink.name(tracelink.instantiate_template('sp-growing', 'Growing 2')) AS instantiated;

-- a link's life: request, answers, processes, assembly, vote, records
SELECT tracelink.request_link('Tea', ARRAY['Growing', 'Packing'], '{"Growing": ["spnode"], "Packing": ["spnode"]}',
                              '{"product": "tea"}', '{"rule": "unanimous"}') AS tea \gset
SELECT tracelink.link_id('Tea') IS NOT NULL AS link_id;
SELECT tracelink.reply_invitation('Tea', 'Growing', true) IS NOT NULL AS accepted,
       tracelink.reply_invitation('Tea', 'Packing', true, 'glad to') IS NOT NULL AS accepted_too;
SELECT tracelink.submit_process_from_template('Tea', 'Growing', 'sp-growing') IS NOT NULL AS from_template;
SELECT tracelink.submit_process('Tea', :'packing') IS NOT NULL AS submitted;
SELECT tracelink._participants(:'tea') AS participants,
       tracelink._participants(:'tea', 'Growing') AS growing_participants;
SELECT tracelink.name(tracelink._proposed_definition(:'tea', NULL, NULL)) AS proposed;
SELECT EXISTS (SELECT FROM tracelink._proposal(:'tea', 'adoption', NULL, NULL, NULL)) AS proposal_shape;
SELECT tracelink.assemble('Tea') AS p1 \gset
SELECT action, detail FROM tracelink.pending_actions WHERE link OPERATOR(pg_catalog.=) 'Tea';
SELECT voters, voted FROM tracelink.open_ballots WHERE link OPERATOR(pg_catalog.=) 'Tea';
-- the ballot, through the internal entry point vote() uses (its payload is
-- made by the superuser: building it would take functions by name)
:as_superuser
SELECT jsonb_build_object('proposal', encode(:'p1', 'hex'), 'approve', true, 'reason', NULL) AS p1_ballot \gset
:as_member
SELECT tracelink._append_action('tl.link.ballot', :'p1_ballot', ARRAY[:'p1']::bytea[]) IS NOT NULL AS ballot;
SELECT tracelink.node_name() AS creator, tracelink.state_digest() IS NOT NULL AS digest,
       tracelink._ledger_state() IS NOT NULL AS ledger_state, tracelink._workflow_state() IS NOT NULL AS workflow_state,
       tracelink._trace_state() IS NOT NULL AS trace_state, tracelink._required(1, 'n') AS required;

-- trace data: one record, a batch, staged rows, a transformation
SELECT tracelink.record('Tea', 'LOT-1', 'Growing', 'Harvest', 'Lot', '{}', 'manual',
                        occurred_at => '2026-05-01 07:00+00') AS rec1 \gset
SELECT tracelink.record_batch('Tea', '[{"code": "LOT-2", "process": "Growing", "stage": "Harvest", "form": "Lot",
                                        "occurred_at": "2026-05-01T08:00:00Z"}]') AS batch;
INSERT INTO tracelink.record_staging (link, code, process, stage, form, occurred_at)
VALUES ('Tea', 'LOT-3', 'Growing', 'Harvest', 'Lot', '2026-05-01 09:00+00');
SELECT tracelink.record_staged('Tea') AS staged;
SELECT tracelink.record('Tea', 'P-1', 'Packing', 'Boxing', 'Label', '{"note": "first box"}',
                        inputs => '["LOT-1", {"code": "LOT-2", "quantity": 2, "unit": "kg"}]',
                        occurred_at => '2026-05-02 07:00+00') AS packed \gset
-- the note is private: its value in a tl.trace.private entry, disclosed with a proof
SELECT tracelink.verify_disclosure(tracelink.disclose(:'packed', 0, 'note'), tracelink.node_public_key()) AS disclosed,
       tracelink.commitment('\x0000000000000000000000000000000000000000000000000000000000000000', '"x"') IS NOT NULL AS commitment;

-- provenance and proofs
SELECT code, relation, depth, process, version, bound_version FROM tracelink.trace('P-1') ORDER BY depth, code;
SELECT EXISTS (SELECT FROM tracelink._provenance(tracelink._trace_start('LOT-1', 'Tea'))) AS provenance;
SELECT tracelink.trace_json('P-1') IS NOT NULL AS trace_json, tracelink.trace_dot('P-1', 'Tea') IS NOT NULL AS trace_dot,
       tracelink._dot_string('a "quoted" name') AS dot_string, tracelink._utc('2026-05-01 07:00+02') AS utc;
SELECT tracelink.record_proof(:'rec1', 0) AS proof1 \gset
SELECT tracelink.verify_record_proof(:'proof1', tracelink.node_public_key()) AS record_proof_verifies;
SELECT origin, ok, reason FROM tracelink.verify() ORDER BY origin;
SELECT EXISTS (SELECT FROM tracelink.export('spnode')) AS exported,
       EXISTS (SELECT FROM tracelink.export_for_peer('beta', 0)) AS exported_for_beta;
-- recorder grants: the admin grants a process, the recorder records there
-- (the grant is checked as the recorder, with the planted schema first)
SELECT tracelink.grant_recorder('regress_sp_recorder', 'Tea', 'Growing') AS granted;
SET ROLE regress_sp_recorder;
SELECT tracelink.record('Tea', 'LOT-4', 'Growing', 'Harvest', 'Lot', '{}', 'manual',
                        occurred_at => '2026-05-01 10:00+00') IS NOT NULL AS recorded_by_recorder;
SET ROLE regress_sp_admin;
SELECT tracelink.revoke_recorder('regress_sp_recorder', 'Tea', 'Growing') AS revoked;
SELECT tracelink.signed_tree_head() AS sth \gset
SELECT tracelink.verify_tree_head(:'sth', tracelink.node_public_key()) AS tree_head_verifies,
       tracelink.tree_root('spnode', 1) IS NOT NULL AS tree_root,
       EXISTS (SELECT FROM tracelink.inclusion_proof(:'rec1')) AS inclusion_proof,
       EXISTS (SELECT FROM tracelink.consistency_proof('spnode', 1)) AS consistency_proof;

-- files: a blob stored for an audience, read back, copied to a large
-- object, checked, and fetched (nothing to fetch: it is whole)
SELECT pg_catalog.lo_from_bytea(0, '\x0102030405'::bytea) AS sp_lo \gset
SELECT tracelink.store_blob(:sp_lo, 'sp.bin', 'application/octet-stream', ARRAY['beta']) AS sp_ref \gset
SELECT :'sp_ref'::jsonb IS NOT NULL AS stored,
       EXISTS (SELECT FROM tracelink.read_blob(pg_catalog.sha256('\x0102030405'::bytea))) AS read_back,
       EXISTS (SELECT FROM tracelink.verify_blobs()) AS verified,
       EXISTS (SELECT FROM tracelink._blob_references()) AS references,
       tracelink.fetch_blob(pg_catalog.sha256('\x0102030405'::bytea)) AS fetched;
SELECT tracelink.blob_to_lo(pg_catalog.sha256('\x0102030405'::bytea)) AS sp_lo2 \gset
SELECT pg_catalog.lo_unlink(:sp_lo2) AS unlinked, pg_catalog.lo_unlink(:sp_lo) AS unlinked_too;

-- EPCIS (docs/epcis.md): a link with an EPCIS form, a mapping, an import,
-- a staged import, the export and the queries.
SELECT tracelink.request_link('Fish', ARRAY['Catch'], '{"Catch": ["spnode"]}') IS NOT NULL AS fish;
SELECT tracelink.reply_invitation('Fish', 'Catch', true) IS NOT NULL AS fish_accepted;
SELECT tracelink.submit_process('Fish', '{"name": "Catch", "stages": [{"name": "Landing", "forms": [{"name": "Event", "key": true,
  "items": [{"name": "epc", "type": "text", "required": true, "trace_code": true, "sources": ["external"]},
            {"name": "event_id", "type": "text", "sources": ["external"]},
            {"name": "event", "type": "text", "sources": ["external"]}]}]}]}') IS NOT NULL AS fish_process;
SELECT tracelink.vote(tracelink.assemble('Fish'), true) IS NOT NULL AS fish_voted;
SELECT tracelink.set_epcis_mapping('Fish', 'Catch', 'Landing', 'Event', 'commissioning');
SELECT tracelink.clear_epcis_mapping('Fish', 'commissioning') AS mapping_cleared;
SELECT tracelink.set_epcis_mapping('Fish', 'Catch', 'Landing', 'Event', 'observing');
SELECT * FROM tracelink.import_epcis('{"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
  "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-05-01T00:00:00Z", "epcisBody": {"eventList": [
  {"type": "ObjectEvent", "eventTime": "2026-05-01T06:00:00Z", "eventTimeZoneOffset": "+00:00",
   "epcList": ["urn:epc:id:sgtin:1.2.3"], "action": "ADD", "bizStep": "commissioning"},
  {"type": "AggregationEvent", "eventTime": "2026-05-01T07:00:00Z", "eventTimeZoneOffset": "+00:00",
   "parentID": "urn:epc:id:sscc:1.1", "childEPCs": ["urn:epc:id:sgtin:1.2.3"], "action": "ADD", "bizStep": "packing"}]}}', 'Fish');
INSERT INTO tracelink.epcis_staging (event) VALUES ('{"type": "TransformationEvent", "eventTime": "2026-05-01T08:00:00Z",
  "eventTimeZoneOffset": "+00:00", "inputEPCList": ["urn:epc:id:sscc:1.1"], "outputEPCList": ["urn:epc:id:sgtin:1.2.4"]}');
SELECT * FROM tracelink.import_epcis_staged('Fish');
SELECT tracelink.epcis_document('urn:epc:id:sgtin:1.2.4', 'Fish') IS NOT NULL AS fish_document,
       tracelink.epcis_document('P-1') IS NOT NULL AS tea_document,
       tracelink.epcis_events('{"EQ_bizStep": "packing"}') IS NOT NULL AS packing_events,
       EXISTS (SELECT FROM tracelink.epcis_query('{"MATCH_epc": ["urn:epc:id:sgtin:1.2.3"], "link": "Fish"}')) AS matched;

-- a modification of Growing, revised, confirmed and voted in; then one of
-- the process order alone, closed early
SELECT tracelink.request_modification('Tea', 'Growing', 'weigh the lot') IS NOT NULL AS modification;
SELECT tracelink.submit_process('Tea', tracelink.merge_patch(:'growing'::tracelink.process,
    '{"stages": [{"name": "Harvest", "forms": [{"name": "Lot", "key": true, "items": [
        {"name": "lot", "type": "text", "required": true, "trace_code": true},
        {"name": "weight kg", "type": "numeric"}]}]}]}')) IS NOT NULL AS revised;
SELECT tracelink.confirm_revision('Tea', 'Growing') IS NOT NULL AS confirmed;
:as_superuser
SELECT proposal_id AS p2 FROM tracelink.proposals WHERE status = 'open' \gset
:as_member
SELECT tracelink.vote(:'p2', true, 'heavier is better') IS NOT NULL AS voted;
SELECT tracelink.request_modification('Tea', process_order => ARRAY['Growing', 'Packing'], reason => 'confirm') IS NOT NULL AS reorder;
:as_superuser
SELECT proposal_id AS p3 FROM tracelink.proposals WHERE status = 'open' \gset
:as_member
SELECT tracelink.close_vote(:'p3') AS outcome;

-- a second link: beta declines, spnode is invited in its place
SELECT tracelink.request_link('Other', ARRAY['B'], '{"B": ["beta"]}') AS other \gset
:as_superuser
SELECT lines AS beta_declines FROM sim_reply('beta', :'other', 'B', false) \gset
:as_member
SELECT * FROM tracelink.ingest(:'beta_declines');
SELECT tracelink.reinvite('Other', 'B', ARRAY['spnode']) IS NOT NULL AS reinvited;
SELECT err('SELECT tracelink.assemble(''Other'')') AS assemble_too_early;

-- entries that wait: beta's note waits for gamma's (its commit looks at
-- apply_queue), gamma's arrives and releases it; recheck_waiting() then
-- finds nothing left
:as_superuser
INSERT INTO tracelink.nodes (name, public_key)
SELECT 'gamma', tracelink.ed25519_public_key(sha256(convert_to('tracelink simulated node gamma', 'UTF8')));
INSERT INTO sim_chain (node, seed) VALUES ('gamma', sha256(convert_to('tracelink simulated node gamma', 'UTF8')));
SELECT lines AS gamma_genesis FROM sim_action('gamma', 'tl.genesis', jsonb_build_object('node', 'gamma', 'public_key',
    encode(tracelink.ed25519_public_key(sha256(convert_to('tracelink simulated node gamma', 'UTF8'))), 'hex'))) \gset
SELECT entry_hash AS gamma_note, lines AS gamma_note_lines FROM sim_action('gamma', 'app.note', '{"n": 1}') \gset
SELECT lines AS beta_waits FROM sim_action('beta', 'app.note', '{"n": 2}', ARRAY[:'gamma_note']::bytea[]) \gset
:as_member
SELECT * FROM tracelink.ingest(:'gamma_genesis');
SELECT * FROM tracelink.ingest(:'beta_waits');
SELECT * FROM tracelink.ingest(:'gamma_note_lines');
SELECT EXISTS (SELECT FROM tracelink.recheck_waiting()) AS released_more;
:as_superuser
SELECT count(*) AS still_waiting FROM tracelink.apply_queue;
:as_member

-- a node whose key is pinned late: its genesis is quarantined, then
-- retried (tracelink.retry_quarantined()); the alerts say what waits
:as_superuser
INSERT INTO sim_chain (node, seed) VALUES ('delta', sha256(convert_to('tracelink simulated node delta', 'UTF8')));
SELECT lines AS delta_genesis FROM sim_action('delta', 'tl.genesis', jsonb_build_object('node', 'delta', 'public_key',
    encode(tracelink.ed25519_public_key(sha256(convert_to('tracelink simulated node delta', 'UTF8'))), 'hex'))) \gset
:as_member
SELECT * FROM tracelink.ingest(:'delta_genesis');
SELECT alert, node, count FROM tracelink.alerts ORDER BY alert, node;
:as_superuser
INSERT INTO tracelink.nodes (name, public_key)
SELECT 'delta', tracelink.ed25519_public_key(sha256(convert_to('tracelink simulated node delta', 'UTF8')));
:as_member
SELECT what, outcome, reason FROM tracelink.retry_quarantined(origin => 'delta') ORDER BY what;

-- templates go; the key rotates and the node still signs
SELECT tracelink.drop_template('sp-growing');
SELECT tracelink.rotate_key() IS NOT NULL AS rotated;
SELECT tracelink.append('app.note', '{"text": "after rotation"}') IS NOT NULL AS appended;
SELECT tracelink.signing_hold() IS NULL AS signs;

-- JSON schema validation and the EPCIS schema (sqlsrc/79_json_schema.sql)
SELECT tracelink.set_epcis_schema('{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
    "properties": {"type": {"enum": ["EPCISDocument"]}, "creationDate": {"format": "date-time"}}, "required": ["type"]}') IS NOT NULL AS epcis_schema_loaded;
SELECT * FROM tracelink.epcis_schema_problems('{"type": "x", "creationDate": "yesterday"}');
SELECT * FROM tracelink.json_schema_problems('{"items": {"type": "string", "pattern": "^a"}}', '["ab", "b", 1]');

-- the versions (sqlsrc/96_version.sql)
SELECT extension OPERATOR(pg_catalog.=) library AS versions_agree FROM tracelink.versions();

-- nothing planted ran, and every routine granted to tracelink's roles was
-- called above (routines with an internal argument cannot be called from
-- SQL; SQL-standard bodies are bound when the extension is created;
-- resend() and catch_up() need a real peer: t/089_resend.pl and
-- t/096_late_joiner.pl plant the same shadows on both sides of them)
:as_superuser
SELECT what, by_role FROM evil.ran;
SELECT pg_stat_force_next_flush();
SELECT p.oid::regprocedure AS not_exercised
  FROM pg_proc p
 WHERE p.pronamespace = 'tracelink'::regnamespace
   AND has_function_privilege('tracelink_admin', p.oid, 'EXECUTE')
   AND p.prosqlbody IS NULL
   AND NOT 'internal'::regtype = ANY (p.proargtypes::oid[])
   AND p.oid <> 'tracelink.resend(text, text)'::regprocedure
   AND p.oid <> 'tracelink.catch_up(text)'::regprocedure
   AND NOT EXISTS (SELECT FROM pg_stat_user_functions s WHERE s.funcid = p.oid AND s.calls > 0)
 ORDER BY 1;
SELECT origin, ok FROM tracelink.verify() ORDER BY origin;

\c :regress_db
DROP DATABASE tl_search_path;
DROP ROLE regress_sp_admin;
