-- EPCIS 2.0 import, export and queries (docs/epcis.md) on one node: the
-- mapping, every refusal, duplicates, the round trip and the query views.
-- Documents are small hand-written ones.
\set ECHO none
\i sql/include/epcis_link.sql
\i sql/include/trace_tea.sql
\set ECHO all

-- the EPCIS-capable forms, and the default targets by bizStep
SELECT * FROM tracelink._epcis_forms(tracelink._epcis_link('EPCIS fish'));
SELECT s, (tracelink._epcis_target(tracelink._epcis_link('EPCIS fish'), s, NULL, NULL)).*
  FROM unnest(ARRAY['commissioning', 'shipping', NULL]) s;

-- mapping rows: the most specific wins
SELECT tracelink.set_epcis_mapping('EPCIS fish', 'Processing', 'Filleting', 'Processing event',
                                   'urn:epcglobal:cbv:bizstep:commissioning', 'urn:epc:id:sgln:0614141.00002.%');
SELECT tracelink.set_epcis_mapping('EPCIS fish', 'Processing', 'Filleting', 'Processing event', 'transforming');
SELECT tracelink.set_epcis_mapping('EPCIS fish', 'Distribution', 'Logistics', 'Logistics event', 'packing');
SELECT err($$SELECT tracelink.set_epcis_mapping('EPCIS fish', 'Distribution', 'Logistics', 'Note')$$);
SELECT err($$SELECT tracelink.set_epcis_mapping('no such link', 'Distribution', 'Logistics', 'Note')$$);
SELECT biz_step, read_point, biz_location, process, stage, form FROM tracelink.epcis_mapping ORDER BY 1, 2;
SELECT s, rp, (tracelink._epcis_target(tracelink._epcis_link('EPCIS fish'), s, rp, NULL)).*
  FROM (VALUES ('commissioning', 'urn:epc:id:sgln:0614141.00002.0'), ('commissioning', 'urn:epc:id:sgln:0614141.00001.0'),
               ('transforming', NULL), ('packing', NULL)) v(s, rp);
SELECT tracelink.set_epcis_mapping('EPCIS fish', 'Fishing', 'Catch', 'Catch event', 'x-step');
SELECT tracelink.clear_epcis_mapping('EPCIS fish', 'x-step') AS cleared, tracelink.clear_epcis_mapping('EPCIS fish', 'x-step') AS again;

-- the mapping is node configuration that pg_dump keeps; staged events too
SELECT c::regclass AS config_table FROM pg_extension, unnest(extconfig) c
 WHERE extname = 'tracelink' AND c::regclass::text LIKE 'tracelink.epcis%' ORDER BY 1::text;

