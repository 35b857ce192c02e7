#!/usr/bin/env bash
# Run each pg_regress file of sql/ alone, in a fresh database (pg_regress
# drops and recreates contrib_regression for each run), to prove that no
# file depends on state an earlier file left behind (docs/testing.md).
#
#   bash scripts/regress_each.sh [name ...]     (default: every sql/*.sql)
#
# Runs `make regresscheck REGRESS=<name>` (make installcheck restricted to
# pg_regress) in the current directory, against the server PGHOST/PGPORT
# point at, with any further make arguments taken from REGRESS_EACH_MAKEARGS.
#
# Prints pg_regress's "test <name> ... ok" / "... FAILED" line for each file,
# keeps a failing file's diffs as regression.diffs.<name>, and exits non-zero
# when any file failed.
set -uo pipefail

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	for f in sql/*.sql; do names+=("$(basename "$f" .sql)"); done
fi

read -r -a makeargs <<<"${REGRESS_EACH_MAKEARGS:-}"
failed=0
for name in "${names[@]}"; do
	rm -f regression.diffs "regression.diffs.$name"
	out=$(make -s regresscheck REGRESS="$name" "${makeargs[@]}" 2>&1)
	rc=$?
	line=$(grep -E "^(test| +| ?[a-z0-9_]+) +$name +\.\.\. " <<<"$out")
	if [ -z "$line" ]; then
		line="test $name ... FAILED (did not run, exit $rc)"
		echo "$out" | tail -5 >&2
	fi
	echo "$line"
	if [ "$rc" -ne 0 ]; then
		failed=$((failed + 1))
		[ -s regression.diffs ] && mv regression.diffs "regression.diffs.$name"
	fi
done
[ "$failed" -eq 0 ]
