#!/usr/bin/env bash
# Appending trace entries: (a) plain INSERT into an ordinary table, (b) the
# same INSERT through a PL/pgSQL trigger that hash-chains rows with pgcrypto
# digest(), (c) tracelink.append (canonical JSON, SHA-256, signed block per
# transaction).  Bulk (one transaction of N rows) and single-row
# transactions (pgbench).  Then verify() throughput.
#
#   sudo bash bench/run.sh ledger          BULK_ROWS=200000 PGBENCH_SECONDS=20
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
BULK_ROWS=${BULK_ROWS:-100000}
PGBENCH_SECONDS=${PGBENCH_SECONDS:-10}
PGBENCH_CLIENTS=${PGBENCH_CLIENTS:-2}
REPEAT=${REPEAT:-3}

work=$(tl_postgres_tmpdir bench-ledger)
trap 'tl_cluster_stop_all; rm -rf "$work"' EXIT
port=$(tl_free_port 55400)
tl_cluster_start "$work" "$port"
export PGHOST="$work" PGPORT="$port" PGUSER=postgres
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d postgres "$@"; }

q <<'SQL'
CREATE EXTENSION tracelink;
CREATE EXTENSION pgcrypto;
SELECT tracelink.init_node('bench') IS NOT NULL;
-- (a) an ordinary table with what a trace record needs
CREATE TABLE plain_trace (
    id bigserial PRIMARY KEY,
    kind text NOT NULL,
    payload jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
-- (b) the same, hash-chained by a PL/pgSQL trigger with pgcrypto
CREATE TABLE chained_trace (
    id bigserial PRIMARY KEY,
    kind text NOT NULL,
    payload jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    prev_hash bytea NOT NULL,
    row_hash bytea NOT NULL UNIQUE
);
CREATE TABLE chain_head (one boolean PRIMARY KEY DEFAULT true CHECK (one), hash bytea NOT NULL);
INSERT INTO chain_head VALUES (true, '\x00');
CREATE FUNCTION chain_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT hash INTO NEW.prev_hash FROM chain_head FOR UPDATE;
    NEW.row_hash := digest(NEW.prev_hash || convert_to(NEW.kind || NEW.payload::text, 'UTF8'), 'sha256');
    UPDATE chain_head SET hash = NEW.row_hash;
    RETURN NEW;
END $$;
CREATE TRIGGER chain BEFORE INSERT ON chained_trace FOR EACH ROW EXECUTE FUNCTION chain_row();
-- a realistic trace payload (about 330 bytes of JSON)
CREATE FUNCTION trace_payload(i bigint) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
SELECT jsonb_build_object(
    'trace_code', 'LOT-2026-' || lpad(i::text, 8, '0'),
    'process', 'Withering', 'stage', 'Tray drying', 'form', 'Batch sheet',
    'values', jsonb_build_object('temperature_c', 31.5 + (i % 7), 'humidity_pct', 62 + (i % 11),
                                 'operator', 'op-' || (i % 40), 'duration_min', 240 + (i % 30),
                                 'recorded_at', '2026-05-0' || (1 + i % 9) || 'T08:15:00Z'),
    'source', 'device', 'device_id', 'scanner-' || (i % 12), 'inputs', jsonb_build_array('LEAF-' || (i % 997)))
$$;
SQL

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
rate() { # rows seconds
	awk -v r="$1" -v s="$2" 'BEGIN { printf "%.0f", r / s }'
}
time_sql() { # sql -> seconds
	local t0 t1
	t0=$(date +%s.%N)
	q -c "$1" >/dev/null
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }'
}

