# Private values across nodes (docs/privacy.md).  grower and buyer run
# Growing, whose supplier and price are private to the process; lab runs
# Testing and is in the link's business group, but not in Growing.  A
# record made on grower reaches buyer with its values and lab with
# commitments only: lab's tables hold nothing private, and what lab's
# publication on grower sends (decoded from a probe slot with the same
# publication) holds no private byte, while buyer's does.  lab still
# verifies grower's chain, follows the product's provenance, and checks a
# disclosure proof that buyer hands it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlTest;

my @nodes = map { tl_node($_) } qw(grower buyer lab);
my ($grower, $buyer, $lab) = @nodes;
my %keys = mesh(@nodes);
for my $node (@nodes)
{
	$node->poll_query_until('postgres',
		"SELECT count(*) = 2 FROM tracelink.peers WHERE status = 'streaming'")
	  or die $node->name . ' did not connect';
}

sub sql { my ($node, $sql) = @_; return $node->safe_psql('postgres', $sql); }

sub wait_for
{
	my ($node, $sql, $what) = @_;
	ok($node->poll_query_until('postgres', $sql), $what);
}

# Probe slots on grower decoding what its publications for lab and for
# buyer send (the walsenders' own slots are in use and cannot be peeked).
for my $peer (qw(lab buyer))
{
	sql($grower, "SELECT pg_create_logical_replication_slot('probe_$peer', 'pgoutput')");
}

# ---------------------------------------------------------------------
# The link
# ---------------------------------------------------------------------
sql($grower, q{SELECT tracelink.request_link('Private tea', ARRAY['Growing', 'Testing'],
        '{"Growing": ["grower", "buyer"], "Testing": ["lab"]}', '{}', '{"rule": "unanimous"}')});
