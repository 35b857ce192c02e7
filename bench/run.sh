#!/usr/bin/env bash
# Run every benchmark (bench/*/run.sh), each against its own throw-away
# cluster.  Not part of the tests: timings vary with the machine, so each
# benchmark reports ratios against a baseline measured in the same run.
#
#   sudo bash bench/run.sh            (or: make bench)
#   sudo bash bench/run.sh ledger     (just one)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../scripts/lib.sh"
tl_install_packages
tl_build_install
for dir in "$here"/*/; do
	name=$(basename "$dir")
	if [ $# -gt 0 ] && [[ " $* " != *" $name "* ]]; then continue; fi
	[ -x "$dir/run.sh" ] || [ -f "$dir/run.sh" ] || continue
	echo "### $name"
	bash "$dir/run.sh"
	echo
done
