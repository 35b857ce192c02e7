#!/usr/bin/env bash
# Two or more builds of tracelink side by side: the single-row append rate
# (bench/ledger's pgbench workload) and the single-record record() rate
# (bench/trace's), each build on its own throw-away cluster, the builds
# taking turns in every round so that a slow spell of the shared machine
# hits all of them.  Then the append rate again with one entry from a peer
# waiting in apply_queue for good (a commit then scans the queue), and with
# 101 (a commit then looks entries up through the queue's index; see
# src/project.c).
#
# Each build is a relocated install made by scripts/lib.sh
# (TL_PG_PREFIX=<dir> ... tl_build_install), e.g. from a checkout of main:
#
#   AB_BUILDS="main=/tmp/tlpg-main branch=/tmp/tlpg-branch" SECONDS_PER_RUN=8 ROUNDS=3 \
#     sudo -E bash bench/ab.sh
#
# The same transactions are also run in a loop inside one backend
# (a procedure that commits after each), and the backend's CPU time per
# transaction read from /proc: unlike the rates, it hardly moves with the
# load of a shared machine.
#
# Not run by bench/run.sh (it needs the other builds).  Prints medians over
# rounds and the median of each build's per-round ratios to the first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../scripts/lib.sh"
SECONDS_PER_RUN=${SECONDS_PER_RUN:-8}
ROUNDS=${ROUNDS:-3}
LOOP=${LOOP:-3000}
read -r -a builds <<<"${AB_BUILDS:?set AB_BUILDS=\"label=prefix label=prefix ...\"}"

work=$(tl_postgres_tmpdir bench-ab)
declare -A dir port bin
stop_all() {
	local l
	for l in "${!dir[@]}"; do
		as_postgres "${bin[$l]}/pg_ctl" -D "${dir[$l]}/data" -m fast -w stop >/dev/null 2>&1 || true
	done
	rm -rf "$work"
}
trap stop_all EXIT

labels=()
next_port=55600
for b in "${builds[@]}"; do
	label=${b%%=*}
	prefix=${b#*=}
	labels+=("$label")
	bin[$label]=$prefix/usr/lib/postgresql/15/bin
	dir[$label]=$work/$label
	port[$label]=$(tl_free_port "$next_port")
	next_port=$((port[$label] + 1))
	as_postgres mkdir -p "${dir[$label]}"
	as_postgres "${bin[$label]}/initdb" -D "${dir[$label]}/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
	as_postgres tee -a "${dir[$label]}/data/postgresql.conf" >/dev/null <<-EOF
		port = ${port[$label]}
		listen_addresses = ''
		unix_socket_directories = '${dir[$label]}'
		fsync = off
		shared_buffers = '256MB'
		log_min_messages = warning
	EOF
	as_postgres "${bin[$label]}/pg_ctl" -D "${dir[$label]}/data" -l "${dir[$label]}/server.log" -w start >/dev/null
done

q() { # label, psql args...
	local l=$1
	shift
	as_postgres "${bin[$l]}/psql" -X -q -At -v ON_ERROR_STOP=1 -h "${dir[$l]}" -p "${port[$l]}" -U postgres -d postgres "$@"
}

scripts=$work/scripts
as_postgres mkdir -p "$scripts"
as_postgres tee "$scripts/append.sql" >/dev/null <<'SQL'
SELECT tracelink.append('trace.record', trace_payload(:client_id * 1000000 + (random() * 999999)::bigint));
SQL
as_postgres tee "$scripts/record.sql" >/dev/null <<'SQL'
\set i random(1, 1000000000)
SELECT tracelink.record('Bench tea', 'S-' || :i, 'Growing', 'Planting', 'Plot', '{"field": "F-7", "variety": "Yabukita"}');
SQL

for l in "${labels[@]}"; do
	# generate.sql makes the node "bench"
	q "$l" -c "CREATE EXTENSION tracelink" >/dev/null
	# bench/ledger's payload (about 330 bytes of JSON)
	q "$l" >/dev/null <<'SQL'
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
	# bench/trace's link
	q "$l" -f "$here/trace/generate.sql" >/dev/null 2>&1
	q "$l" -c "SELECT bench_link('Bench tea')" >/dev/null
	q "$l" >/dev/null <<'SQL'
CREATE PROCEDURE ab_loop(what text, n int) LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. n LOOP
        IF what = 'append' THEN
            PERFORM tracelink.append('trace.record', trace_payload(i));
        ELSE
            PERFORM tracelink.record('Bench tea', 'L-' || i || '-' || pg_backend_pid(), 'Growing', 'Planting', 'Plot',
                                     '{"field": "F-7", "variety": "Yabukita"}');
        END IF;
        COMMIT;
    END LOOP;
END
$$;
-- this backend's CPU time (user + system), in clock ticks
CREATE FUNCTION ab_cpu_ticks() RETURNS bigint LANGUAGE sql AS $$
SELECT split_part(s, ' ', 14)::bigint + split_part(s, ' ', 15)::bigint
  FROM pg_read_file('/proc/self/stat') s
$$;
SQL
done
ticks_per_second=$(getconf CLK_TCK)

tps() { # label script clients
	as_postgres "${bin[$1]}/pgbench" -n -M prepared -c "$3" -j "$3" -T "$SECONDS_PER_RUN" \
		-h "${dir[$1]}" -p "${port[$1]}" -U postgres -f "$scripts/$2.sql" postgres >"$work/pgbench.out" 2>&1 ||
		{ cat "$work/pgbench.out" >&2; exit 1; }
	awk '/^tps/ { printf "%.0f", $3 }' "$work/pgbench.out"
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

cpu_us() { # label what -> CPU microseconds per transaction of one backend
	q "$1" <<-SQL
		SELECT ab_cpu_ticks() AS t0 \gset
		CALL ab_loop('$2', $LOOP);
		SELECT round((ab_cpu_ticks() - :t0) * 1e6 / $ticks_per_second / $LOOP);
	SQL
}

declare -A runs
measure() { # workload script clients
	local r l
	for r in $(seq "$ROUNDS"); do
		for l in "${labels[@]}"; do
			runs[$1,$l]+="$(tps "$l" "$2" "$3") "
			runs[cpu_$1,$l]+="$(cpu_us "$l" "$2") "
		done
	done
}
measure append append 2
measure record record 1

# one entry from a simulated peer waits in apply_queue for a dependency that
# never comes
for l in "${labels[@]}"; do
	q "$l" -f "$here/../sql/include/sim_nodes.sql" >/dev/null
	q "$l" -c "SELECT * FROM sim_node('waiter')" >/dev/null
	q "$l" -c "SELECT * FROM tracelink.ingest((SELECT lines FROM sim_action('waiter', 'bench.wait', '{}',
	             ARRAY[sha256('never')])))" >/dev/null
	[ "$(q "$l" -c "SELECT count(*) FROM tracelink.apply_queue")" = 1 ] || { echo "no waiting entry on $l" >&2; exit 1; }
