#!/usr/bin/env bash
# Benchmark: the cost of tallying one ballot as ballots accumulate, for a
# vote of many simulated peers (bench/workflow/bench.sql): tracelink's O(1)
# tally (sqlsrc/65_votes.sql) against a naive SQL trigger that recounts all ballots of
# the proposal on every insert, in the same run on a throw-away cluster.
# Prints a Markdown table (record it in docs/benchmarks.md with date and
# command).
#
#   bash bench/workflow/run.sh                     (100 and 1000 voters, 5 rounds)
#   VOTERS="100" ROUNDS=9 bash bench/workflow/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../scripts/lib.sh"
VOTERS=${VOTERS:-100 1000}
ROUNDS=${ROUNDS:-5}

tl_build_install >/dev/null
work=$(tl_postgres_tmpdir bench-workflow)
trap 'tl_cluster_stop_all; rm -rf "$work"' EXIT
port=$(tl_free_port 55400)
tl_cluster_start "$work/cluster" "$port"
# no background vacuum in the middle of a round (bench.sql vacuums between rounds)
as_postgres psql -X -q -h "$work/cluster" -p "$port" -U postgres -d postgres \
	-c 'ALTER SYSTEM SET autovacuum = off' -c 'SELECT pg_reload_conf()' >/dev/null
cp "$here/../../sql/include/sim_nodes.sql" "$here/bench.sql" "$work/"
chmod a+r "$work"/*.sql

psql_bench() {
	as_postgres psql -X -q -v ON_ERROR_STOP=1 -h "$work/cluster" -p "$port" -U postgres "$@"
}

echo "PostgreSQL: $(psql_bench -d postgres -Atc 'SHOW server_version'); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') ($(nproc) cores); $ROUNDS rounds"
echo
echo "| voters | ballots cast | apply path alone, µs (Z) | ballot with tracelink's tally, µs (X) | tracelink tally, µs (X − Z) | naive recount trigger, µs (Y − X) |"
echo "|---:|---|---:|---:|---:|---:|"
ratios=()
for n in $VOTERS; do
	db="bench_$n"
	psql_bench -d postgres -c "CREATE DATABASE $db"
	psql_bench -d "$db" -c 'CREATE EXTENSION tracelink' \
		-c "ALTER DATABASE $db SET tracelink.key_directory = '$work/keys_$n'"
	psql_bench -d "$db" -Atc "SELECT length(tracelink.init_node('bench'))" >/dev/null
	psql_bench -d "$db" -f "$work/sim_nodes.sql"
	if ! out=$(psql_bench -d "$db" -v voters="$n" -v rounds="$ROUNDS" -f "$work/bench.sql" 2>&1); then
		echo "$out" >&2
		exit 1
	fi
	grep '^|' <<<"$out"
	ratios+=("$(grep -v '^|' <<<"$out")")
done
echo
printf '%s\n' "${ratios[@]}"
