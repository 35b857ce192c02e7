#!/usr/bin/env bash
# Off-chain files (docs/files.md).  (1) Write and read throughput, MB/s, of
# one file of SIZE_MB pseudo-random bytes that starts in a large object:
# tracelink.store_blob() / read_blob() (chunked, every chunk hashed, checked
# before reading) against the same bytes in a plain bytea column and in a
# large object copy.  Reads are COPY ... TO STDOUT (FORMAT binary) to
# /dev/null through psql, so they include the transfer to a client.
# (2) Replication: a set of FILES files of FILE_MB each stored on n1 until
# n2 holds them all, against the same bytes inserted into a plain bytea
# table replicated by a plain publication.
#
#   sudo bash bench/run.sh files       SIZE_MB=256 FILES=20 FILE_MB=5
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
SIZE_MB=${SIZE_MB:-256}
FILES=${FILES:-20}
FILE_MB=${FILE_MB:-5}

work=$(tl_postgres_tmpdir bench-files)
trap 'tl_cluster_stop_all; rm -rf "$work"' EXIT
declare -A PORT
NODES=(n1 n2)
port=55800
for n in "${NODES[@]}"; do
	port=$(tl_free_port "$port")
	PORT[$n]=$port
	tl_cluster_start "$work/$n" "$port"
	port=$((port + 1))
