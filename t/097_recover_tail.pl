# A node restored from a dump older than its last blocks fetches those
# blocks back from its peers and goes on after them, never forking its
# chain: the farm of three nodes is dumped, then signs four more blocks
# (one hands its key over to a new one), which its peers receive; its
# cluster is lost.  Restored from the old dump (the key file kept), it
# holds fewer of its own blocks than its peers, and does not sign.
# finish_restore() fetches the missing blocks from the peers, checks them
# as replication would (against the farm's pinned key and chain; each
# block and entry once, though both peers send them), moves the
# transaction numbers past them, and lets the farm sign again: its next
# block follows its last one on every peer, with no equivocation and
# nothing quarantined.  Outside a restore, recover_own_chain() is refused.
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

sub sql { my ($node, $sql) = @_; return $node->safe_psql('postgres', $sql); }

sub error_of
{
	my ($node, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql");
	return $ret == 0 ? '(no error)' : $err;
}

sub append_on
{
	my ($node, $tag, $count) = @_;
	sql($node, "SELECT count(tracelink.append('acme.note', jsonb_build_object('tag', '$tag', 'i', g)))"
		  . " FROM generate_series(1, " . ($count // 1) . ") g");
}

sub farm_head { my ($node) = @_; return sql($node, "SELECT block_no FROM tracelink.ledger_heads WHERE origin = 'farm'"); }

append_on($farm, 'before-dump', 3);
wait_converged(@nodes);

# shadows on the peers (their logins for the farm resolve unqualified names
# to them first) and, below, on the restored and rebuilt farm, whose
# superuser sessions do too: none of them runs
my $plant = slurp_file('sql/include/plant_shadows.sql');
for my $peer ($factory, $shop)
{
	sql($peer, "CREATE SCHEMA evil; $plant");
	my $login = sql($peer, "SELECT tracelink.peer_login_name('farm')");
	sql($peer, "GRANT USAGE ON SCHEMA evil TO $login; ALTER ROLE $login SET search_path = evil, pg_catalog");
}
my $shadowed = 'SET search_path = evil, pg_catalog; ';

like(error_of($factory, 'SELECT * FROM tracelink.recover_own_chain()'),
	qr/55000: node "factory" is not held after a restore/, 'a node that is not held does not fetch its own chain back');
is(sql($factory, 'SELECT tracelink.signing_hold() IS NULL'), 't', 'a running node has no signing hold');

my $dir = PostgreSQL::Test::Utils::tempdir();
$farm->command_ok([ 'pg_dumpall', '--roles-only', '-f', "$dir/roles.sql", '-d', $farm->connstr('postgres') ],
	'pg_dumpall --roles-only');
$farm->command_ok([ 'pg_dump', '-Fc', '-f', "$dir/farm.dump", '-d', $farm->connstr('postgres') ], 'pg_dump -Fc');
my $dumped_head = farm_head($farm);

# After the dump: four more blocks of the farm, one of them handing its
# key over, all received by both peers.
append_on($farm, 'after-dump-1', 2);
append_on($farm, 'after-dump-2', 1);
sql($farm, 'SELECT tracelink.rotate_key()');
append_on($farm, 'after-dump-3', 3);
wait_converged(@nodes);
my $last_head = farm_head($farm);
cmp_ok($last_head, '>=', $dumped_head + 4, "the farm signed blocks " . ($dumped_head + 1) . "..$last_head after the dump");
my $farm_entries = sql($farm, "SELECT count(*) FROM tracelink.ledger_entries WHERE origin = 'farm'");
$farm->stop;

# ---------------------------------------------------------------------
# The farm's cluster is lost; a new one gets the key files, the roles and
# the old dump.
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
$farm2->command_ok([ 'pg_restore', '-d', $farm2->connstr('postgres'), "$dir/farm.dump" ], 'pg_restore');
is(farm_head($farm2), $dumped_head, 'the restored farm ends its chain where the dump did');
is(farm_head($factory), $last_head, 'its peers hold its later blocks');
like(sql($farm2, 'SELECT tracelink.signing_hold()'), qr/Ledger rows were restored/, 'signing_hold() says why it does not sign');
like(error_of($farm2, "SELECT tracelink.append('acme.note', '{}')"),
	qr/55000: this node does not sign until its restore is finished/, 'the restored farm does not sign');

# ---------------------------------------------------------------------
# finish_restore() fetches the farm's blocks back from its peers.
# ---------------------------------------------------------------------
sql($farm2, "CREATE SCHEMA evil; $plant");
my ($ret, $out, $err) = $farm2->psql('postgres', "${shadowed}CALL tracelink.finish_restore()");
is($ret, 0, 'finish_restore() succeeds') or diag($err);
like($err, qr/peer "factory": \d+ lines of this node's chain from block @{[ $dumped_head + 1 ]}/,
	'it reports what the factory sent of the farm\'s chain');
is(farm_head($farm2), $last_head, 'the farm holds its chain up to its last block again');
is(sql($farm2, "SELECT count(*) FROM tracelink.ledger_entries WHERE origin = 'farm'"), $farm_entries,
	'and every entry of it');
is(sql($farm2, "SELECT count(*) FROM tracelink.ledger_entries WHERE payload LIKE '%after-dump-3%'"), '3',
	'the entries signed with the new key are back');
is(sql($farm2, q{SELECT coalesce(string_agg(origin || ': ' || reason, '; '), '') FROM tracelink.verify() WHERE NOT ok}),
	'', 'verify() finds nothing wrong on the restored farm');
is(sql($farm2, 'SELECT count(*) FROM tracelink.quarantine'), '0',
	'nothing quarantined: blocks and entries heard from both peers are kept once');
is(sql($farm2, 'SELECT tracelink.signing_hold() IS NULL'), 't', 'the hold is lifted');
is(sql($farm2, "SELECT (SELECT last_value FROM tracelink.ledger_tx_seq) >= (SELECT max(tx) FROM tracelink.ledger_blocks WHERE origin = 'farm')"),
	't', 'the transaction numbers go on after the recovered blocks');

for my $peer ($factory, $shop)
{
	my $conninfo = $farm2->connstr('postgres') . ' user=tracelink_peer_' . $peer->name;
	sql($peer, "CALL tracelink.repoint_peer('farm', \$\$$conninfo\$\$)");
}
append_on($farm2, 'after-recovery', 2);
my $new_head = farm_head($farm2);
is($new_head, $last_head + 1, 'the farm\'s next block follows its last one');
for my $peer ($factory, $shop)
{
	ok($peer->poll_query_until('postgres', "SELECT block_no = $new_head FROM tracelink.ledger_heads WHERE origin = 'farm'"),
		$peer->name . ' applies the farm\'s next block');
}
append_on($_, 'last') for ($factory, $shop);
my @group = ($farm2, $factory, $shop);
for my $n (@group)
{
	for my $o ($factory, $shop)
	{
		next if $n == $o;
		my %own = heads_of($o);
		ok($n->poll_query_until('postgres', "SELECT block_no >= $own{$o->name} FROM tracelink.ledger_heads WHERE origin = '" . $o->name . "'"),
			$n->name . ' has ' . $o->name . '\'s last block');
	}
}
for my $n (@group)
{
	is(sql($n, q{SELECT coalesce(string_agg(origin || ': ' || reason, '; '), '') FROM tracelink.verify() WHERE NOT ok}),
		'', $n->name . ': verify() finds nothing wrong');
	is(sql($n, 'SELECT count(*) FROM tracelink.equivocations'), '0', $n->name . ': no equivocation');
	is(sql($n, q{SELECT coalesce(string_agg(reason, '; '), '') FROM tracelink.quarantine WHERE origin = 'farm'}), '',
		$n->name . ': nothing of the farm quarantined');
}
is(sql($factory, "SELECT count(*) FROM tracelink.ledger_entries WHERE origin = 'farm'"),
	sql($farm2, "SELECT count(*) FROM tracelink.ledger_entries WHERE origin = 'farm'"),
	'the factory and the farm hold the same entries of the farm');

# ---------------------------------------------------------------------
# The farm's database is lost again, this time with no backup at all; its
# key files are kept.  It is rebuilt from its peers.
# ---------------------------------------------------------------------
my $genesis_key = sql($factory, "SELECT encode(public_key, 'hex') FROM tracelink.nodes WHERE name = 'farm'");
my %peer_key = map { $_->name => sql($shop, "SELECT encode(public_key, 'hex') FROM tracelink.nodes WHERE name = '" . $_->name . "'") } ($factory);
$peer_key{shop} = sql($factory, "SELECT encode(public_key, 'hex') FROM tracelink.nodes WHERE name = 'shop'");
append_on($farm2, 'last-before-loss', 2);
for my $peer ($factory, $shop)
{
	my $head = farm_head($farm2);
	ok($peer->poll_query_until('postgres', "SELECT block_no = $head FROM tracelink.ledger_heads WHERE origin = 'farm'"),
		$peer->name . ' has the farm\'s last block before the loss');
}
my $farm_head_before_loss = farm_head($farm2);
my $farm_entries_before_loss = sql($farm2, "SELECT count(*) FROM tracelink.ledger_entries WHERE origin = 'farm'");
is(sql($farm2, 'SELECT count(*) FROM evil.ran'), '0', 'no shadowing object ran on the restored farm');
$farm2->stop;

my $farm3 = tl_node('farm3', bare => 1);
mkdir($farm3->data_dir . '/pg_tracelink', 0700) or die "mkdir: $!";
for my $file (glob($farm2->data_dir . '/pg_tracelink/*'))
{
	my $to = $farm3->data_dir . '/pg_tracelink/' . (split m{/}, $file)[-1];
	copy($file, $to) or die "copy $file: $!";
	chmod(0600, $to);
}
sql($farm3, 'CREATE EXTENSION tracelink');
like(error_of($farm3, "SELECT tracelink.rebuild_node('farm', '\\x00')"),
	qr/22023: the genesis key of node "farm" must be 32 bytes/, 'rebuild_node() wants the 32-byte genesis key');
sql($farm3, "CREATE SCHEMA evil; $plant");
sql($farm3, "${shadowed}SELECT tracelink.rebuild_node('farm', '\\x$genesis_key')");
like(error_of($farm3, "SELECT tracelink.rebuild_node('farm', '\\x$genesis_key')"),
	qr/42710: this database is already node "farm"/, 'rebuild_node() runs once');
like(error_of($farm3, "SELECT tracelink.append('acme.note', '{}')"),
	qr/55000: this node does not sign until its restore is finished/, 'the rebuilt farm does not sign');
for my $peer ($factory, $shop)
{
	my $login = sql($peer, "SELECT tracelink.peer_login_name('farm')");
	my $conninfo = $peer->connstr('postgres') . " user=$login";
	sql($farm3, "CALL tracelink.add_peer('" . $peer->name . "', \$\$$conninfo\$\$, '\\x$peer_key{$peer->name}')");
}
($ret, $out, $err) = $farm3->psql('postgres', "${shadowed}CALL tracelink.finish_restore()");
is($ret, 0, 'finish_restore() rebuilds the farm') or diag($err);
is(farm_head($farm3), $farm_head_before_loss, 'the rebuilt farm holds its whole chain');
is(sql($farm3, "SELECT count(*) FROM tracelink.ledger_entries WHERE origin = 'farm'"), $farm_entries_before_loss,
	'with every entry');
for my $peer ($factory, $shop)
{
	my $conninfo = $farm3->connstr('postgres') . ' user=tracelink_peer_' . $peer->name;
	sql($peer, "CALL tracelink.repoint_peer('farm', \$\$$conninfo\$\$)");
}
append_on($farm3, 'after-rebuild', 1);
is(farm_head($farm3), $farm_head_before_loss + 1, 'the rebuilt farm\'s next block follows its last one');
append_on($_, 'after-rebuild') for ($factory, $shop);
@group = ($farm3, $factory, $shop);
for my $n (@group)
{
	for my $o (@group)
	{
		next if $n == $o;
		my $name = $o == $farm3 ? 'farm' : $o->name;
		my %own = heads_of($o);
		ok($n->poll_query_until('postgres', "SELECT coalesce((SELECT block_no FROM tracelink.ledger_heads WHERE origin = '$name'), -1) >= $own{$name}"),
			$n->name . " has $name\'s last block");
	}
}
for my $n (@group)
{
	is(sql($n, q{SELECT coalesce(string_agg(origin || ': ' || reason, '; '), '') FROM tracelink.verify() WHERE NOT ok}),
		'', $n->name . ': verify() finds nothing wrong after the rebuild');
	is(sql($n, 'SELECT count(*) FROM tracelink.equivocations'), '0', $n->name . ': no equivocation after the rebuild');
	is(sql($n, "SELECT count(*) FROM tracelink.ledger_entries WHERE origin = 'farm'"),
		sql($farm3, "SELECT count(*) FROM tracelink.ledger_entries WHERE origin = 'farm'"),
		$n->name . ': the same entries of the farm after the rebuild');
}
ok($farm3->poll_query_until('postgres', "SELECT count(*) = 0 FROM tracelink.apply_queue"), 'nothing waits on the rebuilt farm');
my %digests;
for my $try (1 .. 100)
{
	%digests = state_digests(@group);
	last if scalar(keys %{ { map { $_ => 1 } values %digests } }) == 1;
	sleep 1;
}
is(scalar(keys %{ { map { $_ => 1 } values %digests } }), 1, 'the rebuilt farm and its peers have one state_digest')
  or diag(explain \%digests);

for my $n (@group)
{
	is(sql($n, 'SELECT count(*) FROM evil.ran'), '0', 'no shadowing object ran on ' . $n->name)
	  or diag(sql($n, "SELECT what, by_role, count(*) FROM evil.ran GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 10"));
}

$_->stop for @group;
done_testing();
