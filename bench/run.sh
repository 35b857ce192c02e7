#!/usr/bin/env bash
# Run every benchmark (bench/*/run.sh), one after the other.  Benchmarks
# never run inside the tests.  Honours TL_PG_PREFIX like scripts/test.sh.
#
#   bash bench/run.sh
set -euo pipefail
cd "$(dirname "$0")"
for b in */run.sh; do
	echo "== bench/$b"
	bash "$b"
done
