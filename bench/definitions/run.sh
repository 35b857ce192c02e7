#!/usr/bin/env bash
# Benchmark: canonicalise + hash a realistic link definition (5 processes,
# 20 stages, 100 data items) with tracelink, against jsonb parse + jsonb
# text + pgcrypto SHA-256, in one run on a throw-away cluster.  Prints a
# Markdown table (record it in docs/benchmarks.md with date and command).
#
#   bash bench/definitions/run.sh            (N=2000 evaluations, 7 rounds)
#   N=5000 ROUNDS=9 bash bench/definitions/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../scripts/lib.sh"
N=${N:-2000}
ROUNDS=${ROUNDS:-7}

tl_build_install >/dev/null
work=$(tl_postgres_tmpdir bench-definitions)
trap 'tl_cluster_stop_all; rm -rf "$work"' EXIT
port=$(tl_free_port 55400)
tl_cluster_start "$work/cluster" "$port"
cp "$here/generate.sql" "$here/bench.sql" "$work/"
chmod a+r "$work"/*.sql

psql_bench() {
	as_postgres psql -X -q -v ON_ERROR_STOP=1 -h "$work/cluster" -p "$port" -U postgres "$@"
}
psql_bench -d postgres -c 'CREATE DATABASE bench'
psql_bench -d bench -c 'CREATE EXTENSION tracelink' -c 'CREATE EXTENSION pgcrypto'
psql_bench -d bench -f "$work/generate.sql"

echo "PostgreSQL: $(psql_bench -d bench -Atc 'SHOW server_version'); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') ($(nproc) cores)"
echo
psql_bench -d bench -v n="$N" -v rounds="$ROUNDS" -f "$work/bench.sql"
