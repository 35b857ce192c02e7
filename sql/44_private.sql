-- Private values (docs/privacy.md): items whose audience is not public
-- leave the public record, which keeps a salted commitment; the values and
-- salts go into a tl.trace.private entry addressed to the audience only.
-- Members check every value against its commitment; a disclosure proof
-- lets an outsider check one value.  Refusals from peers are quarantined.
\set ECHO none
\i sql/include/node_alpha.sql
\i sql/include/sim_beta_gamma.sql
\set ECHO all
SELECT coalesce(max(id), 0) AS q0 FROM tracelink.quarantine \gset

-- "Private tea": alpha and beta grow (prices and the supplier are private),
-- alpha and gamma run the lab (its whole form is private to them).
SELECT tracelink.request_link('Private tea', ARRAY['Growing', 'Lab'],
    '{"Growing": ["alpha", "beta"], "Lab": ["alpha", "gamma"]}', '{}', '{"rule": "unanimous"}') AS pt \gset
SELECT count(tracelink.reply_invitation('Private tea', p, true)) AS accepted FROM unnest(ARRAY['Growing', 'Lab']) p;
SELECT count(*) AS applied FROM tracelink.ingest((SELECT lines FROM sim_reply('beta', :'pt', 'Growing', true)));
SELECT count(*) AS applied FROM tracelink.ingest((SELECT lines FROM sim_reply('gamma', :'pt', 'Lab', true)));
SELECT tracelink.submit_process('Private tea', '{"name": "Growing",
  "stages": [{"name": "Harvest", "members": ["alpha", "beta"], "forms": [
    {"name": "Sale", "items": [
      {"name": "lot", "type": "text", "required": true, "trace_code": true},
      {"name": "weight kg", "type": "numeric", "required": true},
      {"name": "price", "type": "numeric", "required": true, "audience": "process"},
      {"name": "supplier", "type": "text", "audience": ["alpha"]},
      {"name": "contract", "type": "file", "audience": "process"}]}]}],
  "outputs": [{"name": "leaves", "level": 2}]}') IS NOT NULL AS growing;
SELECT tracelink.submit_process('Private tea', '{"name": "Lab",
  "stages": [{"name": "Assay", "forms": [
    {"name": "Report", "audience": "process", "items": [
      {"name": "sample", "type": "text", "required": true, "trace_code": true, "audience": "public"},
      {"name": "result", "type": "text", "widget": "dropdown", "options": ["pass", "fail"]}]}]}],
  "inputs": [{"name": "leaves", "from": "Growing", "output": "leaves", "level": 2}]}') IS NOT NULL AS lab;
SELECT tracelink.assemble('Private tea') AS p1 \gset
SELECT tracelink.vote(:'p1', true) IS NOT NULL AS voted;
SELECT count(*) AS applied FROM tracelink.ingest((SELECT lines FROM sim_vote('beta', :'p1', true)));
SELECT count(*) AS applied FROM tracelink.ingest((SELECT lines FROM sim_vote('gamma', :'p1', true)));
SELECT name, active_version FROM tracelink.links WHERE name = 'Private tea';

-- the effective audience of each item, as the definitions show it
SELECT i.form, i.item, i.audience
  FROM tracelink.link_processes lp, tracelink.data_items(lp.definition) i
 WHERE lp.link_id = :'pt' ORDER BY 1, 2;