done
measure append_waiting append 2

# and 100 more: a long queue is looked up through its index, not scanned
for l in "${labels[@]}"; do
	q "$l" -c "SELECT sum(i.quarantined) FROM generate_series(1, 100) g,
	             LATERAL tracelink.ingest((SELECT lines FROM sim_action('waiter', 'bench.wait', jsonb_build_object('n', g),
	                                       ARRAY[sha256(convert_to('never ' || g, 'UTF8'))]))) i" >/dev/null
	[ "$(q "$l" -c "SELECT count(*) FROM tracelink.apply_queue")" = 101 ] || { echo "not 101 waiting entries on $l" >&2; exit 1; }
done
measure append_waiting101 append 2

first=${labels[0]}
echo "$ROUNDS rounds, builds taking turns; pgbench runs of ${SECONDS_PER_RUN}s, loops of $LOOP transactions;"
echo "median over rounds (median of the rounds' ratios to $first)"
printf '| workload |'
for l in "${labels[@]}"; do printf ' %s |' "$l"; done
printf '\n|---|'
for l in "${labels[@]}"; do printf -- '---:|'; done
printf '\n'
for w in append record append_waiting append_waiting101 cpu_append cpu_record cpu_append_waiting cpu_append_waiting101; do
	case $w in
		append) name='single-row `append()`, 2 clients, tps' ;;
		record) name='single-record `record()`, 1 client, tps' ;;
		append_waiting) name='single-row `append()`, 2 clients, one entry waiting in apply_queue, tps' ;;
		cpu_append) name='single-row `append()`: backend CPU µs per transaction' ;;
		cpu_record) name='single-record `record()`: backend CPU µs per transaction' ;;
		cpu_append_waiting) name='single-row `append()`, one entry waiting: backend CPU µs per transaction' ;;
		append_waiting101) name='single-row `append()`, 2 clients, 101 entries waiting, tps' ;;
		cpu_append_waiting101) name='single-row `append()`, 101 entries waiting: backend CPU µs per transaction' ;;
	esac
	printf '| %s |' "$name"
	for l in "${labels[@]}"; do
		m=$(printf '%s\n' ${runs[$w,$l]} | median)
		# the median of the rounds' ratios: a round's builds ran side by side
		r=$(paste -d' ' <(printf '%s\n' ${runs[$w,$l]}) <(printf '%s\n' ${runs[$w,$first]}) |
			awk '{ printf "%.4f\n", $1 / $2 }' | median | awk '{ printf "%.2f", $1 }')
		printf ' %s (%s) |' "$m" "$r"
	done
	printf '\n'
done
for w in append record append_waiting append_waiting101 cpu_append cpu_record cpu_append_waiting cpu_append_waiting101; do
	for l in "${labels[@]}"; do echo "rounds $w $l: ${runs[$w,$l]}"; done
done
