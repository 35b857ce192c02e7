#!/usr/bin/env bash
# Trace data at scale: a generated supply chain of 1,000,000 records and
# 200,000 trace codes across 5 processes with transformations
# (generate.sql), on one throw-away cluster.
#
#  1. Bulk recording: the staged rows recorded by tracelink.record_staged()
#     (checks, ledger entries, projection) against plain INSERTs of the same
#     rows into (a) unindexed tables and (b) tables with the same indexes.
#  2. Provenance latency: tracelink.trace(code) against a hand-written
#     recursive CTE over the plain indexed tables, for random codes, the
#     same sequence for both (pgbench, one client, prepared statements,
#     alternating rounds), p50 and p99 of the client-side latency.
#  3. Single-record transactions: tracelink.record() against a plain INSERT
#     of the same row (pgbench, one client).
#  4. Records per entry: the bulk rate and the size of a record's proof at
#     1, 10, 100 and 1000 records per ledger entry (a smaller chain).
#
#   sudo bash bench/run.sh trace        SCALE=1 LATENCY_SECONDS=20 ROUNDS=2
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../scripts/lib.sh"
SCALE=${SCALE:-1}
LATENCY_SECONDS=${LATENCY_SECONDS:-20}
ROUNDS=${ROUNDS:-2}
SWEEP_SCALE=${SWEEP_SCALE:-0.02}

work=$(tl_postgres_tmpdir bench-trace)
trap 'tl_cluster_stop_all; rm -rf "$work"' EXIT
port=$(tl_free_port 55500)
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
q -f "$here/generate.sql" >/dev/null
q -c "SELECT bench_link('Bench tea')"

echo "staging the generated chain (scale $SCALE)"
staging=$(seconds "SELECT bench_stage($SCALE, 'Bench tea')")
rows=$(q -c "SELECT count(*) FROM tracelink.record_staging")
edges=$(q -c "SELECT coalesce(sum(jsonb_array_length(inputs)), 0) FROM tracelink.record_staging")
echo "  $rows records, $edges transformations staged in ${staging}s"

