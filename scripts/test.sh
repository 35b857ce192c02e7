#!/usr/bin/env bash
# Run every tracelink test: pg_regress and isolation specs against a
# throw-away cluster, then the TAP tests (which start their own clusters).
# Installs what is missing and builds first.  Ends with one summary line,
# "N passed, N failed, N skipped", and exits non-zero on any failure.
#
#   sudo bash scripts/test.sh
#
# Environment: TRACELINK_VECTORS (default ../shared/vectors next to the
# repository) points at the public conformance vectors; tests that need
# them say they are skipped when the folder is missing.  TL_TAP_TESTS
# (e.g. "t/030_replication.pl t/060_trace.pl") runs those TAP files only.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

tl_install_packages || exit 1
tl_build_install || exit 1

if [ -z "${TRACELINK_VECTORS:-}" ] && [ -d "$TL_ROOT/../shared/vectors" ]; then
	TRACELINK_VECTORS=$(cd "$TL_ROOT/../shared/vectors" && pwd)
fi
export TRACELINK_VECTORS=${TRACELINK_VECTORS:-}

# pg_regress and prove write into the tree they run from, and the servers run
# as postgres: work in a copy that postgres owns.
work=$(tl_postgres_tmpdir test)
trap 'tl_cluster_stop_all; rm -rf "$work"' EXIT
cp -a "$TL_ROOT/." "$work/tree"
chown -R postgres: "$work/tree"
logs="$TL_ROOT/test-logs"
rm -rf "$logs"
mkdir -p "$logs"

passed=0
failed=0
skipped=0

port=$(tl_free_port 54400)
tl_cluster_start "$work/cluster" "$port"
export PGHOST="$work/cluster" PGPORT="$port" PGUSER=postgres

# pg_regress's lines in $logs/NAME.log, "test name ... ok" / "... FAILED"
# (PG 15 prints "ok" or "FAILED"), added to the totals; a run that ended
# with an error but no failing line counts as one failure.
count_regress_log() {
	local name=$1 rc=$2 ok bad
	ok=$(grep -cE '^(test| +| ?[a-z0-9_]+) .*\.\.\. +ok' "$logs/$name.log")
	bad=$(grep -cE '\.\.\. +FAILED' "$logs/$name.log")
	passed=$((passed + ok))
	failed=$((failed + bad))
	if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
		failed=$((failed + 1))
		echo "   $name did not run cleanly (exit $rc); see $logs/$name.log"
	fi
	echo "   $ok passed, $bad failed"
}

run_suite() {
	local name=$1 target=$2
	echo "== $name"
	as_postgres env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER=postgres \
		TRACELINK_VECTORS="$TRACELINK_VECTORS" \
		make -C "$work/tree" -s "$target" PG_CONFIG="$PG_CONFIG_BUILD" bindir="$PG_BIN" \
		>"$logs/$name.log" 2>&1
	count_regress_log "$name" $?
	for f in regression.diffs output_iso/regression.diffs; do
		[ -s "$work/tree/$f" ] && cp "$work/tree/$f" "$logs/$name.$(basename "$f")" && head -c 6000 "$work/tree/$f"
	done
}

run_suite regress regresscheck
run_suite isolation isolationcheck

# Each pg_regress file alone, in a fresh database (scripts/regress_each.sh):
# one pass or fail per file, counted as run_suite counts.
echo "== regress, each file alone"
as_postgres env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER=postgres \
	REGRESS_EACH_MAKEARGS="PG_CONFIG=$PG_CONFIG_BUILD bindir=$PG_BIN" \
	bash -c 'cd "$1" && bash scripts/regress_each.sh' _ "$work/tree" >"$logs/regress_each.log" 2>&1
count_regress_log regress_each $?
grep -E '\.\.\. +FAILED' "$logs/regress_each.log" | sed 's/^/   /'
for f in "$work"/tree/regression.diffs.*; do
	[ -s "$f" ] && cp "$f" "$logs/" && head -c 3000 "$f"
done
tl_cluster_stop_all

