-- Recording trace data on one node (alpha, from 20_ledger): the rules a
-- record must follow and every refusal, with its SQLSTATE.  Entry hashes
-- and recording times differ from run to run, so only their shape is shown.
\set ECHO none
\i sql/include/node_alpha.sql
\set ECHO all

-- A link whose four processes this node builds alone: Growing and
-- Packaging supply feed Processing and Packing; Packaging supply comes last
-- in the process order but feeds an earlier process.
SELECT tracelink.request_link('Trace tea', ARRAY['Growing', 'Processing', 'Packing', 'Packaging supply'],
    '{"Growing": ["alpha"], "Processing": ["alpha"], "Packing": ["alpha"], "Packaging supply": ["alpha"]}',
    '{"product": "sencha"}', '{"rule": "unanimous"}') IS NOT NULL AS requested;
SELECT count(tracelink.reply_invitation('Trace tea', p, true)) AS accepted
  FROM unnest(ARRAY['Growing', 'Processing', 'Packing', 'Packaging supply']) p;
SELECT tracelink.submit_process('Trace tea', '{"name": "Growing",
  "stages": [
    {"name": "Harvest", "forms": [
      {"name": "Harvest record", "key": true, "items": [
        {"name": "lot", "type": "text", "required": true, "trace_code": true, "sources": ["manual", "device", "upload"]},
        {"name": "weight kg", "type": "numeric", "required": true, "sources": ["manual", "device", "upload"]},
        {"name": "picked", "type": "time", "sources": ["manual", "upload"]},
        {"name": "organic", "type": "text", "widget": "checkbox", "sources": ["manual", "upload"]},
        {"name": "grade", "type": "text", "widget": "dropdown", "options": ["A", "B"], "sources": ["manual", "upload"]},
        {"name": "notes", "type": "text", "widget": "textarea", "sources": ["manual", "upload"]},
        {"name": "photo", "type": "image", "sources": ["upload"]},
        {"name": "clip", "type": "video", "sources": ["upload"]},
        {"name": "certificate", "type": "file", "sources": ["manual", "upload"]}]}]},
    {"name": "Audit", "members": ["beta"], "forms": [
      {"name": "Audit", "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}]}]}],
  "outputs": [{"name": "fresh leaves", "level": 2}]}') IS NOT NULL AS growing;
SELECT tracelink.submit_process('Trace tea', '{"name": "Processing",
  "stages": [{"name": "Steaming", "forms": [
    {"name": "Batch sheet", "key": true, "items": [
      {"name": "batch", "type": "text", "required": true, "trace_code": true},
      {"name": "minutes", "type": "numeric"}]}]}],
  "inputs": [{"name": "leaves", "from": "Growing", "output": "fresh leaves", "level": 2}],
  "outputs": [{"name": "tea batch", "level": 2}]}') IS NOT NULL AS processing;
SELECT tracelink.submit_process('Trace tea', '{"name": "Packing",
  "stages": [{"name": "Boxing", "forms": [
    {"name": "Pack label", "key": true, "items": [
      {"name": "pack", "type": "text", "required": true, "trace_code": true, "sources": ["manual", "device"]}]}]}],
  "inputs": [{"name": "tea", "from": "Processing", "output": "tea batch", "level": 2},
             {"name": "film", "from": "Packaging supply", "output": "film", "level": 2}]}') IS NOT NULL AS packing;
SELECT tracelink.submit_process('Trace tea', '{"name": "Packaging supply",
  "stages": [{"name": "Extrusion", "forms": [
    {"name": "Film lot", "key": true, "items": [
      {"name": "film lot", "type": "text", "required": true, "trace_code": true, "sources": ["external"]}]}]}],
  "outputs": [{"name": "film", "level": 2}]}') IS NOT NULL AS packaging;

-- nothing can be recorded before a version is adopted
SELECT err($$ SELECT tracelink.record('Trace tea', 'LOT-1', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1}') $$);
SELECT tracelink.vote(tracelink.assemble('Trace tea'), true) IS NOT NULL AS voted;
SELECT name, status, active_version FROM tracelink.links WHERE name = 'Trace tea';

-- a first record binds its code to the active version; the trace-code item
-- is filled in with the code
SELECT length(tracelink.record('Trace tea', 'LOT-1', 'Growing', 'Harvest', 'Harvest record',
       '{"weight kg": 40, "picked": "2026-05-01T08:15:00+02:00", "organic": true, "grade": "A",
         "photo": {"sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "name": "lot1.jpg", "media_type": "image/jpeg", "size": 52133, "uri": "https://files.example/lot1.jpg"}}',
       'upload', occurred_at => '2026-05-01 06:15:00+00')) AS entry_hash_bytes;
SELECT code, link, version, bound_version, process, stage, form, source, node, data, occurred_at, position
  FROM tracelink.trace_records WHERE code = 'LOT-1';
-- the entry: kind, audience (the business group), dependency on the version's proposal
-- (and on the ballot that adopted it)
SELECT e.kind, e.audience, cardinality(e.deps) AS deps,
       (SELECT proposal_id FROM tracelink.link_versions WHERE link = 'Trace tea' AND version = 1) = ANY (e.deps) AS depends_on_version,
       (e.payload::jsonb) - 'clock' - 'link' AS payload
  FROM tracelink.ledger_entries e JOIN tracelink.trace_records r ON r.entry_hash = e.entry_hash
 WHERE r.code = 'LOT-1';
SELECT code, link, version, first_process, first_node FROM tracelink.trace_codes;

-- values of every data type: decimals as strings keep their digits
SELECT tracelink.record('Trace tea', 'LOT-2', 'Growing', 'Harvest', 'Harvest record',
       '{"lot": "LOT-2", "weight kg": "41.50", "picked": "2026-05-01", "organic": false, "grade": "B",
         "notes": "rain\nin the morning", "clip": {"sha256": "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", "name": "c.mp4", "media_type": "video/mp4"},
         "certificate": {"sha256": "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9", "name": "organic.pdf"}}',
       'upload', occurred_at => '2026-05-01 07:00+00') IS NOT NULL AS recorded;
SELECT data FROM tracelink.trace_records WHERE code = 'LOT-2';
SELECT tracelink.record('Trace tea', 'LOT-3', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1e2}', 'device') IS NOT NULL AS recorded;
-- the link by its id in hex, bare or after \x, as tracelink.link_id() takes it
BEGIN;
SELECT tracelink.record(encode(tracelink.link_id('Trace tea'), 'hex'), 'LOT-H1', 'Growing', 'Harvest', 'Harvest record',
       '{"weight kg": 1}') IS NOT NULL AS recorded_by_id;
SELECT tracelink.record('\x' || encode(tracelink.link_id('Trace tea'), 'hex'), 'LOT-H2', 'Growing', 'Harvest', 'Harvest record',
       '{"weight kg": 2}') IS NOT NULL AS recorded_by_bytea_text;
SELECT code, link FROM tracelink.trace_records WHERE code IN ('LOT-H1', 'LOT-H2') ORDER BY code;
ROLLBACK;
SELECT err($$ SELECT tracelink.record(repeat('ab', 32), 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1}') $$);
SELECT err($$ SELECT tracelink.record(repeat('AB', 32), 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1}') $$);
-- a name two links share is refused (42P08): give the id instead
BEGIN;
SELECT tracelink.request_link('Trace tea', ARRAY['P'], '{"P": ["alpha"]}') IS NOT NULL AS same_name_again;
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1}') $$);
ROLLBACK;

-- refusals: arguments
SELECT err($$ SELECT tracelink.record(NULL, 'X', 'Growing', 'Harvest', 'Harvest record') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', NULL, 'Growing', 'Harvest', 'Harvest record') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1}', NULL) $$);
SELECT err($$ SELECT tracelink.record('No such link', 'X', 'Growing', 'Harvest', 'Harvest record') $$);
-- the process, stage and form must exist in the version
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Roasting', 'Harvest', 'Harvest record') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Planting', 'Harvest record') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Weather') $$);
-- only the stage's members (here: beta) record at a stage that has members
SELECT err($$ SELECT tracelink.record('Trace tea', 'LOT-1', 'Growing', 'Audit', 'Audit') $$);
-- trace codes
SELECT err($$ SELECT tracelink.record('Trace tea', '', 'Growing', 'Harvest', 'Harvest record') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', ' LOT', 'Growing', 'Harvest', 'Harvest record') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', repeat('x', 201), 'Growing', 'Harvest', 'Harvest record') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', E'LOT\t9', 'Growing', 'Harvest', 'Harvest record') $$);
-- data sources
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1}', 'fax') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1}', 'external') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1, "photo": {"sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "name": "a.jpg"}}', 'device') $$);
-- values: shape, items, required, types
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '[1]') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1, "colour": "green"}') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '{}') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": null}') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": true}') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": "12,5"}') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": "01.5"}') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1, "notes": 5}') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1, "picked": 1714550400}') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1, "picked": "2026-02-30"}') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1, "picked": "2026-05-01T08:15:00"}') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1, "picked": "2026-05-01 08:15:00Z"}') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1, "picked": "2026-05-01T24:00:00Z"}') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1, "picked": "2026-05-01T08:15:00.1234567Z"}') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1, "organic": "yes"}') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1, "grade": "C"}') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1, "lot": "Y"}') $$);
-- file references
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1, "certificate": "organic.pdf"}') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1, "certificate": {"name": "a.pdf"}}') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1, "certificate": {"sha256": "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08", "name": "a.pdf"}}') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1, "certificate": {"sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}}') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1, "certificate": {"sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "name": "a.pdf", "owner": "me"}}') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1, "certificate": {"sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "name": "a.pdf", "uri": ""}}') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1, "certificate": {"sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "name": "a.pdf", "media_type": "pdf"}}') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1, "certificate": {"sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "name": "a.pdf", "size": -1}}') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1, "photo": {"sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "name": "a.mp4", "media_type": "video/mp4"}}', 'upload') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1, "clip": {"sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "name": "a.jpg", "media_type": "image/jpeg"}}', 'upload') $$);
-- the time a record happened
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1}', occurred_at => 'infinity') $$);
SELECT err($$ SELECT tracelink.record('Trace tea', 'X', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1}', occurred_at => '10000-01-01 00:00+00') $$);
-- nothing of the refused records was kept
SELECT count(*) AS codes FROM tracelink.codes;
SELECT count(*) AS records FROM tracelink.records;

-- a batch: one transaction, every record or none; records are numbered in errors
SELECT tracelink.record_batch('Trace tea', '[
  {"code": "LOT-4", "process": "Growing", "stage": "Harvest", "form": "Harvest record", "data": {"weight kg": 10}},
  {"code": "LOT-5", "process": "Growing", "stage": "Harvest", "form": "Harvest record", "data": {"weight kg": 11}, "source": "device",
   "occurred_at": "2026-05-02T07:00:00Z"},
  {"code": "FILM-1", "process": "Packaging supply", "stage": "Extrusion", "form": "Film lot", "source": "external"}]') AS recorded;
SELECT code, process, source, occurred_at = recorded_at AS at_recording_time,
       CASE WHEN occurred_at <> recorded_at THEN occurred_at END AS occurred_at
  FROM tracelink.trace_records WHERE code IN ('LOT-4', 'LOT-5', 'FILM-1') ORDER BY code;
SELECT count(DISTINCT entry_hash) AS entries, array_agg(position ORDER BY position) AS positions
  FROM tracelink.trace_records WHERE code IN ('LOT-4', 'LOT-5', 'FILM-1');
SELECT err($$ SELECT tracelink.record_batch('Trace tea', '[
  {"code": "LOT-6", "process": "Growing", "stage": "Harvest", "form": "Harvest record", "data": {"weight kg": 10}},
  {"code": "LOT-7", "process": "Growing", "stage": "Harvest", "form": "Harvest record", "data": {"weight kg": "ten"}}]') $$);
-- where an error happened: the context line naming the record
CREATE FUNCTION pg_temp.err_where(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    state text;
    msg text;
    ctx text;
BEGIN
    EXECUTE sql;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, ctx = PG_EXCEPTION_CONTEXT;
    RETURN state || ': ' || msg || ' [' || substring(ctx FROM '(?:trace|staged) record [^\n]*') || ']';
END
$$;
SELECT pg_temp.err_where($$ SELECT tracelink.record_batch('Trace tea', '[
  {"code": "LOT-6", "process": "Growing", "stage": "Harvest", "form": "Harvest record", "data": {"weight kg": 10}},
  {"code": "LOT-7", "process": "Growing", "stage": "Harvest", "form": "Harvest record", "data": {"weight kg": "ten"}}]') $$);
SELECT pg_temp.err_where($$ SELECT tracelink.record_batch('Trace tea', '[
  {"code": "LOT-6", "process": "Growing", "stage": "Harvest", "form": "Harvest record", "data": {"weight kg": 10}},
  {"code": "LOT-7", "process": "Growing", "stage": "Harvest", "form": "Harvest record", "data": {"weight kg": 1}, "source": 5}]') $$);
SELECT count(*) AS lot_6_kept FROM tracelink.codes WHERE code = 'LOT-6';
SELECT err($$ SELECT tracelink.record_batch('Trace tea', '{"code": "LOT-6"}') $$);
SELECT err($$ SELECT tracelink.record_batch('Trace tea', NULL) $$);
SELECT err($$ SELECT tracelink.record_batch('Trace tea', '[1]') $$);
SELECT err($$ SELECT tracelink.record_batch('Trace tea', '[{"code": "LOT-6", "process": "Growing", "stage": "Harvest", "form": "Harvest record", "weight": 1}]') $$);
SELECT err($$ SELECT tracelink.record_batch('Trace tea', '[{"code": "LOT-6", "process": "Growing", "stage": "Harvest"}]') $$);
SELECT err($$ SELECT tracelink.record_batch('Trace tea', '[{"code": 6, "process": "Growing", "stage": "Harvest", "form": "Harvest record"}]') $$);
SELECT err($$ SELECT tracelink.record_batch('Trace tea', '[{"code": "LOT-6", "process": "Growing", "stage": "Harvest", "form": "Harvest record", "data": {"weight kg": 1}, "occurred_at": "yesterday-ish"}]') $$);
SELECT err($$ SELECT tracelink.record_batch('Trace tea', '[]') $$) AS empty_batch;

-- the staging table: COPY, then record_staged(); refused rows stay staged
COPY tracelink.record_staging (link, code, process, stage, form, data, source, occurred_at) FROM stdin;
Trace tea	LOT-8	Growing	Harvest	Harvest record	{"weight kg": 8}	device	2026-05-03 06:00:00+00
Trace tea	LOT-9	Growing	Harvest	Harvest record	{"weight kg": 9, "grade": "A"}	manual	2026-05-03 06:05:00+00
\.
SELECT tracelink.record_staged('Trace tea') AS recorded;
SELECT count(*) AS still_staged FROM tracelink.record_staging;
SELECT code, source, data->>'weight kg' AS weight FROM tracelink.trace_records WHERE code IN ('LOT-8', 'LOT-9') ORDER BY code;
INSERT INTO tracelink.record_staging (link, code, process, stage, form, data)
VALUES ('Trace tea', 'LOT-10', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 10}'),
       ('Trace tea', 'LOT-11', 'Growing', 'Harvest', 'Weather', '{}');
SELECT regexp_replace(pg_temp.err_where($$ SELECT tracelink.record_staged() $$), 'staged record \d+', 'staged record N') AS refused;
SELECT count(*) AS still_staged, count(*) FILTER (WHERE code = 'LOT-10') AS lot_10 FROM tracelink.record_staging;
SELECT count(*) AS lot_10_recorded FROM tracelink.codes WHERE code = 'LOT-10';
DELETE FROM tracelink.record_staging WHERE code = 'LOT-11';
INSERT INTO tracelink.record_staging (link, code, process, stage, form, data)
VALUES ('No such link', 'LOT-12', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 10}');
SELECT regexp_replace(pg_temp.err_where($$ SELECT tracelink.record_staged() $$), 'staged record \d+', 'staged record N') AS refused;
SELECT tracelink.record_staged('Trace tea') AS recorded_one_link;
SELECT link, code FROM tracelink.record_staging;
DELETE FROM tracelink.record_staging;
SELECT tracelink.record_staged() AS nothing_staged;