for my $n (@nodes)
{
	wait_for($n, "SELECT count(*) = 1 FROM tracelink.link_invitations WHERE node = '" . $n->name . "'",
		$n->name . ' sees its invitation');
}
my %process = (grower => 'Growing', buyer => 'Growing', lab => 'Testing');
sql($_, "SELECT tracelink.reply_invitation('Private tea', '$process{$_->name}', true)") for @nodes;
wait_converged(@nodes);
sql($grower, q{SELECT tracelink.submit_process('Private tea', '{"name": "Growing",
  "stages": [{"name": "Harvest", "forms": [{"name": "Sale", "items": [
     {"name": "lot", "type": "text", "required": true, "trace_code": true},
     {"name": "weight kg", "type": "numeric", "required": true},
     {"name": "supplier", "type": "text", "audience": "process"},
     {"name": "price", "type": "numeric", "audience": "process"}]}]}],
  "outputs": [{"name": "leaves", "level": 2}]}')});
sql($lab, q{SELECT tracelink.submit_process('Private tea', '{"name": "Testing",
  "stages": [{"name": "Assay", "forms": [{"name": "Report", "items": [
     {"name": "sample", "type": "text", "required": true, "trace_code": true},
     {"name": "result", "type": "text"}]}]}],
  "inputs": [{"name": "leaves", "from": "Growing", "output": "leaves", "level": 2}]}')});
for my $n (@nodes)
{
	wait_for($n, "SELECT count(*) = 2 FROM tracelink.link_processes", $n->name . ' has both processes');
}
wait_converged(@nodes);
my $p1 = sql($grower, "SELECT encode(tracelink.assemble('Private tea'), 'hex')");
for my $n (@nodes)
{
	wait_for($n, "SELECT count(*) = 1 FROM tracelink.open_ballots", $n->name . ' may vote');
	sql($n, "SELECT tracelink.vote('\\x$p1', true)");
}
for my $n (@nodes)
{
	wait_for($n, "SELECT active_version = 1 FROM tracelink.links WHERE name = 'Private tea'",
		$n->name . ': version 1 is active');
}

# ---------------------------------------------------------------------
# A record with private values on grower; lab's lab record takes it in
# ---------------------------------------------------------------------
my $e1 = sql($grower, q{SELECT encode(tracelink.record('Private tea', 'LOT-1', 'Growing', 'Harvest', 'Sale',
        '{"weight kg": 40, "supplier": "Secret Hillside Estate", "price": "812.50"}'), 'hex')});
wait_for($lab, "SELECT count(*) = 1 FROM tracelink.records", 'lab has the public record');
sql($lab, q{SELECT tracelink.record('Private tea', 'S-1', 'Testing', 'Assay', 'Report', '{"result": "pass"}',
        inputs => '["LOT-1"]')});
wait_converged(@nodes);
for my $n (@nodes)
{
	wait_for($n, 'SELECT count(*) = 0 FROM tracelink.apply_queue', 'nothing waits on ' . $n->name);
	is(sql($n, 'SELECT count(*) FROM tracelink.quarantined'), '0', 'nothing quarantined on ' . $n->name);
}

# buyer, in Growing, holds the values; lab holds none of them
is(sql($buyer, "SELECT string_agg(item || '=' || value::text, ' ' ORDER BY item) FROM tracelink.private_values"),
	'price="812.50" supplier="Secret Hillside Estate"', 'buyer holds the private values');
is(sql($buyer, "SELECT data->>'supplier' FROM tracelink.trace('LOT-1') WHERE code = 'LOT-1'"),
	'Secret Hillside Estate', 'buyer\'s trace() shows them');
is(sql($lab, 'SELECT count(*) FROM tracelink.private_values'), '0', 'lab holds no private value');
is(sql($lab, "SELECT count(*) FROM tracelink.ledger_entries WHERE kind = 'tl.trace.private'"),
	'0', 'lab received no private entry');
is(sql($lab, q{SELECT count(*) FROM tracelink.ledger_entries
               WHERE payload LIKE '%Secret Hillside%' OR payload LIKE '%812.50%'}),
	'0', 'no entry on lab holds a private value');
is(sql($lab, "SELECT (SELECT string_agg(k, ',' ORDER BY k) FROM jsonb_object_keys(commitments) k) || ' ' || (data ? 'supplier')::text
                FROM tracelink.trace('LOT-1') WHERE code = 'LOT-1'"),
	'price,supplier false', 'lab\'s trace() shows the commitments instead');
is(sql($grower, "SELECT audience FROM tracelink.ledger_entries WHERE kind = 'tl.trace.private'"),
	'{buyer,grower}', 'the private entry is addressed to Growing\'s participants');

# what grower's publications send: nothing private to lab, the values to buyer
my $peek = q{SELECT count(*) FILTER (WHERE position('\x%s'::bytea IN data) > 0)
               FROM pg_logical_slot_peek_binary_changes('probe_%s', NULL, NULL, 'proto_version', '1',
                    'publication_names', tracelink.peer_publication_name('%s'))};
my $marker = unpack('H*', 'Secret Hillside');
my $salt = sql($grower, "SELECT encode(salt, 'hex') FROM tracelink.private_values WHERE item = 'supplier'");
cmp_ok(sql($grower, sprintf($peek, $marker, 'buyer', 'buyer')), '>', 0,
	'the changes decoded for buyer hold the supplier (the probe sees private bytes)');
is(sql($grower, sprintf($peek, $marker, 'lab', 'lab')), '0',
	'the changes decoded for lab do not hold the supplier');
is(sql($grower, sprintf($peek, unpack('H*', $salt), 'lab', 'lab')), '0',
	'nor the salt of its commitment');
cmp_ok(sql($grower, sprintf($peek, unpack('H*', $e1), 'lab', 'lab')), '>', 0,
	'while they hold the public record\'s entry');

# lab verifies grower's chain and follows the product's provenance
is(sql($lab, "SELECT ok FROM tracelink.verify('grower')"), 't', 'lab verifies grower\'s chain');
is(sql($lab, "SELECT string_agg(code || ':' || relation || ':' || node, ' ' ORDER BY depth, code) FROM tracelink.trace('S-1')"),
	'LOT-1:upstream:grower S-1:self:lab', 'lab follows the provenance through the private record');
my %digests = state_digests(@nodes);
is(scalar(keys %{ { map { $_ => 1 } values %digests } }), 1,
	'the three nodes have the same state_digest (private values are not shared state)');

# buyer discloses the price to lab, which checks it with grower's key
my $proof = sql($buyer, "SELECT tracelink.disclose('\\x$e1', 0, 'price')");
my $grower_key = sql($lab, "SELECT encode(public_key, 'hex') FROM tracelink.nodes WHERE name = 'grower'");
is(sql($lab, "SELECT tracelink.verify_disclosure('$proof', '\\x$grower_key')"), 't',
	'a disclosure proof made on buyer verifies on lab with grower\'s key');
is(sql($lab, "SELECT tracelink.verify_disclosure(jsonb_set('$proof', '{value}', '\"1.00\"'), '\\x$grower_key')"), 'f',
	'with another value it does not');
like(($lab->psql('postgres', "SELECT tracelink.disclose('\\x$e1', 0, 'price')"))[2],
	qr/holds no private value/, 'lab cannot disclose what it does not hold');

# inside buyer's node: a viewer login reads the values, an auditor login
# verifies everything and reads none of them (docs/privacy.md#roles)
sql($buyer, 'CREATE ROLE buyer_viewer LOGIN IN ROLE tracelink_viewer; CREATE ROLE buyer_auditor LOGIN IN ROLE tracelink_auditor');
my $as = sub {
	my ($role, $q) = @_;
	return $buyer->safe_psql('postgres', $q, extra_params => [ '-U', $role ]);
};
is($as->('buyer_viewer', "SELECT data->>'supplier' FROM tracelink.trace('LOT-1') WHERE code = 'LOT-1'"),
	'Secret Hillside Estate', 'a viewer on buyer reads the supplier');
is($as->('buyer_auditor', "SELECT (data ? 'supplier')::text || ' ' || (commitments ? 'supplier')::text
                            FROM tracelink.trace('LOT-1') WHERE code = 'LOT-1'"),
	'false true', 'an auditor on buyer sees the commitment, not the supplier');
is($as->('buyer_auditor', "SELECT count(*) FROM tracelink.ledger_entries WHERE kind = 'tl.trace.private'"),
	'0', 'an auditor on buyer sees no private entry');
is($as->('buyer_auditor', 'SELECT bool_and(ok) FROM tracelink.verify()'), 't',
	'an auditor on buyer verifies every chain, private entries included');
like(($buyer->psql('postgres', 'SELECT count(*) FROM tracelink.private_values', extra_params => [ '-U', 'buyer_auditor' ]))[2],
	qr/permission denied for table private_values/, 'an auditor on buyer cannot read private_values');

done_testing();
