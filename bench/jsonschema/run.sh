#!/usr/bin/env bash
# JSON Schema validation (docs/json-schema.md): the rate of
# epcis_schema_problems() over the 47 GS1 example documents, against GS1's
# schema, with two baselines in the same run on the same documents:
# parsing their JSON text into jsonb (text::jsonb), and tracelink's
# canonical digest of each (tracelink.digest(jsonb): a tree, canonical
# text, SHA-256).  Needs ../shared/vectors/epcis2 (or $TRACELINK_VECTORS);
# the schema and examples are read from there, never kept.
#
#   sudo bash bench/run.sh jsonschema      ROUNDS=5 REPEAT=200
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../scripts/lib.sh"
ROUNDS=${ROUNDS:-5}
REPEAT=${REPEAT:-200}
vectors=${TRACELINK_VECTORS:-$here/../../../shared/vectors}
src="$vectors/epcis2"
if [ ! -f "$src/EPCIS-JSON-Schema.json" ]; then
	echo "skipped: $src not found"
	exit 0
fi

work=$(tl_postgres_tmpdir bench-jsonschema)
trap 'tl_cluster_stop_all; rm -rf "$work"' EXIT
port=$(tl_free_port 55700)
tl_cluster_start "$work" "$port"
export PGHOST="$work" PGPORT="$port" PGUSER=postgres
q() { as_postgres env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER=postgres "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d postgres "$@"; }
seconds() { # sql -> seconds
	local t0 t1
	t0=$(date +%s.%N)
	q -c "$1" >/dev/null
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

q -c "CREATE EXTENSION tracelink"
q -c "CREATE TABLE docs (name text, txt text)"
# the files go in as SQL literals on stdin (the server may not read $src)
{
	printf 'SELECT tracelink.set_epcis_schema(%s::jsonb) IS NOT NULL;\n' "\$tl\$$(cat "$src/EPCIS-JSON-Schema.json")\$tl\$"
	find "$src/examples-json" -name '*.jsonld' | sort | while read -r f; do
		printf 'INSERT INTO docs VALUES (%s, %s);\n' "\$tl\$$(basename "$f")\$tl\$" "\$tl\$$(cat "$f")\$tl\$"
	done
} | q >/dev/null
q -c "CREATE TABLE docs_jsonb AS SELECT name, txt::jsonb AS doc FROM docs"
ndocs=$(q -c "SELECT count(*) FROM docs")
bytes=$(q -c "SELECT sum(octet_length(txt)) FROM docs")
invalid=$(q -c "SELECT count(*) FROM docs_jsonb, tracelink.epcis_schema_problems(doc)")
echo "$ndocs documents, $bytes bytes of JSON text; problems found: $invalid"

# a statement run REPEAT times (each run reads every document again)
loop() { echo "DO \$\$ BEGIN FOR i IN 1..$REPEAT LOOP PERFORM ($1); END LOOP; END \$\$"; }
declare -A t
for round in $(seq 1 "$ROUNDS"); do
	t[parse]+="$(seconds "$(loop "SELECT count(*) FROM docs WHERE txt::jsonb IS NOT NULL")") "
	t[digest]+="$(seconds "$(loop "SELECT count(*) FROM docs_jsonb WHERE tracelink.digest(doc) IS NOT NULL")") "
	t[validate]+="$(seconds "$(loop "SELECT count(*) FROM docs_jsonb, tracelink.epcis_schema_problems(doc)")") "
done
declare -A m
for k in parse digest validate; do
	m[$k]=$(echo "${t[$k]}" | tr ' ' '\n' | grep . | median)
done
awk -v n="$((ndocs * REPEAT))" -v b="$((bytes * REPEAT))" -v p="${m[parse]}" -v d="${m[digest]}" -v v="${m[validate]}" 'BEGIN {
	printf "median of %s rounds, %d documents each:\n", "'"$ROUNDS"'", n
	printf "   text::jsonb:              %8.0f docs/s  %6.1f MB/s\n", n / p, b / p / 1e6
	printf "   tracelink.digest(jsonb):  %8.0f docs/s  %6.1f MB/s\n", n / d, b / d / 1e6
	printf "   epcis_schema_problems():  %8.0f docs/s  %6.1f MB/s\n", n / v, b / v / 1e6
	printf "   validation time / jsonb parse time: %.1f\n", v / p
	printf "   validation time / digest time:      %.1f\n", v / d }'