-- a document: two catches, a transformation into a fillet lot, packing on a pallet
CREATE TEMP TABLE doc1 AS SELECT '{
 "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld", {"ex": "https://ns.example.org/fish/"}],
 "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-03-01T10:00:00Z",
 "epcisBody": {"eventList": [
  {"type": "ObjectEvent", "eventTime": "2026-03-01T06:00:00.000+01:00", "eventTimeZoneOffset": "+01:00",
   "epcList": ["urn:epc:id:sgtin:0614141.107346.1", "urn:epc:id:sgtin:0614141.107346.2"], "action": "ADD",
   "bizStep": "commissioning", "disposition": "active", "readPoint": {"id": "urn:epc:id:sgln:0614141.00001.0"},
   "ilmd": {"ex:vessel": "Aurora"}, "ex:boat": "A-7",
   "sensorElementList": [{"sensorReport": [{"type": "Temperature", "value": 2.5, "uom": "CEL"}]}]},
  {"type": "TransformationEvent", "eventTime": "2026-03-01T12:00:00Z", "eventTimeZoneOffset": "+00:00",
   "inputEPCList": ["urn:epc:id:sgtin:0614141.107346.1", "urn:epc:id:sgtin:0614141.107346.2"],
   "outputQuantityList": [{"epcClass": "urn:epc:class:lgtin:0614141.107347.F1", "quantity": 12.5, "uom": "KGM"}],
   "bizStep": "urn:epcglobal:cbv:bizstep:transforming", "readPoint": {"id": "urn:epc:id:sgln:0614141.00002.0"}},
  {"type": "AggregationEvent", "eventTime": "2026-03-02T08:00:00Z", "eventTimeZoneOffset": "+00:00",
   "parentID": "urn:epc:id:sscc:0614141.0000000001",
   "childQuantityList": [{"epcClass": "urn:epc:class:lgtin:0614141.107347.F1", "quantity": 12.5, "uom": "KGM"}],
   "action": "ADD", "bizStep": "packing", "disposition": "in_progress",
   "bizLocation": {"id": "urn:epc:id:sgln:0614141.00003.0"},
   "certificationInfo": "https://cert.example.org/msc/1"},
  {"type": "ObjectEvent", "eventTime": "2026-03-03T08:00:00Z", "eventTimeZoneOffset": "+00:00",
   "epcList": ["urn:epc:id:sscc:0614141.0000000001"], "action": "OBSERVE",
   "bizStep": "https://ref.gs1.org/cbv/BizStep-shipping", "disposition": "in_transit",
   "readPoint": {"id": "urn:epc:id:sgln:0614141.00003.0"}}
 ]}}'::jsonb AS doc;

SELECT * FROM tracelink.import_epcis((SELECT doc FROM doc1), 'EPCIS fish');
SELECT code, process, stage, form, source, data ? 'event' AS holds_event, occurred_at
  FROM tracelink.trace_records WHERE link = 'EPCIS fish' ORDER BY recorded_at, position;
SELECT parent, child, quantity, unit, process FROM tracelink.trace_edges WHERE link = 'EPCIS fish' ORDER BY 1, 2;
-- the same document again: every event is recognised, nothing new
SELECT * FROM tracelink.import_epcis((SELECT doc FROM doc1), 'EPCIS fish');
SELECT count(*) AS records FROM tracelink.trace_records WHERE link = 'EPCIS fish';
-- an event listed twice in one document is imported once
SELECT * FROM tracelink.import_epcis(jsonb_set((SELECT doc FROM doc1), '{epcisBody,eventList}',
    '[{"type": "ObjectEvent", "eventTime": "2026-03-04T08:00:00Z", "eventTimeZoneOffset": "+00:00",
       "epcList": ["urn:epc:id:sscc:0614141.0000000001"], "action": "OBSERVE", "bizStep": "receiving",
       "eventID": "urn:uuid:7a1b3c40-0000-4000-8000-000000000001"},
      {"type": "ObjectEvent", "eventTime": "2026-03-04T08:00:00Z", "eventTimeZoneOffset": "+00:00",
       "epcList": ["urn:epc:id:sscc:0614141.0000000001"], "action": "OBSERVE", "bizStep": "receiving"}]'), 'EPCIS fish');

-- the query views
SELECT epc, event_type, biz_step, disposition, read_point, biz_location, event_time
  FROM tracelink.epcis_event_index ORDER BY event_time, epc;
SELECT event_type, biz_step, duplicate, event_id = tracelink.epcis_event_hash(event) AS id_is_hash
  FROM tracelink.epcis_imported_events ORDER BY event_time;
SELECT event ->> 'type' AS type, event ->> 'eventTime' AS t FROM tracelink.epcis_query('{"MATCH_epc": "urn:epc:id:sgtin:0614141.107346.1"}');
SELECT event ->> 'type' AS type FROM tracelink.epcis_query('{"EQ_bizStep": ["packing", "urn:epcglobal:cbv:bizstep:shipping"]}');
SELECT event ->> 'type' AS type FROM tracelink.epcis_query('{"GE_eventTime": "2026-03-01T12:00:00Z", "LT_eventTime": "2026-03-03T00:00:00Z", "link": "EPCIS fish"}');
SELECT event ->> 'type' AS type FROM tracelink.epcis_query('{"EQ_disposition": "in_transit", "EQ_readPoint": "urn:epc:id:sgln:0614141.00003.0"}');
SELECT event ->> 'type' AS type FROM tracelink.epcis_query('{"EQ_bizLocation": ["urn:epc:id:sgln:0614141.00003.0"], "eventType": "AggregationEvent"}');
SELECT err($$SELECT * FROM tracelink.epcis_query('{"EQ_action": "ADD"}')$$);
SELECT err($$SELECT * FROM tracelink.epcis_query('{"MATCH_epc": 5}')$$);
SELECT err($$SELECT * FROM tracelink.epcis_query('[]')$$);

