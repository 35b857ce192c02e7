# Working the quarantine (docs/operations.md, "Quarantine").  Two nodes
# replicate; a third origin's chain ("late", a simulated node) reaches both
# with tracelink.ingest(), but only qa has its key pinned: qb quarantines
# the chain, and a forged copy of its genesis block, and a session that
# LISTENs on tracelink_quarantine hears of each row.  The alerts say so.
# Once qb pins the key, tracelink.retry_quarantined() applies the chain
# through the same checks: the nodes converge (same state_digest()), the
# forged block stays quarantined with its new reason and never takes
# effect, and putting it back is not announced again.  Lag and a peer that
# stops are alerts too.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlTest;

my @nodes = map { tl_node($_) } qw(qa qb);
my ($qa, $qb) = @nodes;
mesh(@nodes);
for my $node (@nodes)
{
	$node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM tracelink.peers WHERE status = 'streaming'")
	  or die $node->name . ' does not stream from its peer';
}
$qa->safe_psql('postgres', q{SELECT tracelink.append('app.note', '{"n": 1}')});
wait_converged(@nodes);

# The simulated origin's lines, made on qa (sql/include/sim_nodes.sql): a
# forged genesis (signed by another key), then the real genesis and a note.
$qa->safe_psql('postgres', slurp_file('sql/include/sim_nodes.sql'));
my $seed = q{sha256(convert_to('tracelink simulated node late', 'UTF8'))};
my $bad_seed = q{sha256(convert_to('not the key of late', 'UTF8'))};
sub genesis_lines
{
	my ($s) = @_;
	return $qa->safe_psql('postgres', qq{
		INSERT INTO sim_chain (node, seed) VALUES ('late', $s);
		SELECT lines FROM sim_action('late', 'tl.genesis', jsonb_build_object('node', 'late',
			'public_key', encode(tracelink.ed25519_public_key($s), 'hex')));});
}
my $forged = genesis_lines($bad_seed);
$qa->safe_psql('postgres', q{DELETE FROM sim_chain WHERE node = 'late'});
my $genesis = genesis_lines($seed);
my $note = $qa->safe_psql('postgres',
	q{SELECT lines FROM sim_action('late', 'app.note', '{"note": "before its key was pinned"}')});
my $chain = "$genesis\n$note";

# qa knows the key and applies the chain
$qa->safe_psql('postgres', qq{
	INSERT INTO tracelink.nodes (name, public_key) VALUES ('late', tracelink.ed25519_public_key($seed));
	SELECT * FROM tracelink.ingest(\$\$$chain\$\$);});
is($qa->safe_psql('postgres', q{SELECT count(*) FROM tracelink.ledger_entries WHERE origin = 'late'}),
	'2', 'qa applies the chain of "late"');

# qb does not yet: every row is quarantined, and announced
my $listener = $qb->background_psql('postgres');
$listener->query_safe('LISTEN tracelink_quarantine');
is( $qb->safe_psql('postgres', qq{SELECT quarantined FROM tracelink.ingest(\$\$$forged\$\$)}),
	'2', 'qb quarantines the forged genesis (its key is not pinned)');
is( $qb->safe_psql('postgres', qq{SELECT quarantined FROM tracelink.ingest(\$\$$chain\$\$)}),
	'4', 'qb quarantines the chain of "late" (its key is not pinned)');
my $heard = $listener->query_safe('SELECT 1');
my @ids = $heard =~
  /Asynchronous notification "tracelink_quarantine" with payload "\{"id":(\d+),"what":"(?:entry|block)"\}"/g;
is(scalar @ids, 6, 'a LISTEN session hears of each quarantined row, by id');
is( $qb->safe_psql('postgres',
		'SELECT count(*) FROM tracelink.quarantined WHERE retryable AND id IN (' . join(',', @ids) . ')'),
	'6', 'the ids are those of the rows, each retryable');
is( $qb->safe_psql('postgres',
		q{SELECT string_agg(alert || ':' || count, ',' ORDER BY alert) FROM tracelink.alerts WHERE node = 'late'}),
	'quarantined:6,retryable:6', 'the alerts say rows of "late" are quarantined and can be retried');
my %digest = state_digests(@nodes);
isnt($digest{qa}, $digest{qb}, 'the nodes differ while qb lacks the chain of "late"');

# the cause fixed on qb: the key pinned; the rows retried
$qb->safe_psql('postgres',
	qq{INSERT INTO tracelink.nodes (name, public_key) VALUES ('late', tracelink.ed25519_public_key($seed))});
is( $qb->safe_psql('postgres',
		q{SELECT string_agg(what || ' ' || outcome || coalesce(': ' || reason, ''), E'\n' ORDER BY what, outcome, reason)
		    FROM tracelink.retry_quarantined()}),
	join("\n",
		'block applied', 'block applied',
		q{block quarantined: block is signed by a key that is not the origin's current key},
		'entry applied', 'entry applied',
		'entry quarantined: entry is not the one the block sealed at this position (moved or replaced)'),
	'retry_quarantined() applies the chain and refuses the forged rows again');
wait_converged(@nodes);
%digest = state_digests(@nodes);
is($digest{qb}, $digest{qa}, 'the nodes converge: same state_digest()');
is( $qb->safe_psql('postgres',
		q{SELECT count(*) FROM tracelink.ledger_blocks
		   WHERE origin = 'late' AND signer_key <> (SELECT public_key FROM tracelink.nodes WHERE name = 'late')}),
	'0', 'the forged block never took effect');
is( $qb->safe_psql('postgres',
		q{SELECT string_agg(what || ' ' || retryable, ',' ORDER BY id) FROM tracelink.quarantined WHERE origin = 'late'}),
	'entry false,block false', 'the forged rows stay quarantined, now as permanent evidence');
is( $qb->safe_psql('postgres',
		q{SELECT count(*) FROM tracelink.alerts WHERE node = 'late' AND alert = 'retryable'}),
	'0', 'nothing is left to retry');
is( $qb->safe_psql('postgres', q{SELECT outcome FROM tracelink.retry_quarantined(origin => 'late') LIMIT 1}),
	'not retried', 'permanent rows are not retried');
unlike($listener->query_safe('SELECT 1'), qr/tracelink_quarantine/,
	'rows put back in quarantine are not announced again');
$listener->quit;
is($qb->safe_psql('postgres', q{SELECT ok FROM tracelink.verify('late')}), 't', 'the chain of "late" verifies on qb');

# the other alerts: lag over a threshold, a peer down
is( $qb->safe_psql('postgres',
		q{SELECT count(*) FROM tracelink.sync_alerts(max_lag => '0 seconds') WHERE alert = 'lag' AND node = 'qa'}),
	'1', 'a lag over the threshold is an alert');
is($qb->safe_psql('postgres', q{SELECT count(*) FROM tracelink.alerts WHERE node = 'qa'}),
	'0', 'with the default thresholds, nothing about qa');
$qa->stop;
ok( $qb->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM tracelink.alerts WHERE alert = 'peer down' AND node = 'qa'}),
	'a peer that stops is an alert');

$qb->stop;
done_testing();