# The variants take turns within each round, so that a slow spell of this
# shared machine hits all of them; each figure is the median over rounds,
# each ratio the median of the rounds' ratios.
variants=(plain chained append)
declare -A bulk_runs single_runs
declare -A bulk single
echo "bulk: one transaction of $BULK_ROWS rows, $REPEAT rounds"
for round in $(seq "$REPEAT"); do
	for variant in "${variants[@]}"; do
		case $variant in
			plain) sql="INSERT INTO plain_trace (kind, payload) SELECT 'trace.record', trace_payload(g) FROM generate_series(1, $BULK_ROWS) g" ;;
			chained) sql="INSERT INTO chained_trace (kind, payload) SELECT 'trace.record', trace_payload(g) FROM generate_series(1, $BULK_ROWS) g" ;;
			append) sql="SELECT count(tracelink.append('trace.record', trace_payload(g))) FROM generate_series(1, $BULK_ROWS) g" ;;
		esac
		q -c "CHECKPOINT" >/dev/null
		bulk_runs[$variant]+="$(rate "$BULK_ROWS" "$(time_sql "$sql")") "
	done
done

echo "single-row transactions: pgbench, $PGBENCH_CLIENTS clients, ${PGBENCH_SECONDS}s per variant, $REPEAT rounds"
scripts="$work/scripts"
mkdir -p "$scripts"
echo "INSERT INTO plain_trace (kind, payload) VALUES ('trace.record', trace_payload(:client_id * 1000000 + (random() * 999999)::bigint));" >"$scripts/plain.sql"
echo "INSERT INTO chained_trace (kind, payload) VALUES ('trace.record', trace_payload(:client_id * 1000000 + (random() * 999999)::bigint));" >"$scripts/chained.sql"
echo "SELECT tracelink.append('trace.record', trace_payload(:client_id * 1000000 + (random() * 999999)::bigint));" >"$scripts/append.sql"
chmod -R a+r "$scripts"
for round in $(seq "$REPEAT"); do
	for variant in "${variants[@]}"; do
		if ! pgbench -n -c "$PGBENCH_CLIENTS" -j "$PGBENCH_CLIENTS" -T "$PGBENCH_SECONDS" \
			-f "$scripts/$variant.sql" postgres >"$work/pgbench.out" 2>&1; then
			cat "$work/pgbench.out" >&2
			exit 1
		fi
		single_runs[$variant]+="$(awk '/^tps/ { printf "%.0f", $3 }' "$work/pgbench.out") "
	done
done

for variant in "${variants[@]}"; do
	bulk[$variant]=$(printf '%s\n' ${bulk_runs[$variant]} | median)
	single[$variant]=$(printf '%s\n' ${single_runs[$variant]} | median)
done
round_ratios() { # runs-of-a runs-of-b -> median of per-round a/b
	paste -d' ' <(printf '%s\n' $1) <(printf '%s\n' $2) | awk '{ printf "%.4f\n", $1 / $2 }' | median |
		awk '{ printf "%.2f", $1 }'
}
echo "rounds (rows/s or tps): bulk plain ${bulk_runs[plain]}/ chained ${bulk_runs[chained]}/ append ${bulk_runs[append]}"
echo "                        single plain ${single_runs[plain]}/ chained ${single_runs[chained]}/ append ${single_runs[append]}"

entries=$(q -c "SELECT count(*) FROM tracelink.ledger_entries")
blocks=$(q -c "SELECT count(*) FROM tracelink.ledger_blocks")
vs=$(time_sql "SELECT ok FROM tracelink.verify('bench')")
ok=$(q -c "SELECT ok FROM tracelink.verify('bench')")
verify_rate=$(rate "$entries" "$vs")

echo
echo "| workload | (a) plain INSERT | (b) PL/pgSQL + pgcrypto chain | (c) tracelink.append | (c)/(a) | (c)/(b) |"
echo "|---|---|---|---|---|---|"
echo "| bulk, rows/s | ${bulk[plain]} | ${bulk[chained]} | ${bulk[append]} | $(round_ratios "${bulk_runs[append]}" "${bulk_runs[plain]}") | $(round_ratios "${bulk_runs[append]}" "${bulk_runs[chained]}") |"
echo "| single-row transactions, tps | ${single[plain]} | ${single[chained]} | ${single[append]} | $(round_ratios "${single_runs[append]}" "${single_runs[plain]}") | $(round_ratios "${single_runs[append]}" "${single_runs[chained]}") |"
echo
echo "verify(): $entries entries in $blocks blocks, ${vs}s, $verify_rate entries/s, ok=$ok"
