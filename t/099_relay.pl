# Relays: every block is signed by its origin, so a node may pass other
# origins' rows on without being trusted.  Two hubs peer with each other
# and with fourteen leaves (16 nodes); the leaves peer only with the hubs.  The hubs
# forward every origin's rows to the leaves (set_relay(leaf, forward)),
# the leaves accept them (set_relay(hub, accept)), having pinned the keys
# of the leaves they do not peer with (pin_node()).  Every node writes;
# all converge on one state, each leaf holding every origin's entries, each
# entry once, with nothing quarantined though most rows come by two paths.
# A link's records reach only its group, private values only their
# audience, relays included.  One hub is stopped: the others still
# converge through the second.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlTest;

# 16 nodes by default (TL_RELAY_LEAVES leaves and two hubs), each a small
# cluster: this machine runs them all
my $nleaves = $ENV{TL_RELAY_LEAVES} // 14;
die 'TL_RELAY_LEAVES must be 3 or more' if $nleaves < 3;
my $small = "shared_buffers = 16MB\nwal_buffers = 1MB\nmax_wal_size = 256MB\n";
my $hub_conf = $small . "max_wal_senders = 64\nmax_replication_slots = 64\n"
  . "max_logical_replication_workers = 40\nmax_worker_processes = 48\n";
my @hubs = map { tl_node($_, conf => $hub_conf) } qw(h1 h2);
my @leaves = map { tl_node("l$_", conf => $small) } 1 .. $nleaves;
my @all = (@hubs, @leaves);
my %keys = init_nodes(@all);
connect_nodes(\%keys, \@leaves, \@hubs);
connect_nodes(\%keys, [ $hubs[0] ], [ $hubs[1] ]);

sub sql { my ($node, $sql) = @_; return $node->safe_psql('postgres', $sql); }

