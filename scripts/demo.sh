#!/usr/bin/env bash
# The tracelink demo: installs what is needed, builds, starts three
# throw-away nodes (a tea farm, a factory and a shop, each its own
# PostgreSQL cluster) and takes them through what tracelink does, printing
# each step.  Leaves no server running, unless --keep: then the three
# nodes keep running and the script ends by saying how to reach and stop
# them (docs/tutorial.md goes on from there in psql).
#
#   sudo bash scripts/demo.sh [--keep]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

keep=false
case "${1:-}" in
--keep) keep=true ;;
'') ;;
*)
	echo "usage: $0 [--keep]" >&2
	exit 2
	;;
esac

tl_install_packages
tl_build_install

work=$(tl_postgres_tmpdir demo)
if $keep; then
	trap 'tl_demo_kept' EXIT
else
	trap 'tl_cluster_stop_all; rm -rf "$work"' EXIT
fi
declare -A PORT
NODES=(farm factory shop)
port=55600
for n in "${NODES[@]}"; do
	port=$(tl_free_port "$port")
	PORT[$n]=$port
	tl_cluster_start "$work/$n" "$port"
	# the node key outside the data directory, as docs/operations.md advises
	as_postgres install -d -m 0700 "$work/$n/keys"
	echo "tracelink.key_directory = '$work/$n/keys'" | as_postgres tee -a "$work/$n/data/postgresql.conf" >/dev/null
	as_postgres pg_ctl -D "$work/$n/data" reload >/dev/null
	port=$((port + 1))
done

tl_demo_kept() { # with --keep: the nodes stay; how to reach and stop them
	echo
	echo "The nodes keep running (--keep):"
	for n in "${NODES[@]}"; do
		[ -n "${PORT[$n]:-}" ] && echo "  $n: $PG_BIN/psql -h $work/$n -p ${PORT[$n]} -U postgres postgres"
	done
	echo "Stop them and remove their data:"
	for n in "${NODES[@]}"; do
		[ -n "${PORT[$n]:-}" ] && echo "  sudo -u postgres $PG_BIN/pg_ctl -D $work/$n/data -m fast stop"
	done
	echo "  sudo rm -rf $work"
}
say() { printf '\n%s== %s%s\n' "$TL_BOLD" "$*" "$TL_PLAIN"; }
on() { # on NODE SQL...: run SQL on a node, print the result
	local n=$1
	shift
	psql -X -q -v ON_ERROR_STOP=1 -h "$work/$n" -p "${PORT[$n]}" -U postgres -d postgres "$@"
}
value() { on "$@" -At; }

say "Each organisation's database becomes a node: CREATE EXTENSION, then init_node()"
declare -A KEY
for n in "${NODES[@]}"; do
	on "$n" -c "CREATE EXTENSION tracelink" >/dev/null
	KEY[$n]=$(value "$n" -c "SELECT encode(tracelink.init_node('$n'), 'hex')")
	echo "$n: Ed25519 public key ${KEY[$n]}"
done

say "Nodes pin each other's keys and replicate (logical replication, full mesh)"
for n in "${NODES[@]}"; do
	for p in "${NODES[@]}"; do
		[ "$n" = "$p" ] && continue
		on "$n" -c "CALL tracelink.add_peer('$p', 'host=$work/$p port=${PORT[$p]} dbname=postgres user=tracelink_peer_$n', '\\x${KEY[$p]}')" 2>&1 |
			sed 's/^NOTICE:  /  /'
	done
done
echo "  (a peer that has not added this node yet has no login for it; connect_peers() subscribes once all are added)"
for n in "${NODES[@]}"; do on "$n" -c "SELECT * FROM tracelink.connect_peers()" >/dev/null; done
on farm -c "SELECT name, status FROM tracelink.peers"

wait_until() { # wait_until NODE SQL: poll until SQL returns t
	local n=$1 sql=$2
	for _ in $(seq 300); do
		[ "$(value "$n" -c "$sql")" = t ] && return 0
		sleep 0.1
	done
	echo "timed out waiting on $n for: $sql" >&2
	return 1
}

