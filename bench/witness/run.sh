#!/usr/bin/env bash
# Witnessing heads on the apply path (src/witness.c): three nodes on
# loopback, full mesh.  n1 appends TX one-entry transactions (one block
# each: the apply path's per-block cost shows most); timed until n2 and n3
# have applied them all.  Every node runs with tracelink.witness_interval
#   -1   never witness on the apply path (the per-block checks still run:
#        the probes of witness_pending and witness_state),
#   60s  the default: at most one witness entry a minute per node,
#   0    a witness entry in every transaction that applies news (the worst
#        case: a receiver signs a block of its own per block it applies),
# interleaved, REPEAT times each; ratios against -1 in the same run.
# Then, on n1 alone (its peers' subscriptions to it disabled), single operations: appending a witness entry (two
# heads) against appending an ordinary one-entry block, and applying a
# peer's witness block (ingest) against applying an ordinary one.
# MODES=none runs without setting the interval (for a build without
# witnessing, as the baseline of another run).
#
#   sudo bash bench/run.sh witness          TX=2000 REPEAT=3 MODES="-1 60s 0"
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
TX=${TX:-2000}
REPEAT=${REPEAT:-3}
read -r -a MODES <<<"${MODES:--1 60s 0}"

work=$(tl_postgres_tmpdir bench-witness)
trap 'tl_cluster_stop_all; rm -rf "$work"' EXIT
declare -A PORT
NODES=(n1 n2 n3)
port=55800
for n in "${NODES[@]}"; do
	port=$(tl_free_port "$port")
	PORT[$n]=$port
	tl_cluster_start "$work/$n" "$port"
	port=$((port + 1))
