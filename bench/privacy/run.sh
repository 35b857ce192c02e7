#!/usr/bin/env bash
# Private values (docs/privacy.md): the cost of recording a form whose
# supplier and price are private (commitments in the public record, a
# tl.trace.private entry with the values and salts) against the same form
# with every item public, on one throw-away cluster.
#
#  1. Bulk: record_batch() of BATCH records per transaction, TOTAL records,
#     private and public in alternating rounds (median of ROUNDS).
#  2. Single records: record() per transaction (pgbench, one client,
#     SECONDS_PER_RUN each, alternating rounds, median tps).
#
#   sudo bash bench/run.sh privacy      TOTAL=50000 BATCH=1000 ROUNDS=3 SECONDS_PER_RUN=10
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../scripts/lib.sh"
TOTAL=${TOTAL:-50000}
BATCH=${BATCH:-1000}
ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}

work=$(tl_postgres_tmpdir bench-privacy)
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
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

q -c "CREATE EXTENSION tracelink"
q <<'SQL' >/dev/null
SELECT tracelink.init_node('bench');
SELECT tracelink.request_link('Bench sale', ARRAY['Selling'], '{"Selling": ["bench"]}', '{}', '{"rule": "unanimous"}');
SELECT tracelink.reply_invitation('Bench sale', 'Selling', true);
SELECT tracelink.submit_process('Bench sale', '{"name": "Selling", "stages": [{"name": "Sale", "forms": [
  {"name": "Public", "items": [
    {"name": "lot", "type": "text", "required": true, "trace_code": true},
    {"name": "weight kg", "type": "numeric", "required": true},
    {"name": "supplier", "type": "text"},
    {"name": "price", "type": "numeric"}]},
  {"name": "Private", "items": [
    {"name": "lot", "type": "text", "required": true, "trace_code": true},
    {"name": "weight kg", "type": "numeric", "required": true},
    {"name": "supplier", "type": "text", "audience": "process"},
    {"name": "price", "type": "numeric", "audience": "process"}]}]}]}');
SELECT tracelink.vote(tracelink.assemble('Bench sale'), true);
-- a batch of n records of a form, codes prefix-1..n
CREATE FUNCTION bench_batch(form text, prefix text, n int) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_agg(jsonb_build_object('code', prefix || i, 'process', 'Selling', 'stage', 'Sale', 'form', form,
                     'data', jsonb_build_object('weight kg', i % 50 + 1, 'supplier', 'Estate ' || (i % 97),
                                                'price', ((i % 1000) + 0.5)::text)))
      FROM generate_series(1, n) i
$$;
SQL
q -c "SELECT active_version FROM tracelink.links WHERE name = 'Bench sale'" | grep -qx 1

echo "1. bulk: $TOTAL records per round in transactions of $BATCH, $ROUNDS alternating rounds"
declare -A bulk
for round in $(seq 1 "$ROUNDS"); do
	for form in Public Private; do
		sql="DO \$\$ BEGIN FOR b IN 0..$((TOTAL / BATCH - 1)) LOOP
		       PERFORM tracelink.record_batch('Bench sale', bench_batch('$form', '$form-$round-' || b || '-', $BATCH));
		       COMMIT; END LOOP; END \$\$"
		s=$(seconds "$sql")
		bulk[$form]+="$s "
		echo "   round $round $form: ${s}s"
	done
done
pub=$(echo "${bulk[Public]}" | tr ' ' '\n' | grep . | median)
priv=$(echo "${bulk[Private]}" | tr ' ' '\n' | grep . | median)
awk -v p="$pub" -v v="$priv" -v n="$TOTAL" 'BEGIN {
	printf "   public:  %.0f records/s\n   private: %.0f records/s\n   private / public: %.2f\n", n / p, n / v, p / v }'

echo "2. single-record transactions: pgbench, one client, ${SECONDS_PER_RUN}s per run, $ROUNDS alternating rounds"
scripts=$work/scripts
mkdir -p "$scripts"
for form in Public Private; do
	cat >"$scripts/$form.sql" <<SQL
\set i random(1, 1000000000)
SELECT tracelink.record('Bench sale', 'S-$form-' || :client_id || '-' || :i || '-' || txid_current(), 'Selling', 'Sale', '$form',
       jsonb_build_object('weight kg', 12, 'supplier', 'Estate 7', 'price', '812.50'));
SQL
done
chown -R postgres: "$scripts"
declare -A tps
for round in $(seq 1 "$ROUNDS"); do
	for form in Public Private; do
		t=$(pgbench -n -c 1 -T "$SECONDS_PER_RUN" -f "$scripts/$form.sql" postgres 2>&1 |
			awk '/^tps = / { print $3 }')
		tps[$form]+="$t "
		echo "   round $round $form: $t tps"
	done
done
pub=$(echo "${tps[Public]}" | tr ' ' '\n' | grep . | median)
priv=$(echo "${tps[Private]}" | tr ' ' '\n' | grep . | median)
awk -v p="$pub" -v v="$priv" 'BEGIN { printf "   public: %.0f tps, private: %.0f tps, private / public: %.2f\n", p, v, v / p }'
echo "   private entries: $(q -c "SELECT count(*) FROM tracelink.ledger_entries WHERE kind = 'tl.trace.private'"), private values: $(q -c 'SELECT count(*) FROM tracelink.private_values')"
