#!/usr/bin/env bash
# Scale: N nodes on this machine, full mesh against relays (docs/operations.md,
# "Relays: a sparse network"), for each N in NODES_LIST.
#   mesh   every node peers with every other: N-1 walsenders and N-1 apply
#          workers per node.
#   relay  two hubs h1, h2 peer with each other and with N-2 leaves; the
#          hubs forward every origin's rows to the leaves
#          (set_relay(leaf, true, false)), the leaves accept them
#          (set_relay(hub, false, true)) and pin the other leaves' keys.
# Small clusters (shared_buffers 16MB).  Once the network has settled, every
# node writes the same load at once (ROUNDS transactions of BATCH entries,
# tracelink.append), timed until every node holds every origin's head
# (convergence); then one state_digest() on all nodes and nothing quarantined.
# Per node (mean and max): walsenders (pg_stat_replication), apply workers
# (pg_stat_subscription, relid IS NULL), WAL written and WAL decoded (sum of
# pg_stat_replication_slots.total_bytes over its slots, reset before the
# load).  CPU per applied entry: CPU time of every process of the N clusters
# during the write and converge phase (utime + stime from /proc, the
# postmasters' cutime + cstime for children that exited) over the entry
# applications (entries written x (N - 1) receivers), and the part of it
# that the apply workers spent; the walsenders' CPU per MiB they decoded.
# Full mesh is the baseline of relay at each N, in the same run: both
# networks are up at once and the load alternates between them, REPEAT
# rounds; medians.  Exits non-zero if a round ended with more than one state
# digest or anything quarantined (after printing the tables).
#
#   sudo bash bench/run.sh scale     NODES_LIST="4 8 16" ROUNDS=40 BATCH=50 REPEAT=3
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
read -r -a NODES_LIST <<<"${NODES_LIST:-4 8 16}"
read -r -a TOPOLOGIES <<<"${TOPOLOGIES:-mesh relay}"
ROUNDS=${ROUNDS:-40}
BATCH=${BATCH:-50}
REPEAT=${REPEAT:-3}
TICK=$(getconf CLK_TCK)

work=$(tl_postgres_tmpdir bench-scale)
trap 'tl_cluster_stop_all; rm -rf "$work"' EXIT
declare -A PORT DIR KEY

on() { local n=$1; shift; PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -v ON_ERROR_STOP=1 -h "${DIR[$n]}" -p "${PORT[$n]}" -U postgres -d postgres "$@"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# start_node NAME PEERS: a small cluster, sized for PEERS peers (each a
# walsender, a slot and an apply worker, plus initial-sync workers)
start_node() {
	local n=$1 peers=$2 d=$3 port
	port=$(tl_free_port $((PORT_BASE)))
	PORT_BASE=$((port + 1))
	PORT[$n]=$port
	DIR[$n]=$d
	as_postgres mkdir -p "$d"
	# initdb for each node: a copied data directory would share the system
	# identifier that names initial-sync slots (they would clash)
	as_postgres initdb -D "$d/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
	as_postgres tee -a "$d/data/postgresql.conf" >/dev/null <<-EOF
		port = $port
		listen_addresses = ''
		unix_socket_directories = '$d'
		wal_level = logical
		fsync = off
		log_min_messages = warning
		shared_buffers = 16MB
		wal_buffers = 1MB
		max_wal_size = 256MB
		max_wal_senders = $((peers + 8))
		max_replication_slots = $((peers + 8))
		max_logical_replication_workers = $((peers + 6))
		max_worker_processes = $((peers + 14))
		wal_receiver_status_interval = 1
	EOF
	tl_cluster_start "$d" "$port"
	on "$n" -c "CREATE EXTENSION tracelink" >/dev/null
	KEY[$n]=$(on "$n" -c "SELECT encode(tracelink.init_node('$n'), 'hex')" 2>/dev/null)
}

# peer A B: A and B add each other (connect_peers() runs later)
peer() {
	local a=$1 b=$2 from to login
	for pair in "$a $b" "$b $a"; do
		read -r from to <<<"$pair"
		login=$(on "$to" -c "SELECT tracelink.peer_login_name('$from')")
		on "$from" -c "CALL tracelink.add_peer('$to', 'host=${DIR[$to]} port=${PORT[$to]} dbname=postgres user=$login', '\\x${KEY[$to]}')" >/dev/null
	done
}

# wait_until NODE SQL: fails the run if SQL does not say t within 10 minutes
wait_until() {
	local n=$1 sql=$2
	for _ in $(seq 12000); do
		[ "$(on "$n" -c "$sql")" = t ] && return 0
		sleep 0.05
	done
	echo "$n: gave up waiting for: $sql" >&2
	return 1
}

# every node holds every origin's head as its origin has it now
converge() {
	local n o vals=''
	for o in "${NODES[@]}"; do
		vals+="${vals:+,}('$o', $(on "$o" -c "SELECT block_no FROM tracelink.ledger_heads WHERE origin = '$o'"))"
	done
	for n in "${NODES[@]}"; do
		wait_until "$n" "SELECT count(*) = ${#NODES[@]} FROM (VALUES $vals) w(origin, head)
		  JOIN tracelink.ledger_heads h USING (origin) WHERE h.block_no >= w.head"
	done
}

# CPU ticks of every process of the running clusters: each postmaster's
# own and its exited children's (cutime + cstime), and its live children's
# (found by their parent in /proc/<pid>/stat; fields after the command
# name); then those of the live walsenders and apply workers alone (by
# their process titles).  Prints "all walsenders apply_workers".
cpu_ticks() {
	local n pms='' all pid t title wal=0 app=0
	for n in "${NODES[@]}"; do pms+=" $(head -1 "${DIR[$n]}/data/postmaster.pid")"; done
	all=$({ cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v pms="$pms" '
		BEGIN { split(pms, a, " "); for (i in a) pm[a[i]] = 1 }
		{ pid = $1; sub(/^.*\) /, ""); # now $1 = state, $2 = ppid, $12 = utime
		  if (pid in pm) t += $12 + $13 + $14 + $15; else if ($2 in pm) { t += $12 + $13; print pid, $12 + $13 > "/dev/stderr" } }
		END { printf "%d\n", t }' 2>"$work/children")
	while read -r pid t; do
		title=''
		read -r -d '' title <"/proc/$pid/cmdline" 2>/dev/null || true
		case $title in
			*walsender*) wal=$((wal + t)) ;;
			*"logical replication"*) app=$((app + t)) ;;
		esac
	done <"$work/children"
	echo "$all $wal $app"
}