done
on() { local n=$1; shift; psql -X -q -At -v ON_ERROR_STOP=1 -h "$work/$n" -p "${PORT[$n]}" -U postgres -d postgres "$@"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
mbps() { awk -v mb="$1" -v s="$2" 'BEGIN { printf "%.0f", mb / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

declare -A KEY
for n in "${NODES[@]}"; do
	on "$n" -c "CREATE EXTENSION tracelink" >/dev/null
	KEY[$n]=$(on "$n" -c "SELECT encode(tracelink.init_node('$n'), 'hex')" 2>/dev/null)
	on "$n" -c "CREATE TABLE plain_files (origin text, id int, data bytea, PRIMARY KEY (origin, id))"
	on "$n" -c "CREATE PUBLICATION plain_pub FOR TABLE plain_files WHERE (origin = '$n')"
	# a large object of MB pseudo-random megabytes (SHA-256 output)
	on "$n" -c "CREATE FUNCTION make_lo(seed text, mb int) RETURNS oid LANGUAGE plpgsql AS \$\$
DECLARE lo oid := lo_create(0);
BEGIN
    FOR k IN 0 .. mb - 1 LOOP
        PERFORM lo_put(lo, k * 1048576::bigint,
                       (SELECT string_agg(sha256((seed || '/' || k || '/' || g)::bytea), ''::bytea)
                          FROM generate_series(1, 32768) g));
    END LOOP;
    RETURN lo;
END \$\$"
done
for n in "${NODES[@]}"; do
	for p in "${NODES[@]}"; do
		[ "$n" = "$p" ] && continue
		on "$n" -c "CALL tracelink.add_peer('$p', 'host=$work/$p port=${PORT[$p]} dbname=postgres user=tracelink_peer_$n', '\\x${KEY[$p]}')" >/dev/null 2>&1
	done
done
for n in "${NODES[@]}"; do
	on "$n" -c "SELECT * FROM tracelink.connect_peers()" >/dev/null
done
on n2 -c "CREATE SUBSCRIPTION plain_n2_from_n1 CONNECTION 'host=$work/n1 port=${PORT[n1]} dbname=postgres user=postgres' PUBLICATION plain_pub" >/dev/null 2>&1
for _ in $(seq 600); do
	[ "$(on n2 -c "SELECT count(*) = 2 FROM pg_stat_subscription WHERE pid IS NOT NULL AND relid IS NULL")" = t ] && break
	sleep 0.1
done

# (1) one file of SIZE_MB
lo=$(on n1 -c "SELECT make_lo('big', $SIZE_MB)")
on n1 -c "CHECKPOINT"
t0=$(now)
h=$(on n1 -c "SELECT tracelink.store_blob($lo, 'big.bin') ->> 'sha256'")
w_blob=$(elapsed "$t0" "$(now)")
on n1 -c "CHECKPOINT"
t0=$(now)
on n1 -c "INSERT INTO plain_files VALUES ('local', 0, lo_get($lo))"
w_bytea=$(elapsed "$t0" "$(now)")
on n1 -c "CHECKPOINT"
t0=$(now)
lo_copy=$(on n1 -c "SELECT lo_from_bytea(0, lo_get($lo))")
w_lo=$(elapsed "$t0" "$(now)")
t0=$(now)
on n1 -c "COPY (SELECT tracelink.read_blob(decode('$h', 'hex'))) TO STDOUT (FORMAT binary)" >/dev/null
r_blob=$(elapsed "$t0" "$(now)")
t0=$(now)
on n1 -c "COPY (SELECT data FROM plain_files WHERE origin = 'local') TO STDOUT (FORMAT binary)" >/dev/null
r_bytea=$(elapsed "$t0" "$(now)")
t0=$(now)
on n1 -c "COPY (SELECT lo_get($lo_copy)) TO STDOUT (FORMAT binary)" >/dev/null
r_lo=$(elapsed "$t0" "$(now)")
on n1 -c "DELETE FROM plain_files WHERE origin = 'local'"

# (2) a file set replicated to n2
los=$(on n1 -c "SELECT string_agg(make_lo('set' || i, $FILE_MB)::text, ' ') FROM generate_series(1, $FILES) i")
on n1 -c "CHECKPOINT"
t0=$(now)
i=0
for l in $los; do
	i=$((i + 1))
	on n1 -c "SELECT tracelink.store_blob($l, 'file$i.bin')" >/dev/null
done
for _ in $(seq 60000); do
	[ "$(on n2 -c "SELECT count(*) FROM tracelink.blob_chunks WHERE origin = 'n1'")" -ge $((FILES * FILE_MB)) ] && break
	sleep 0.02
done
rep_blob=$(elapsed "$t0" "$(now)")
on n1 -c "CHECKPOINT"
t0=$(now)
i=0
for l in $los; do
	i=$((i + 1))
	on n1 -c "INSERT INTO plain_files VALUES ('n1', $i, lo_get($l))"
done
for _ in $(seq 60000); do
	[ "$(on n2 -c "SELECT count(*) FROM plain_files WHERE origin = 'n1'")" -ge "$FILES" ] && break
	sleep 0.02
done
rep_bytea=$(elapsed "$t0" "$(now)")
verified=$(on n2 -c "SELECT count(*) FILTER (WHERE status = 'ok') || '/' || count(*) FROM tracelink.verify_blobs()")
quarantined=$(on n2 -c "SELECT count(*) FROM tracelink.quarantine")

set_mb=$((FILES * FILE_MB))
echo "| files ($SIZE_MB MB file; MB/s) | plain bytea column | large object | tracelink blob | blob / bytea | blob / large object |"
echo "|---|---|---|---|---|---|"
echo "| write (from a large object on the server) | $(mbps "$SIZE_MB" "$w_bytea") | $(mbps "$SIZE_MB" "$w_lo") | $(mbps "$SIZE_MB" "$w_blob") | $(ratio "$w_bytea" "$w_blob") | $(ratio "$w_lo" "$w_blob") |"
echo "| read (COPY binary to a client) | $(mbps "$SIZE_MB" "$r_bytea") | $(mbps "$SIZE_MB" "$r_lo") | $(mbps "$SIZE_MB" "$r_blob") | $(ratio "$r_bytea" "$r_blob") | $(ratio "$r_lo" "$r_blob") |"
echo
echo "| replication of $FILES files of $FILE_MB MB ($set_mb MB), stored on n1 until held on n2 | plain bytea table, plain publication | tracelink blobs | ratio |"
echo "|---|---|---|---|"
echo "| seconds | $rep_bytea | $rep_blob | $(ratio "$rep_blob" "$rep_bytea") |"
echo "| MB/s | $(mbps "$set_mb" "$rep_bytea") | $(mbps "$set_mb" "$rep_blob") | $(ratio "$rep_bytea" "$rep_blob") |"
echo
echo "blobs verified on n2 (ok/all): $verified; quarantined rows on n2: $quarantined"