# 1. bulk recording, each from the same staged rows, in one transaction
plain_records_sql() { # table
	echo "INSERT INTO $1 SELECT code, link, 1, process, stage, form, data, source, 'bench', coalesce(occurred_at, now())
	        FROM tracelink.record_staging ORDER BY id"
}
plain_edges_sql() { # table
	echo "INSERT INTO $1 SELECT i->>'code', s.code, (i->>'quantity')::numeric, i->>'unit'
	        FROM tracelink.record_staging s, jsonb_array_elements(s.inputs) i ORDER BY s.id"
}
q -c "CHECKPOINT"
bare=$(seconds "BEGIN; $(plain_records_sql bare_records); $(plain_edges_sql bare_edges); COMMIT;")
q -c "CHECKPOINT"
plain=$(seconds "BEGIN; $(plain_records_sql plain_records); $(plain_edges_sql plain_edges); COMMIT;")
q -c "CHECKPOINT"
recorded=$(seconds "SELECT tracelink.record_staged()")
entries=$(q -c "SELECT count(*) FROM tracelink.ledger_entries WHERE kind = 'tl.trace.record'")
q -c "VACUUM ANALYZE"
sizes=$(q -F ' ' -c "SELECT pg_size_pretty(sum(pg_total_relation_size(c))) FROM unnest(ARRAY['tracelink.records', 'tracelink.codes', 'tracelink.transformations', 'tracelink.record_slots']::regclass[]) c;
                      SELECT pg_size_pretty(pg_total_relation_size('tracelink.ledger_entries') + pg_total_relation_size('tracelink.ledger_blocks'));
                      SELECT pg_size_pretty(pg_total_relation_size('plain_records') + pg_total_relation_size('plain_edges'))" | paste -sd' ')

# 2. provenance latency
ncodes=$(q -c "SELECT count(*) FROM tracelink.codes")
scripts="$work/scripts"
mkdir -p "$scripts"
cat >"$scripts/trace.sql" <<SQL
\set i random(1, $ncodes)
SELECT * FROM tracelink.trace(bench_code(:i, $SCALE));
SQL
cat >"$scripts/cte.sql" <<SQL
\set i random(1, $ncodes)
WITH RECURSIVE up(code, depth) AS (
    SELECT bench_code(:i, $SCALE) COLLATE "C", 0
  UNION
    SELECT e.parent, u.depth + 1 FROM up u JOIN plain_edges e ON e.child = u.code
), down(code, depth) AS (
    SELECT bench_code(:i, $SCALE) COLLATE "C", 0
  UNION
    SELECT e.child, d.depth + 1 FROM down d JOIN plain_edges e ON e.parent = d.code
), p(code, relation, depth) AS (
    SELECT bench_code(:i, $SCALE) COLLATE "C", 'self', 0
    UNION ALL SELECT u.code, 'upstream', -min(u.depth) FROM up u WHERE u.depth > 0 GROUP BY u.code
    UNION ALL SELECT d.code, 'downstream', min(d.depth) FROM down d WHERE d.depth > 0 GROUP BY d.code
)
SELECT r.code, p.relation, p.depth, r.link, r.version, r.process, r.stage, r.form, r.data, r.source,
       r.node, r.occurred_at, r.recorded_at
  FROM p JOIN plain_records r ON r.code = p.code
 ORDER BY p.depth, r.code, r.occurred_at;
SQL
chmod -R a+rX "$scripts"
# both answer the same records for a sample of codes
mismatch=$(q -c "SELECT count(*) FROM generate_series(1, $ncodes, greatest($ncodes / 200, 1)) i
                  WHERE (SELECT count(*) FROM tracelink.trace(bench_code(i, $SCALE)))
                     <> (SELECT count(*) FROM plain_records r WHERE r.code IN (
                           WITH RECURSIVE up(code) AS (SELECT bench_code(i, $SCALE) COLLATE \"C\"
                                UNION SELECT e.parent FROM up JOIN plain_edges e ON e.child = up.code),
                           down(code) AS (SELECT bench_code(i, $SCALE) COLLATE \"C\"
                                UNION SELECT e.child FROM down JOIN plain_edges e ON e.parent = down.code)
                           SELECT code FROM up UNION SELECT code FROM down))")
avg_rows=$(q -c "SELECT round(avg((SELECT count(*) FROM tracelink.trace(bench_code(i, $SCALE)))), 1)
                   FROM generate_series(1, $ncodes, greatest($ncodes / 1000, 1)) i")
echo "provenance: $ncodes codes, $avg_rows records per trace on average, $mismatch of a sample of 200 codes answered differently"

latencies() { # variant -> appends latencies (ms) to $work/$variant.lat
	local dir="$work/log-$1"
	rm -rf "$dir"
	as_postgres mkdir -p "$dir"
	(cd "$dir" && as_postgres env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER=postgres \
		pgbench -n -M prepared -c 1 -T "$LATENCY_SECONDS" --random-seed=4242 -l --log-prefix=lat \
		-f "$scripts/$1.sql" postgres >"$work/pgbench-$1.out" 2>&1) || { cat "$work/pgbench-$1.out" >&2; exit 1; }
	cat "$dir"/lat* | awk '{ printf "%.3f\n", $3 / 1000 }' >>"$work/$1.lat"
}
percentile() { # file p
	sort -n "$1" | awk -v p="$2" '{ v[NR] = $1 } END { i = int(NR * p + 0.999999); if (i < 1) i = 1; printf "%.2f", v[i] }'
}
rm -f "$work"/*.lat
for _ in $(seq "$ROUNDS"); do
	latencies cte
	latencies trace
done
cte50=$(percentile "$work/cte.lat" 0.50)
cte99=$(percentile "$work/cte.lat" 0.99)
tr50=$(percentile "$work/trace.lat" 0.50)
tr99=$(percentile "$work/trace.lat" 0.99)
ntr=$(wc -l <"$work/trace.lat")
ncte=$(wc -l <"$work/cte.lat")

# 3. single-record transactions
cat >"$scripts/record.sql" <<'SQL'
\set i random(1, 1000000000)
SELECT tracelink.record('Bench tea', 'S-' || :i, 'Growing', 'Planting', 'Plot', '{"field": "F-7", "variety": "Yabukita"}');
SQL
cat >"$scripts/insert.sql" <<'SQL'
\set i random(1, 1000000000)
INSERT INTO plain_records VALUES ('S-' || :i, 'Bench tea', 1, 'Growing', 'Planting', 'Plot',
    jsonb_build_object('lot', 'S-' || :i, 'field', 'F-7', 'variety', 'Yabukita'), 'manual', 'bench', now());
SQL
chmod -R a+rX "$scripts"
tps() { # script -> transactions per second
	as_postgres env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER=postgres \
		pgbench -n -M prepared -c 1 -T "$LATENCY_SECONDS" -f "$scripts/$1.sql" postgres >"$work/pgbench-$1.out" 2>&1 ||
		{ cat "$work/pgbench-$1.out" >&2; exit 1; }
	awk '/^tps/ { printf "%.0f", $3 }' "$work/pgbench-$1.out"
}
insert_tps=$(tps insert)
record_tps=$(tps record)

# 4. records per entry
q -c "SELECT bench_link('Sweep')"
sweep=""
for n in 1 10 100 1000; do
	q -c "SELECT bench_stage($SWEEP_SCALE, 'Sweep', 'n$n:')" >/dev/null
	srows=$(q -c "SELECT count(*) FROM tracelink.record_staging")
	q -c "CHECKPOINT"
	s=$(seconds "SET tracelink.records_per_entry = $n; SELECT tracelink.record_staged()")
	proof=$(q -c "SELECT round(avg(octet_length(tracelink.record_proof(r.entry_hash, r.position)::text)))
	               FROM tracelink.trace_records r WHERE r.link = 'Sweep' AND r.code LIKE 'n$n:P-%' AND r.code_id % 50 = 0")
	sweep+="| $n | $srows | $(rate "$srows" "$s") | $proof |"$'\n'
done

echo
echo "| bulk recording of $rows records, $edges transformations | seconds | records/s | relative to tracelink |"
echo "|---|---:|---:|---:|"
echo "| (a) plain INSERT, no indexes | $bare | $(rate "$rows" "$bare") | $(ratio "$recorded" "$bare") |"
echo "| (b) plain INSERT, same indexes | $plain | $(rate "$rows" "$plain") | $(ratio "$recorded" "$plain") |"
echo "| (c) tracelink.record_staged() | $recorded | $(rate "$rows" "$recorded") | 1.00 |"
echo
echo "(c) wrote $entries ledger entries; sizes: projection + ledger + plain = $sizes"
echo
echo "| provenance of one code | p50 ms | p99 ms | calls |"
echo "|---|---:|---:|---:|"
echo "| hand-written recursive CTE over the plain tables | $cte50 | $cte99 | $ncte |"
echo "| tracelink.trace(code) | $tr50 | $tr99 | $ntr |"
echo "| ratio trace / CTE | $(ratio "$tr50" "$cte50") | $(ratio "$tr99" "$cte99") | |"
echo
echo "| single-record transactions (one client) | tps |"
echo "|---|---:|"
echo "| plain INSERT of the row | $insert_tps |"
echo "| tracelink.record() | $record_tps |"
echo "| ratio | $(ratio "$record_tps" "$insert_tps") |"
echo
echo "| records per entry | records | records/s | bytes of one record's proof |"
echo "|---:|---:|---:|---:|"
printf '%s' "$sweep"
