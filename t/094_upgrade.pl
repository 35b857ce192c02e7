# An upgrade in a running network (docs/upgrades.md, docs/operations.md
# "Upgrades").  grower and buyer are created at the oldest released
# version and filled with a link, its vote, records (one with private
# values) and a file.  grower runs ALTER EXTENSION tracelink UPDATE: its
# chains verify, its state digest is unchanged, and it syncs both ways
# with buyer, still at the old version (both run today's library, which
# serves every version it upgrades from).  Then buyer upgrades and they
# converge.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlTest;

my ($new) = slurp_file('tracelink.control') =~ /^default_version = '([^']+)'/m;
my ($old) = sort grep { $_ ne $new } map { m{upgrade/tracelink--([^-]+)\.sql$} ? ($1) : () }
  glob('upgrade/tracelink--*.sql');
ok($old && $new, "upgrading from $old to $new");

my @nodes = map { tl_node($_, bare => 1) } qw(grower buyer);
my ($grower, $buyer) = @nodes;
sub sql { my ($node, $sql) = @_; return $node->safe_psql('postgres', $sql); }
sub version_of { return sql($_[0], "SELECT extversion FROM pg_extension WHERE extname = 'tracelink'"); }

sub wait_for
{
	my ($node, $sql, $what) = @_;
	ok($node->poll_query_until('postgres', $sql), $what);
}

sql($_, "CREATE EXTENSION tracelink VERSION '$old'") for @nodes;
is(version_of($_), $old, $_->name . " starts at $old") for @nodes;
mesh(@nodes);
wait_for($_, "SELECT count(*) = 1 FROM tracelink.peers WHERE status = 'streaming'", $_->name . ' streams')
  for @nodes;

# A link with one process, Growing, in which both take part
sql($grower, q{SELECT tracelink.request_link('Upgrade tea', ARRAY['Growing'],
        '{"Growing": ["grower", "buyer"]}', '{}', '{"rule": "unanimous"}')});