# stats A: "mean max" of a list of numbers
stats() { tr ' ' '\n' <<<"$1" | awk 'NF { s += $1; if ($1 > m) m = $1; c++ } END { printf "%.1f %d", s / c, m }'; }

# setup NN TOPO: start and connect the network; its nodes in MEMBERS[TOPO]
declare -A MEMBERS RUNS
setup() {
	local nn=$1 topo=$2 n h l o d hubs=() leaves=()
	NODES=()
	d="$work/$topo-$nn"
	if [ "$topo" = mesh ]; then
		for i in $(seq "$nn"); do NODES+=("n$i"); done
		for n in "${NODES[@]}"; do start_node "$n" $((nn - 1)) "$d/$n"; done
		for ((i = 0; i < nn; i++)); do
			for ((j = i + 1; j < nn; j++)); do peer "${NODES[i]}" "${NODES[j]}"; done
		done
	else
		hubs=(h1 h2)
		for i in $(seq $((nn - 2))); do leaves+=("l$i"); done
		NODES=("${hubs[@]}" "${leaves[@]}")
		for h in "${hubs[@]}"; do start_node "$h" $((nn - 1)) "$d/$h"; done
		for l in "${leaves[@]}"; do start_node "$l" 2 "$d/$l"; done
		for l in "${leaves[@]}"; do for h in "${hubs[@]}"; do peer "$l" "$h"; done; done
		peer h1 h2
	fi
	for n in "${NODES[@]}"; do on "$n" -c "SELECT * FROM tracelink.connect_peers()" >/dev/null; done
	for n in "${NODES[@]}"; do
		wait_until "$n" "SELECT count(*) = (SELECT count(*) FROM tracelink.peers) FROM tracelink.peers WHERE status = 'streaming'"
	done
	if [ "$topo" = relay ]; then
		for l in "${leaves[@]}"; do
			for o in "${leaves[@]}"; do
				[ "$o" = "$l" ] || on "$l" -c "SELECT tracelink.pin_node('$o', '\\x${KEY[$o]}')" >/dev/null
			done
		done
		# the leaves accept before the hubs forward (a relayed row that
		# reaches a leaf not yet accepting it is quarantined), and again
		# after: accepting fetches what the hub holds, here what it took
		# in between (rows it applied before forwarding are not sent)
		for l in "${leaves[@]}"; do
			for h in "${hubs[@]}"; do on "$l" -c "CALL tracelink.set_relay('$h', false, true)"; done
		done
		for h in "${hubs[@]}"; do
			for l in "${leaves[@]}"; do on "$h" -c "CALL tracelink.set_relay('$l', true, false)"; done
		done
		for l in "${leaves[@]}"; do
			for h in "${hubs[@]}"; do on "$l" -c "CALL tracelink.set_relay('$h', false, true)"; done
		done
	fi
	# settled: initial syncs done, every node holds every genesis
	for n in "${NODES[@]}"; do
		wait_until "$n" "SELECT NOT EXISTS (SELECT FROM pg_subscription_rel WHERE srsubstate <> 'r')"
	done
	converge
	MEMBERS[$topo]="${NODES[*]}"
}

