#!/usr/bin/env bash
# Run chosen tracelink tests with every server process under valgrind
# (memcheck), against a PostgreSQL 15 built with --enable-cassert and
# -DUSE_VALGRIND (docs/testing.md says how to build one).  A developer tool,
# not part of scripts/test.sh: it takes tens of minutes.
#
#   sudo TL_PG_CONFIG=/opt/pg15-cassert/bin/pg_config bash scripts/memcheck.sh \
#       [-r "00_setup 22_tamper ..."] [-t "t/040_standalone_verifier.pl ..."]
#
# -r: pg_regress tests (from sql/), run in that order against one cluster;
# -t: TAP tests.  Valgrind's reports go to test-logs/valgrind/<pid>.log;
# the script ends with the number of processes that reported an error and
# exits non-zero if any did or a test failed.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

regress="00_setup 20_ledger 21_proofs 22_tamper 23_proof_limits 30_workflow 31_workflow_peers 33_parked_entries 40_trace_record 41_trace_flow 42_record_proof_limits"
tap="t/040_standalone_verifier.pl"
while getopts "r:t:" opt; do
	case $opt in
		r) regress=$OPTARG ;;
		t) tap=$OPTARG ;;
		*) exit 2 ;;
	esac
done
if [ -z "$TL_PG_CONFIG" ]; then
	echo "set TL_PG_CONFIG to the pg_config of a cassert build with -DUSE_VALGRIND" >&2
	exit 2
fi
supp=$("$TL_PG_CONFIG" --sharedir)/valgrind.supp
if [ ! -f "$supp" ] || ! command -v valgrind >/dev/null; then
	echo "needs valgrind and $supp (PostgreSQL's src/tools/valgrind.supp)" >&2
	exit 2
fi

tl_build_install || exit 1
export TRACELINK_VECTORS=${TRACELINK_VECTORS:-}
work=$(tl_postgres_tmpdir memcheck)
trap 'tl_cluster_stop_all; rm -rf "$work"' EXIT
logs="$TL_ROOT/test-logs"
mkdir -p "$logs"
rm -rf "$logs/valgrind"
vglogs="$work/valgrind"
mkdir -p "$vglogs"
chown postgres: "$vglogs"

# A bin directory whose "postgres" runs the real one under valgrind; the
# other programs are copies (not links: they find "postgres" next to
# themselves), and lib/ and share/ are the installation's.
prefix=$(cd "$PG_BIN/.." && pwd)
vgbin="$work/pg/bin"
mkdir -p "$vgbin"
cp -a "$PG_BIN/." "$vgbin/"
for d in lib share include; do ln -s "$prefix/$d" "$work/pg/$d"; done
rm -f "$vgbin/postgres" "$vgbin/postmaster"
cat >"$vgbin/postgres" <<-EOF
	#!/bin/sh
	# initdb's bootstrap and single-user runs, and version probes, run plainly
	case "\$1" in
	--boot | --single | -V | --version | -C | --describe-config) exec "$PG_BIN/postgres" "\$@" ;;
	esac
	exec valgrind --quiet --trace-children=yes --track-origins=yes \\
		--read-var-info=yes --num-callers=40 --suppressions="$supp" \\
		--error-markers=VALGRINDERROR-BEGIN,VALGRINDERROR-END \\
		--log-file="$vglogs/%p.log" "$PG_BIN/postgres" "\$@"
EOF
chmod 755 "$vgbin/postgres"
chown -R postgres: "$work/pg/bin"
export PATH="$vgbin:$PATH" PGCTLTIMEOUT=900 PG_TEST_TIMEOUT_DEFAULT=900

cp -a "$TL_ROOT/." "$work/tree"
chown -R postgres: "$work/tree"
failed=0

if [ -n "$regress" ]; then
	echo "== regress under valgrind: $regress"
	port=$(tl_free_port 54500)
	tl_cluster_start "$work/cluster" "$port"
	as_postgres env PGHOST="$work/cluster" PGPORT="$port" PGUSER=postgres \
		make -C "$work/tree" -s regresscheck REGRESS="$regress" \
		PG_CONFIG="$PG_CONFIG_BUILD" bindir="$vgbin" >"$logs/memcheck-regress.log" 2>&1 || failed=1
	grep -E '^(test| +| ?[a-z0-9_]+) .*\.\.\. ' "$logs/memcheck-regress.log"
	[ -s "$work/tree/regression.diffs" ] && cp "$work/tree/regression.diffs" "$logs/memcheck-regress.diffs"
	tl_cluster_stop_all
fi
if [ -n "$tap" ]; then
	echo "== TAP under valgrind: $tap"
	as_postgres env TRACELINK_VECTORS="$TRACELINK_VECTORS" PGCTLTIMEOUT=900 PG_TEST_TIMEOUT_DEFAULT=900 \
		make -C "$work/tree" -s tapcheck PROVE_TESTS="$tap" PROVE_FLAGS=--verbose \
		PG_CONFIG="$PG_CONFIG_BUILD" bindir="$vgbin" >"$logs/memcheck-tap.log" 2>&1 || failed=1
	grep -E '^(ok|not ok) [0-9]+|^t/.*\.\. |^Result' "$logs/memcheck-tap.log" | tail -40
fi

cp -r "$vglogs" "$logs/valgrind"
bad=$(grep -l VALGRINDERROR-BEGIN "$vglogs"/*.log 2>/dev/null | wc -l)
echo "== valgrind: $bad of $(find "$vglogs" -name '*.log' | wc -l) processes reported errors (test-logs/valgrind)"
[ "$bad" -eq 0 ] && [ "$failed" -eq 0 ]
