#!/usr/bin/env bash
# Verification on every core: tracelink.verify() with tracelink.verify_workers
# = 0 (the backend alone) against WORKERS parallel workers, and
# tracelink-verify --jobs 1 against --jobs JOBS, on two ledgers: one written
# in bulk (blocks of 1,000 entries, where hashing and parsing entries
# dominate) and one of small blocks (2 entries each, where signatures do).
# The variants take turns in every round; figures are medians over rounds,
# ratios the median of the rounds' ratios.
#
#   sudo bash bench/run.sh verify          BULK_BLOCKS=300 SMALL_BLOCKS=20000 REPEAT=5
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
BULK_BLOCKS=${BULK_BLOCKS:-300}
SMALL_BLOCKS=${SMALL_BLOCKS:-20000}
REPEAT=${REPEAT:-5}
WORKERS=${WORKERS:-1}
JOBS=${JOBS:-2}

verifier="$PG_BIN/tracelink-verify"
[ -x "$verifier" ] || verifier="$TL_ROOT/tools/tracelink-verify"
work=$(tl_postgres_tmpdir bench-verify)
trap 'tl_cluster_stop_all; rm -rf "$work"' EXIT
port=$(tl_free_port 55500)
tl_cluster_start "$work" "$port"
export PGHOST="$work" PGPORT="$port" PGUSER=postgres
q() { local db=$1; shift; psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }

for db in bulk small; do
	q postgres -c "CREATE DATABASE $db"
	q "$db" <<SQL >/dev/null
CREATE EXTENSION tracelink;
SELECT tracelink.init_node('$db') IS NOT NULL;
CREATE FUNCTION trace_payload(i bigint) RETURNS jsonb LANGUAGE sql IMMUTABLE AS \$\$
SELECT jsonb_build_object(
    'trace_code', 'LOT-2026-' || lpad(i::text, 8, '0'),
    'process', 'Withering', 'stage', 'Tray drying', 'form', 'Batch sheet',
    'values', jsonb_build_object('temperature_c', 31.5 + (i % 7), 'humidity_pct', 62 + (i % 11),
                                 'operator', 'op-' || (i % 40), 'duration_min', 240 + (i % 30),
                                 'recorded_at', '2026-05-0' || (1 + i % 9) || 'T08:15:00Z'),
    'source', 'device', 'device_id', 'scanner-' || (i % 12), 'inputs', jsonb_build_array('LEAF-' || (i % 997)))
\$\$;
SQL
done
echo "writing: $BULK_BLOCKS blocks of 1000 entries (bulk), $SMALL_BLOCKS blocks of 2 entries (small)"
q bulk -c "DO \$\$ BEGIN FOR b IN 1..$BULK_BLOCKS LOOP
  PERFORM count(tracelink.append('trace.record', trace_payload(b * 1000 + g))) FROM generate_series(1, 1000) g;
  COMMIT; END LOOP; END \$\$" 2>/dev/null
q small -c "DO \$\$ BEGIN FOR b IN 1..$SMALL_BLOCKS LOOP
  PERFORM count(tracelink.append('trace.record', trace_payload(b * 2 + g))) FROM generate_series(1, 2) g;
  COMMIT; END LOOP; END \$\$" 2>/dev/null
declare -A entries blocks
for db in bulk small; do
	q "$db" -c "ANALYZE"
	entries[$db]=$(q "$db" -c "SELECT count(*) FROM tracelink.ledger_entries")
	blocks[$db]=$(q "$db" -c "SELECT count(*) FROM tracelink.ledger_blocks")
	q "$db" -c "SELECT line FROM tracelink.export('$db') line" >"$work/$db.jsonl"
	q "$db" -c "SELECT '$db=' || encode(tracelink.node_public_key(), 'hex')" >"$work/$db.key"
done

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
round_ratios() { # runs-of-a runs-of-b -> median of per-round a/b
	paste -d' ' <(printf '%s\n' $1) <(printf '%s\n' $2) | awk '{ printf "%.4f\n", $1 / $2 }' | median |
		awk '{ printf "%.2f", $1 }'
}
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
# seconds of one verify() with so many workers; every origin must verify
time_verify() { # db workers
	local out
	out=$(psql -X -At -v ON_ERROR_STOP=1 -d "$1" -c "SET tracelink.verify_workers = $2" \
		-c '\timing on' -c "SELECT bool_and(ok) FROM tracelink.verify()")
	grep -qx t <<<"$out" || { echo "verify() failed: $out" >&2; exit 1; }
	awk '/^Time:/ { printf "%.4f", $2 / 1000 }' <<<"$out"
}
time_tool() { # db jobs
	local t0 t1
	t0=$(date +%s.%N)
	"$verifier" --jobs "$2" --key "$(cat "$work/$1.key")" --complete "$work/$1.jsonl" >/dev/null
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }'
}

declare -A runs
echo "rounds: $REPEAT; verify_workers 0 vs $WORKERS; --jobs 1 vs $JOBS"
for round in $(seq "$REPEAT"); do
	for db in bulk small; do
		runs[$db.s0]+="$(time_verify "$db" 0) "
		runs[$db.s1]+="$(time_verify "$db" "$WORKERS") "
		runs[$db.t0]+="$(time_tool "$db" 1) "
		runs[$db.t1]+="$(time_tool "$db" "$JOBS") "
	done
done

echo
echo "| ledger | entries | blocks | check | one process, s | parallel, s | speed-up | entries/s, one | entries/s, parallel |"
echo "|---|---:|---:|---|---:|---:|---:|---:|---:|"
for db in bulk small; do
	for v in s t; do
		a=$(printf '%s\n' ${runs[$db.${v}0]} | median)
		b=$(printf '%s\n' ${runs[$db.${v}1]} | median)
		if [ "$v" = s ]; then what="verify(), workers 0 / $WORKERS"; else what="tracelink-verify, --jobs 1 / $JOBS"; fi
		echo "| $db | ${entries[$db]} | ${blocks[$db]} | $what | $a | $b | $(round_ratios "${runs[$db.${v}0]}" "${runs[$db.${v}1]}") | $(rate "${entries[$db]}" "$a") | $(rate "${entries[$db]}" "$b") |"
	done
done
echo
for k in "${!runs[@]}"; do echo "rounds $k: ${runs[$k]}"; done | sort
