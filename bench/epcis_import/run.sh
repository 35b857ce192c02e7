#!/usr/bin/env bash
# EPCIS import rate: a generated EPCIS 2.0 document of EVENTS events (90%
# ObjectEvents commissioning one EPC each, 10% AggregationEvents packing
# the nine EPCs before them on a pallet) imported by
#   (a) tracelink.import_epcis(doc, link)  (checks, hash IDs, records, ledger),
#   (b) COPY into tracelink.epcis_staging + tracelink.import_epcis_staged(),
# against the baseline: the same events loaded as jsonb rows into a plain
# table (one per event, no index), in the same run, each in one transaction;
# and (c) record_batch() of the records the import makes, to show what the
# EPCIS layer adds to tracelink's own recording.
#
#   sudo bash bench/run.sh epcis_import        EVENTS=100000
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../scripts/lib.sh"
EVENTS=${EVENTS:-100000}

work=$(tl_postgres_tmpdir bench-epcis)
trap 'tl_cluster_stop_all; rm -rf "$work"' EXIT
port=$(tl_free_port 55600)
tl_cluster_start "$work" "$port"
as_postgres psql -X -q -h "$work" -p "$port" -U postgres -d postgres \
	-c "ALTER SYSTEM SET shared_buffers = '1GB'" -c "ALTER SYSTEM SET max_wal_size = '8GB'" \
	-c "ALTER SYSTEM SET work_mem = '64MB'" >/dev/null
tl_cluster_stop "$work"
as_postgres pg_ctl -D "$work/data" -l "$work/server.log" -w start >/dev/null
export PGHOST="$work" PGPORT="$port" PGUSER=postgres
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d postgres "$@"; }
seconds() { # sql -> seconds
	local t0 t1
	t0=$(date +%s.%N)
	q -c "$1" >/dev/null
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}
rate() { awk -v r="$1" -v s="$2" 'BEGIN { printf "%.0f", r / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

q -c "CREATE EXTENSION tracelink"
q -v events="$EVENTS" <<'SQL' >/dev/null
SET client_min_messages = error;
SELECT tracelink.init_node('bench');
CREATE FUNCTION bench_link(name text) RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM tracelink.request_link(name, ARRAY['Events'], '{"Events": ["bench"]}');
    PERFORM tracelink.reply_invitation(name, 'Events', true);
    PERFORM tracelink.submit_process(name, '{"name": "Events", "stages": [{"name": "Any", "forms": [{"name": "Event", "key": true,
      "items": [{"name": "epc", "type": "text", "required": true, "trace_code": true, "sources": ["external"]},
                {"name": "event_id", "type": "text", "sources": ["external"]},
                {"name": "event", "type": "text", "sources": ["external"]}]}]}]}');
    PERFORM tracelink.vote(tracelink.assemble(name), true);