-- export: the provenance of the pallet
SELECT d ->> 'type' AS type, d ->> 'schemaVersion' AS v, d -> '@context' AS context,
       jsonb_array_length(d #> '{epcisBody,eventList}') AS events,
       d ->> 'creationDate' = (SELECT tracelink._utc(max(recorded_at)) FROM tracelink.trace('urn:epc:id:sscc:0614141.0000000001')) AS creation_is_latest
  FROM tracelink.epcis_document('urn:epc:id:sscc:0614141.0000000001') d;
-- every imported event exports back with the same event hash ID, and its
-- content unchanged (ILMD, sensors, certification, extensions kept)
SELECT e ->> 'type' AS type,
       e ->> 'eventID' = tracelink.epcis_event_hash(e - 'tl:ledger') AS same_hash,
       (e - 'tl:ledger' - 'eventID') = (SELECT (i.event - 'eventID') FROM tracelink.epcis_imported_events i WHERE i.event_id = e ->> 'eventID') AS same_event,
       e #>> '{ilmd,ex:vessel}' AS vessel, e ->> 'certificationInfo' AS cert,
       e #>> '{sensorElementList,0,sensorReport,0,value}' AS temp,
       e -> 'tl:ledger' ?& ARRAY['origin', 'entryHash', 'position', 'block', 'link', 'recordedAt'] AS ledger_facts,
       e #>> '{tl:ledger,origin}' AS origin
  FROM jsonb_array_elements(tracelink.epcis_document('urn:epc:id:sscc:0614141.0000000001') #> '{epcisBody,eventList}') e;
-- the ledger facts prove the record
SELECT tracelink.verify_record_proof(tracelink.record_proof(decode(e #>> '{tl:ledger,entryHash}', 'hex'), (e #>> '{tl:ledger,position}')::int),
                                     tracelink.node_public_key()) AS proof_ok
  FROM jsonb_array_elements(tracelink.epcis_document('urn:epc:id:sscc:0614141.0000000001') #> '{epcisBody,eventList}') e
 LIMIT 1;
-- an event's own eventID that is not its hash is kept under tl:ledger
SELECT e #>> '{tl:ledger,sourceEventID}' AS source_id
  FROM jsonb_array_elements(tracelink.epcis_events('{"EQ_bizStep": "receiving"}') #> '{epcisBody,eventList}') e;
SELECT jsonb_array_length(tracelink.epcis_events() #> '{epcisBody,eventList}') AS all_events,
       jsonb_array_length(tracelink.epcis_events('{"EQ_bizStep": "nothing"}') #> '{epcisBody,eventList}') AS none,
       tracelink.epcis_events('{"EQ_bizStep": "nothing"}') ->> 'creationDate' AS empty_date;

-- a record not imported from EPCIS exports as an ObjectEvent with the record under tl:record
SELECT tracelink.record('EPCIS fish', 'NOTE-1', 'Distribution', 'Logistics', 'Note', '{"text": "checked"}') IS NOT NULL AS recorded;
SELECT e ->> 'type' AS type, e -> 'epcList' AS epcs, e -> 'tl:record' AS rec,
       e ->> 'eventID' = tracelink.epcis_event_hash(e - 'tl:ledger') AS id_is_hash
  FROM jsonb_array_elements(tracelink.epcis_document('NOTE-1', 'EPCIS fish') #> '{epcisBody,eventList}') e;
-- one made of inputs exports as a TransformationEvent: its inputs to its code
SELECT tracelink.record('EPCIS fish', 'NOTE-2', 'Distribution', 'Logistics', 'Note', '{"text": "repacked"}',
                        inputs => '["urn:epc:class:lgtin:0614141.107347.F1"]') IS NOT NULL AS recorded;
SELECT e ->> 'type' AS type, e -> 'inputEPCList' AS inputs, e -> 'outputEPCList' AS outputs, e ? 'action' AS has_action,
       e ->> 'eventID' = tracelink.epcis_event_hash(e - 'tl:ledger') AS id_is_hash
  FROM jsonb_array_elements(tracelink.epcis_document('NOTE-2', 'EPCIS fish') #> '{epcisBody,eventList}') e
 WHERE e #>> '{tl:record,code}' = 'NOTE-2';

-- refusals: the whole document, with the event's index and path; nothing imported
SELECT count(*) AS records_before FROM tracelink.records \gset
CREATE TEMP TABLE bad (name text, doc jsonb);
INSERT INTO bad VALUES
 ('not an object', '[]'),
 ('wrong type', '{"type": "EPCISMasterDataDocument", "schemaVersion": "2.0", "epcisBody": {"eventList": []}}'),
 ('version', '{"type": "EPCISDocument", "schemaVersion": "1.2", "epcisBody": {"eventList": []}}'),
 ('no list', '{"type": "EPCISDocument", "schemaVersion": "2.0", "epcisBody": {}}'),
 ('event type', '{"type": "EPCISDocument", "schemaVersion": "2.0", "epcisBody": {"eventList": [
    {"type": "ObjectEvent", "eventTime": "2026-04-01T00:00:00Z", "epcList": ["urn:x:new-1"], "action": "ADD"},
    {"type": "SensorEvent", "eventTime": "2026-04-01T00:00:00Z"}]}}'),
 ('event not object', '{"type": "EPCISDocument", "schemaVersion": "2.0", "epcisBody": {"eventList": ["x"]}}'),
 ('event time', '{"type": "EPCISDocument", "schemaVersion": "2.0", "epcisBody": {"eventList": [
    {"type": "ObjectEvent", "eventTime": "yesterday", "epcList": ["urn:x:1"], "action": "ADD"}]}}'),
 ('action', '{"type": "EPCISDocument", "schemaVersion": "2.0", "epcisBody": {"eventList": [
    {"type": "ObjectEvent", "eventTime": "2026-04-01T00:00:00Z", "epcList": ["urn:x:1"], "action": "MOVE"}]}}'),
 ('epc list', '{"type": "EPCISDocument", "schemaVersion": "2.0", "epcisBody": {"eventList": [
    {"type": "ObjectEvent", "eventTime": "2026-04-01T00:00:00Z", "epcList": [1], "action": "ADD"}]}}'),
 ('quantity list', '{"type": "EPCISDocument", "schemaVersion": "2.0", "epcisBody": {"eventList": [
    {"type": "ObjectEvent", "eventTime": "2026-04-01T00:00:00Z", "quantityList": [{"quantity": 1}], "action": "ADD"}]}}'),
 ('parent', '{"type": "EPCISDocument", "schemaVersion": "2.0", "epcisBody": {"eventList": [
    {"type": "AggregationEvent", "eventTime": "2026-04-01T00:00:00Z", "parentID": 7, "action": "ADD"}]}}'),
 ('read point', '{"type": "EPCISDocument", "schemaVersion": "2.0", "epcisBody": {"eventList": [
    {"type": "ObjectEvent", "eventTime": "2026-04-01T00:00:00Z", "epcList": ["urn:x:1"], "action": "ADD", "readPoint": "here"}]}}'),
 ('biz location', '{"type": "EPCISDocument", "schemaVersion": "2.0", "epcisBody": {"eventList": [
    {"type": "ObjectEvent", "eventTime": "2026-04-01T00:00:00Z", "epcList": ["urn:x:1"], "action": "ADD", "bizLocation": {}}]}}'),
 ('biz step', '{"type": "EPCISDocument", "schemaVersion": "2.0", "epcisBody": {"eventList": [
    {"type": "ObjectEvent", "eventTime": "2026-04-01T00:00:00Z", "epcList": ["urn:x:1"], "action": "ADD", "bizStep": ["a"]}]}}'),
 ('no epc', '{"type": "EPCISDocument", "schemaVersion": "2.0", "epcisBody": {"eventList": [
    {"type": "ObjectEvent", "eventTime": "2026-04-01T00:00:00Z", "epcList": [], "action": "OBSERVE"}]}}'),
 ('bad code', '{"type": "EPCISDocument", "schemaVersion": "2.0", "epcisBody": {"eventList": [
    {"type": "ObjectEvent", "eventTime": "2026-04-01T00:00:00Z", "epcList": ["urn:x:ok-2"], "action": "ADD"},
    {"type": "ObjectEvent", "eventTime": "2026-04-01T00:00:00Z", "epcList": [" urn:x:padded"], "action": "ADD"}]}}'),
 ('unknown input', '{"type": "EPCISDocument", "schemaVersion": "2.0", "epcisBody": {"eventList": [
    {"type": "ObjectEvent", "eventTime": "2026-04-01T00:00:00Z", "epcList": ["urn:x:ok-3"], "action": "ADD"},
    {"type": "TransformationEvent", "eventTime": "2026-04-01T00:00:00Z", "inputEPCList": ["urn:x:in"],
     "outputEPCList": ["urn:epc:id:sgtin:0614141.107346.1"], "bizStep": "transforming"}]}}'),
 ('query document', '{"type": "EPCISQueryDocument", "schemaVersion": "2.0", "epcisBody": {"queryResults": {"resultsBody": {"eventList": [
    {"type": "ObjectEvent", "eventTime": "2026-04-01T00:00:00Z", "epcList": ["urn:x:q"], "action": "DANCE"}]}}}}');
