# A node backed up with pg_dump and restored into a new cluster (its key
# file copied) comes back whole and goes on: the farm of a three-node
# business group, with a ledger, a rotated key, an adopted link (votes),
# trace data, a template and a quarantined row, is dumped; the factory and
# the farm exchange one more block after the dump and the shop writes while
# the farm is down; the farm's old cluster is gone.  Restored with
# pg_restore -j (and with psql from a plain dump), it has the same
# state_digest, verify() is clean, it refuses to sign until
# finish_restore() has checked it, and a member cannot use the restore
# path.  After finish_restore() and repoint_peer() on its peers (whose
# subscriptions remember a position in the old cluster's WAL, beyond the
# new cluster's), the gaps the dump left are filled with
# export_for_peer()/ingest(), and the three nodes converge again with
# nothing quarantined.
use strict;
use warnings;
use File::Copy;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlTest;

my @nodes = map { tl_node($_) } qw(farm factory shop);
my ($farm, $factory, $shop) = @nodes;
mesh(@nodes);
for my $node (@nodes)
{
	$node->poll_query_until('postgres',
		"SELECT count(*) = 2 FROM tracelink.peers WHERE status = 'streaming'")
	  or die $node->name . ' did not connect';
}

sub sql { my ($node, $sql, $db) = @_; return $node->safe_psql($db // 'postgres', $sql); }

# the SQLSTATE and message (and detail, hint, location) of a statement that must fail
sub error_of
{
	my ($node, $sql, %opts) = @_;
	my ($ret, $out, $err) = $node->psql($opts{db} // 'postgres', "\\set VERBOSITY verbose\n$sql",
		$opts{connstr} ? (connstr => $opts{connstr}) : ());
	return $ret == 0 ? '(no error)' : $err;
}

sub wait_for
{
	my ($node, $sql, $what) = @_;
	ok($node->poll_query_until('postgres', $sql), $what);
}

sub append_on
{
	my ($node, $tag) = @_;
	sql($node, "SELECT tracelink.append('acme.note', jsonb_build_object('tag', '$tag'))");
}

# what a restore must bring back, as one string
my $state_sql = q{SELECT concat_ws(' | ',
  encode(tracelink.state_digest(), 'hex'),
  (SELECT string_agg(origin || ':' || entries || ':' || blocks || ':' || ok, ',' ORDER BY origin) FROM tracelink.verify()),
  tracelink.node_name(), encode(tracelink.node_public_key(), 'hex'),
  (SELECT last_value || '/' || is_called FROM tracelink.ledger_tx_seq),
  (SELECT last_value FROM tracelink.code_id_seq), (SELECT last_value FROM tracelink.slot_id_seq),
  (SELECT string_agg(name, ',' ORDER BY name) FROM tracelink.templates),
  (SELECT string_agg(reason, ',' ORDER BY id) FROM tracelink.quarantine),
  (SELECT count(*) FROM tracelink.records), (SELECT count(*) FROM tracelink.ballots))};

# ---------------------------------------------------------------------
# The group's state: a link adopted by vote, trace data on three nodes.
# ---------------------------------------------------------------------
sql($farm, q{SELECT tracelink.request_link('Spring tea', ARRAY['Growing', 'Processing', 'Retail'],
        '{"Growing": ["farm"], "Processing": ["factory"], "Retail": ["shop"]}', '{}', '{"rule": "unanimous"}')});
my %definition = (
	farm => q{{"name": "Growing", "stages": [{"name": "Harvest", "forms": [
     {"name": "Harvest record", "key": true, "items": [
       {"name": "lot", "type": "text", "required": true, "trace_code": true},
       {"name": "weight kg", "type": "numeric", "required": true}]}]}],
   "outputs": [{"name": "fresh leaves", "level": 2}]}},
	factory => q{{"name": "Processing", "stages": [{"name": "Steaming", "forms": [
     {"name": "Batch sheet", "key": true, "items": [
       {"name": "batch", "type": "text", "required": true, "trace_code": true}]}]}],
   "inputs": [{"name": "leaves", "from": "Growing", "output": "fresh leaves", "level": 2}],
   "outputs": [{"name": "tea batch", "level": 2}]}},
	shop => q{{"name": "Retail", "stages": [{"name": "Shelf", "forms": [
     {"name": "Sale", "key": true, "items": [
       {"name": "code", "type": "text", "required": true, "trace_code": true}]}]}],
   "inputs": [{"name": "tea", "from": "Processing", "output": "tea batch", "level": 2}]}});
my %process = (farm => 'Growing', factory => 'Processing', shop => 'Retail');
for my $n (@nodes)
{
	wait_for($n, "SELECT count(*) = 1 FROM tracelink.link_invitations WHERE node = '" . $n->name . "'",
		$n->name . ' sees its invitation');
	sql($n, "SELECT tracelink.reply_invitation('Spring tea', '$process{$n->name}', true)");
	sql($n, "SELECT tracelink.submit_process('Spring tea', '$definition{$n->name}')");
}
wait_converged(@nodes);
wait_for($farm, 'SELECT count(*) = 3 FROM tracelink.link_processes', 'the farm has every process');
my $p1 = sql($farm, "SELECT encode(tracelink.assemble('Spring tea'), 'hex')");
for my $n (@nodes)
{
	wait_for($n, 'SELECT count(*) = 1 FROM tracelink.open_ballots', $n->name . ' may vote');
	sql($n, "SELECT tracelink.vote('\\x$p1', true)");
}
for my $n (@nodes)
{
	wait_for($n, "SELECT active_version = 1 FROM tracelink.links WHERE name = 'Spring tea'",
		$n->name . ': version 1 is active');
}
sql($farm, q{SELECT tracelink.record('Spring tea', 'L-1', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 40}')});
wait_for($factory, "SELECT count(*) = 1 FROM tracelink.codes WHERE code = 'L-1'", 'the factory has L-1');
sql($factory, q{SELECT tracelink.record('Spring tea', 'B-1', 'Processing', 'Steaming', 'Batch sheet', inputs => '["L-1"]')});
wait_for($shop, "SELECT count(*) = 1 FROM tracelink.codes WHERE code = 'B-1'", 'the shop has B-1');
sql($shop, q{SELECT tracelink.record('Spring tea', 'P-1', 'Retail', 'Shelf', 'Sale', inputs => '["B-1"]')});
# node-local state: a template, a quarantined row, a rotated key
sql($farm, "SELECT tracelink.save_template('growing', '$definition{farm}')");
is(sql($farm, q{SELECT quarantined FROM tracelink.ingest('{"type":"bogus"}')}), '1',
	'the farm holds a quarantined row');
sql($farm, 'SELECT tracelink.rotate_key()');
wait_converged(@nodes);

# The farm's WAL runs far ahead (as a long-lived cluster's does), and its
# peers' subscriptions remember a position there.
sql($farm, q{SELECT count(pg_logical_emit_message(false, 'filler', repeat('x', 1048576))) FROM generate_series(1, 48)});
append_on($farm, 'after-filler');
my $farm_lsn = sql($farm, 'SELECT pg_current_wal_lsn()');
my $origin_lsn = q{SELECT o.remote_lsn FROM pg_replication_origin_status o
   JOIN pg_subscription s ON o.external_id = 'pg_' || s.oid WHERE s.subname = 'tracelink_from_farm'};
for my $n ($factory, $shop)
{
	wait_for($n, "SELECT ($origin_lsn) >= '$farm_lsn'", $n->name . ' has applied the farm\'s last block');
}
my $old_remote_lsn = sql($factory, $origin_lsn);

# A block of the farm the shop does not receive before the dump.
sql($shop, 'ALTER SUBSCRIPTION tracelink_from_farm DISABLE');
append_on($farm, 'before-dump');
wait_converged($farm, $factory);

# ---------------------------------------------------------------------
# The dump, and what happens after it.
# ---------------------------------------------------------------------
my $dir = PostgreSQL::Test::Utils::tempdir();
$farm->command_ok([ 'pg_dumpall', '--roles-only', '-f', "$dir/roles.sql", '-d', $farm->connstr('postgres') ],
	'pg_dumpall --roles-only');
$farm->command_ok([ 'pg_dump', '-Fc', '-f', "$dir/farm.dump", '-d', $farm->connstr('postgres') ], 'pg_dump -Fc');
$farm->command_ok([ 'pg_dump', '-Fp', '-f', "$dir/farm.sql", '-d', $farm->connstr('postgres') ], 'pg_dump -Fp');
my $dumped_state = sql($farm, $state_sql);
like($dumped_state, qr/^[0-9a-f]{64} \| factory:\d+:\d+:true,farm:\d+:\d+:true,shop:\d+:\d+:true \| farm \|/,
	'the farm verifies before the dump');

# After the dump the farm receives one more block of the factory, and
# acknowledges it: the factory's slot will not send it again.
append_on($factory, 'after-dump');
my $factory_lsn = sql($factory, 'SELECT pg_current_wal_lsn()');
wait_converged($factory, $farm);
wait_for($factory, "SELECT confirmed_flush_lsn >= '$factory_lsn' FROM pg_replication_slots WHERE slot_name = 'tl_factory_farm'",
	'the farm confirmed the factory\'s block written after the dump');
$farm->stop;
append_on($shop, 'while-farm-is-down');

# ---------------------------------------------------------------------
# A new cluster, the key file, the roles, then the dump.
# ---------------------------------------------------------------------
my $farm2 = tl_node('farm2', bare => 1);
mkdir($farm2->data_dir . '/pg_tracelink', 0700) or die "mkdir: $!";
for my $file (glob($farm->data_dir . '/pg_tracelink/*'))
{
	my $to = $farm2->data_dir . '/pg_tracelink/' . (split m{/}, $file)[-1];
	copy($file, $to) or die "copy $file: $!";
	chmod(0600, $to);
}
$farm2->psql('postgres', undef, extra_params => [ '-f', "$dir/roles.sql" ], on_error_stop => 0);
$farm2->command_ok([ 'pg_restore', '-j', '4', '-d', $farm2->connstr('postgres'), "$dir/farm.dump" ],
	'pg_restore -j 4 runs without an error');
sql($farm2, 'CREATE DATABASE plaincopy');
$farm2->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', "$dir/farm.sql", '-d', $farm2->connstr('plaincopy') ],
	'psql plays the plain dump without an error');
for my $db ('postgres', 'plaincopy')
{
	is(sql($farm2, $state_sql, $db), $dumped_state,
		"$db: same state_digest, verify() clean, same node, key, sequences, templates, quarantine, records, ballots");
	like(error_of($farm2, "SELECT tracelink.append('acme.note', '{}')", db => $db),
		qr/55000: this node does not sign until its restore is finished/,
		"$db: the restored node does not sign before finish_restore()");
	# pg_dump leaves them out (extension tables); CREATE EXTENSION makes them
	is(sql($farm2, q{SELECT string_agg(tablename || '.' || policyname, ',' ORDER BY tablename, policyname) FROM pg_policies
	                  WHERE schemaname = 'tracelink'}, $db),
		'inbox_entries.every_row,inbox_entries.private_to_viewers,ledger_entries.every_row,ledger_entries.private_to_viewers,'
		  . 'quarantine.every_row,quarantine.private_to_viewers',
		"$db: the row security that hides private entries from non-viewers is restored");
}
cmp_ok(sql($farm2, "SELECT pg_current_wal_lsn() < '$old_remote_lsn'"), 'eq', 't',
	'the new cluster\'s WAL is behind the position the peers\' subscriptions remember');

# Only a restore, and only by the owner, writes ledger rows.
like(error_of($farm2, 'INSERT INTO tracelink.ledger_blocks SELECT * FROM tracelink.ledger_blocks LIMIT 1'),
	qr/TL020: rows of ledger table "ledger_blocks" are written only by tracelink/,
	'a superuser\'s INSERT into the restored ledger is refused');
$farm2->command_fails([ 'pg_restore', '-a', '-t', 'ledger_entries', '-d', $farm2->connstr('postgres'), "$dir/farm.dump" ],
	'restoring the ledger again over it is refused');
like(error_of($farm2, "SELECT tracelink.init_node('farm')"), qr/42710: this database is already node "farm"/,
	'init_node() refuses the restored node\'s name');
sql($farm2, q{CREATE ROLE clerk LOGIN IN ROLE tracelink_member; CREATE DATABASE fresh});
sql($farm2, 'CREATE EXTENSION tracelink; GRANT INSERT ON tracelink.ledger_blocks TO tracelink_member', 'fresh');
my $genesis = sql($farm2, q{SELECT 'INSERT INTO tracelink.ledger_blocks SELECT * FROM json_populate_record(NULL::tracelink.ledger_blocks, '
   || quote_literal(row_to_json(b)::text) || ')' FROM tracelink.ledger_blocks b WHERE origin = 'farm' AND block_no = 0});
like($genesis, qr/^INSERT INTO tracelink.ledger_blocks/, 'the farm\'s genesis block, as an INSERT');
like(error_of($farm2, $genesis, db => 'fresh', connstr => $farm2->connstr('fresh') . ' user=clerk'),
	qr/42501: permission denied to restore rows of ledger table "ledger_blocks"/,
	'a member with INSERT granted cannot restore a genuine block into an empty ledger');
like(error_of($farm2, 'INSERT INTO tracelink.ledger_entries SELECT * FROM tracelink.ledger_entries LIMIT 1',
		connstr => $farm2->connstr('postgres') . ' user=clerk'),
	qr/42501: permission denied for table ledger_entries/, 'a member cannot write the restored ledger');
is(error_of($farm2, $genesis, db => 'fresh'), '(no error)', 'the owner restores that block into the empty ledger');

# ---------------------------------------------------------------------
# Finishing the restore; the peers re-point their subscriptions.
# ---------------------------------------------------------------------
sql($farm2, 'CALL tracelink.finish_restore()');
is(sql($farm2, 'SELECT count(*) FROM tracelink.restore_holds'), '0', 'finish_restore() lifts the hold');
# (four tables each: the ledger's two, and the files' two, sqlsrc/75_blobs.sql)
is(sql($farm2, q{SELECT string_agg(p.pubname || ':' || (SELECT count(*) FROM pg_publication_tables t WHERE t.pubname = p.pubname)
                                   || ':' || (SELECT count(*) FROM pg_replication_slots s WHERE s.slot_name = 'tl_farm_' || substr(p.pubname, 14)),
                                   ',' ORDER BY p.pubname) FROM pg_publication p}),
	'tracelink_to_factory:4:1,tracelink_to_shop:4:1', 'publications have their tables again, and the slots are back');
for my $peer ($factory, $shop)
{
	my $conninfo = $farm2->connstr('postgres') . ' user=tracelink_peer_' . $peer->name;
	sql($peer, "CALL tracelink.repoint_peer('farm', \$\$$conninfo\$\$)");
}
for my $n ($farm2, $factory, $shop)
{
	wait_for($n, "SELECT count(*) = 2 FROM tracelink.peers WHERE status = 'streaming'",
		$n->name . ' streams from both peers');
}
wait_for($farm2, "SELECT count(*) = 1 FROM tracelink.ledger_entries WHERE payload LIKE '%while-farm-is-down%'",
	'the restored farm receives what the shop wrote while it was down');

# Gaps: the factory's block the farm acknowledged after the dump, and the
# farm's block the shop had not received.  Each shows as a parked block
# once the next one arrives, and is filled from the sender's export.
sub catch_up
{
	my ($receiver, $sender) = @_;
	my ($r, $s) = ($receiver->name eq 'farm2' ? 'farm' : $receiver->name, $sender->name eq 'farm2' ? 'farm' : $sender->name);
	wait_for($receiver, "SELECT count(*) > 0 FROM tracelink.inbox_blocks WHERE origin = '$s'",
		"$r parks $s\'s next block: it lacks the one before");
	my ($from, $to) = split /\|/, sql($receiver,
		"SELECT coalesce((SELECT block_no FROM tracelink.ledger_heads WHERE origin = '$s'), -1) + 1,"
		  . " (SELECT min(block_no) - 1 FROM tracelink.inbox_blocks WHERE origin = '$s')");
	my $lines = sql($sender, "SELECT string_agg(l, E'\\n') FROM tracelink.export_for_peer('$r', $from, $to) l");
	is(sql($receiver, "SELECT quarantined FROM tracelink.ingest(\$tl\$$lines\$tl\$)"), '0',
		"$r ingests $s\'s blocks $from..$to, nothing quarantined");
}
append_on($factory, 'after-restore');
catch_up($farm2, $factory);
sql($farm2, q{SELECT tracelink.record('Spring tea', 'L-2', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 38}')});
catch_up($shop, $farm2);

# Everyone writes again; the three converge.
append_on($_, 'last') for ($farm2, $factory, $shop);
wait_for($factory, "SELECT count(*) = 1 FROM tracelink.codes WHERE code = 'L-2'", 'the factory has the restored farm\'s new code');
sql($factory, q{SELECT tracelink.record('Spring tea', 'B-2', 'Processing', 'Steaming', 'Batch sheet', inputs => '["L-2"]')});
my @group = ($farm2, $factory, $shop);
for my $n (@group)
{
	for my $o (@group)
	{
		next if $n == $o;
		my %own = heads_of($o);
		my $name = $o->name eq 'farm2' ? 'farm' : $o->name;
		wait_for($n, "SELECT coalesce((SELECT block_no FROM tracelink.ledger_heads WHERE origin = '$name'), -1) >= $own{$name}",
			$n->name . " has $name\'s last block");
	}
	wait_for($n, 'SELECT count(*) = 0 FROM tracelink.apply_queue', $n->name . ': nothing waits');
}
my %digests = state_digests(@group);
is(scalar(keys %{ { map { $_ => 1 } values %digests } }), 1, 'the three nodes have the same state_digest');
for my $n (@group)
{
	is(sql($n, q{SELECT coalesce(string_agg(origin || ': ' || reason, '; '), '') FROM tracelink.verify() WHERE NOT ok}),
		'', $n->name . ': verify() finds nothing wrong');
	is(sql($n, q{SELECT coalesce(string_agg(reason, '; ' ORDER BY id), '') FROM tracelink.quarantine}),
		$n == $farm2 ? 'line is not a tracelink export line' : '',
		$n->name . ': nothing quarantined (the farm keeps the row it had quarantined before the dump)');
	is(sql($n, 'SELECT count(*) FROM tracelink.equivocations'), '0', $n->name . ': no equivocation');
}
is(sql($factory, "SELECT string_agg(code || ':' || node, ' ' ORDER BY depth, code) FROM tracelink.trace('B-2')"),
	'L-2:farm B-2:factory', 'provenance across the restored farm');

$_->stop for ($farm2, $factory, $shop);
done_testing();