END
$f$;
CREATE FUNCTION bench_event(i integer) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $f$
SELECT CASE WHEN i % 10 = 0 THEN
    jsonb_build_object('type', 'AggregationEvent', 'eventTime', to_char((timestamptz '2026-01-01 00:00+00' + i * interval '1 second') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'eventTimeZoneOffset', '+00:00', 'parentID', 'urn:epc:id:sscc:0614141.' || lpad(i::text, 10, '0'),
        'childEPCs', (SELECT jsonb_agg('urn:epc:id:sgtin:0614141.107346.' || j) FROM generate_series(i - 9, i - 1) j),
        'action', 'ADD', 'bizStep', 'packing', 'disposition', 'in_progress',
        'bizLocation', jsonb_build_object('id', 'urn:epc:id:sgln:0614141.00002.0'))
  ELSE
    jsonb_build_object('type', 'ObjectEvent', 'eventTime', to_char((timestamptz '2026-01-01 00:00+00' + i * interval '1 second') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'eventTimeZoneOffset', '+00:00', 'epcList', jsonb_build_array('urn:epc:id:sgtin:0614141.107346.' || i),
        'action', 'ADD', 'bizStep', 'commissioning', 'disposition', 'active',
        'readPoint', jsonb_build_object('id', 'urn:epc:id:sgln:0614141.00001.0'),
        'ilmd', jsonb_build_object('ex:lot', 'L' || (i / 100)))
  END
$f$;
SELECT bench_link('EPCIS a');
SELECT bench_link('EPCIS b');
SELECT bench_link('EPCIS c');
CREATE TABLE bench_doc AS
SELECT jsonb_build_object('@context', jsonb_build_array('https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld',
                                                        jsonb_build_object('ex', 'https://ns.example.org/')),
                          'type', 'EPCISDocument', 'schemaVersion', '2.0', 'creationDate', '2026-01-01T00:00:00Z',
                          'epcisBody', jsonb_build_object('eventList', jsonb_agg(bench_event(i) ORDER BY i))) AS doc
  FROM generate_series(1, :events) i;
CREATE TABLE plain_events (event jsonb NOT NULL);
CREATE TABLE plain_copied (event jsonb NOT NULL);
SQL
echo "generated a document of $EVENTS events ($(q -c "SELECT pg_size_pretty(pg_column_size(doc)::bigint) FROM bench_doc"))"
q -c "COPY (SELECT e FROM bench_doc, jsonb_array_elements(doc #> '{epcisBody,eventList}') e) TO '$work/events.ndjson'"
ctx=$(q -c "SELECT doc -> '@context' FROM bench_doc")

# (a) the whole document in one call, against jsonb rows from the same document
q -c "CHECKPOINT"
plain=$(seconds "BEGIN; INSERT INTO plain_events SELECT e FROM bench_doc, jsonb_array_elements(doc #> '{epcisBody,eventList}') e; COMMIT;")
q -c "CHECKPOINT"
imported=$(seconds "SELECT * FROM tracelink.import_epcis((SELECT doc FROM bench_doc), 'EPCIS a')")
records=$(q -c "SELECT count(*) FROM tracelink.records")
ids=$(q -c "SELECT count(*) FROM tracelink.epcis_imported_events WHERE link = 'EPCIS a'")
[ "$ids" = "$EVENTS" ] || { echo "imported $ids events, not $EVENTS"; exit 1; }
# (b) the streaming path, against COPY into a plain table
q -c "CHECKPOINT"
copied=$(seconds "BEGIN; COPY plain_copied FROM '$work/events.ndjson'; COMMIT;")
q -c "CHECKPOINT"
staged=$(seconds "BEGIN; COPY tracelink.epcis_staging (event) FROM '$work/events.ndjson'; SELECT * FROM tracelink.import_epcis_staged('EPCIS b', '$ctx'); COMMIT;")
ids=$(q -c "SELECT count(*) FROM tracelink.epcis_imported_events WHERE link = 'EPCIS b'")
[ "$ids" = "$EVENTS" ] || { echo "staged import made $ids events, not $EVENTS"; exit 1; }
# (c) tracelink's own floor: record_batch() of the very records the import makes
q -c "CREATE TABLE bench_records AS
      SELECT to_jsonb(array_agg(r.rec ORDER BY e.n, r.m)) AS recs
        FROM (SELECT ev || jsonb_build_object('@context', (SELECT doc -> '@context' FROM bench_doc)) AS ev, n
                FROM jsonb_array_elements((SELECT doc #> '{epcisBody,eventList}' FROM bench_doc)) WITH ORDINALITY AS e(ev, n)) e,
             jsonb_array_elements(tracelink._epcis_records(e.ev, tracelink.epcis_event_hash(e.ev),
                                  'Events', 'Any', 'Event')) WITH ORDINALITY AS r(rec, m)"
q -c "CHECKPOINT"
batched=$(seconds "SELECT tracelink.record_batch('EPCIS c', recs) FROM bench_records")
# the same document again: every event recognised by its hash ID
again=$(seconds "SELECT * FROM tracelink.import_epcis((SELECT doc FROM bench_doc), 'EPCIS a')")

# queries over the imported events (after ANALYZE), milliseconds of one call
q -c "ANALYZE"
ms() { awk -v s="$1" 'BEGIN { printf "%.1f", s * 1000 }'; }
q_epc=$(seconds "SELECT count(*) FROM tracelink.epcis_query('{\"MATCH_epc\": \"urn:epc:id:sgtin:0614141.107346.15\"}')")
q_step=$(seconds "SELECT count(*) FROM tracelink.epcis_query('{\"EQ_bizStep\": \"packing\", \"GE_eventTime\": \"2026-01-01T01:00:00Z\", \"LT_eventTime\": \"2026-01-01T01:10:00Z\"}')")
q_doc=$(seconds "SELECT length(tracelink.epcis_document('urn:epc:id:sscc:0614141.0000000020', 'EPCIS a')::text)")

echo "events: $EVENTS ($records records for link a)"
printf '%-46s %8s s %9s events/s\n' \
	"plain: jsonb rows from the document" "$plain" "$(rate "$EVENTS" "$plain")" \
	"import_epcis(doc)" "$imported" "$(rate "$EVENTS" "$imported")" \
	"plain: COPY of one event per line" "$copied" "$(rate "$EVENTS" "$copied")" \
	"COPY + import_epcis_staged()" "$staged" "$(rate "$EVENTS" "$staged")" \
	"record_batch() of the same records" "$batched" "$(rate "$EVENTS" "$batched")" \
	"import_epcis(doc) again (all duplicates)" "$again" "$(rate "$EVENTS" "$again")"
echo "ratio import_epcis / plain jsonb rows: $(ratio "$plain" "$imported")"
echo "ratio staged import / plain COPY:      $(ratio "$copied" "$staged")"
echo "ratio import_epcis / record_batch():    $(ratio "$batched" "$imported")"
echo "one call, ms (psql round trip included): MATCH_epc $(ms "$q_epc"), EQ_bizStep + eventTime window $(ms "$q_step"), epcis_document(pallet) $(ms "$q_doc")"