done
on() { local n=$1; shift; psql -X -q -At -v ON_ERROR_STOP=1 -h "$work/$n" -p "${PORT[$n]}" -U postgres -d postgres "$@"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

declare -A KEY
for n in "${NODES[@]}"; do
	on "$n" -c "CREATE EXTENSION tracelink" >/dev/null
	KEY[$n]=$(on "$n" -c "SELECT encode(tracelink.init_node('$n'), 'hex')" 2>/dev/null)
done
for n in "${NODES[@]}"; do
	for p in "${NODES[@]}"; do
		[ "$n" = "$p" ] && continue
		on "$n" -c "CALL tracelink.add_peer('$p', 'host=$work/$p port=${PORT[$p]} dbname=postgres user=tracelink_peer_$n', '\\x${KEY[$p]}')" >/dev/null 2>&1
	done
done
for n in "${NODES[@]}"; do
	on "$n" -c "SELECT * FROM tracelink.connect_peers()" >/dev/null
done
for n in "${NODES[@]}"; do
	for _ in $(seq 600); do
		[ "$(on "$n" -c "SELECT count(*) = 2 FROM tracelink.peers WHERE status = 'streaming'")" = t ] && break
		sleep 0.1
	done
done

# every node caught up with every other (witnesses included)
settle() {
	local round n o head
	for round in $(seq 50); do
		local moved=0
		declare -A before=()
		for o in "${NODES[@]}"; do before[$o]=$(on "$o" -c "SELECT block_no FROM tracelink.ledger_heads WHERE origin = '$o'"); done
		for o in "${NODES[@]}"; do
			for n in "${NODES[@]}"; do
				[ "$n" = "$o" ] && continue
				for _ in $(seq 6000); do
					head=$(on "$n" -c "SELECT coalesce((SELECT block_no FROM tracelink.ledger_heads WHERE origin = '$o'), -1)")
					[ "$head" -ge "${before[$o]}" ] && break
					sleep 0.02
				done
			done
		done
		for o in "${NODES[@]}"; do
			[ "$(on "$o" -c "SELECT block_no FROM tracelink.ledger_heads WHERE origin = '$o'")" = "${before[$o]}" ] || moved=1
		done
		[ "$moved" = 0 ] && return
	done
}

set_interval() {
	local n
	[ "$1" = none ] && return
	for n in "${NODES[@]}"; do
		on "$n" -c "SELECT tracelink.node_name()" -c "ALTER SYSTEM SET tracelink.witness_interval = '$1'" -c "SELECT pg_reload_conf()" >/dev/null
		# restart the apply workers, so that they run with the new setting
		for p in "${NODES[@]}"; do
			[ "$n" = "$p" ] && continue
			on "$n" -c "ALTER SUBSCRIPTION tracelink_from_$p DISABLE" -c "ALTER SUBSCRIPTION tracelink_from_$p ENABLE"
		done
	done
	for n in "${NODES[@]}"; do
		for _ in $(seq 600); do
			[ "$(on "$n" -c "SELECT count(*) = 2 FROM tracelink.peers WHERE status = 'streaming'")" = t ] && break
			sleep 0.1
		done
	done
}

witnesses() { # total witness entries written by n2 and n3
	local total=0 n c
	[ "${MODES[0]}" = none ] && { echo 0; return; }
	for n in n2 n3; do
		c=$(on "$n" -c "SELECT count(*) FROM tracelink.ledger_entries WHERE origin = '$n' AND kind = 'tl.witness'")
		total=$((total + c))
	done
	echo "$total"
}

# warm up (caches, the apply workers' plans): one untimed batch
on n1 -c "DO \$\$ BEGIN FOR i IN 1..$TX LOOP
  PERFORM tracelink.append('bench.warmup', jsonb_build_object('i', i)); COMMIT; END LOOP; END \$\$"

declare -A RATE SUM WIT
for mode in "${MODES[@]}"; do SUM[$mode]=0; WIT[$mode]=0; done
for r in $(seq "$REPEAT"); do
	for mode in "${MODES[@]}"; do
		set_interval "$mode"
		settle
		w0=$(witnesses)
		target=$(( $(on n1 -c "SELECT block_no FROM tracelink.ledger_heads WHERE origin = 'n1'") + TX ))
		t0=$(now)
		on n1 -c "DO \$\$ BEGIN FOR i IN 1..$TX LOOP
		  PERFORM tracelink.append('bench.event', jsonb_build_object('trace_code', 'LOT-' || i, 'temperature_c', 31.5));
		  COMMIT; END LOOP; END \$\$"
		for n in n2 n3; do
			for _ in $(seq 60000); do
				[ "$(on "$n" -c "SELECT coalesce((SELECT block_no FROM tracelink.ledger_heads WHERE origin = 'n1'), -1) >= $target")" = t ] && break
				sleep 0.01
			done
		done
		s=$(elapsed "$t0" "$(now)")
		rate=$(awk -v t="$TX" -v s="$s" 'BEGIN { printf "%.0f", t / s }')
		SUM[$mode]=$((SUM[$mode] + rate))
		WIT[$mode]=$((WIT[$mode] + $(witnesses) - w0))
		echo "run $r, witness_interval = $mode: $rate blocks/s applied on n2 and n3" >&2
	done
done
quarantined=$(( $(on n2 -c "SELECT count(*) FROM tracelink.quarantine") + $(on n3 -c "SELECT count(*) FROM tracelink.quarantine") ))

# single operations, on n1: OPS transactions of each
OPS=${OPS:-1000}
if [ "${MODES[0]}" != none ]; then
	timed() { # SQL run OPS times, each in its own transaction; prints ms per op
		on n1 -c "CREATE TEMP TABLE t AS SELECT clock_timestamp() AS t0" \
			-c "DO \$\$ BEGIN FOR i IN 1..$OPS LOOP $1; COMMIT; END LOOP; END \$\$" \
			-c "SELECT round((extract(epoch FROM clock_timestamp() - t0) * 1000 / $OPS)::numeric, 3) FROM t"
	}
	# n1 alone: its peers stop streaming from it, so that applying what it
	# writes does not compete with it for the machine
	for n in n2 n3; do on "$n" -c "ALTER SUBSCRIPTION tracelink_from_n1 DISABLE"; done
	on n1 -c "SELECT tracelink.node_name()" -c "SET client_min_messages = warning" -f "$(dirname "$0")/../../sql/include/sim_nodes.sql" >/dev/null
	on n1 -c "SELECT * FROM sim_node('sim_a')" -c "SELECT * FROM sim_node('sim_w')" >/dev/null
	# OPS blocks of a simulated peer, and OPS witness blocks of another one
	# naming two heads (its own copies of n1 and sim_a, as n1 holds them)
	on n1 -c "CREATE TABLE plain_lines AS SELECT i AS n, (sim_action('sim_a', 'bench.event', jsonb_build_object('i', i))).lines FROM generate_series(1, $OPS) i"
	on n1 -c "CREATE TABLE witness_lines AS SELECT i AS n, (sim_action('sim_w', 'tl.witness', jsonb_build_object('equivocations', '[]'::jsonb,
	            'heads', jsonb_build_array(tracelink.signed_tree_head('n1'), tracelink.signed_tree_head('sim_a'))))).lines FROM generate_series(1, $OPS) i"
	append_ms=$(timed "PERFORM tracelink.append('bench.event', jsonb_build_object('i', i))")
	witness_ms=$(timed "PERFORM tracelink.witness(true)")
	apply_ms=$(timed "PERFORM tracelink.ingest((SELECT lines FROM plain_lines p WHERE p.n = i))")
	apply_w_ms=$(timed "PERFORM tracelink.ingest((SELECT lines FROM witness_lines w WHERE w.n = i))")
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
for mode in "${MODES[@]}"; do RATE[$mode]=$((SUM[$mode] / REPEAT)); done
base=${RATE[${MODES[0]}]}
echo "| apply path, $TX one-entry transactions written on n1, applied on n2 and n3 (mean of $REPEAT) | blocks/s | ratio | witness entries n2 + n3 wrote per run |"
echo "|---|---:|---:|---:|"
for mode in "${MODES[@]}"; do
	case $mode in
		-1) what='witness_interval = -1 (checks only, no witness appended)' ;;
		0) what='witness_interval = 0 (a witness per applying transaction)' ;;
		none) what='witnessing not set (a build without it)' ;;
		*) what="witness_interval = $mode" ;;
	esac
	echo "| $what | ${RATE[$mode]} | $(ratio "${RATE[$mode]}" "$base") | $((WIT[$mode] / REPEAT)) |"
done
if [ "${MODES[0]}" != none ]; then
	echo
	echo "| one operation on n1, its own transaction ($OPS of each) | ms | ratio |"
	echo "|---|---:|---:|"
	echo "| append a one-entry block | $append_ms | 1.00 |"
	echo "| append a witness entry naming two heads (tracelink.witness(true)) | $witness_ms | $(ratio "$witness_ms" "$append_ms") |"
	echo "| apply a peer's one-entry block (ingest) | $apply_ms | 1.00 |"
	echo "| apply a peer's witness block naming two heads, both held here (ingest) | $apply_w_ms | $(ratio "$apply_w_ms" "$apply_ms") |"
fi
echo
echo "quarantined rows on n2 and n3: $quarantined"