# measure NN TOPO ROUND: one load on that network; a row of figures
# appended to RUNS[NN,TOPO]
measure() {
	local nn=$1 topo=$2 r=$3 n
	read -r -a NODES <<<"${MEMBERS[$topo]}"
	converge
	sleep 2
	converge
	local lsn0=() c0 c1 w0 w1 a0 a1 t0 secs pids=()
	for n in "${NODES[@]}"; do
		on "$n" -c "SELECT pg_stat_reset_replication_slot(NULL)" >/dev/null
		lsn0+=("$(on "$n" -c "SELECT pg_current_wal_lsn()")")
	done
	read -r c0 w0 a0 <<<"$(cpu_ticks)"
	t0=$(now)
	for n in "${NODES[@]}"; do
		on "$n" -c "DO \$\$ BEGIN FOR b IN 1..$ROUNDS LOOP
		  PERFORM tracelink.append('bench.scale', jsonb_build_object('trace_code', 'LOT-$r-' || b || '-' || i, 'temperature_c', 31.5, 'operator', 'op-7'))
		    FROM generate_series(1, $BATCH) i;
		  COMMIT; END LOOP; END \$\$" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
	converge
	secs=$(elapsed "$t0" "$(now)")
	read -r c1 w1 a1 <<<"$(cpu_ticks)"

	local senders='' workers='' decoded='' written='' digests quarantined=0 i=0 total_dec=0 v
	sleep 1 # slot statistics are reported after each decoded transaction
	for n in "${NODES[@]}"; do
		senders+=" $(on "$n" -c "SELECT count(*) FROM pg_stat_replication")"
		workers+=" $(on "$n" -c "SELECT count(*) FROM pg_stat_subscription WHERE relid IS NULL AND pid IS NOT NULL")"
		v=$(on "$n" -c "SELECT coalesce(sum(total_bytes), 0) FROM pg_stat_replication_slots")
		decoded+=" $((v / 1024))"
		total_dec=$((total_dec + v))
		v=$(on "$n" -c "SELECT pg_current_wal_lsn() - '${lsn0[i]}'::pg_lsn")
		written+=" $((${v%.*} / 1024))"
		quarantined=$((quarantined + $(on "$n" -c "SELECT count(*) FROM tracelink.quarantine")))
		i=$((i + 1))
	done
	digests=$(for n in "${NODES[@]}"; do on "$n" -c "SELECT encode(tracelink.state_digest(), 'hex')"; done | sort -u | wc -l)
	local apps cpu_us wal_ms apply_us row
	apps=$((nn * ROUNDS * BATCH * (nn - 1)))
	cpu_us=$(awk -v c=$((c1 - c0)) -v t="$TICK" -v a="$apps" 'BEGIN { printf "%.0f", c / t * 1e6 / a }')
	# walsenders: ms of CPU per MiB decoded; apply workers: µs per applied entry
	wal_ms=$(awk -v c=$((w1 - w0)) -v t="$TICK" -v b="$total_dec" 'BEGIN { printf "%.1f", c / t * 1000 / (b / 1048576) }')
	apply_us=$(awk -v c=$((a1 - a0)) -v t="$TICK" -v a="$apps" 'BEGIN { printf "%.0f", c / t * 1e6 / a }')
	row="$(stats "$senders") $(stats "$workers") $(stats "$decoded") $(stats "$written") $(awk -v b="$total_dec" 'BEGIN { printf "%.1f", b / 1048576 }') $cpu_us $wal_ms $apply_us $secs $digests $quarantined"
	echo "N=$nn $topo round $r: $row" >&2
	[ "$digests" = 1 ] || echo "N=$nn $topo round $r: $digests different state digests" >&2
	if [ "$quarantined" != 0 ]; then
		for n in "${NODES[@]}"; do
			on "$n" -c "SELECT '$n: ' || count(*) || ' ' || what || ' from ' || coalesce(source, '?') || ' (origin ' || origin || '): ' || reason
			  FROM tracelink.quarantine GROUP BY what, source, origin, reason ORDER BY 1" >&2
		done
	fi
	RUNS[$nn,$topo]+="$row;"
}

