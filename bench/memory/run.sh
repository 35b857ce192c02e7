#!/usr/bin/env bash
# Peak memory of tracelink's JSON paths against jsonb_in on the same input.
#
# Each measurement runs in a fresh backend: it reads VmHWM (the peak resident
# set) from /proc/self/status, runs one statement, reads VmHWM again, and
# reports the difference.  shared_buffers is 1MB so that shared memory the
# backend touches does not hide its private memory.  Documents of about
# SIZE bytes of each shape come from docs.sql; the ratio is the path's peak
# over the peak of "doc::jsonb" on the same document.  t/070_memory.pl
# asserts the same ratios (at most 3) on a subset of these measurements.
#
#   sudo bash bench/run.sh memory          SIZE=10000000 (bytes per document)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../scripts/lib.sh"
SIZE=${SIZE:-10000000}

work=$(tl_postgres_tmpdir bench-memory)
trap 'tl_cluster_stop_all; rm -rf "$work"' EXIT
port=$(tl_free_port 55600)
tl_cluster_start "$work" "$port"
as_postgres psql -X -q -h "$work" -p "$port" -U postgres -d postgres \
	-c "ALTER SYSTEM SET shared_buffers = '1MB'" -c "ALTER SYSTEM SET max_wal_size = '4GB'" >/dev/null
tl_cluster_stop "$work"
as_postgres pg_ctl -D "$work/data" -l "$work/server.log" -w start >/dev/null
export PGHOST="$work" PGPORT="$port" PGUSER=postgres
q() { as_postgres env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER=postgres psql -X -q -At -d postgres "$@"; }

# peak SQL -> "kB" of a fresh backend (or "error: ...")
peak() {
	local out before after err
	out=$(q -v ON_ERROR_STOP=0 2>&1 <<-SQL
		SELECT (regexp_match(pg_read_file('/proc/self/status'), 'VmHWM:\s+(\d+)'))[1];
		\o /dev/null
		$1;
		\o
		SELECT (regexp_match(pg_read_file('/proc/self/status'), 'VmHWM:\s+(\d+)'))[1];
	SQL
	)
	err=$(echo "$out" | grep -m1 'ERROR' || true)
	if [ -n "$err" ]; then
		echo "error: $err"
		return
	fi
	before=$(echo "$out" | head -1)
	after=$(echo "$out" | tail -1)
	echo $((after - before))
}

q -c "CREATE EXTENSION tracelink" -c "SELECT tracelink.init_node('mem') IS NOT NULL" >/dev/null
q -v size="$SIZE" -f "$here/docs.sql" >/dev/null
q -f "$here/setup.sql" >/dev/null
commit=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "memory: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit, documents of about $SIZE bytes"
q -c "SELECT format('  %-8s %s bytes', shape, length(doc)) FROM memory_docs ORDER BY shape"
echo

doc() { echo "(SELECT doc FROM memory_docs WHERE shape = '$1')"; }
# the document as the info of a link, a valid definition of any shape
wrapped() { echo "('{\"name\":\"L\",\"info\":{\"doc\":' || $(doc "$1") || '}}')"; }

# path name and its SQL for a shape
path_sql() {
	local d w
	d=$(doc "$2")
	w=$(wrapped "$2")
	case $1 in
	jsonb) echo "SELECT pg_column_size($d::jsonb)" ;;
	jcs_text) echo "SELECT length(tracelink.jcs($d))" ;;
	jcs_jsonb) echo "SELECT length(tracelink.jcs($d::jsonb))" ;;
	digest) echo "SELECT tracelink.digest($d::jsonb)" ;;
	link_in) [ "$2" = link ] && w=$d; echo "SELECT $w::tracelink.link IS NULL" ;;
	link_recv) echo "COPY memory_links_in FROM '$work/link-$2.bin' (FORMAT binary)" ;;
	link_jsonb) [ "$2" = link ] && w=$d; echo "SELECT $w::jsonb::tracelink.link IS NULL" ;;
	validate) echo "SELECT count(*) FROM memory_links l, tracelink.validate(l.def) WHERE l.shape = '$2'" ;;
	append) echo "SELECT tracelink.append('mem.doc', $d::jsonb)" ;;
	tree_head) echo "SELECT tracelink.verify_tree_head($d::jsonb, '\\x$(printf '%064d' 0)')" ;;
	record) echo "SELECT tracelink.record('Mem', 'c-$2', 'P', 'S', 'F', jsonb_build_object('lot', 'c-$2', 'note', $d))" ;;
	ingest) echo "SELECT * FROM tracelink.ingest((SELECT lines FROM memory_export WHERE shape = '$2'))" ;;
	mesh) echo "SELECT count(*) FROM memory_links l, tracelink.mesh(l.def) WHERE l.shape = '$2'" ;;
	esac
}

printf '%-8s %-10s %10s %8s\n' shape path "peak kB" "x jsonb"
for shape in numbers strings deep wide link; do
	# binary form of the link holding the document, for link_recv
	q -c "COPY (SELECT def FROM memory_links WHERE shape = '$shape') TO '$work/link-$shape.bin' (FORMAT binary)"
	base=$(peak "$(path_sql jsonb "$shape")")
	printf '%-8s %-10s %10s %8s\n' "$shape" jsonb "$base" 1.00
	for path in jcs_text jcs_jsonb digest link_in link_recv link_jsonb validate mesh append tree_head record ingest; do
		if [ "$path" = ingest ]; then
			# the export lines (header, entry, block) of the entry "append" wrote
			q -c "INSERT INTO memory_export SELECT '$shape', string_agg(l, E'\\n')
			        FROM tracelink.export('mem', (SELECT max(b.block_no) FROM tracelink.ledger_blocks b
			          JOIN tracelink.ledger_entries e ON e.origin = b.origin AND e.tx = b.tx
			         WHERE e.kind = 'mem.doc')) l"
		fi
		kb=$(peak "$(path_sql "$path" "$shape")")
		if [[ $kb == error* ]]; then
			printf '%-8s %-10s %s\n' "$shape" "$path" "$kb"
		else
			printf '%-8s %-10s %10s %8s\n' "$shape" "$path" "$kb" "$(awk -v a="$kb" -v b="$base" 'BEGIN { printf "%.2f", a / b }')"
		fi
	done
done

# whole-ledger paths: every document above is now in the ledger
echo
largest=$(q -c "SELECT max(length(doc)) FROM memory_docs")
for sql in "SELECT count(*) FROM tracelink.verify()" \
	"SELECT sum(length(l)) FROM tracelink.export('mem') l" \
	"SELECT sum(pg_column_size(p)) FROM (SELECT DISTINCT entry_hash FROM tracelink.records) r, tracelink.record_proof(r.entry_hash, 0) p" \
	"SELECT bool_and(tracelink.verify_record_proof(p, n.public_key)) FROM (SELECT DISTINCT entry_hash FROM tracelink.records) r, tracelink.record_proof(r.entry_hash, 0) p, tracelink.nodes n WHERE n.name = 'mem'"; do
	echo "$(peak "$sql") kB  $sql"
done
echo "(the ledger holds $(q -c "SELECT count(*) FROM tracelink.ledger_entries") entries;" \
	"the largest document has $largest bytes)"