wait_for($buyer, "SELECT count(*) = 1 FROM tracelink.link_invitations WHERE node = 'buyer'", 'buyer is invited');
sql($_, "SELECT tracelink.reply_invitation('Upgrade tea', 'Growing', true)") for @nodes;
wait_converged(@nodes);
sql($grower, q{SELECT tracelink.submit_process('Upgrade tea', '{"name": "Growing",
  "stages": [{"name": "Harvest", "forms": [{"name": "Sale", "items": [
     {"name": "lot", "type": "text", "required": true, "trace_code": true},
     {"name": "weight kg", "type": "numeric", "required": true},
     {"name": "price", "type": "numeric", "audience": "process"}]}]}]}')});
wait_for($buyer, 'SELECT count(*) = 1 FROM tracelink.link_processes', 'buyer has the process');
wait_converged(@nodes);
my $p1 = sql($grower, "SELECT encode(tracelink.assemble('Upgrade tea'), 'hex')");
for my $n (@nodes)
{
	wait_for($n, 'SELECT count(*) = 1 FROM tracelink.open_ballots', $n->name . ' may vote');
	sql($n, "SELECT tracelink.vote('\\x$p1', true)");
}
wait_for($_, "SELECT active_version = 1 FROM tracelink.links WHERE name = 'Upgrade tea'",
	$_->name . ': version 1 is active') for @nodes;

my $n_records = 0;
sub record
{
	my ($node, $lot) = @_;
	$n_records++;
	return sql($node, "SELECT encode(tracelink.record('Upgrade tea', '$lot', 'Growing', 'Harvest', 'Sale',
	        '{\"weight kg\": $n_records, \"price\": \"$n_records.50\"}'), 'hex')");
}

# Records on both, with private prices, and a file on grower
record($grower, 'LOT-1');
record($buyer, 'LOT-2');
my $lo = sql($grower, "SELECT lo_from_bytea(0, convert_to(repeat('before the upgrade ', 1000), 'UTF8'))");
my $ref = sql($grower, "SELECT tracelink.store_blob($lo, 'before.txt')");
my ($blob) = $ref =~ /"sha256": "([0-9a-f]{64})"/;
ok($blob, 'grower stores a file');
wait_for($buyer, "SELECT count(*) = 1 FROM tracelink.blobs WHERE sha256 = '\\x$blob'", 'the file reaches buyer');
wait_converged(@nodes);

sub check_network
{
	my ($what, $records, $files) = @_;
	for my $n (@nodes)
	{
		wait_for($n, 'SELECT count(*) = 0 FROM tracelink.apply_queue', "$what: nothing waits on " . $n->name);
		is(sql($n, 'SELECT count(*) FROM tracelink.quarantined'), '0', "$what: nothing quarantined on " . $n->name);
		is(sql($n, 'SELECT bool_and(ok) FROM tracelink.verify()'), 't', "$what: every chain verifies on " . $n->name);
		is(sql($n, 'SELECT count(*) FROM tracelink.records'), $records, "$what: " . $n->name . " holds $records records");
		is(sql($n, 'SELECT count(*) FROM tracelink.private_values'), $records,
			"$what: and their private values");
		is(sql($n, "SELECT count(*) || ' ' || bool_and(status = 'ok') FROM tracelink.verify_blobs()"), "$files true",
			"$what: verify_blobs() on " . $n->name . ": $files files, ok");
	}
	my %d = state_digests(@nodes);
	is($d{grower}, $d{buyer}, "$what: both nodes have the same state digest");
	return $d{grower};
}

my $digest = check_network("both at $old", 2, 1);

# grower upgrades
sql($grower, 'ALTER EXTENSION tracelink UPDATE');
is(sql($grower, "SELECT extension || ' ' || library FROM tracelink.versions()"), "$new $new",
	"grower is at $new, as its library");
is(version_of($buyer), $old, "buyer is still at $old");
is(sql($grower, 'SELECT bool_and(ok) FROM tracelink.verify()'), 't', 'grower verifies every chain after the upgrade');
is(sql($grower, "SELECT encode(tracelink.state_digest(), 'hex')"), $digest, 'grower\'s state digest is unchanged');

# mixed versions: both record, buyer stores a file
record($grower, 'LOT-3');
record($buyer, 'LOT-4');
$lo = sql($buyer, "SELECT lo_from_bytea(0, convert_to(repeat('while mixed ', 1000), 'UTF8'))");
($blob) = sql($buyer, "SELECT tracelink.store_blob($lo, 'mixed.txt')") =~ /"sha256": "([0-9a-f]{64})"/;
wait_for($grower, "SELECT count(*) = 1 FROM tracelink.blobs WHERE sha256 = '\\x$blob'", 'buyer\'s file reaches grower');
wait_converged(@nodes);
is(sql($buyer, q{SELECT string_agg(c.code, ' ' ORDER BY c.code) FROM tracelink.records r
                   JOIN tracelink.codes c USING (code_id)}),
	sql($grower, q{SELECT string_agg(c.code, ' ' ORDER BY c.code) FROM tracelink.records r
                   JOIN tracelink.codes c USING (code_id)}),
	'both hold the same records');
check_network("$new and $old mixed", 4, 2);
# trace() changed its result in 0.2.0 (bound_version) under a new C symbol;
# the old one still serves buyer's trace()
is(sql($buyer, "SELECT string_agg(code || ' v' || version, ' ' ORDER BY code) FROM tracelink.trace('LOT-1')"),
	'LOT-1 v1', "trace() at $old");
is(sql($grower, "SELECT string_agg(code || ' v' || version || ' bound to v' || bound_version, ' ' ORDER BY code)
                   FROM tracelink.trace('LOT-1')"),
	'LOT-1 v1 bound to v1', "trace() at $new, with bound_version");

# buyer upgrades too
sql($buyer, 'ALTER EXTENSION tracelink UPDATE');
is(version_of($buyer), $new, "buyer is at $new");
record($grower, 'LOT-5');
record($buyer, 'LOT-6');
wait_converged(@nodes);
check_network("both at $new", 6, 2);

done_testing();
