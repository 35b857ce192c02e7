# Peers answer a node's entries while that node is still committing them
# (issue 10, item 5): the answers must take effect on that node, whatever
# the timing, and no entry may stay in tracelink.apply_queue once every
# node holds every entry.
#
# "hub" requests links inviting "left" and "right"; their answers depend on
# hub's invitation entries.  A commit becomes visible on hub only after its
# commit record is written, and logical decoding sends the transaction to
# peers as soon as that record is flushed, so an answer can come back while
# hub's own transaction is still invisible to hub's apply workers.  Two
# ways of holding that window open, with PostgreSQL's synchronous
# replication (no debugging hook):
#
# 1. Gated rounds: hub's synchronous_standby_names names a standby that
#    never connects, so a session with synchronous_commit = on waits after
#    its commit record, invisible, until it is cancelled; meanwhile both
#    answers arrive.  Every round exercises the race.
# 2. Free running: hub waits at each commit for left's apply worker to
#    report the commit flushed (synchronous_standby_names names left's
#    subscription), while hub keeps requesting links and left and right
#    answer every invitation as fast as it arrives.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlTest;

# every session on hub commits locally unless it asks for more
my $hub = tl_node('hub', conf => "synchronous_commit = local\nsynchronous_standby_names = 'tl_gate'\n");
my $left = tl_node('left');
my $right = tl_node('right');
my @nodes = ($hub, $left, $right);
mesh(@nodes);
for my $node (@nodes)
{
	$node->poll_query_until('postgres',
		"SELECT count(*) = 2 FROM tracelink.peers WHERE status = 'streaming'")
	  or die $node->name . ' did not connect';
}

sub sql { my ($node, $sql) = @_; return $node->safe_psql('postgres', $sql); }

my $invitations = q{'{"P1": ["left"], "P2": ["right"]}'};

# Every node has every entry, nothing waits, the same state everywhere, and
# every link whose name starts with $prefix has both answers on every node.
sub check_converged
{
	my ($label, $prefix, $links) = @_;
	wait_converged(@nodes);
	for my $node (@nodes)
	{
		is(sql($node, 'SELECT count(*) FROM tracelink.apply_queue'), '0',
			"$label: nothing waits in apply_queue on " . $node->name);
		is( sql($node,
				"SELECT count(*) FROM tracelink.link_invitations i JOIN tracelink.trace_links l USING (link_id)"
				  . " WHERE l.name LIKE '$prefix%' AND i.status = 'accepted'"),
			2 * $links,
			"$label: every answer took effect on " . $node->name);
	}
	my %digests = state_digests(@nodes);
	my %distinct = map { $_ => 1 } values %digests;
	is(scalar(keys %distinct), 1, "$label: every node has the same state_digest");
}

# ---------------------------------------------------------------------
# 1. Gated rounds
# ---------------------------------------------------------------------
my $rounds = 6;
for my $r (1 .. $rounds)
{
	my $bg = $hub->background_psql('postgres', on_error_stop => 0);
	$bg->query_safe('SET synchronous_commit = on');
	my $pid = $bg->query_safe('SELECT pg_backend_pid()');
	my $replies_before =
	  sql($hub, "SELECT count(*) FROM tracelink.ledger_entries WHERE kind = 'tl.link.reply'");

	# the request commits, then waits at the gate: written, not visible
	$bg->query_until(qr/requesting/,
		"\\echo requesting\nSELECT tracelink.request_link('Gate $r', ARRAY['P1', 'P2'], $invitations) IS NOT NULL;\n");
	$hub->poll_query_until('postgres',
		"SELECT wait_event = 'SyncRep' FROM pg_stat_activity WHERE pid = $pid")
	  or die "round $r: the request did not reach the gate";
	is(sql($hub, "SELECT count(*) FROM tracelink.links WHERE name = 'Gate $r'"), '0',
		"round $r: hub's request is not visible on hub yet");

	# the peers receive it and answer at once
	for my $peer ([ $left, 'P1' ], [ $right, 'P2' ])
	{
		my ($node, $process) = @$peer;
		$node->poll_query_until('postgres',
			"SELECT count(*) = 1 FROM tracelink.pending_invitations WHERE link = 'Gate $r'")
		  or die "round $r: " . $node->name . ' did not receive the invitation';
		sql($node, "SELECT tracelink.reply_invitation('Gate $r', '$process', true)");
	}

	# both answers reached hub's apply workers: committed there (waiting
	# for the request), or held at commit until the request is visible
	$hub->poll_query_until('postgres',
		"SELECT (SELECT count(*) FROM tracelink.ledger_entries WHERE kind = 'tl.link.reply') - $replies_before"
		  . " + (SELECT count(*) FROM pg_catalog.pg_locks WHERE locktype = 'object' AND NOT granted"
		  . "       AND classid = 'pg_catalog.pg_extension'::pg_catalog.regclass) >= 2")
	  or die "round $r: the answers did not reach hub";

	# open the gate: the commit completes and becomes visible
	sql($hub, "SELECT pg_cancel_backend($pid)");
	$bg->quit;
	check_converged("round $r", "Gate $r", 1);
}

# ---------------------------------------------------------------------
# 2. Free running: hub keeps requesting, the peers keep answering
# ---------------------------------------------------------------------
my $links = 40;
my $left_sub = sql($left, "SELECT tracelink.peer_subscription_name('hub')");
sql($hub, "ALTER SYSTEM SET synchronous_standby_names = '$left_sub'");
$hub->reload;

sql($hub, <<'SQL');
CREATE PROCEDURE race_request(p_links int, p_invitations jsonb) LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. p_links LOOP
        PERFORM tracelink.request_link('Race ' || i, ARRAY['P1', 'P2'], p_invitations);
        COMMIT;
    END LOOP;
END
$$;
SQL
for my $node ($left, $right)
{
	sql($node, <<'SQL');
CREATE PROCEDURE race_answer(p_links int) LANGUAGE plpgsql AS $$
DECLARE
    answered int := 0;
    deadline timestamptz := clock_timestamp() + interval '150 seconds';
    inv record;
BEGIN
    WHILE answered < p_links AND clock_timestamp() < deadline LOOP
        FOR inv IN SELECT link, process FROM tracelink.pending_invitations WHERE link LIKE 'Race %' LOOP
            PERFORM tracelink.reply_invitation(inv.link, inv.process, true);
            answered := answered + 1;
            COMMIT;
        END LOOP;
        PERFORM pg_sleep(0.002);
    END LOOP;
END
$$;
SQL
}

my @answerers = map {
	my $s = $_->background_psql('postgres');
	$s->query_until(qr/answering/, "\\echo answering\nCALL race_answer($links);\n\\echo answered\n");
	$s
} ($left, $right);
my $requester = $hub->background_psql('postgres');
$requester->query_safe('SET synchronous_commit = on');
$requester->query_safe("CALL race_request($links, $invitations)");
$requester->quit;
$_->query_until(qr/answered/, '') for @answerers;
$_->quit for @answerers;
check_converged('free running', 'Race ', $links);

sql($hub, 'ALTER SYSTEM RESET synchronous_standby_names');
$hub->reload;
$_->stop for @nodes;
done_testing();