# medians over the rounds of each figure (the digests and quarantine counts: the largest)
medians() {
	tr ';' '\n' <<<"$1" | awk 'NF { n++; for (i = 1; i <= NF; i++) v[i, n] = $i; nf = NF }
		END { for (i = 1; i <= nf; i++) {
			for (k = 1; k <= n; k++) a[k] = v[i, k] + 0
			for (k = 2; k <= n; k++) for (j = k; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
			m = (i >= nf - 1) ? a[n] : (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2)
			printf "%s%g", (i > 1 ? " " : ""), m }
			print "" }'
}

declare -A ROW
for nn in "${NODES_LIST[@]}"; do
	PORT_BASE=56000
	for topo in "${TOPOLOGIES[@]}"; do setup "$nn" "$topo"; done
	# alternating rounds, the order reversed every other round
	order=("${TOPOLOGIES[@]}")
	for r in $(seq "$REPEAT"); do
		for topo in "${order[@]}"; do measure "$nn" "$topo" "$r"; done
		mapfile -t order < <(printf "%s\n" "${order[@]}" | tac)
	done
	for topo in "${TOPOLOGIES[@]}"; do ROW[$nn,$topo]=$(medians "${RUNS[$nn,$topo]}"); done
	tl_cluster_stop_all
	rm -rf "$work"/*-"$nn"
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.2f", a / b }'; }
echo "Each node writes $ROUNDS transactions of $BATCH entries, all nodes at once; medians of $REPEAT alternating rounds."
echo
echo "| N | topology | walsenders/node mean (max) | apply workers/node mean (max) | WAL decoded/node KiB mean (max) | WAL written/node KiB mean (max) | WAL decoded, network MiB | CPU µs per applied entry, all | of which apply workers | walsender CPU ms per MiB decoded | converge s | state digests | quarantined | entries written | applications |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for nn in "${NODES_LIST[@]}"; do
	for topo in "${TOPOLOGIES[@]}"; do
		read -r sm sx wm wx dm dx gm gx dt cpu wal_ms apply_us secs dig q <<<"${ROW[$nn,$topo]}"
		echo "| $nn | $topo | $sm ($sx) | $wm ($wx) | $dm ($dx) | $gm ($gx) | $dt | $cpu | $apply_us | $wal_ms | $secs | $dig | $q | $((nn * ROUNDS * BATCH)) | $((nn * ROUNDS * BATCH * (nn - 1))) |"
	done
done
if [[ " ${TOPOLOGIES[*]} " == *" mesh "* && " ${TOPOLOGIES[*]} " == *" relay "* ]]; then
	echo
	echo "| N | relay / full mesh: walsenders/node mean (max) | apply workers/node mean (max) | WAL decoded/node mean (max) | WAL decoded, network | CPU per applied entry | converge time |"
	echo "|---:|---:|---:|---:|---:|---:|---:|"
	for nn in "${NODES_LIST[@]}"; do
		read -r sm sx wm wx dm dx _ _ dt cpu _ _ secs _ <<<"${ROW[$nn,mesh]}"
		read -r rsm rsx rwm rwx rdm rdx _ _ rdt rcpu _ _ rsecs _ <<<"${ROW[$nn,relay]}"
		echo "| $nn | $(ratio "$rsm" "$sm") ($(ratio "$rsx" "$sx")) | $(ratio "$rwm" "$wm") ($(ratio "$rwx" "$wx")) | $(ratio "$rdm" "$dm") ($(ratio "$rdx" "$dx")) | $(ratio "$rdt" "$dt") | $(ratio "$rcpu" "$cpu") | $(ratio "$rsecs" "$secs") |"
	done
fi
bad=0
for nn in "${NODES_LIST[@]}"; do
	for topo in "${TOPOLOGIES[@]}"; do
		read -r -a f <<<"${ROW[$nn,$topo]}"
		if [ "${f[-2]}" != 1 ] || [ "${f[-1]}" != 0 ]; then
			echo "N=$nn $topo: ${f[-2]} state digests, ${f[-1]} rows quarantined" >&2
			bad=1
		fi
	done
done
exit "$bad"