SELECT name, err(format('SELECT tracelink.import_epcis(%L, %L)', doc, 'EPCIS fish')) FROM bad;
SELECT err($$SELECT tracelink.import_epcis('{"type": "EPCISDocument", "schemaVersion": "2.0", "epcisBody": {"eventList": []}}', 'no link')$$);
SELECT count(*) - :records_before AS new_records FROM tracelink.records;

-- no EPCIS form in the link: the mapping refuses
SELECT err($$SELECT tracelink.import_epcis('{"type": "EPCISDocument", "schemaVersion": "2.0", "epcisBody": {"eventList": [
    {"type": "ObjectEvent", "eventTime": "2026-04-01T00:00:00Z", "epcList": ["urn:x:1"], "action": "ADD"}]}}', 'Trace tea')$$);

-- the GS1 schema check: a document the validator finds a problem in is
-- refused with the problem's path and nothing of it imported (a small
-- schema here; t/092_epcis.pl loads GS1's own).
BEGIN;
SELECT tracelink.set_epcis_schema('{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
  "required": ["creationDate"],
  "properties": {"epcisBody": {"properties": {"eventList": {"type": "array",
    "items": {"properties": {"bizStep": {"type": "string"}}}}}}}}') IS NOT NULL AS schema_loaded;
SELECT err($$SELECT tracelink.import_epcis('{"type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-04-01T00:00:00Z",
  "epcisBody": {"eventList": [{"type": "ObjectEvent", "eventTime": "2026-04-01T00:00:00Z", "epcList": ["urn:x:s1"], "action": "ADD"},
                              {"type": "ObjectEvent", "eventTime": "2026-04-01T00:00:00Z", "epcList": ["urn:x:s2"], "action": "ADD", "bizStep": 7}]}}', 'EPCIS fish')$$);
SELECT err($$SELECT tracelink.import_epcis('{"type": "EPCISDocument", "schemaVersion": "2.0", "epcisBody": {"eventList": []}}', 'EPCIS fish')$$);
SELECT count(*) - :records_before AS new_records FROM tracelink.records;
ROLLBACK;

-- the streaming path: COPY one event per line, then import_epcis_staged()
COPY tracelink.epcis_staging (event) FROM stdin;
{"type": "ObjectEvent", "eventTime": "2026-03-05T08:00:00Z", "eventTimeZoneOffset": "+00:00", "epcList": ["urn:epc:id:sgtin:0614141.107346.9"], "action": "ADD", "bizStep": "commissioning"}
{"type": "ObjectEvent", "eventTime": "2026-03-03T08:00:00Z", "eventTimeZoneOffset": "+00:00", "epcList": ["urn:epc:id:sscc:0614141.0000000001"], "action": "OBSERVE", "bizStep": "https://ref.gs1.org/cbv/BizStep-shipping", "disposition": "in_transit", "readPoint": {"id": "urn:epc:id:sgln:0614141.00003.0"}, "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld", {"ex": "https://ns.example.org/fish/"}]}
{"type": "ObjectEvent", "eventTime": "bad", "epcList": ["urn:x:2"], "action": "ADD"}
\.
SELECT err($$SELECT tracelink.import_epcis_staged('EPCIS fish')$$);
SELECT count(*) AS still_staged FROM tracelink.epcis_staging;
DELETE FROM tracelink.epcis_staging WHERE event ->> 'eventTime' = 'bad';
SELECT * FROM tracelink.import_epcis_staged('EPCIS fish');
SELECT count(*) AS still_staged FROM tracelink.epcis_staging;
SELECT * FROM tracelink.import_epcis_staged('EPCIS fish');

