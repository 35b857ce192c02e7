-- GS1 CBV 2.0 Event Hash ID: tracelink.epcis_prehash(jsonb),
-- tracelink.epcis_event_hash(jsonb).  Hand-written events.
\set ECHO none
\i sql/include/setup.sql
\set ECHO all

-- the smallest event: type, time in UTC with milliseconds, action
SELECT tracelink.epcis_prehash('{"type": "ObjectEvent", "action": "OBSERVE",
  "eventTime": "2024-06-30T23:59:59+02:00", "eventTimeZoneOffset": "+02:00"}');
SELECT tracelink.epcis_event_hash('{"type": "ObjectEvent", "action": "OBSERVE",
  "eventTime": "2024-06-30T23:59:59+02:00", "eventTimeZoneOffset": "+02:00"}');
-- the same instant written three ways gives one hash; more than three
-- decimals are rounded on the fourth; a day boundary and a negative offset
SELECT count(DISTINCT tracelink.epcis_event_hash(jsonb_build_object(
         'type', 'ObjectEvent', 'action', 'OBSERVE', 'eventTime', t,
         'eventTimeZoneOffset', '+00:00'))) AS distinct_hashes
  FROM unnest(ARRAY['2024-01-01T00:30:00.2Z', '2024-01-01T01:30:00.200+01:00',
                    '2023-12-31T19:00:00.19951-05:30']) AS t;
SELECT tracelink.epcis_prehash('{"type": "ObjectEvent", "action": "OBSERVE",
  "eventTime": "2024-02-28T22:15:07.12345-03:00", "eventTimeZoneOffset": "-03:00"}');
SELECT tracelink.epcis_prehash('{"type": "ObjectEvent", "action": "OBSERVE",
  "eventTime": "2023-12-31T23:59:59.9996Z", "eventTimeZoneOffset": "+00:00"}');

-- EPC URNs and Digital Link URIs become constrained canonical Digital Link;
-- lists are sorted; bare CBV values expand; key order in the JSON is irrelevant
SELECT tracelink.epcis_prehash('{
  "readPoint": {"id": "urn:epc:id:sgln:9521141.12345.0"},
  "bizLocation": {"id": "urn:epc:id:sgln:9521141.12345.dock%2F7"},
  "epcList": ["urn:epc:id:sscc:9521141.3000000009", "urn:epc:id:sgtin:9521141.012345.a(1)",
              "https://example.com/gtin/9521141123454/lot/L1/ser/S9?x=1",
              "urn:epc:id:grai:9521141.54321.77", "urn:epc:id:giai:9521141.A.B",
              "urn:epc:id:gsrn:9521141.0000000012", "urn:epc:id:gdti:9521141.00001.X",
              "https://id.gs1.org/01/12345670/21/7", "not-a-key"],
  "disposition": "in_transit", "bizStep": "urn:epcglobal:cbv:bizstep:shipping",
  "action": "OBSERVE", "eventTime": "2024-05-01T08:00:00.000Z",
  "eventTimeZoneOffset": "+00:00", "type": "ObjectEvent"}');
-- the other GS1 keys, classes and patterns
SELECT u, tracelink.epcis_prehash(jsonb_build_object('type', 'ObjectEvent',
         'eventTime', '2024-05-01T08:00:00Z', 'parentID', u)) AS prehash
  FROM unnest(ARRAY['urn:epc:id:pgln:9521141.00000', 'urn:epc:id:gsrnp:9521141.0000000012',
                    'urn:epc:id:gsin:9521141.000000001', 'urn:epc:id:ginc:9521141.C-1',
                    'urn:epc:id:sgcn:9521141.00001.42', 'urn:epc:id:cpi:9521141.A-1.7',
                    'urn:epc:id:itip:9521141.012345.01.02.S1', 'urn:epc:id:upui:9521141.012345.X+1',
                    'urn:epc:idpat:grai:9521141.54321.*', 'urn:epc:idpat:gdti:9521141.00001.*',
                    'urn:epc:idpat:itip:9521141.012345.01.02.*', 'urn:epc:idpat:cpi:9521141.A-1.*',
                    'https://brand.example/01/9521141123454/22/v2/10/L7', 'urn:epc:id:sgtin:952114.0123456.1']) AS u;
-- EPC classes, patterns and quantities (trailing zeros dropped)
SELECT tracelink.epcis_prehash('{"type": "ObjectEvent", "action": "ADD",
  "eventTime": "2024-05-01T08:00:00Z", "eventTimeZoneOffset": "+00:00",
  "quantityList": [{"epcClass": "urn:epc:class:lgtin:9521141.012345.LOT-9", "quantity": 12.50, "uom": "KGM"},
                   {"epcClass": "urn:epc:idpat:sgtin:9521141.012345.*", "quantity": 3.0}]}');
-- aggregation, transformation and association fields in canonical order
SELECT tracelink.epcis_prehash('{"type": "AggregationEvent", "action": "ADD",
  "eventTime": "2024-05-01T08:00:00Z", "eventTimeZoneOffset": "+00:00",
  "childEPCs": ["urn:epc:id:sgtin:9521141.012345.2", "urn:epc:id:sgtin:9521141.012345.10"],
  "parentID": "urn:epc:id:sscc:9521141.3000000009",
  "persistentDisposition": {"unset": ["in_progress"], "set": ["completeness_verified"]}}');