say "The farm requests a trace link: three processes, each to be built by one node"
on farm -c "SELECT encode(tracelink.request_link('Spring tea 2026',
       ARRAY['Growing', 'Processing', 'Retail'],
       '{\"Growing\": [\"farm\"], \"Processing\": [\"factory\"], \"Retail\": [\"shop\"]}',
       '{\"product\": \"green tea\", \"region\": \"Uji\"}',
       adoption_rule => '{\"rule\": \"unanimous\"}', modification_rule => '{\"rule\": \"majority\"}'), 'hex') AS link_id"
for n in factory shop; do wait_until "$n" "SELECT count(*) = 1 FROM tracelink.pending_invitations"; done
on shop -c "SELECT link, process, creator FROM tracelink.pending_invitations"

say "Each invited node accepts and builds its own process (the farm from a saved template)"
on farm -c "SELECT tracelink.reply_invitation('Spring tea 2026', 'Growing', true) IS NOT NULL AS accepted"
on factory -c "SELECT tracelink.reply_invitation('Spring tea 2026', 'Processing', true) IS NOT NULL AS accepted"
on shop -c "SELECT tracelink.reply_invitation('Spring tea 2026', 'Retail', true) IS NOT NULL AS accepted"
on farm -c "SELECT tracelink.save_template('tea-growing', '{\"name\": \"Growing\",
   \"stages\": [{\"name\": \"Harvest\", \"role\": \"raw-material supplier\", \"forms\": [
     {\"name\": \"Harvest record\", \"key\": true, \"items\": [
       {\"name\": \"lot\", \"type\": \"text\", \"required\": true, \"trace_code\": true},
       {\"name\": \"picked on\", \"type\": \"time\", \"required\": true},
       {\"name\": \"weight kg\", \"type\": \"numeric\", \"required\": true, \"sources\": [\"manual\", \"device\"]},
       {\"name\": \"price per kg\", \"type\": \"numeric\", \"audience\": [\"farm\", \"factory\"]}]}]}],
   \"outputs\": [{\"name\": \"fresh leaves\", \"level\": 2}]}')"
wait_until farm "SELECT count(*) = 3 FROM tracelink.link_invitations WHERE status = 'accepted'"
on farm -c "SELECT tracelink.submit_process_from_template('Spring tea 2026', 'Growing', 'tea-growing') IS NOT NULL AS submitted"
wait_until factory "SELECT count(*) = 3 FROM tracelink.link_invitations WHERE status = 'accepted'"
on factory -c "SELECT tracelink.submit_process('Spring tea 2026', '{\"name\": \"Processing\",
   \"stages\": [{\"name\": \"Steaming\", \"role\": \"processor\", \"forms\": [
     {\"name\": \"Batch sheet\", \"key\": true, \"items\": [
       {\"name\": \"batch\", \"type\": \"text\", \"required\": true, \"trace_code\": true},
       {\"name\": \"temperature C\", \"type\": \"numeric\"}]},
     {\"name\": \"Notes\", \"items\": [{\"name\": \"note\", \"type\": \"text\", \"widget\": \"textarea\"}]}]}],
   \"inputs\": [{\"name\": \"leaves\", \"from\": \"Growing\", \"output\": \"fresh leaves\", \"level\": 2}],
   \"outputs\": [{\"name\": \"tea batch\", \"level\": 2}]}') IS NOT NULL AS submitted"
wait_until shop "SELECT count(*) = 3 FROM tracelink.link_invitations WHERE status = 'accepted'"
on shop -c "SELECT tracelink.submit_process('Spring tea 2026', '{\"name\": \"Retail\",
   \"stages\": [{\"name\": \"Shelf\", \"role\": \"retailer\", \"forms\": [
     {\"name\": \"Sale\", \"key\": true, \"items\": [
       {\"name\": \"pack\", \"type\": \"text\", \"required\": true, \"trace_code\": true},
       {\"name\": \"photo\", \"type\": \"image\", \"sources\": [\"upload\"]}]}]}],
   \"inputs\": [{\"name\": \"tea\", \"from\": \"Processing\", \"output\": \"tea batch\", \"level\": 2}]}') IS NOT NULL AS submitted"

say "The farm assembles the link: every process validated, the data mesh built, a vote opened"
wait_until farm "SELECT count(*) = 3 FROM tracelink.link_processes"
proposal=$(value farm -c "SELECT encode(tracelink.assemble('Spring tea 2026'), 'hex')")
on farm -c "SELECT producer, output, consumer, producer_layer, consumer_layer
  FROM tracelink.mesh((SELECT definition FROM tracelink.proposals WHERE proposal_id = '\\x$proposal'))"
for n in "${NODES[@]}"; do wait_until "$n" "SELECT count(*) = 1 FROM tracelink.open_ballots"; done
on shop -c "SELECT link, version, purpose, scope, threshold FROM tracelink.open_ballots"

say "Every participant votes; the tally (in C, one step per ballot) adopts version 1 on every node"
for n in "${NODES[@]}"; do on "$n" -c "SELECT tracelink.vote('\\x$proposal', true) IS NOT NULL AS voted"; done
for n in "${NODES[@]}"; do wait_until "$n" "SELECT active_version = 1 FROM tracelink.links"; done
for n in "${NODES[@]}"; do on "$n" -c "SELECT '$n' AS node, name, status, active_version, participants FROM tracelink.links"; done

say "The farm asks for a change of Processing; the factory revises a non-key form and confirms"
on farm -c "SELECT tracelink.request_modification('Spring tea 2026', 'Processing', 'notes become required') IS NOT NULL AS requested"
wait_until factory "SELECT count(*) = 1 FROM tracelink.modifications WHERE status = 'revising'"
on factory -c "SELECT tracelink.submit_process('Spring tea 2026', tracelink.merge_patch(
    (SELECT definition FROM tracelink.link_processes WHERE process = 'Processing'),
    '{\"stages\": [{\"name\": \"Steaming\", \"role\": \"processor\", \"forms\": [
       {\"name\": \"Batch sheet\", \"key\": true, \"items\": [
         {\"name\": \"batch\", \"type\": \"text\", \"required\": true, \"trace_code\": true},
         {\"name\": \"temperature C\", \"type\": \"numeric\"}]},
       {\"name\": \"Notes\", \"items\": [{\"name\": \"note\", \"type\": \"text\", \"widget\": \"textarea\", \"required\": true}]}]}]}')) IS NOT NULL AS revised"
on factory -c "SELECT tracelink.confirm_revision('Spring tea 2026', 'Processing') IS NOT NULL AS confirmed"
wait_until factory "SELECT count(*) = 1 FROM tracelink.open_ballots"
echo "only a non-key form changed: a local vote of the process's participants"
on factory -c "SELECT link, version, purpose, scope, threshold FROM tracelink.open_ballots"
v2=$(value factory -c "SELECT encode(proposal_id, 'hex') FROM tracelink.open_ballots")
on factory -c "SELECT tracelink.vote('\\x$v2', true) IS NOT NULL AS voted"
for n in "${NODES[@]}"; do wait_until "$n" "SELECT active_version = 2 FROM tracelink.links"; done
on shop -c "SELECT version, purpose, scope, status, approvals, ballots FROM tracelink.link_versions ORDER BY version"

say "Applications append their own signed entries too (one block per transaction)"
on farm -c "SELECT count(tracelink.append('tea.harvest', jsonb_build_object('lot', 'LOT-' || g, 'weight_kg', 40 + g))) AS harvests FROM generate_series(1, 3) g"
on factory -c "SELECT tracelink.append('tea.batch', '{\"batch\": \"B-7\", \"from\": [\"LOT-1\", \"LOT-2\"]}') IS NOT NULL AS batch_recorded"
on shop -c "SELECT tracelink.append('tea.sale', '{\"pack\": \"P-100\", \"batch\": \"B-7\"}') AS sale_entry_hash"

say "Replication converges: every node holds every chain and the same state digest"
for n in "${NODES[@]}"; do
	for o in "${NODES[@]}"; do
		want=$(value "$o" -c "SELECT block_no FROM tracelink.ledger_heads WHERE origin = '$o'")
		for _ in $(seq 300); do
			have=$(value "$n" -c "SELECT coalesce((SELECT block_no FROM tracelink.ledger_heads WHERE origin = '$o'), -1)")
			[ "$have" -ge "$want" ] && break
			sleep 0.1
		done
	done
done
for n in "${NODES[@]}"; do
	echo "$n: state digest $(value "$n" -c "SELECT encode(tracelink.state_digest(), 'hex')")"
done
on shop -c "SELECT peer, last_block, entries, lag, quarantined FROM tracelink.sync_status"

say "An auditor checks one record of the shop, on the farm's copy, against the shop's signed tree head"
sale=$(value shop -c "SELECT encode(entry_hash, 'hex') FROM tracelink.ledger_entries WHERE kind = 'tea.sale'")
on farm -c "SELECT p.leaf_index, p.tree_size,
       tracelink.verify_inclusion(p.leaf_index, p.tree_size, p.leaf_hash, p.proof, p.tree_root) AS included,
       tracelink.verify_tree_head(p.signed_tree_head, '\\x${KEY[shop]}') AS head_signed_by_shop
  FROM tracelink.inclusion_proof('\\x$sale') p"

say "verify() recomputes every hash, root, link and signature on every node"
for n in "${NODES[@]}"; do on "$n" -c "SELECT '$n' AS node, origin, entries, blocks, ok FROM tracelink.verify()"; done

say "A superuser who edits history behind the triggers is caught"
on factory -c "BEGIN;
ALTER TABLE tracelink.ledger_entries DISABLE TRIGGER USER;
UPDATE tracelink.ledger_entries SET payload = replace(payload, 'B-7', 'B-8') WHERE kind = 'tea.batch';
SELECT origin, ok, first_bad, reason FROM tracelink.verify('factory');
ROLLBACK;"

# ---- trace data (issue 6) -------------------------------------------------
# Records on three nodes and one product's provenance.  Needs link
# "Spring tea 2026" (link.json above) adopted by farm, factory and shop; when
# the workflow part of the demo has not adopted it, it is adopted here.
wait_until() { # wait_until NODE SQL: poll until SQL returns t
	local n=$1 sql=$2
	for _ in $(seq 300); do
		[ "$(value "$n" -c "$sql")" = "t" ] && return 0
		sleep 0.1
	done
	echo "timed out on $n: $sql" >&2
	return 1
}
LINK='Spring tea 2026'
declare -A BUILDS=([farm]=Growing [factory]=Processing [shop]=Retail)
if [ "$(value farm -c "SELECT count(*) FROM tracelink.links WHERE name = '$LINK' AND active_version IS NOT NULL")" = 0 ]; then
	say "The link is requested, built by its three nodes and voted on-chain"
	on farm -c "SELECT tracelink.request_link(tracelink.name(l), tracelink.process_order(l), '{\"Growing\": [\"farm\"], \"Processing\": [\"factory\"], \"Retail\": [\"shop\"]}',
	                                          tracelink.link_info(l), '{\"rule\": \"unanimous\"}') IS NOT NULL AS requested
	              FROM (SELECT \$j\$$link\$j\$::tracelink.link AS l) x"
	for n in "${NODES[@]}"; do
		wait_until "$n" "SELECT count(*) = 1 FROM tracelink.pending_invitations WHERE link = '$LINK'"
		on "$n" -c "SELECT tracelink.reply_invitation('$LINK', '${BUILDS[$n]}', true) IS NOT NULL AS accepted,
		                   tracelink.submit_process('$LINK', tracelink.process(\$j\$$link\$j\$::tracelink.link, '${BUILDS[$n]}')) IS NOT NULL AS submitted" >/dev/null
	done
	wait_until farm "SELECT count(*) = 3 FROM tracelink.link_processes"
	proposal=$(value farm -c "SELECT encode(tracelink.assemble('$LINK'), 'hex')")
	for n in "${NODES[@]}"; do
		wait_until "$n" "SELECT count(*) = 1 FROM tracelink.open_ballots"
		on "$n" -c "SELECT tracelink.vote('\\x$proposal', true)" >/dev/null
	done
	for n in "${NODES[@]}"; do wait_until "$n" "SELECT active_version = 1 FROM tracelink.links WHERE name = '$LINK'"; done
	on shop -c "SELECT name, status, active_version, participants FROM tracelink.links"
fi

say "Trace data: the farm records its lots, the factory a batch made of them, the shop a pack of the batch"
on farm -c "SELECT tracelink.record_batch('$LINK', '[
  {\"code\": \"LOT-1\", \"process\": \"Growing\", \"stage\": \"Harvest\", \"form\": \"Harvest record\",
   \"data\": {\"picked on\": \"2026-05-01\", \"weight kg\": 40, \"price per kg\": \"12.40\"}, \"occurred_at\": \"2026-05-01T06:00:00Z\"},
  {\"code\": \"LOT-2\", \"process\": \"Growing\", \"stage\": \"Harvest\", \"form\": \"Harvest record\",
   \"data\": {\"picked on\": \"2026-05-01\", \"weight kg\": \"38.50\"}, \"occurred_at\": \"2026-05-01T07:30:00Z\"}]') AS lots_recorded"
wait_until factory "SELECT count(*) = 2 FROM tracelink.trace_codes"
on factory -c "SELECT tracelink.record('$LINK', 'B-7', 'Processing', 'Steaming', 'Batch sheet', '{\"temperature C\": 95}',
                 inputs => '[{\"code\": \"LOT-1\", \"quantity\": 40, \"unit\": \"kg\"}, {\"code\": \"LOT-2\", \"quantity\": \"38.50\", \"unit\": \"kg\"}]',
                 occurred_at => '2026-05-02 09:00+00') IS NOT NULL AS batch_recorded"
wait_until shop "SELECT count(*) = 1 FROM tracelink.trace_codes WHERE code = 'B-7'"
on shop -c "SELECT tracelink.record('$LINK', 'P-100', 'Retail', 'Shelf', 'Sale', inputs => '[\"B-7\"]',
              occurred_at => '2026-05-03 10:00+00') IS NOT NULL AS pack_recorded"
echo "the shop cannot record at the farm's process:"
on shop -c "SELECT tracelink.record('$LINK', 'LOT-9', 'Growing', 'Harvest', 'Harvest record', '{\"picked on\": \"2026-05-01\", \"weight kg\": 1}')" 2>&1 | sed 's/^/  /' || true
for n in "${NODES[@]}"; do wait_until "$n" "SELECT count(*) = 4 FROM tracelink.records"; done

say "Pack P-100's provenance, asked on the farm: every record upstream, its node, version and entry"
on farm -c "SELECT code, relation, depth, process, node, version, data, occurred_at, left(encode(entry_hash, 'hex'), 16) AS entry
              FROM tracelink.trace('P-100')"
echo "the same provenance on every node:"
for n in "${NODES[@]}"; do
	echo "  $n: trace_json digest $(value "$n" -c "SELECT encode(sha256(convert_to(tracelink.trace_json('P-100')::text, 'UTF8')), 'hex')"), state digest $(value "$n" -c "SELECT encode(tracelink.state_digest(), 'hex')")"
done
echo "as Graphviz (pipe to: dot -Tsvg > p100.svg):"
value factory -c "SELECT tracelink.trace_dot('P-100')"

say "Private values: LOT-1's price went to the factory only; the shop holds its salted commitment"
wait_until factory "SELECT count(*) = 1 FROM tracelink.private_values"
for n in "${NODES[@]}"; do
	echo "  $n: $(value "$n" -c "SELECT 'price ' || coalesce(data->>'price per kg', '(not held)') || ', commitment ' || left(commitments->>'price per kg', 16) || '...'
	                              FROM tracelink.trace('LOT-1') WHERE code = 'LOT-1'")"
done
echo "the factory discloses the price to the shop, which checks it with the farm's key alone:"
proof=$(value factory -c "SELECT tracelink.disclose(entry_hash, position, 'price per kg') FROM tracelink.trace('LOT-1') WHERE code = 'LOT-1'")
on shop -c "SELECT '$proof'::jsonb->'value' AS disclosed_price, tracelink.verify_disclosure('$proof', '\\x${KEY[farm]}') AS verified"

say "GS1 EPCIS 2.0: the shop exports pack P-100's provenance as an EPCIS document"
on shop -c "SELECT e->>'type' AS event, e->>'eventTime' AS time, left(e->>'eventID', 30) || '...' AS event_hash_id
              FROM jsonb_array_elements(tracelink.epcis_document('P-100') #> '{epcisBody,eventList}') e"

say "The shop proves the farm's harvest record against the farm's signed tree head"
on shop -c "SELECT code, node, tracelink.verify_record_proof(tracelink.record_proof(entry_hash, position), '\\x${KEY[farm]}') AS proved_with_farm_key
              FROM tracelink.trace('P-100') WHERE node = 'farm'"
# ---- end of trace data ----------------------------------------------------

say "Demo complete"