--
-- Recording: the public entry holds commitments, the private entry the values
--
SELECT tracelink.record('Private tea', 'LOT-1', 'Growing', 'Harvest', 'Sale',
    '{"weight kg": 40, "price": "812.50", "supplier": "Hillside estate",
      "contract": {"sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "name": "c.pdf"}}') AS e1 \gset
SELECT e.kind, e.audience, jsonb_typeof(e.payload::jsonb) AS payload
  FROM tracelink.ledger_entries e
 WHERE e.entry_hash = :'e1' OR :'e1' = ANY (e.deps) ORDER BY e.seq;
-- the public record: public values and a commitment per private value
SELECT r.data, (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(r.commitments) k) AS committed
  FROM tracelink.records r WHERE r.entry_hash = :'e1';
SELECT payload::jsonb->'records'->0 ? 'commitments' AS public_has_commitments,
       payload::text LIKE '%812.50%' OR payload::text LIKE '%Hillside%' AS public_leaks
  FROM tracelink.ledger_entries WHERE entry_hash = :'e1';
-- two private entries: one per audience ([alpha, beta] and [alpha])
SELECT e.audience, jsonb_array_length(e.payload::jsonb->'values') AS values,
       (SELECT array_agg(v->>'item' ORDER BY v->>'item') FROM jsonb_array_elements(e.payload::jsonb->'values') v) AS items
  FROM tracelink.ledger_entries e WHERE e.kind = 'tl.trace.private' AND :'e1' = ANY (e.deps) ORDER BY e.seq;
-- held values match the commitments (the one commitment function)
SELECT v.item, v.value, tracelink.commitment(v.salt, v.value) = r.commitments->>v.item AS matches
  FROM tracelink.private_values v JOIN tracelink.records r USING (entry_hash, position)
 WHERE v.entry_hash = :'e1' ORDER BY v.item;
-- a form private as a whole: only the trace-code item stays public
SELECT length(tracelink.record('Private tea', 'S-1', 'Lab', 'Assay', 'Report', '{"result": "pass"}',
                               inputs => '["LOT-1"]')) AS recorded;
SELECT code, process, data, commitments ? 'result' AS committed FROM tracelink.trace('LOT-1', 'Private tea') ORDER BY depth;
SELECT data, jsonb_typeof(commitments) FROM tracelink.trace_records WHERE code = 'S-1' AND link = 'Private tea';
SELECT (tracelink.trace_json('S-1', 'Private tea')->'codes'->0->'records'->0) ? 'commitments' AS json_has_commitments;
-- a batch mixing public-only and private records; each private value once
SELECT tracelink.record_batch('Private tea', '[
  {"code": "LOT-2", "process": "Growing", "stage": "Harvest", "form": "Sale", "data": {"weight kg": 5, "price": 90}},
  {"code": "LOT-3", "process": "Growing", "stage": "Harvest", "form": "Sale", "data": {"weight kg": 6, "price": 91, "supplier": "Riverside"}}]') AS batch;
SELECT r.position, v.item, v.value FROM tracelink.records r JOIN tracelink.private_values v USING (entry_hash, position)
 WHERE r.code_id IN (SELECT code_id FROM tracelink.codes WHERE code IN ('LOT-2', 'LOT-3') AND link_id = :'pt') ORDER BY 1, 2;

-- values of private items are checked like any value, and are required alike
SELECT err($$ SELECT tracelink.record('Private tea', 'LOT-9', 'Growing', 'Harvest', 'Sale', '{"weight kg": 1, "price": "cheap"}') $$);
SELECT err($$ SELECT tracelink.record('Private tea', 'LOT-9', 'Growing', 'Harvest', 'Sale', '{"weight kg": 1}') $$);
SELECT err($$ SELECT tracelink.record('Private tea', 'S-9', 'Lab', 'Assay', 'Report', '{"result": "maybe"}') $$);
SELECT err($$ SELECT tracelink.record('Private tea', 'LOT-9', 'Growing', 'Harvest', 'Sale', '{"weight kg": 1, "price": 1, "contract": {"name": "x"}}') $$);
SELECT count(*) AS nothing_left FROM tracelink.codes WHERE code IN ('LOT-9', 'S-9') AND link_id = :'pt';

--
-- Disclosure: one value, its salt and the record's proof
--
SELECT tracelink.disclose(:'e1', 0, 'price') AS proof \gset
SELECT :'proof'::jsonb->'value' AS value, :'proof'::jsonb->>'item' AS item,
       length(:'proof'::jsonb->>'salt') AS salt_hex_digits,
       (:'proof'::jsonb->'record_proof'->'record') ? 'commitments' AS proves_the_commitment;
SELECT tracelink.node_public_key() AS alpha_key \gset
SELECT tracelink.verify_disclosure(:'proof', :'alpha_key') AS verifies;
-- a changed value, a tampered salt, another item's commitment, a wrong key,
-- a broken record proof, malformed proofs: false, never an error
SELECT tracelink.verify_disclosure(jsonb_set(:'proof', '{value}', '"812.49"'), :'alpha_key') AS other_value,
       tracelink.verify_disclosure(jsonb_set(:'proof', '{salt}',
           to_jsonb(overlay(:'proof'::jsonb->>'salt' placing
               CASE WHEN left(:'proof'::jsonb->>'salt', 1) = '0' THEN '1' ELSE '0' END FROM 1 FOR 1))), :'alpha_key') AS tampered_salt,
       tracelink.verify_disclosure(jsonb_set(:'proof', '{item}', '"supplier"'), :'alpha_key') AS other_item,
       tracelink.verify_disclosure(:'proof', (SELECT public_key FROM tracelink.nodes WHERE name = 'beta')) AS wrong_key,
       tracelink.verify_disclosure(jsonb_set(:'proof', '{record_proof,position}', '1'), :'alpha_key') AS moved_record,
       tracelink.verify_disclosure(:'proof'::jsonb - 'salt', :'alpha_key') AS no_salt,
       tracelink.verify_disclosure(jsonb_set(:'proof', '{salt}', '"zz"'), :'alpha_key') AS bad_salt,
       tracelink.verify_disclosure('[]', :'alpha_key') AS not_an_object,
       tracelink.verify_disclosure(:'proof', NULL) AS no_key;
SELECT err($$ SELECT tracelink.disclose('\x00', 0, 'price') $$);
SELECT err(format('SELECT tracelink.disclose(%L, 0, %L)', :'e1', 'weight kg'));
SELECT err($$ SELECT tracelink.commitment('\x00', '1') $$);
-- the commitment is SHA-256 over the salt and the canonical value
SELECT tracelink.commitment(decode(repeat('ab', 32), 'hex'), '{"b": 1, "a": [1.0, "x"]}')
     = encode(sha256(decode(repeat('ab', 32), 'hex') || convert_to('{"a":[1,"x"],"b":1}', 'UTF8')), 'hex') AS sha256_of_salt_and_jcs;

--
-- From peers: beta records in Growing; alpha is in the audience of its
-- private values and checks each against its commitment
--
CREATE FUNCTION pt_deps(p_link bytea) RETURNS bytea[] LANGUAGE sql AS $$
    SELECT array_remove(ARRAY[h.proposal_id, p.close_entry], NULL)
           || ARRAY(SELECT b.entry_hash FROM tracelink.ballots b WHERE b.proposal_id = h.proposal_id AND b.approve)
      FROM tracelink.link_version_history h JOIN tracelink.proposals p ON p.proposal_id = h.proposal_id
     WHERE h.link_id = p_link AND h.version = 1
$$;
-- beta's record of a lot in Growing (one record, with these data and commitments)
CREATE FUNCTION pt_record(p_link bytea, p_code text, p_data jsonb, p_commitments jsonb,
                          OUT entry_hash bytea, OUT lines text)
LANGUAGE sql AS $$
    SELECT * FROM sim_action('beta', 'tl.trace.record', jsonb_build_object(
        'clock', (extract(epoch FROM clock_timestamp()) * 1000000)::bigint, 'link', encode(p_link, 'hex'),
        'records', jsonb_build_array(jsonb_build_object('code', p_code, 'data', p_data || jsonb_build_object('lot', p_code), 'form', 'Sale',
            'process', 'Growing', 'source', 'manual', 'stage', 'Harvest', 'version', 1)
            || CASE WHEN p_commitments IS NULL THEN '{}' ELSE jsonb_build_object('commitments', p_commitments) END)),
        pt_deps(p_link), ARRAY['alpha', 'beta', 'gamma'])
$$;
-- beta's private entry completing one of its records
CREATE FUNCTION pt_private(p_link bytea, p_entry bytea, p_values jsonb,
                           p_audience text[] DEFAULT ARRAY['alpha', 'beta'], p_deps bytea[] DEFAULT NULL)
RETURNS text LANGUAGE sql AS $$
    SELECT lines FROM sim_action('beta', 'tl.trace.private', jsonb_build_object(
        'entry', encode(p_entry, 'hex'), 'link', encode(p_link, 'hex'), 'values', p_values),
        coalesce(p_deps, ARRAY[p_entry]), p_audience)
$$;
CREATE FUNCTION salt(n int) RETURNS text LANGUAGE sql AS $$ SELECT repeat(lpad(to_hex(n), 2, '0'), 32) $$;
CREATE VIEW pt_new_quarantine AS
SELECT what, origin, reason FROM tracelink.quarantine WHERE id > :q0 ORDER BY id;

-- an honest record: the price reaches alpha and matches
SELECT entry_hash AS b1, lines AS b1_lines FROM pt_record(:'pt', 'LOT-B1', '{"weight kg": 7}',
    jsonb_build_object('price', tracelink.commitment(decode(salt(1), 'hex'), '"70.00"'))) \gset
SELECT count(*) AS applied FROM tracelink.ingest(:'b1_lines');
SELECT count(*) AS applied FROM tracelink.ingest(pt_private(:'pt', :'b1',
    jsonb_build_array(jsonb_build_object('item', 'price', 'position', 0, 'salt', salt(1), 'value', '70.00'))));
SELECT item, value FROM tracelink.private_values WHERE entry_hash = :'b1';
SELECT data FROM tracelink.trace_records WHERE code = 'LOT-B1' AND link = 'Private tea';

-- a value that does not match its commitment (a changed value, a tampered
-- salt), a value for an item that is public, one addressed to the wrong
-- audience, one without the public entry among its dependencies, one of
-- another origin's record, a value that does not fit its item: each
-- quarantined with its reason, nothing held
SELECT entry_hash AS b2, lines AS b2_lines FROM pt_record(:'pt', 'LOT-B2', '{"weight kg": 8}',
    jsonb_build_object('price', tracelink.commitment(decode(salt(2), 'hex'), '"80.00"'))) \gset
SELECT count(*) AS applied FROM tracelink.ingest(:'b2_lines');
SELECT count(*) FROM tracelink.ingest(pt_private(:'pt', :'b2',
    jsonb_build_array(jsonb_build_object('item', 'price', 'position', 0, 'salt', salt(2), 'value', '81.00'))));
SELECT count(*) FROM tracelink.ingest(pt_private(:'pt', :'b2',
    jsonb_build_array(jsonb_build_object('item', 'price', 'position', 0, 'salt', salt(3), 'value', '80.00'))));
SELECT count(*) FROM tracelink.ingest(pt_private(:'pt', :'b2',
    jsonb_build_array(jsonb_build_object('item', 'weight kg', 'position', 0, 'salt', salt(2), 'value', 8))));
SELECT count(*) FROM tracelink.ingest(pt_private(:'pt', :'b2',
    jsonb_build_array(jsonb_build_object('item', 'price', 'position', 0, 'salt', salt(2), 'value', '80.00')),
    ARRAY['alpha', 'beta', 'gamma']));
SELECT count(*) FROM tracelink.ingest(pt_private(:'pt', :'b2',
    jsonb_build_array(jsonb_build_object('item', 'price', 'position', 0, 'salt', salt(2), 'value', '80.00')),
    p_deps => pt_deps(:'pt')));
SELECT count(*) FROM tracelink.ingest(pt_private(:'pt', :'e1',
    jsonb_build_array(jsonb_build_object('item', 'price', 'position', 0, 'salt', salt(2), 'value', '80.00'))));
SELECT entry_hash AS b7, lines AS b7_lines FROM pt_record(:'pt', 'LOT-B7', '{"weight kg": 8}',
    jsonb_build_object('price', tracelink.commitment(decode(salt(7), 'hex'), '"eighty"'))) \gset
SELECT count(*) AS applied FROM tracelink.ingest(:'b7_lines');
SELECT count(*) FROM tracelink.ingest(pt_private(:'pt', :'b7',
    jsonb_build_array(jsonb_build_object('item', 'price', 'position', 0, 'salt', salt(7), 'value', 'eighty'))));
SELECT count(*) FROM tracelink.ingest(pt_private(:'pt', :'b2',
    jsonb_build_array(jsonb_build_object('item', 'price', 'position', 0, 'salt', salt(2), 'value', '80.00'),
                      jsonb_build_object('item', 'price', 'position', 0, 'salt', salt(2), 'value', '80.00'))));
SELECT count(*) AS held FROM tracelink.private_values WHERE entry_hash IN (:'b2', :'b7');
-- the honest one still applies after all that
SELECT count(*) FROM tracelink.ingest(pt_private(:'pt', :'b2',
    jsonb_build_array(jsonb_build_object('item', 'price', 'position', 0, 'salt', salt(2), 'value', '80.00'))));
SELECT item, value FROM tracelink.private_values WHERE entry_hash = :'b2';

-- a public record with a private value in its data, a commitment for a
-- public item, a malformed commitment, a required private item with
-- neither: the record is quarantined
SELECT count(*) FROM tracelink.ingest((SELECT lines FROM pt_record(:'pt', 'LOT-B3', '{"weight kg": 9, "price": 1}', NULL)));
SELECT count(*) FROM tracelink.ingest((SELECT lines FROM pt_record(:'pt', 'LOT-B4', '{"weight kg": 9}',
    jsonb_build_object('price', repeat('a', 64), 'weight kg', repeat('b', 64)))));
SELECT count(*) FROM tracelink.ingest((SELECT lines FROM pt_record(:'pt', 'LOT-B5', '{"weight kg": 9}', '{"price": "ABC"}')));
SELECT count(*) FROM tracelink.ingest((SELECT lines FROM pt_record(:'pt', 'LOT-B6', '{"weight kg": 9}', NULL)));
SELECT what, origin, reason FROM pt_new_quarantine;
SELECT count(*) AS refused_codes FROM tracelink.codes WHERE code IN ('LOT-B3', 'LOT-B4', 'LOT-B5', 'LOT-B6') AND link_id = :'pt';

-- the chain still verifies; private values stay out of the state digest
SELECT ok FROM tracelink.verify('alpha');
SELECT ok FROM tracelink.verify('beta');
SELECT tracelink.state_digest() AS digest_before \gset
BEGIN;
DELETE FROM tracelink.private_values;
SELECT tracelink.state_digest() = :'digest_before' AS digest_ignores_private_values;
ROLLBACK;

-- the roles (docs/privacy.md#roles): an auditor sees no private entry and no
-- private value, yet verifies every entry and sees every commitment; a
-- viewer sees the values this node holds
CREATE ROLE regress_pt_auditor IN ROLE tracelink_auditor;
CREATE ROLE regress_pt_viewer IN ROLE tracelink_viewer;
CREATE FUNCTION pt_reach() RETURNS TABLE (private_entries bigint, in_ledger bigint, verifies boolean,
                                          lot1_price jsonb, lot1_committed boolean)
    LANGUAGE sql AS $$
SELECT (SELECT count(*) FROM tracelink.ledger_entries WHERE kind = 'tl.trace.private'),
       (SELECT count(*) FROM tracelink.ledger WHERE kind = 'tl.trace.private'),
       (SELECT bool_and(ok) FROM tracelink.verify()),
       (SELECT data->'price' FROM tracelink.trace_records WHERE code = 'LOT-1' AND link = 'Private tea'),
       (SELECT commitments ? 'price' FROM tracelink.trace_records WHERE code = 'LOT-1' AND link = 'Private tea')
$$;
SET ROLE regress_pt_auditor;
SELECT * FROM pt_reach();
SELECT err($$ SELECT count(*) FROM tracelink.private_values $$);
SELECT err(format('SELECT tracelink.disclose(%L, 0, %L)', :'e1', 'price'));
SELECT data ? 'price' AS trace_shows_price FROM tracelink.trace('LOT-1', 'Private tea') WHERE code = 'LOT-1';
RESET ROLE;
SET ROLE regress_pt_viewer;
SELECT private_entries > 0 AS sees_private_entries, in_ledger > 0 AS in_ledger, verifies, lot1_price, lot1_committed FROM pt_reach();
SELECT tracelink.disclose(:'e1', 0, 'price')->'value' AS disclosed;
RESET ROLE;
DROP FUNCTION pt_reach();
DROP ROLE regress_pt_auditor, regress_pt_viewer;

DROP VIEW pt_new_quarantine;
DROP FUNCTION pt_deps(bytea), pt_record(bytea, text, jsonb, jsonb), pt_private(bytea, bytea, jsonb, text[], bytea[]), salt(int);

-- Who is entitled to an entry (tracelink._entitled(), the rule of arrivals
-- and of what a node serves its peers): a trace record goes to its
-- link's business group, a private entry to its audience only
SELECT j ->> 'kind' AS kind, j -> 'audience' AS audience,
       tracelink._entitled('beta', l) AS beta, tracelink._entitled('gamma', l) AS gamma,
       tracelink._entitled('delta', l) AS delta
  FROM (SELECT l, l::jsonb AS j FROM tracelink.export('alpha') l) x
 WHERE j ->> 'kind' IN ('tl.trace.record', 'tl.trace.private')
   AND j -> 'payload' ->> 'link' = encode(:'pt'::bytea, 'hex')
 GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2::text;
SELECT err($$ SELECT tracelink._entitled('beta', '{"type": "header"}') $$);
-- an entry addressed to alpha and beta only (a group of earlier days):
-- gamma, in the link's group now, is entitled to it if it is a trace
-- record, and to nothing else
SELECT k AS kind, l_name AS link,
       tracelink._entitled('beta', l) AS beta, tracelink._entitled('gamma', l) AS gamma,
       tracelink._entitled('delta', l) AS delta
  FROM (SELECT k, l_name, tracelink.entry_preimage(k, jsonb_build_object('clock', 1, 'link', encode(id, 'hex'), 'records', '[]'::jsonb),
                                                   ARRAY[]::bytea[], 'beta', 99, 0, ARRAY['alpha', 'beta']) AS l
          FROM unnest(ARRAY['tl.trace.record', 'tl.trace.private', 'app.note']) k,
               (VALUES ('Private tea', :'pt'::bytea), ('unknown', sha256('no such link'))) v(l_name, id)) x
 ORDER BY 1, 2;
