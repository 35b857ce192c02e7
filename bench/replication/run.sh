#!/usr/bin/env bash
# Replication: two separate sets of three nodes on loopback, each a full mesh,
# so that each system's walsenders decode only its own WAL: t1, t2, t3 run
# tracelink (add_peer, connect_peers); p1, p2, p3 run a plain table with a
# plain publication per node (WHERE origin = '<node>') and plain
# subscriptions, without verification.
#  (1) Throughput, ROUNDS alternating rounds (tracelink, then plain): ROWS
#      rows in transactions of BATCH written on node 1, timed until nodes 2
#      and 3 have applied them (tracelink: verified).  Reported: the median
#      rows/s of each and the median of the per-round ratios.
#  (2) CPU per 1,000 applied rows in each of those phases, by kind of server
#      process (utime + stime from /proc/<pid>/stat, before and after): the
#      writer backend (it reads its own /proc/self/stat), the walsenders of
#      node 1 (pg_stat_replication) and the apply workers of nodes 2 and 3
#      (pg_stat_subscription, relid IS NULL).  Medians over the rounds.
#  (3) Lag under a steady load (pgbench at RATE tx/s for LOAD_SECONDS on node
#      1 of each system in turn), sampled on its node 2 every ~2 ms; lag of a
#      row = the first sample that shows it minus the time it was written.
#
#   sudo bash bench/run.sh replication     ROWS=50000 BATCH=50 RATE=300 LOAD_SECONDS=15 ROUNDS=3
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
ROWS=${ROWS:-50000}
BATCH=${BATCH:-50}
RATE=${RATE:-300}
LOAD_SECONDS=${LOAD_SECONDS:-15}
ROUNDS=${ROUNDS:-3}
if [ $((ROWS % BATCH)) -ne 0 ] || [ "$ROWS" -lt 1000 ] || [ "$ROUNDS" -lt 1 ]; then
	echo "ROWS must be a multiple of BATCH and at least 1000; ROUNDS at least 1" >&2
	exit 1
fi
HZ=$(getconf CLK_TCK)

work=$(tl_postgres_tmpdir bench-replication)
sampler=
cleanup() {
	if [ -n "$sampler" ]; then kill "$sampler" 2>/dev/null || true; fi
	tl_cluster_stop_all
	rm -rf "$work"
}
trap cleanup EXIT
declare -A PORT
TL=(t1 t2 t3)
PL=(p1 p2 p3)
port=55700
for n in "${TL[@]}" "${PL[@]}"; do
	port=$(tl_free_port "$port")
	PORT[$n]=$port
	tl_cluster_start "$work/$n" "$port"
	port=$((port + 1))
