#!/usr/bin/env bash
# EPCIS event hash rate: tracelink.epcis_event_hash() over generated
# ObjectEvents (EPC URNs to convert, a bizTransaction, a user extension with
# its @context) against two baselines over the same rows in the same run:
# sha256 of the event's jsonb text (pg_catalog.sha256) and
# tracelink.digest(jsonb) (SHA-256 of the RFC 8785 canonical form).
# Alternating rounds, the median of each.
#
#   sudo bash bench/run.sh epcis        EVENTS=200000 ROUNDS=3
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../scripts/lib.sh"
EVENTS=${EVENTS:-200000}
ROUNDS=${ROUNDS:-3}

work=$(tl_postgres_tmpdir bench-epcis)
trap 'tl_cluster_stop_all; rm -rf "$work"' EXIT
port=$(tl_free_port 55600)
tl_cluster_start "$work" "$port"
export PGHOST="$work" PGPORT="$port" PGUSER=postgres
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d postgres "$@"; }
seconds() { # sql -> seconds
	local t0 t1
	t0=$(date +%s.%N)
	q -c "$1" >/dev/null
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
median() { tr ' ' '\n' | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
rate() { awk -v r="$1" -v s="$2" 'BEGIN { printf "%.0f", r / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

q -c "CREATE EXTENSION tracelink"
q -c "CREATE TABLE events AS
  SELECT jsonb_build_object(
    '@context', jsonb_build_array('https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld',
                                  jsonb_build_object('ex', 'https://ex.example/v/')),
    'type', 'ObjectEvent', 'action', 'OBSERVE', 'bizStep', 'shipping', 'disposition', 'in_transit',
    'eventTime', to_char(timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second',
                         'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"+01:00\"'),
    'eventTimeZoneOffset', '+01:00',
    'epcList', jsonb_build_array('urn:epc:id:sgtin:9521141.012345.' || i,
                                 'urn:epc:id:sgtin:9521141.012345.' || (i + 1),
                                 'urn:epc:id:sscc:9521141.' || lpad(i::text, 10, '0')),
    'readPoint', jsonb_build_object('id', 'urn:epc:id:sgln:9521141.12345.' || (i % 50)),
    'bizTransactionList', jsonb_build_array(jsonb_build_object('type', 'po',
        'bizTransaction', 'urn:epcglobal:cbv:bt:9521141000004:' || (i / 10))),
    'ex:batch', 'B' || (i / 100)) AS e
  FROM generate_series(1, $EVENTS) i"
q -c "VACUUM ANALYZE events"
q -c "SELECT count(DISTINCT tracelink.epcis_event_hash(e)) = count(*) FROM events" | grep -qx t \
	|| { echo "generated events do not hash to distinct IDs"; exit 1; }

hash_t=() text_t=() digest_t=()
for r in $(seq 1 "$ROUNDS"); do
	hash_t+=("$(seconds "SELECT count(tracelink.epcis_event_hash(e)) FROM events")")
	text_t+=("$(seconds "SELECT count(pg_catalog.sha256(pg_catalog.convert_to(e::text, 'UTF8'))) FROM events")")
	digest_t+=("$(seconds "SELECT count(tracelink.digest(e)) FROM events")")
done
h=$(echo "${hash_t[*]}" | median)
t=$(echo "${text_t[*]}" | median)
d=$(echo "${digest_t[*]}" | median)
echo "events: $EVENTS ObjectEvents, $ROUNDS alternating rounds, medians"
echo "epcis_event_hash:        $(rate "$EVENTS" "$h") events/s (${h}s)"
echo "sha256(jsonb text):      $(rate "$EVENTS" "$t") events/s (${t}s)  epcis/text   $(ratio "$t" "$h")"
echo "tracelink.digest(jsonb): $(rate "$EVENTS" "$d") events/s (${d}s)  epcis/digest $(ratio "$d" "$h")"