-- a quantity without uom is a count: the transformation has no unit
SELECT imported FROM tracelink.import_epcis('{"type": "EPCISDocument", "schemaVersion": "2.0", "epcisBody": {"eventList": [
    {"type": "TransformationEvent", "eventTime": "2026-03-06T08:00:00Z", "eventTimeZoneOffset": "+00:00",
     "inputQuantityList": [{"epcClass": "urn:epc:class:lgtin:0614141.107347.F1", "quantity": 3}],
     "outputEPCList": ["urn:epc:id:sgtin:0614141.107348.1"], "bizStep": "transforming"}]}}', 'EPCIS fish');
SELECT parent, child, quantity, unit, process FROM tracelink.trace_edges WHERE child = 'urn:epc:id:sgtin:0614141.107348.1';

-- numbers keep every digit through the round trip (canonical JSON would
-- make them IEEE doubles), so the exported event has the same hash ID
SELECT imported FROM tracelink.import_epcis('{"type": "EPCISDocument", "schemaVersion": "2.0", "epcisBody": {"eventList": [
    {"type": "ObjectEvent", "eventTime": "2026-03-07T08:00:00Z", "eventTimeZoneOffset": "+00:00",
     "epcList": ["urn:epc:id:sgtin:0614141.107349.1"], "action": "ADD", "bizStep": "commissioning",
     "sensorElementList": [{"sensorReport": [{"type": "Temperature", "value": 2.50000000000000000001, "uom": "CEL"}]}],
     "ex:count": 12345678901234567890123}]}}', 'EPCIS fish');
SELECT e #>> '{sensorElementList,0,sensorReport,0,value}' AS value, e ->> 'ex:count' AS count,
       e ->> 'eventID' = tracelink.epcis_event_hash(e - 'tl:ledger') AS same_hash
  FROM jsonb_array_elements(tracelink.epcis_document('urn:epc:id:sgtin:0614141.107349.1') #> '{epcisBody,eventList}') e;

-- the views' filters use the indexes
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT event_id FROM tracelink.epcis_imported_events WHERE biz_step = 'packing' AND NOT duplicate;
EXPLAIN (COSTS OFF) SELECT event_id FROM tracelink.epcis_imported_events WHERE read_point = 'urn:epc:id:sgln:0614141.00003.0';
RESET enable_seqscan;
