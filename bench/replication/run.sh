#!/usr/bin/env bash
# Replication: three nodes on loopback, full mesh.  (1) Throughput: entries
# per second appended on one node until both others have applied them,
# verified (tracelink), against the same rows in a plain table replicated by
# a plain publication without verification.  (2) Lag under a steady load
# (pgbench at a fixed rate): sampled on a receiver every ~2 ms; lag of a row
# = the first sample that shows it minus the time it was written.
#
#   sudo bash bench/run.sh replication     ROWS=50000 BATCH=50 RATE=300 LOAD_SECONDS=15
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
ROWS=${ROWS:-50000}
BATCH=${BATCH:-50}
RATE=${RATE:-300}
LOAD_SECONDS=${LOAD_SECONDS:-15}

work=$(tl_postgres_tmpdir bench-replication)
trap 'tl_cluster_stop_all; rm -rf "$work"' EXIT
declare -A PORT
NODES=(n1 n2 n3)
port=55700
for n in "${NODES[@]}"; do
	port=$(tl_free_port "$port")
	PORT[$n]=$port
	tl_cluster_start "$work/$n" "$port"
	port=$((port + 1))
done
on() { local n=$1; shift; psql -X -q -At -v ON_ERROR_STOP=1 -h "$work/$n" -p "${PORT[$n]}" -U postgres -d postgres "$@"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# nodes, peers, and a plain table with its own plain publications
declare -A KEY
for n in "${NODES[@]}"; do
	on "$n" -c "CREATE EXTENSION tracelink" >/dev/null
	KEY[$n]=$(on "$n" -c "SELECT encode(tracelink.init_node('$n'), 'hex')")
	on "$n" -c "CREATE TABLE plain_events (origin text, id bigint, payload jsonb, written_at timestamptz DEFAULT clock_timestamp(), PRIMARY KEY (origin, id))"
	on "$n" -c "CREATE PUBLICATION plain_pub FOR TABLE plain_events WHERE (origin = '$n')"
	on "$n" -c "CREATE TABLE samples (at timestamptz, what text, seen bigint)"
done
for n in "${NODES[@]}"; do
	for p in "${NODES[@]}"; do
		[ "$n" = "$p" ] && continue
		on "$n" -c "CALL tracelink.add_peer('$p', 'host=$work/$p port=${PORT[$p]} dbname=postgres user=tracelink_peer_$n', '\\x${KEY[$p]}')" >/dev/null 2>&1
	done
done
for n in "${NODES[@]}"; do
	on "$n" -c "SELECT * FROM tracelink.connect_peers()" >/dev/null
	for p in "${NODES[@]}"; do
		[ "$n" = "$p" ] && continue
		on "$n" -c "CREATE SUBSCRIPTION plain_${n}_from_$p CONNECTION 'host=$work/$p port=${PORT[$p]} dbname=postgres user=postgres' PUBLICATION plain_pub" >/dev/null 2>&1
	done
done
for n in n2 n3; do
	for _ in $(seq 600); do
		[ "$(on "$n" -c "SELECT count(*) = 4 FROM pg_stat_subscription WHERE pid IS NOT NULL AND relid IS NULL")" = t ] && break
		sleep 0.1
	done
done

payload="jsonb_build_object('trace_code', 'LOT-' || i, 'process', 'Withering', 'values', jsonb_build_object('temperature_c', 31.5, 'humidity_pct', 62, 'operator', 'op-7'), 'source', 'device')"

# (1) throughput
wait_applied() { # what target
	for n in n2 n3; do
		for _ in $(seq 6000); do
			if [ "$1" = tracelink ]; then
				have=$(on "$n" -c "SELECT coalesce((SELECT tree_size FROM tracelink.ledger_heads WHERE origin = 'n1'), 0)")
			else
				have=$(on "$n" -c "SELECT count(*) FROM plain_events WHERE origin = 'n1'")
			fi
			[ "$have" -ge "$2" ] && break
			sleep 0.05
		done
	done
}
base=$(on n1 -c "SELECT tree_size FROM tracelink.ledger_heads WHERE origin = 'n1'")
t0=$(now)
on n1 -c "DO \$\$ BEGIN FOR b IN 0..$((ROWS / BATCH - 1)) LOOP
  PERFORM tracelink.append('bench.event', $payload) FROM generate_series(b * $BATCH + 1, (b + 1) * $BATCH) i;
  COMMIT; END LOOP; END \$\$"
wait_applied tracelink $((base + ROWS))
tl_s=$(elapsed "$t0" "$(now)")
t0=$(now)
on n1 -c "DO \$\$ BEGIN FOR b IN 0..$((ROWS / BATCH - 1)) LOOP
  INSERT INTO plain_events (origin, id, payload) SELECT 'n1', i, $payload FROM generate_series(b * $BATCH + 1, (b + 1) * $BATCH) i;
  COMMIT; END LOOP; END \$\$"
wait_applied plain "$ROWS"
plain_s=$(elapsed "$t0" "$(now)")

# (2) lag under a steady load: a sampler on n2, pgbench on n1
on n2 -c "CREATE PROCEDURE sample(seconds float) LANGUAGE plpgsql AS \$\$
DECLARE stop timestamptz := clock_timestamp() + seconds * interval '1 second';
BEGIN
  WHILE clock_timestamp() < stop LOOP
    INSERT INTO samples SELECT clock_timestamp(), 'tracelink', coalesce((SELECT block_no FROM tracelink.ledger_heads WHERE origin = 'n1'), -1);
    INSERT INTO samples SELECT clock_timestamp(), 'plain', coalesce((SELECT max(id) FROM plain_events WHERE origin = 'n1'), -1);
    COMMIT;
    PERFORM pg_sleep(0.002);
  END LOOP;
END \$\$"
mkdir -p "$work/scripts"
echo "SELECT tracelink.append('bench.steady', jsonb_build_object('at', clock_timestamp()));" >"$work/scripts/tracelink.sql"
echo "INSERT INTO plain_events (origin, id, payload) VALUES ('n1', nextval('plain_ids'), '{}');" >"$work/scripts/plain.sql"
on n1 -c "CREATE SEQUENCE plain_ids START $((ROWS + 1))"
block0=$(on n1 -c "SELECT block_no FROM tracelink.ledger_heads WHERE origin = 'n1'")
id0=$ROWS
(on n2 -c "CALL sample($((LOAD_SECONDS * 2 + 4)))" &)
sleep 1
for load in tracelink plain; do
	if ! pgbench -n -h "$work/n1" -p "${PORT[n1]}" -U postgres -R "$RATE" -T "$LOAD_SECONDS" -c 2 -j 2 \
		-f "$work/scripts/$load.sql" postgres >"$work/pgbench.out" 2>&1; then
		cat "$work/pgbench.out" >&2
		exit 1
	fi
done
sleep $((LOAD_SECONDS / 2 + 4))

# lag per row: first sample on n2 that shows it, minus when n1 wrote it
on n2 -c "CREATE TABLE written AS SELECT 'tracelink' AS what, block_no AS n, sealed_at AS at FROM tracelink.ledger_blocks WHERE origin = 'n1' AND block_no > $block0
          UNION ALL SELECT 'plain', id, written_at FROM plain_events WHERE origin = 'n1' AND id > $id0"
lags=$(on n2 -F ' ' -c "SELECT w.what,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s.at - w.at) * 1000)::numeric, 1),
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM s.at - w.at) * 1000)::numeric, 1),
       count(*)
  FROM written w
  CROSS JOIN LATERAL (SELECT min(at) AS at FROM samples s WHERE s.what = w.what AND s.seen >= w.n) s
 WHERE s.at IS NOT NULL GROUP BY w.what ORDER BY w.what")
quarantined=$(on n2 -c "SELECT count(*) FROM tracelink.quarantine")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
tl_rate=$(awk -v r="$ROWS" -v s="$tl_s" 'BEGIN { printf "%.0f", r / s }')
plain_rate=$(awk -v r="$ROWS" -v s="$plain_s" 'BEGIN { printf "%.0f", r / s }')
echo "| replication (3 nodes, loopback) | plain table, no verification | tracelink, verified | ratio |"
echo "|---|---|---|---|"
echo "| $ROWS rows in transactions of $BATCH, written on n1 until applied on n2 and n3, rows/s | $plain_rate | $tl_rate | $(ratio "$tl_rate" "$plain_rate") |"
read -r p_what p_p50 p_p99 p_n t_what t_p50 t_p99 t_n <<<"$(echo $lags)"
echo "| lag at $RATE tx/s (p50 / p99, ms; $p_n / $t_n samples) | $p_p50 / $p_p99 | $t_p50 / $t_p99 | $(ratio "$t_p50" "$p_p50") (p50) |"
echo
echo "quarantined rows on n2: $quarantined"