sub error_of
{
	my ($node, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql");
	return $ret == 0 ? '(no error)' : $err;
}

# shadows on every node: pin_node() and set_relay() below run with a
# search_path that finds them first, and none of them runs
my $plant = slurp_file('sql/include/plant_shadows.sql');
sql($_, "CREATE SCHEMA evil; $plant") for @all;
my $shadowed = 'SET search_path = evil, pg_catalog; ';

for my $leaf (@leaves)
{
	ok($leaf->poll_query_until('postgres', "SELECT count(*) = 2 FROM tracelink.peers WHERE status = 'streaming'"),
		$leaf->name . ' streams from both hubs');
	for my $other (grep { $_ != $leaf } @leaves)
	{
		sql($leaf, "${shadowed}SELECT tracelink.pin_node('" . $other->name . "', '\\x$keys{$other->name}')");
	}
}
like(error_of($leaves[0], "SELECT tracelink.pin_node('l2', '\\x00')"),
	qr/22023: the public key of node "l2" must be 32 bytes/, 'pin_node() wants a 32-byte key');
like(error_of($leaves[0], "SELECT tracelink.pin_node('L 2', '\\x$keys{l2}')"),
	qr/22023: invalid node name "L 2"/, 'pin_node() wants a node name');
like(error_of($leaves[0], "SELECT tracelink.pin_node('l1', '\\x$keys{l1}')"),
	qr/22023: node "l1" is this node/, 'pin_node() does not pin this node');
like(error_of($leaves[0], "CALL tracelink.set_relay('h1', NULL, true)"),
	qr/22004: forward and accept must not be NULL/, 'set_relay() wants both flags');
like(error_of($leaves[0], "SELECT tracelink.pin_node('l2', '\\x" . ('00' x 32) . "')"),
	qr/42710: node "l2" is already known with another public key/, 'pin_node() keeps the key pinned first');
like(error_of($leaves[0], "CALL tracelink.set_relay('l2', true, true)"),
	qr/42704: unknown peer "l2"/, 'set_relay() wants a peer');
for my $hub (@hubs)
{
	sql($hub, "${shadowed}CALL tracelink.set_relay('" . $_->name . "', true, false)") for @leaves;
}
# l1 writes while the hubs forward and the leaves do not accept yet: the
# leaves quarantine what the hubs pass on ...
sql($leaves[0], "SELECT tracelink.append('acme.early', '{}')");
ok($leaves[1]->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM tracelink.quarantined WHERE retryable AND reason LIKE '%carries only its own peer''s rows'"),
	'l2 quarantines l1\'s row a hub forwarded before l2 accepted relayed rows (retryable)');
# ... and accepting fetches what each hub holds and retries those rows
for my $leaf (@leaves)
{
	sql($leaf, "${shadowed}CALL tracelink.set_relay('" . $_->name . "', false, true)") for @hubs;
}
is(sql($leaves[1], "SELECT count(*) FROM tracelink.quarantine"), '0', 'accepting took them out of l2\'s quarantine');
is(sql($leaves[1], "SELECT count(*) FROM tracelink.ledger_entries WHERE kind = 'acme.early'"), '1', 'l2 holds l1\'s row once');
is(sql($hubs[0], q{SELECT count(*) FILTER (WHERE forward AND NOT accept) FROM tracelink.peer_relays}),
	$nleaves, 'h1 forwards to every leaf');

sub write_on
{
	my ($node, $tag, $count) = @_;
	sql($node, "SELECT count(tracelink.append('acme.note', jsonb_build_object('tag', '$tag', 'i', g)))"
		  . " FROM generate_series(1, $count) g");
}

# every node holds every origin's last block
sub converge
{
	my ($label, @group) = @_;
	my %head = map { my %h = heads_of($_); ($_->name => $h{ $_->name }) } @group;
	for my $n (@group)
	{
		for my $o (@group)
		{
			next if $n == $o;
			$n->poll_query_until('postgres',
				"SELECT coalesce((SELECT block_no FROM tracelink.ledger_heads WHERE origin = '" . $o->name . "'), -1) >= $head{$o->name}")
			  or diag($n->name . ' did not get ' . $o->name . "'s block $head{$o->name}");
		}
	}
	my %counts = map {
		$_->name => sql($_, "SELECT string_agg(origin || ':' || n, ',' ORDER BY origin) FROM (SELECT origin, count(*) n"
			  . " FROM tracelink.ledger_entries WHERE kind = 'acme.note' GROUP BY origin) c")
	} @group;
	is(scalar(keys %{ { map { $_ => 1 } values %counts } }), 1, "$label: every node holds the same notes of every origin")
	  or diag(explain \%counts);
	for my $n (@group)
	{
		is(sql($n, q{SELECT coalesce(string_agg(origin || ': ' || reason, '; '), '') FROM tracelink.verify() WHERE NOT ok}),
			'', "$label: verify() finds nothing wrong on " . $n->name);
		is(sql($n, q{SELECT coalesce(string_agg(DISTINCT reason, '; '), '') FROM tracelink.quarantine}), '',
			"$label: nothing quarantined on " . $n->name);
	}
}

write_on($_, $_->name, 3) for @all;
write_on($_, $_->name . '-again', 2) for @all;
converge('two hubs', @all);
for my $leaf (@leaves)
{
	is(sql($leaf, "SELECT count(*) FROM tracelink.ledger_entries WHERE kind = 'acme.note' AND origin LIKE 'l%'"), 5 * $nleaves,
		$leaf->name . ' holds the other leaves\' notes, each once, though it does not peer with them');
}
is(sql($leaves[0], q{SELECT count(*) FROM pg_stat_subscription s JOIN pg_subscription u ON u.oid = s.subid WHERE s.relid IS NULL}),
	'2', 'l1 runs two apply workers, one per hub');

# ---------------------------------------------------------------------
# Rows for an audience: a link of l1 (Growing, with h2) and l2 (Testing).
# Its records are addressed to that group and reach l2 through h2, the
# hub in the group; the private values of Growing are addressed to l1
# and h2 only: h2 holds them and does not pass them on.  h1 and l3, not
# in the group, never hold any of it.
# ---------------------------------------------------------------------
my ($h1, $h2) = @hubs;
my ($l1, $l2, $l3) = @leaves[0 .. 2];
my @group = ($l1, $h2, $l2);
sub wait_for { my ($node, $sql, $what) = @_; ok($node->poll_query_until('postgres', $sql), $what); }
sql($l1, q{SELECT tracelink.request_link('Relay tea', ARRAY['Growing', 'Testing'],
        '{"Growing": ["l1", "h2"], "Testing": ["l2"]}', '{}', '{"rule": "unanimous"}')});
my %process = (l1 => 'Growing', h2 => 'Growing', l2 => 'Testing');
for my $n (@group)
{
	wait_for($n, "SELECT count(*) = 1 FROM tracelink.link_invitations WHERE node = '" . $n->name . "'",
		$n->name . ' sees its invitation through the relays');
	sql($n, "SELECT tracelink.reply_invitation('Relay tea', '$process{$n->name}', true)");
}
wait_for($l1, "SELECT count(*) = 3 FROM tracelink.link_invitations WHERE status = 'accepted'", 'l1 has every reply');
sql($l1, q{SELECT tracelink.submit_process('Relay tea', '{"name": "Growing",
  "stages": [{"name": "Harvest", "forms": [{"name": "Sale", "items": [
     {"name": "lot", "type": "text", "required": true, "trace_code": true},
     {"name": "price", "type": "numeric", "audience": "process"}]}]}],
  "outputs": [{"name": "leaves", "level": 2}]}')});
sql($l2, q{SELECT tracelink.submit_process('Relay tea', '{"name": "Testing",
  "stages": [{"name": "Assay", "forms": [{"name": "Report", "items": [
     {"name": "sample", "type": "text", "required": true, "trace_code": true}]}]}],
  "inputs": [{"name": "leaves", "from": "Growing", "output": "leaves", "level": 2}]}')});
wait_for($l1, 'SELECT count(*) = 2 FROM tracelink.link_processes', 'l1 has both processes');
my $p1 = sql($l1, "SELECT encode(tracelink.assemble('Relay tea'), 'hex')");
for my $n (@group)
{
	wait_for($n, 'SELECT count(*) = 1 FROM tracelink.open_ballots', $n->name . ' may vote');
	sql($n, "SELECT tracelink.vote('\\x$p1', true)");
}
for my $n (@group)
{
	wait_for($n, "SELECT active_version = 1 FROM tracelink.links WHERE name = 'Relay tea'", $n->name . ': version 1 is active');
}
sql($l1, q{SELECT tracelink.record('Relay tea', 'LOT-1', 'Growing', 'Harvest', 'Sale', '{"price": "812.50"}')});
wait_for($l2, "SELECT count(*) = 1 FROM tracelink.codes WHERE code = 'LOT-1'", 'l2 has l1\'s record, through h2');
sql($l2, q{SELECT tracelink.record('Relay tea', 'S-1', 'Testing', 'Assay', 'Report', inputs => '["LOT-1"]')});
wait_for($l1, "SELECT count(*) = 1 FROM tracelink.codes WHERE code = 'S-1'", 'l1 has l2\'s record, through h2');
is(sql($l1, "SELECT string_agg(code || ':' || node, ' ' ORDER BY depth, code) FROM tracelink.trace('S-1')"),
	'LOT-1:l1 S-1:l2', 'l1 traces S-1 to its lot');
is(sql($h2, "SELECT string_agg(item || '=' || value::text, ' ') FROM tracelink.private_values"), 'price="812.50"',
	'h2, in Growing, holds the private price');
is(sql($l2, "SELECT count(*) FROM tracelink.ledger_entries WHERE kind = 'tl.trace.private'"), '0',
	'l2, outside Growing, never receives the private entry: h2 does not pass it on');
for my $n ($h1, $l3)
{
	is(sql($n, "SELECT count(*) FROM tracelink.ledger_entries WHERE kind IN ('tl.trace.record', 'tl.trace.private')"), '0',
		$n->name . ', outside the group, holds none of its records or values');
}
for my $n (@all)
{
	is(sql($n, q{SELECT coalesce(string_agg(DISTINCT reason, '; '), '') FROM tracelink.quarantine}), '',
		'nothing quarantined on ' . $n->name);
}

# ---------------------------------------------------------------------
# A hub goes down: the leaves still reach each other through the other.
# ---------------------------------------------------------------------
$hubs[0]->stop;
my @rest = ($hubs[1], @leaves);
write_on($_, $_->name . '-without-h1', 2) for @rest;
converge('one hub down', @rest);

for my $n (@rest)
{
	is(sql($n, 'SELECT count(*) FROM evil.ran'), '0', 'no shadowing object ran on ' . $n->name)
	  or diag(sql($n, "SELECT what, by_role, count(*) FROM evil.ran GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 10"));
}

$_->stop for @rest;
done_testing();
