# verify() finds an entry changed at rest in a large block, on every node,
# for every origin, and the server lives on (issue 10, item 1: the text
# naming the first bad entry was read from memory freed under it, and the
# backend died with signal 11, taking every connection with it).
#
# Three nodes each append 1,000 entries in one transaction; once every
# node holds every chain, each node changes one payload of each origin's
# big block at rest (as a superuser could; rolled back afterwards) and runs
# verify().  The postmaster must not have restarted, other sessions keep
# their connection, and after the rollback verify() is clean again.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlTest;

my @nodes = map { tl_node($_) } qw(n1 n2 n3);
mesh(@nodes);

for my $node (@nodes)
{
	$node->safe_psql('postgres',
		    "SELECT count(tracelink.append('acme.bulk', jsonb_build_object('i', g, 'by', '"
		  . $node->name
		  . "'))) FROM generate_series(1, 1000) g");
}
wait_converged(@nodes);

for my $node (@nodes)
{
	my $started = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');

	# a session that must survive the verify() of another one
	my $bystander = $node->background_psql('postgres');
	my $bystander_pid = $bystander->query_safe('SELECT pg_backend_pid()');

	for my $origin (map { $_->name } @nodes)
	{
		my ($rc, $out, $err) = $node->psql(
			'postgres', <<"SQL",
BEGIN;
ALTER TABLE tracelink.ledger_entries DISABLE TRIGGER USER;
UPDATE tracelink.ledger_entries SET payload = '{"by":"$origin","i":9999}'
 WHERE origin = '$origin' AND payload = '{"by":"$origin","i":500}';
SELECT ok, first_bad LIKE 'entry $origin:%', reason FROM tracelink.verify('$origin');
ROLLBACK;
SQL
			on_error_stop => 1);
		is($rc, 0, $node->name . ": verify('$origin') of a tampered block returns")
		  or diag($err);
		like($out, qr/^f\|t\|entry hash does not match the entry's content$/m,
			$node->name . ": verify('$origin') names the changed entry");
	}

	is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'),
		$started, $node->name . ': the postmaster did not restart');
	is($bystander->query_safe('SELECT pg_backend_pid()'),
		$bystander_pid, $node->name . ': another session kept its connection');
	$bystander->quit;

	is( $node->safe_psql('postgres',
			'SELECT count(*) FROM tracelink.verify() WHERE NOT ok'),
		'0',
		$node->name . ': after the rollback every chain verifies');
}

$_->stop for @nodes;
done_testing();
