# tracelink.resend() (issue 14, item 3): a node asks a peer for the blocks it
# is missing and replication will not bring (here: its subscription's
# replication origin moved past them), straight from the peer that made
# them, or relayed by another peer; everything verified on arrival as
# ingest() verifies.  Shadowing objects are planted on both sides
# (sql/include/plant_shadows.sql): none of them runs.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlTest;

# no witness entries of their own: the chains change only when the test
# writes
my @nodes = map { tl_node($_, conf => "tracelink.witness_interval = -1\n") } qw(a b c);
my ($a, $b, $c) = @nodes;
mesh(@nodes);
for my $node (@nodes)
{
	$node->poll_query_until('postgres', "SELECT count(*) = 2 FROM tracelink.peers WHERE status = 'streaming'")
	  or die $node->name . ' did not connect';
}

sub sql { my ($node, $sql) = @_; return $node->safe_psql('postgres', $sql); }

sub error_of
{
	my ($node, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $sql);
	return $ret == 0 ? '(no error)' : $err;
}

# shadows on every node; the peer logins and the superuser's sessions
# below resolve unqualified names to them first
my $plant = slurp_file('sql/include/plant_shadows.sql');
for my $node (@nodes)
{
	sql($node, "CREATE SCHEMA evil; $plant");
	for my $peer (grep { $_->name ne $node->name } @nodes)
	{
		my $login = sql($node, "SELECT tracelink.peer_login_name('" . $peer->name . "')");
		sql($node, "GRANT USAGE ON SCHEMA evil TO $login; ALTER ROLE $login SET search_path = evil, pg_catalog");
	}
}
my $shadowed = 'SET search_path = evil, pg_catalog; ';

# b stops taking a's (or c's) rows, the origin writes, and b's subscription
# is moved past those rows: a gap replication will not fill
sub open_gap
{
	my ($origin, $count) = @_;
	my $sub = sql($b, "SELECT tracelink.peer_subscription_name('" . $origin->name . "')");
	sql($b, "ALTER SUBSCRIPTION $sub DISABLE");
	$b->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_subscription WHERE subname = '$sub' AND pid IS NOT NULL")
	  or die 'the apply worker did not stop';
	sql($origin, "SELECT tracelink.append('gap.note', jsonb_build_object('n', $_))") for 1 .. $count;
	my $lsn = sql($origin, 'SELECT pg_current_wal_lsn()');
	sql($b, "SELECT pg_replication_origin_advance('pg_' || s.oid, '$lsn') FROM pg_subscription s WHERE s.subname = '$sub'");
	return $sub;
}

# ---------------------------------------------------------------------
# from the origin itself
# ---------------------------------------------------------------------
my $sub_a = open_gap($a, 3);
# replication goes on after the gap: a's next block waits on b for its
# predecessors
sql($b, "ALTER SUBSCRIPTION $sub_a ENABLE");
sql($a, "SELECT tracelink.append('gap.note', '{\"n\": 4}')");
$b->poll_query_until('postgres', "SELECT count(*) = 1 FROM tracelink.inbox_blocks WHERE origin = 'a'")
  or die "b did not park a's next block";
my %a_heads = heads_of($a);
my %b_heads = heads_of($b);
cmp_ok($b_heads{a}, '<', $a_heads{a} - 1, "b misses a's blocks before the parked one ($b_heads{a} < $a_heads{a} - 1)");
is(sql($b, "${shadowed}SELECT lines, quarantined FROM tracelink.resend('a')"), '7|0',
	"resend('a'): the export's header and the three missing blocks with one entry each, up to the parked one; nothing quarantined");
%b_heads = heads_of($b);
is($b_heads{a}, $a_heads{a}, "b now holds a's chain up to a's head");
is(sql($b, "SELECT count(*) FROM tracelink.ledger_entries WHERE origin = 'a' AND kind = 'gap.note'"), '4',
	"the entries came with their blocks, and the parked block took its place after them");
is(sql($b, "SELECT count(*) FROM tracelink.inbox_blocks"), '0', 'nothing is left parked');
is(sql($b, "SELECT ok FROM tracelink.verify('a')"), 't', "b verifies a's chain");
is(sql($b, "${shadowed}SELECT lines, quarantined FROM tracelink.resend('a')"), '1|0',
	'asked again: nothing is missing, only the header comes');

# ---------------------------------------------------------------------
# relayed: c's blocks from a
# ---------------------------------------------------------------------
my $sub_c = open_gap($c, 2);
my %c_heads = heads_of($c);
$a->poll_query_until('postgres', "SELECT block_no = $c_heads{c} FROM tracelink.ledger_heads WHERE origin = 'c'")
  or die "a did not get c's blocks";
is(sql($b, "${shadowed}SELECT lines, quarantined FROM tracelink.resend('a', 'c')"), '5|0',
	"resend('a', 'c'): c's two blocks relayed by a");
%b_heads = heads_of($b);
is($b_heads{c}, $c_heads{c}, "b holds c's chain up to c's head");
is(sql($b, "SELECT ok FROM tracelink.verify('c')"), 't', "b verifies c's chain, signed by c, relayed by a");
sql($b, "ALTER SUBSCRIPTION $sub_c ENABLE");

# replication goes on after the gap
sql($_, "SELECT tracelink.append('after.note', '{}')") for @nodes;
wait_converged(@nodes);
my %digests = state_digests(@nodes);
is(scalar(keys %{ { map { $_ => 1 } values %digests } }), 1, 'the three nodes converge (one state digest)');
is(sql($b, 'SELECT count(*) FROM tracelink.quarantined'), '0', 'nothing quarantined on b');

# ---------------------------------------------------------------------
# refusals
# ---------------------------------------------------------------------
like(error_of($b, "SELECT * FROM tracelink.resend('nobody')"), qr/unknown peer "nobody"/, 'an unknown peer');
like(error_of($b, "SELECT * FROM tracelink.resend('a', 'b')"),
	qr/this node's own chain cannot be fetched back/, "b's own chain is not fetched back");
like(error_of($b, "SELECT * FROM tracelink.resend(NULL)"), qr/a peer is required/, 'a peer is required');
like(error_of($a, "SELECT * FROM tracelink._serve_chain('a', 0, NULL)"),
	qr/only a peer's login may ask for a re-send/, 'a login that is not a peer gets nothing');
sql($b, 'CREATE ROLE reader_b LOGIN IN ROLE tracelink_reader');
like(($b->psql('postgres', "SELECT * FROM tracelink.resend('a')", extra_params => [ '-U', 'reader_b' ]))[2],
	qr/permission denied for function resend/, 'resend() is for tracelink_admin');

# nothing planted ran, on either side
for my $node (@nodes)
{
	is(sql($node, 'SELECT count(*) FROM evil.ran'), '0', 'no shadowing object ran on ' . $node->name)
	  or diag(sql($node, "SELECT what, by_role, count(*) FROM evil.ran GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 10"));
}

done_testing();
