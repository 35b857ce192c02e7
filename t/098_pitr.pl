# A node restored from a base backup to a point in time (pg_basebackup and
# its archived WAL) keeps a verifiable chain and rejoins its peers.  The
# farm archives its WAL; after a base backup it signs blocks that are kept
# (before the recovery target) and blocks that are lost (after it), which
# its peers receive.  Recovered to the target, it runs on a new WAL
# timeline: it does not sign (its peers hold blocks it no longer has)
# until finish_restore() has fetched those blocks back from them and
# recorded the new timeline.  Its peers re-point their subscriptions; its
# next block follows the last one they hold, with no equivocation, and
# the three converge. A block of the farm its peers witnessed and none can send
# back keeps it held.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlTest;

# the farm's chain is its own appends only (it witnesses nothing), so its
# block numbers are known; its peers witness at every block they apply
my $farm = tl_node('farm', archiving => 1, conf => "tracelink.witness_interval = -1\n");
my @peers = map { tl_node($_, conf => "tracelink.witness_interval = 0\n") } qw(factory shop);
my ($factory, $shop) = @peers;
mesh($farm, @peers);
for my $node ($farm, @peers)
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

sub count_of
{
	my ($node, $tag) = @_;
	return sql($node, "SELECT count(*) FROM tracelink.ledger_entries WHERE origin = 'farm' AND payload LIKE '%\"$tag\"%'");
}

append_on($farm, 'before-backup', 2);
$farm->backup('base');
append_on($farm, 'kept', 2);
append_on($farm, 'kept', 1);
my $target = sql($farm, 'SELECT pg_current_wal_lsn()');
my $kept_head = farm_head($farm);
append_on($farm, 'lost', 2);
append_on($farm, 'lost', 1);
append_on($farm, 'lost', 3);
wait_converged($farm, @peers);
my $last_head = farm_head($farm);
is($last_head, $kept_head + 3, 'the farm signed three blocks after the recovery target');
is(count_of($factory, 'lost'), '6', 'its peers received them');
my $segment = sql($farm, 'SELECT pg_walfile_name(pg_current_wal_lsn())');
sql($farm, 'SELECT pg_switch_wal()');
ok($farm->poll_query_until('postgres', "SELECT last_archived_wal >= '$segment' FROM pg_stat_archiver"),
	'the farm\'s WAL is archived');
$farm->stop;

# ---------------------------------------------------------------------
# Point-in-time recovery of the base backup to the target.
# ---------------------------------------------------------------------
my $farm2 = PostgreSQL::Test::Cluster->new('farm2');
$farm2->init_from_backup($farm, 'base', has_restoring => 1);
$farm2->append_conf('postgresql.conf', "recovery_target_lsn = '$target'\nrecovery_target_action = 'promote'\n");
$farm2->start;
ok($farm2->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'the recovered farm is promoted');
is(farm_head($farm2), $kept_head, 'it holds its chain up to the recovery target');
is(count_of($farm2, 'kept') . '/' . count_of($farm2, 'lost'), '3/0', 'with the blocks before the target only');
is(sql($farm2, q{SELECT coalesce(string_agg(origin || ': ' || reason, '; '), '') FROM tracelink.verify() WHERE NOT ok}),
	'', 'its chain verifies');
like(sql($farm2, 'SELECT tracelink.signing_hold()'), qr/recovered to a point in time or promoted: it runs on WAL timeline 2, the node last signed on timeline 1/,
	'signing_hold() names the new timeline');
like(error_of($farm2, "SELECT tracelink.append('acme.note', '{}')"),
	qr/55000: this node does not sign until its restore is finished/, 'the recovered farm does not sign');

# The factory witnesses the farm's last block (a lost one) in a block the
# recovered farm receives: the farm keeps that head for later.  With no
# peer reachable, finish_restore() cannot fetch the block back, and the
# farm stays held rather than sign a block of that number.
append_on($shop, 'to-witness');
ok($farm2->poll_query_until('postgres',
		"SELECT (SELECT lines FROM tracelink.resend('factory')) >= 0"
		  . " AND EXISTS (SELECT 1 FROM tracelink.witness_pending WHERE origin = 'farm' AND block_no = $last_head)"),
	'the recovered farm keeps the factory\'s witness of its last block for later');