SELECT tracelink.epcis_prehash('{"type": "TransformationEvent",
  "eventTime": "2024-05-01T08:00:00Z", "eventTimeZoneOffset": "+00:00",
  "outputEPCList": ["urn:epc:id:sgtin:9521141.012345.9"],
  "inputEPCList": ["urn:epc:id:sgtin:9521141.012345.8"],
  "transformationID": "urn:epc:id:gdti:9521141.00001.T1",
  "ilmd": {"ex:harvest": {"ex:field": "north", "ex:day": "2024-04-30"}},
  "@context": [{"ex": "https://farm.example/ns/"}]}');
-- business transactions, sources, destinations: type first, items sorted,
-- lists after the canonical fields; user extensions with their namespace
-- (from @context) last, nested ones sorted; extensions inside readPoint at
-- its end; left out: eventID, recordTime, errorDeclaration, comments
SELECT tracelink.epcis_prehash('{"type": "TransactionEvent", "action": "ADD",
  "eventTime": "2024-05-01T08:00:00Z", "eventTimeZoneOffset": "+00:00",
  "eventID": "urn:uuid:6f1d0c1e-0000-4000-8000-000000000001",
  "recordTime": "2024-05-02T00:00:00Z", "comment": "not hashed",
  "errorDeclaration": {"declarationTime": "2024-05-03T00:00:00Z", "reason": "incorrect_data"},
  "readPoint": {"id": "urn:epc:id:sgln:9521141.12345.0", "ex:door": "B"},
  "sourceList": [{"source": "urn:epc:id:pgln:9521141.00000", "type": "owning_party"}],
  "bizTransactionList": [{"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:9521141000004:PO-2"},
                         {"type": "inv", "bizTransaction": "urn:epcglobal:cbv:bt:9521141000004:I-1"}],
  "ex:zeta": {"ex:b": ["2", "10"], "ex:a": "1.0"}, "ex:alpha": " padded ",
  "other:x": "unknown prefix", "ex:curie": "ex:value",
  "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
               {"ex": "https://ex.example/v/"}]}');
-- sensors: metadata and reports in their canonical order, reports sorted
SELECT tracelink.epcis_prehash('{"type": "ObjectEvent", "action": "OBSERVE",
  "eventTime": "2024-05-01T08:00:00Z", "eventTimeZoneOffset": "+00:00",
  "sensorElementList": [{"sensorReport": [{"uom": "CEL", "value": 4.20, "type": "Temperature"},
                                          {"booleanValue": true, "type": "gs1:Humidity"},
                                          {"type": "Angle", "value": 51.5, "component": "latitude", "exception": "ALARM_CONDITION"}],
                         "sensorMetadata": {"deviceID": "urn:epc:id:giai:9521141.S1",
                                            "time": "2024-05-01T10:00:00+02:00"}}],
  "certificationInfo": "https://cert.example/c/1"}');
-- the hash changes with any value
SELECT tracelink.epcis_event_hash('{"type": "ObjectEvent", "action": "OBSERVE",
  "eventTime": "2024-06-30T23:59:59+02:00", "eventTimeZoneOffset": "+02:00"}')
    <> tracelink.epcis_event_hash('{"type": "ObjectEvent", "action": "DELETE",
  "eventTime": "2024-06-30T23:59:59+02:00", "eventTimeZoneOffset": "+02:00"}') AS differs;

-- refusals
\set VERBOSITY sqlstate
SELECT tracelink.epcis_prehash('{"type": "EPCISDocument", "epcisBody": {"eventList": []}}');
\set VERBOSITY default
SELECT tracelink.epcis_prehash('{"type": "EPCISDocument", "epcisBody": {"eventList": []}}');
SELECT tracelink.epcis_event_hash('{"type": "EPCISQueryDocument"}');
SELECT tracelink.epcis_prehash('[{"type": "ObjectEvent"}]');
SELECT tracelink.epcis_prehash('"ObjectEvent"');
SELECT tracelink.epcis_prehash('{"action": "OBSERVE"}');
SELECT tracelink.epcis_prehash('{"type": "QuantityEvent", "eventTime": "2024-05-01T08:00:00Z"}');
SELECT tracelink.epcis_prehash('{"type": "ObjectEvent", "action": "OBSERVE"}');
SELECT tracelink.epcis_prehash('{"type": "ObjectEvent", "eventTime": "yesterday"}');
SELECT tracelink.epcis_prehash('{"type": "ObjectEvent", "eventTime": "2024-05-01T08:00:00"}');
SELECT tracelink.epcis_prehash('{"type": "ObjectEvent", "eventTime": "2024-02-30T08:00:00Z"}');
SELECT tracelink.epcis_prehash('{"type": "ObjectEvent", "eventTime": 1714550400}');
SELECT tracelink.epcis_prehash('{"type": "ObjectEvent", "eventTime": "2024-05-01T08:00:00Z", "epcList": "urn:epc:id:sgtin:9521141.012345.1"}');
SELECT tracelink.epcis_prehash('{"type": "ObjectEvent", "eventTime": "2024-05-01T08:00:00Z", "readPoint": "urn:epc:id:sgln:9521141.12345.0"}');
SELECT tracelink.epcis_prehash('{"type": "ObjectEvent", "eventTime": "2024-05-01T08:00:00Z", "action": {"x": 1}}');
SELECT tracelink.epcis_prehash('{"type": "ObjectEvent", "eventTime": "2024-05-01T08:00:00Z", "sensorElementList": [{"sensorMetadata": {"time": "noon"}}]}');
-- NULL in, NULL out (STRICT)
SELECT tracelink.epcis_event_hash(NULL) IS NULL AS null_in_null_out;