done
on() { local n=$1; shift; psql -X -q -At -v ON_ERROR_STOP=1 -h "$work/$n" -p "${PORT[$n]}" -U postgres -d postgres "$@"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# tracelink: nodes and peers, a full mesh
declare -A KEY
for n in "${TL[@]}"; do
	on "$n" -c "CREATE EXTENSION tracelink" >/dev/null
	KEY[$n]=$(on "$n" -c "SET client_min_messages = error" -c "SELECT encode(tracelink.init_node('$n'), 'hex')")
	on "$n" -c "CREATE TABLE samples (at timestamptz, seen bigint)"
done
for n in "${TL[@]}"; do
	for p in "${TL[@]}"; do
		[ "$n" = "$p" ] && continue
		on "$n" -c "CALL tracelink.add_peer('$p', 'host=$work/$p port=${PORT[$p]} dbname=postgres user=tracelink_peer_$n', '\\x${KEY[$p]}')" >/dev/null 2>&1
	done
done
for n in "${TL[@]}"; do
	on "$n" -c "SELECT * FROM tracelink.connect_peers()" >/dev/null
done
# plain: a table, a publication of each node's own rows, a full mesh
for n in "${PL[@]}"; do
	on "$n" -c "CREATE TABLE plain_events (origin text, id bigint, payload jsonb, written_at timestamptz DEFAULT clock_timestamp(), PRIMARY KEY (origin, id))"
	on "$n" -c "CREATE PUBLICATION plain_pub FOR TABLE plain_events WHERE (origin = '$n')"
	on "$n" -c "CREATE TABLE samples (at timestamptz, seen bigint)"
done
for n in "${PL[@]}"; do
	for p in "${PL[@]}"; do
		[ "$n" = "$p" ] && continue
		on "$n" -c "CREATE SUBSCRIPTION plain_${n}_from_$p CONNECTION 'host=$work/$p port=${PORT[$p]} dbname=postgres user=postgres' PUBLICATION plain_pub" >/dev/null 2>&1
	done
done
# every subscription running and its tables synchronized
for n in t2 t3 p2 p3; do
	for i in $(seq 601); do
		[ "$(on "$n" -c "SELECT (SELECT count(*) = 2 FROM pg_stat_subscription WHERE pid IS NOT NULL AND relid IS NULL)
		                    AND NOT EXISTS (SELECT 1 FROM pg_subscription_rel WHERE srsubstate NOT IN ('r', 's'))")" = t ] && break
		if [ "$i" -eq 601 ]; then
			echo "the subscriptions on $n did not start" >&2
			exit 1
		fi
		sleep 0.1
	done
done

payload="jsonb_build_object('trace_code', 'LOT-' || i, 'process', 'Withering', 'values', jsonb_build_object('temperature_c', 31.5, 'humidity_pct', 62, 'operator', 'op-7'), 'source', 'device')"

# (1) throughput and (2) CPU
applied() { # node system
	if [ "$2" = tracelink ]; then
		on "$1" -c "SELECT coalesce((SELECT tree_size FROM tracelink.ledger_heads WHERE origin = 't1'), 0)"
	else
		on "$1" -c "SELECT count(*) FROM plain_events WHERE origin = 'p1'"
	fi
}
wait_applied() { # system target node...
	local what=$1 target=$2 n i
	shift 2
	for n in "$@"; do
		for i in $(seq 6001); do
			[ "$(applied "$n" "$what")" -ge "$target" ] && break
			if [ "$i" -eq 6001 ]; then
				echo "$what: $n did not apply $target rows" >&2
				exit 1
			fi
			sleep 0.05
		done
	done
}
# utime + stime of a process, in clock ticks (from a /proc/<pid>/stat line)
stat_ticks() { sed 's/.*) //' | awk '{ print $12 + $13 }'; }
# the walsenders of node 1 and the apply workers of nodes 2 and 3: "kind pid"
server_pids() { # system
	local s=${1:0:1}
	on "${s}1" -c "SELECT 'walsender', pid FROM pg_stat_replication" -F ' '
	for n in "${s}2" "${s}3"; do
		on "$n" -c "SELECT 'apply', pid FROM pg_stat_subscription WHERE relid IS NULL AND pid IS NOT NULL" -F ' '
	done
}
declare -A RATE_OF CPU_OF RATIO_OF
phase() { # system round
	local what=$1 r=$2 s=${1:0:1} kind pid t0 t1 out w0 w1 base first write
	declare -A before=() kind_of=() sum=([walsender]=0 [apply]=0)
	while read -r kind pid; do
		before[$pid]=$(stat_ticks <"/proc/$pid/stat")
		kind_of[$pid]=$kind
	done < <(server_pids "$what")
	base=$(applied "${s}1" "$what")
	first=$((r * ROWS + 1))
	t0=$(now)
	if [ "$what" = tracelink ]; then
		write="PERFORM tracelink.append('bench.event', $payload)"
	else
		write="INSERT INTO plain_events (origin, id, payload) SELECT 'p1', i, $payload"
	fi
	out=$(on "${s}1" -c "SELECT split_part(pg_read_file('/proc/self/stat'), E'\\n', 1)" \
		-c "DO \$\$ BEGIN FOR b IN 0..$((ROWS / BATCH - 1)) LOOP
  $write FROM generate_series($first + b * $BATCH, $first + b * $BATCH + $BATCH - 1) i;
  COMMIT; END LOOP; END \$\$" \
		-c "SELECT split_part(pg_read_file('/proc/self/stat'), E'\\n', 1)")
	wait_applied "$what" $((base + ROWS)) "${s}2" "${s}3"
	t1=$(now)
	w0=$(sed -n 1p <<<"$out" | stat_ticks)
	w1=$(sed -n 2p <<<"$out" | stat_ticks)
	while read -r kind pid; do
		if [ ! -r "/proc/$pid/stat" ]; then continue; fi
		sum[$kind]=$((sum[$kind] + $(stat_ticks <"/proc/$pid/stat") - ${before[$pid]:-0}))
		unset "before[$pid]"
	done < <(server_pids "$what")
	for pid in "${!before[@]}"; do
		echo "warning: $what round $((r + 1)): ${kind_of[$pid]} $pid is gone; its CPU is not counted" >&2
	done
	RATE_OF[$what,$r]=$(awk -v n="$ROWS" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
	# ms per 1,000 rows: writer walsenders apply total
	CPU_OF[$what,$r]=$(awk -v w=$((w1 - w0)) -v s="${sum[walsender]}" -v a="${sum[apply]}" -v hz="$HZ" -v n="$ROWS" \
		'BEGIN { f = 1000 / hz * 1000 / n; printf "%.1f %.1f %.1f %.1f", w * f, s * f, a * f, (w + s + a) * f }')
}
for r in $(seq 0 $((ROUNDS - 1))); do
	phase tracelink "$r"
	phase plain "$r"
	RATIO_OF[$r]=$(awk -v a="${RATE_OF[tracelink,$r]}" -v b="${RATE_OF[plain,$r]}" 'BEGIN { printf "%.3f", a / b }')
done

# (3) lag under a steady load: for each system, a sampler on node 2 and
# pgbench on node 1
on t2 -c "CREATE PROCEDURE sample(seconds float) LANGUAGE plpgsql AS \$\$
DECLARE stop timestamptz := clock_timestamp() + seconds * interval '1 second';
BEGIN
  WHILE clock_timestamp() < stop LOOP
    INSERT INTO samples SELECT clock_timestamp(), coalesce((SELECT block_no FROM tracelink.ledger_heads WHERE origin = 't1'), -1);
    COMMIT;
    PERFORM pg_sleep(0.002);
  END LOOP;
END \$\$"
on p2 -c "CREATE PROCEDURE sample(seconds float) LANGUAGE plpgsql AS \$\$
DECLARE stop timestamptz := clock_timestamp() + seconds * interval '1 second';
BEGIN
  WHILE clock_timestamp() < stop LOOP
    INSERT INTO samples SELECT clock_timestamp(), coalesce((SELECT max(id) FROM plain_events WHERE origin = 'p1'), -1);
    COMMIT;
    PERFORM pg_sleep(0.002);
  END LOOP;
END \$\$"
mkdir -p "$work/scripts"
echo "SELECT tracelink.append('bench.steady', jsonb_build_object('at', clock_timestamp()));" >"$work/scripts/tracelink.sql"
echo "INSERT INTO plain_events (origin, id, payload) VALUES ('p1', nextval('plain_ids'), '{}');" >"$work/scripts/plain.sql"
on p1 -c "CREATE SEQUENCE plain_ids START $((ROUNDS * ROWS + 1))"
block0=$(on t1 -c "SELECT block_no FROM tracelink.ledger_heads WHERE origin = 't1'")
id0=$((ROUNDS * ROWS))
for load in tracelink plain; do
	s=${load:0:1}
	on "${s}2" -c "CALL sample($((LOAD_SECONDS + 4)))" &
	sampler=$!
	sleep 1
	if ! pgbench -n -h "$work/${s}1" -p "${PORT[${s}1]}" -U postgres -R "$RATE" -T "$LOAD_SECONDS" -c 2 -j 2 \
		-f "$work/scripts/$load.sql" postgres >"$work/pgbench.out" 2>&1; then
		cat "$work/pgbench.out" >&2
		exit 1
	fi
	wait "$sampler"
	sampler=
done

# lag per row: first sample on node 2 that shows it, minus when node 1 wrote it
lag_sql="round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s.at - w.at) * 1000)::numeric, 1),
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM s.at - w.at) * 1000)::numeric, 1),
       count(*)
  FROM written w
  CROSS JOIN LATERAL (SELECT min(at) AS at FROM samples s WHERE s.seen >= w.n) s
 WHERE s.at IS NOT NULL"