# TAP: one file at a time, one progress line per file ("t/030_replication.pl
# ok, 14 tests, 37 s"), all output appended to $logs/tap.log; assertions
# counted from prove's verbose output.  make tapcheck empties tmp_check
# before each file, so a failing file's server logs are copied at once.
echo "== tap"
: >"$logs/tap.log"
rc=0
for t in ${TL_TAP_TESTS:-$(cd "$work/tree" && echo t/[0-9]*.pl)}; do
	start=$SECONDS
	as_postgres env TRACELINK_VECTORS="$TRACELINK_VECTORS" \
		make -C "$work/tree" -s tapcheck PROVE_TESTS="$t" PROVE_FLAGS=--verbose \
		PG_CONFIG="$PG_CONFIG_BUILD" bindir="$PG_BIN" >"$logs/tap.one.log" 2>&1
	file_rc=$?
	cat "$logs/tap.one.log" >>"$logs/tap.log"
	n_ok=$(grep -cE '^ok [0-9]+' "$logs/tap.one.log")
	n_bad=$(grep -cE '^not ok [0-9]+' "$logs/tap.one.log")
	n_skip=$(grep -cE '^ok [0-9]+ # skip' "$logs/tap.one.log")
	if [ "$file_rc" -eq 0 ]; then
		result=ok
	else
		result=FAILED
		rc=$file_rc
		mkdir -p "$logs/tap-server-logs"
		cp -r "$work/tree/tmp_check/log/." "$logs/tap-server-logs/" 2>/dev/null
	fi
	skipped_note=""
	[ "$n_skip" -gt 0 ] && skipped_note=", $n_skip skipped"
	grep -qE '^1\.\.0 # (skip|SKIP)' "$logs/tap.one.log" && skipped_note=", skipped"
	printf '   %s %s, %d tests%s, %d s\n' "$t" "$result" $((n_ok + n_bad)) "$skipped_note" $((SECONDS - start))
done
rm -f "$logs/tap.one.log"
ok=$(grep -cE '^ok [0-9]+' "$logs/tap.log")
skip=$(grep -cE '^ok [0-9]+ # skip' "$logs/tap.log")
bad=$(grep -cE '^not ok [0-9]+' "$logs/tap.log")
ok=$((ok - skip))
passed=$((passed + ok))
failed=$((failed + bad))
skipped=$((skipped + skip))
if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
	failed=$((failed + 1))
	echo "   TAP did not run cleanly (exit $rc)"
fi
grep -E '^(# skip|ok [0-9]+ # skip)|^t/.*skipped' "$logs/tap.log" | sed 's/^/   /'
echo "   $ok passed, $bad failed, $skip skipped"
if [ "$bad" -ne 0 ] || [ "$rc" -ne 0 ]; then
	grep -E -B2 -A12 '^not ok|Dubious|Failed test' "$logs/tap.log" | head -150
fi

# ---- fuzz corpus replay (fuzz/, docs/fuzzing.md) ---------------------------
# Each libFuzzer target runs its seed corpus once through all its oracles
# (-runs=0: no new fuzzing, a few seconds) and counts as one test.  Skipped
# when clang or its libFuzzer runtime is missing.  Under memory limits (as
# fuzz/Makefile's check): a leak fails the replay (docs/fuzzing.md).
fuzz_limits=(-rss_limit_mb=512 -malloc_limit_mb=64)
echo "== fuzz"
if ! echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' |
	clang -fsanitize=fuzzer,address -x c - -o "$work/fuzz-probe" >/dev/null 2>&1; then
	echo "   skipped: clang with libFuzzer (packages clang, libclang-rt-14-dev) not available"
	skipped=$((skipped + 1))
elif ! make -C "$work/tree/fuzz" -s PG_CONFIG="$PG_CONFIG_BUILD" >"$logs/fuzz-build.log" 2>&1; then
	echo "   fuzz targets did not build; see $logs/fuzz-build.log"
	tail -20 "$logs/fuzz-build.log"
	failed=$((failed + 1))
else
	for corpus in "$work"/tree/fuzz/corpus/*/; do
		name=$(basename "$corpus")
		target="$work/tree/fuzz/out/fuzz_$name"
		if [ ! -x "$target" ]; then
			echo "   skipped: fuzz_$name not built (its source is not in src/ yet)"
			skipped=$((skipped + 1))
		elif "$target" -runs=0 "${fuzz_limits[@]}" "$corpus" >"$logs/fuzz_$name.log" 2>&1; then
			echo "   ok fuzz_$name: $(find "$corpus" -type f | wc -l) inputs replayed"
			passed=$((passed + 1))
		else
			echo "   FAILED fuzz_$name; see $logs/fuzz_$name.log"
			grep -E -A12 'oracle failed|ERROR: (Address|Leak|libFuzzer)|runtime error|out-of-memory|malloc\(' "$logs/fuzz_$name.log" | head -40
			failed=$((failed + 1))
		fi
	done
fi
# ---- end of fuzz corpus replay ---------------------------------------------

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