is(sql($farm2, 'SELECT count(*) FROM tracelink.equivocations'), '0', 'and records no equivocation for it');
my $conninfos = sql($farm2, q{SELECT string_agg(format('UPDATE tracelink.peer_connections SET conninfo = %L WHERE name = %L;', conninfo, name), ' ')
                              FROM tracelink.peer_connections});
sql($farm2, q{UPDATE tracelink.peer_connections SET conninfo = 'host=/nonexistent port=1 dbname=postgres'});
my ($ret, $out, $err) = $farm2->psql('postgres', "\\set VERBOSITY verbose\nCALL tracelink.finish_restore()");
like($err, qr/55000: peers witnessed block $last_head of this node, which it could not fetch back/,
	'with its peers unreachable, finish_restore() refuses to let it sign');
like(sql($farm2, 'SELECT tracelink.signing_hold()'), qr/WAL timeline 2/, 'the farm is still held');
sql($farm2, $conninfos);

($ret, $out, $err) = $farm2->psql('postgres', 'CALL tracelink.finish_restore()');
is($ret, 0, 'finish_restore() succeeds') or diag($err);
is(farm_head($farm2), $last_head, 'it fetched the lost blocks back from its peers');
is(count_of($farm2, 'lost'), '6', 'with their entries');
is(sql($farm2, 'SELECT tracelink.signing_hold() IS NULL'), 't', 'the hold is lifted');
is(sql($farm2, 'SELECT timeline FROM tracelink.node_timeline'), '2', 'the node signs on timeline 2 now');

for my $peer (@peers)
{
	my $conninfo = $farm2->connstr('postgres') . ' user=tracelink_peer_' . $peer->name;
	sql($peer, "CALL tracelink.repoint_peer('farm', \$\$$conninfo\$\$)");
}
append_on($farm2, 'after-recovery', 2);
is(farm_head($farm2), $last_head + 1, 'the farm\'s next block follows the last one its peers hold');
append_on($_, 'peer-after') for @peers;
my @group = ($farm2, @peers);
for my $n (@group)
{
	for my $o (@group)
	{
		next if $n == $o;
		my $name = $o == $farm2 ? 'farm' : $o->name;
		my %own = heads_of($o);
		# the peers' blocks the old farm confirmed after the target (their
		# witnesses of its lost blocks) are not sent again: the recovered
		# farm fetches them with resend(), as after any restore
		my $fill = $n == $farm2 ? "(SELECT lines FROM tracelink.resend('$name')) >= 0 AND " : '';
		ok($n->poll_query_until('postgres', "SELECT $fill coalesce((SELECT block_no FROM tracelink.ledger_heads WHERE origin = '$name'), -1) >= $own{$name}"),
			$n->name . " has $name\'s last block");
	}
}
for my $n (@group)
{
	is(sql($n, q{SELECT coalesce(string_agg(origin || ': ' || reason, '; '), '') FROM tracelink.verify() WHERE NOT ok}),
		'', $n->name . ': verify() finds nothing wrong');
	is(sql($n, 'SELECT count(*) FROM tracelink.equivocations'), '0', $n->name . ': no equivocation');
	is(sql($n, q{SELECT coalesce(string_agg(reason, '; '), '') FROM tracelink.quarantine WHERE origin = 'farm'}), '',
		$n->name . ': nothing of the farm quarantined');
	is(sql($n, "SELECT count(*) FROM tracelink.ledger_entries WHERE origin = 'farm'"),
		sql($farm2, "SELECT count(*) FROM tracelink.ledger_entries WHERE origin = 'farm'"),
		$n->name . ': the same entries of the farm');
}

$_->stop for @group;
done_testing();