on t2 -c "CREATE TABLE written AS SELECT block_no AS n, sealed_at AS at FROM tracelink.ledger_blocks WHERE origin = 't1' AND block_no > $block0"
on p2 -c "CREATE TABLE written AS SELECT id AS n, written_at AS at FROM plain_events WHERE origin = 'p1' AND id > $id0"
read -r t_p50 t_p99 t_n <<<"$(on t2 -F ' ' -c "SELECT $lag_sql")"
read -r p_p50 p_p99 p_n <<<"$(on p2 -F ' ' -c "SELECT $lag_sql")"
quarantined=$(on t2 -c "SELECT count(*) FROM tracelink.quarantine")

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'; }
column_of() { # system field(1-4): that CPU figure of every round
	local r
	for r in $(seq 0 $((ROUNDS - 1))); do
		cut -d ' ' -f "$2" <<<"${CPU_OF[$1,$r]}"
	done
}
rates() { local r; for r in $(seq 0 $((ROUNDS - 1))); do echo "${RATE_OF[$1,$r]}"; done; }
# shellcheck disable=SC2046
{
	tl_rate=$(median $(rates tracelink))
	plain_rate=$(median $(rates plain))
	rate_ratio=$(median "${RATIO_OF[@]}")
}
echo "| replication (3 nodes, loopback; each system on its own clusters) | plain table, no verification | tracelink, verified | ratio |"
echo "|---|---|---|---|"
echo "| $ROWS rows in transactions of $BATCH, written on node 1 until applied on nodes 2 and 3, rows/s (median of $ROUNDS rounds; ratio: median of the per-round ratios) | $(printf '%.0f' "$plain_rate") | $(printf '%.0f' "$tl_rate") | $(printf '%.2f' "$rate_ratio") |"
echo "| lag at $RATE tx/s for ${LOAD_SECONDS}s (p50 / p99, ms; $p_n / $t_n rows) | $p_p50 / $p_p99 | $t_p50 / $t_p99 | $(ratio "$t_p50" "$p_p50") (p50) |"
echo
echo "| CPU ms per 1,000 rows (median of $ROUNDS rounds) | plain | tracelink | ratio |"
echo "|---|---|---|---|"
f=1
for label in "writer backend (node 1)" "walsenders (node 1, sum)" "apply workers (nodes 2 and 3, sum)" "total"; do
	# shellcheck disable=SC2046
	{
		p=$(median $(column_of plain "$f"))
		t=$(median $(column_of tracelink "$f"))
	}
	echo "| $label | $(printf '%.1f' "$p") | $(printf '%.1f' "$t") | $(ratio "$t" "$p") |"
	f=$((f + 1))
done
echo
for r in $(seq 0 $((ROUNDS - 1))); do
	echo "round $((r + 1)): rows/s plain ${RATE_OF[plain,$r]}, tracelink ${RATE_OF[tracelink,$r]} (ratio ${RATIO_OF[$r]}); CPU ms per 1,000 rows (writer walsenders apply total): plain ${CPU_OF[plain,$r]}, tracelink ${CPU_OF[tracelink,$r]}"
done
echo
echo "quarantined rows on t2: $quarantined"
