# Trace data across nodes: a link adopted by farm (creator, Growing),
# factory (Processing) and shop (Retail), with a fourth node outside its
# business group.  Records written on different nodes, transformations
# that cross nodes (arriving before the entries they depend on), the same
# provenance on every node, proofs checked on another node, codes bound to
# version 1 answering under version 1 after version 2 is active, and the
# same trace code first recorded concurrently on two nodes under different
# versions resolving the same way everywhere, and a forged trace entry of
# the outside node refused alike by every node of the group.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlTest;

my @nodes = map { tl_node($_) } qw(farm factory shop outsider);
my ($farm, $factory, $shop, $outsider) = @nodes;
my @group = ($farm, $factory, $shop);
my %keys = mesh(@nodes);
for my $node (@nodes)
{
	$node->poll_query_until('postgres',
		"SELECT count(*) = 3 FROM tracelink.peers WHERE status = 'streaming'")
	  or die $node->name . ' did not connect';
}

sub sql { my ($node, $sql) = @_; return $node->safe_psql('postgres', $sql); }

sub error_of
{
	my ($node, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $sql);
	return $ret == 0 ? '(no error)' : $err;
}

sub wait_for
{
	my ($node, $sql, $what) = @_;
	ok($node->poll_query_until('postgres', $sql), $what);
}

# every node of the group holds the same trace data and the same provenance
sub same_everywhere
{
	my ($label, @codes) = @_;
	wait_converged(@nodes);
	for my $node (@nodes)
	{
		wait_for($node, 'SELECT count(*) = 0 FROM tracelink.apply_queue',
			"$label: nothing waits on " . $node->name);
		is(sql($node, 'SELECT count(*) FROM tracelink.quarantined'), '0',
			"$label: nothing quarantined on " . $node->name);
	}
	my %digests = state_digests(@group);
	is(scalar(keys %{ { map { $_ => 1 } values %digests } }), 1,
		"$label: farm, factory and shop have the same state_digest");
	for my $code (@codes)
	{
		my %json = map { $_->name => sql($_, "SELECT tracelink.trace_json('$code')::text") } @group;
		my %dot = map { $_->name => sql($_, "SELECT tracelink.trace_dot('$code')") } @group;
		is(scalar(keys %{ { map { $_ => 1 } values %json } }), 1,
			"$label: trace_json('$code') is the same on every node");
		is(scalar(keys %{ { map { $_ => 1 } values %dot } }), 1,
			"$label: trace_dot('$code') is the same on every node");
	}
	is(sql($outsider, "SELECT count(*) FROM tracelink.ledger_entries WHERE kind = 'tl.trace.record'"),
		'0', "$label: the node outside the business group received no trace entry");
}

sub subscription
{
	my ($node, $peer, $on) = @_;
	sql($node, "ALTER SUBSCRIPTION tracelink_from_$peer " . ($on ? 'ENABLE' : 'DISABLE'));
}

# ---------------------------------------------------------------------
# The link: Growing (farm) -> Processing (factory) -> Retail (shop).
# ---------------------------------------------------------------------
sql($farm, q{SELECT tracelink.request_link('Spring tea', ARRAY['Growing', 'Processing', 'Retail'],
        '{"Growing": ["farm"], "Processing": ["factory"], "Retail": ["shop"]}', '{}', '{"rule": "unanimous"}')});
for my $n (@group)
{
	wait_for($n, "SELECT count(*) = 1 FROM tracelink.link_invitations WHERE node = '" . $n->name . "'",
		$n->name . ' sees its invitation');
}
my %process = (farm => 'Growing', factory => 'Processing', shop => 'Retail');
my $growing = q{{"name": "Growing", "stages": [{"name": "Harvest", "forms": [
     {"name": "Harvest record", "key": true, "items": [
       {"name": "lot", "type": "text", "required": true, "trace_code": true},
       {"name": "weight kg", "type": "numeric", "required": true}]}]}],
   "outputs": [{"name": "fresh leaves", "level": 2}]}};
my $processing = q{{"name": "Processing", "stages": [{"name": "Steaming", "forms": [
     {"name": "Batch sheet", "key": true, "items": [
       {"name": "batch", "type": "text", "required": true, "trace_code": true},
       {"name": "minutes", "type": "numeric"}]}]}],
   "inputs": [{"name": "leaves", "from": "Growing", "output": "fresh leaves", "level": 2}],
   "outputs": [{"name": "tea batch", "level": 2}]}};
my $retail = q{{"name": "Retail", "stages": [{"name": "Shelf", "forms": [
     {"name": "Sale", "key": true, "items": [
       {"name": "code", "type": "text", "required": true, "trace_code": true, "sources": ["manual", "device"]}]}]}],
   "inputs": [{"name": "tea", "from": "Processing", "output": "tea batch", "level": 2}]}};
my %definition = (farm => $growing, factory => $processing, shop => $retail);
for my $n (@group)
{
	sql($n, "SELECT tracelink.reply_invitation('Spring tea', '$process{$n->name}', true)");
	sql($n, "SELECT tracelink.submit_process('Spring tea', '$definition{$n->name}')");
}
for my $n (@group)
{
	wait_for($n, "SELECT count(*) = 3 FROM tracelink.link_processes", $n->name . ' has every process');
}
wait_converged(@nodes);
my $p1 = sql($farm, "SELECT encode(tracelink.assemble('Spring tea'), 'hex')");
for my $n (@group)
{
	wait_for($n, "SELECT count(*) = 1 FROM tracelink.open_ballots", $n->name . ' may vote');
	sql($n, "SELECT tracelink.vote('\\x$p1', true)");
}
for my $n (@nodes)
{
	wait_for($n, "SELECT active_version = 1 FROM tracelink.links WHERE name = 'Spring tea'",
		$n->name . ': version 1 is active');
}

# ---------------------------------------------------------------------
# Records on three nodes; the factory's batch takes in the farm's lots and
# reaches the shop before them; the shop's pack takes in the batch.
# ---------------------------------------------------------------------
subscription($shop, 'farm', 0);
sql($farm, q{SELECT tracelink.record_batch('Spring tea', '[
  {"code": "L-1", "process": "Growing", "stage": "Harvest", "form": "Harvest record", "data": {"weight kg": 40}, "occurred_at": "2026-05-01T06:00:00Z"},
  {"code": "L-2", "process": "Growing", "stage": "Harvest", "form": "Harvest record", "data": {"weight kg": 38}, "occurred_at": "2026-05-01T06:30:00Z"}]')});
wait_for($factory, "SELECT count(*) = 2 FROM tracelink.codes", 'the factory has the farm\'s lots');
sql($factory, q{SELECT tracelink.record('Spring tea', 'B-1', 'Processing', 'Steaming', 'Batch sheet', '{"minutes": 45}',
        inputs => '[{"code": "L-1", "quantity": 40, "unit": "kg"}, {"code": "L-2", "quantity": 38, "unit": "kg"}]',
        occurred_at => '2026-05-02 09:00+00')});
wait_for($shop, "SELECT count(*) = 1 FROM tracelink.apply_queue",
	'the batch reaches the shop before the lots it depends on, and waits');
is(sql($shop, 'SELECT count(*) FROM tracelink.records'), '0', 'nothing of it took effect yet');
subscription($shop, 'farm', 1);
wait_for($shop, "SELECT count(*) = 3 FROM tracelink.records", 'once the lots arrive, the batch takes effect');
sql($shop, q{SELECT tracelink.record('Spring tea', 'P-1', 'Retail', 'Shelf', 'Sale', source => 'device',
        inputs => '["B-1"]', occurred_at => '2026-05-03 10:00+00')});
like(error_of($shop, q{SELECT tracelink.record('Spring tea', 'L-9', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1}')}),
	qr/node "shop" is not a member of stage "Harvest" of process "Growing"/,
	'the shop cannot record at the farm\'s process (its stage\'s only member is the farm, which submitted it)');
like(error_of($outsider, q{SELECT tracelink.record('Spring tea', 'X-1', 'Retail', 'Shelf', 'Sale')}),
	qr/node "outsider" is not a member of stage "Shelf" of process "Retail"/, 'a node outside the group cannot record');
same_everywhere('first records', 'P-1', 'L-1');
is(sql($farm, "SELECT string_agg(code || ':' || relation || ':' || node, ' ' ORDER BY depth, code) FROM tracelink.trace('P-1')"),
	'L-1:upstream:farm L-2:upstream:farm B-1:upstream:factory P-1:self:shop',
	'the pack\'s provenance on the farm: lots of the farm, the batch of the factory');
is(sql($shop, "SELECT audience FROM tracelink.ledger_entries WHERE kind = 'tl.trace.record' AND origin = 'factory'"),
	'{factory,farm,shop}', 'trace entries are addressed to the business group');

# a record of the farm, proved on the shop against the farm's signed head
my $farm_key = sql($shop, "SELECT encode(public_key, 'hex') FROM tracelink.nodes WHERE name = 'farm'");
is(sql($shop, "SELECT bool_and(tracelink.verify_record_proof(tracelink.record_proof(entry_hash, position), '\\x$farm_key'))
                 FROM tracelink.trace('P-1') WHERE node = 'farm'"),
	't', 'the shop proves the farm\'s records with the farm\'s pinned key');
is(sql($shop, "SELECT bool_or(tracelink.verify_record_proof(tracelink.record_proof(entry_hash, position), '\\x$farm_key'))
                 FROM tracelink.trace('P-1') WHERE node <> 'farm'"),
	'f', 'records of other nodes do not verify with the farm\'s key');

# ---------------------------------------------------------------------
# Version 2: Growing gets a required item.  L-1 stays bound to version 1.
# ---------------------------------------------------------------------
sql($farm, "SELECT tracelink.request_modification('Spring tea', 'Growing', 'moisture')");
(my $growing2 = $growing) =~ s/"weight kg", "type": "numeric", "required": true\}/"weight kg", "type": "numeric", "required": true}, {"name": "moisture pct", "type": "numeric", "required": true}/;
sql($farm, "SELECT tracelink.submit_process('Spring tea', '$growing2')");
sql($farm, "SELECT tracelink.confirm_revision('Spring tea', 'Growing')");
for my $n ($farm, $factory)
{
	wait_for($n, "SELECT count(*) = 1 FROM tracelink.open_ballots", $n->name . ' may vote on version 2');
	sql($n, "SELECT tracelink.vote(proposal_id, true) FROM tracelink.open_ballots");
}
# the shop's ballot decides; in the same transaction it records a new code
# under version 2: receivers apply both from one block, in that order
wait_for($shop, "SELECT approvals = 2 FROM tracelink.proposals WHERE version = 2",
	'the shop has the two other ballots');
sql($shop, q{BEGIN;
  SELECT tracelink.vote(proposal_id, true) FROM tracelink.open_ballots;
  SELECT tracelink.record('Spring tea', 'S-1', 'Retail', 'Shelf', 'Sale', occurred_at => '2026-05-04 05:00+00');
  COMMIT;});
for my $n (@nodes)
{
	wait_for($n, "SELECT active_version = 2 FROM tracelink.links WHERE name = 'Spring tea'",
		$n->name . ': version 2 is active');
}
sql($farm, q{SELECT tracelink.record('Spring tea', 'L-1', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 39}',
        occurred_at => '2026-05-04 06:00+00')});
like(error_of($farm, q{SELECT tracelink.record('Spring tea', 'L-3', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 39}')}),
	qr/data item "moisture pct" is required/, 'a new code is checked against version 2');
sql($farm, q{SELECT tracelink.record('Spring tea', 'L-3', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 41, "moisture pct": 4}',
        occurred_at => '2026-05-04 06:30:00+00')});
wait_for($factory, "SELECT count(*) = 1 FROM tracelink.codes WHERE code = 'L-3'", 'the factory has L-3');
sql($factory, q{SELECT tracelink.record('Spring tea', 'B-2', 'Processing', 'Steaming', 'Batch sheet', '{}',
        inputs => '["L-1", "L-3"]', occurred_at => '2026-05-05 09:00+00')});
same_everywhere('version 2', 'B-2', 'L-1', 'S-1');
for my $n (@group)
{
	is(sql($n, "SELECT string_agg(code || ' v' || version, ' ' ORDER BY depth, code, occurred_at) FROM tracelink.trace('B-2')"),
		'L-1 v1 L-1 v1 L-3 v2 B-2 v2', $n->name . ': L-1 answers under version 1, L-3 and B-2 under version 2');
	is(sql($n, "SELECT string_agg(code || ' v' || version, ' ' ORDER BY code) FROM tracelink.trace_codes"),
		'B-1 v1 B-2 v2 L-1 v1 L-2 v1 L-3 v2 P-1 v1 S-1 v2', $n->name . ': the bindings');
}

# ---------------------------------------------------------------------
# Concurrent first records of one code.  Factory and shop stop hearing
# each other; version 3 (a local change of Processing) is adopted by the
# factory alone; the shop records X under version 2; the factory records
# Q, then X taking in Q, under version 3.  The shop's mention of X is the
# earliest: every node binds X to version 2, and Q -> X, no longer from a
# code older than X, stops counting as a transformation.
# ---------------------------------------------------------------------
subscription($shop, 'factory', 0);
subscription($factory, 'shop', 0);
sql($farm, "SELECT tracelink.request_modification('Spring tea', 'Processing', 'longer steaming')");
wait_for($factory, "SELECT count(*) = 1 FROM tracelink.modifications WHERE status = 'revising'",
	'the factory sees the modification request');
(my $processing3 = $processing) =~ s/"minutes", "type": "numeric"\}\]\}/"minutes", "type": "numeric"}]}, {"name": "Notes", "items": [{"name": "note", "type": "text"}]}/;
sql($factory, "SELECT tracelink.submit_process('Spring tea', '$processing3')");
sql($factory, "SELECT tracelink.confirm_revision('Spring tea', 'Processing')");
wait_for($factory, "SELECT count(*) = 1 FROM tracelink.open_ballots", 'the factory may vote on version 3 alone');
sql($factory, "SELECT tracelink.vote(proposal_id, true) FROM tracelink.open_ballots");
wait_for($factory, "SELECT active_version = 3 FROM tracelink.links", 'version 3 is active on the factory');
is(sql($shop, "SELECT active_version FROM tracelink.links"), '2', 'the shop still has version 2');

sql($shop, q{SELECT tracelink.record('Spring tea', 'X', 'Retail', 'Shelf', 'Sale', occurred_at => '2026-05-06 08:00+00')});
sql($factory, q{SELECT tracelink.record('Spring tea', 'Q', 'Processing', 'Steaming', 'Batch sheet', occurred_at => '2026-05-06 08:01+00')});
sql($factory, q{SELECT tracelink.record('Spring tea', 'X', 'Processing', 'Steaming', 'Batch sheet', inputs => '["Q"]',
        occurred_at => '2026-05-06 08:02+00')});
is(sql($factory, "SELECT version FROM tracelink.trace_codes WHERE code = 'X'"), '3',
	'the factory first binds X to version 3');
is(sql($factory, "SELECT effective FROM tracelink.trace_edges WHERE child = 'X'"), 't',
	'and Q -> X is a transformation there');
subscription($shop, 'factory', 1);
subscription($factory, 'shop', 1);
same_everywhere('concurrent first records', 'X', 'Q');
for my $n (@group)
{
	is(sql($n, "SELECT version || ' ' || first_process || ' ' || first_node FROM tracelink.trace_codes WHERE code = 'X'"),
		'2 Retail shop', $n->name . ': X is bound to the earliest mention (version 2, the shop\'s)');
	is(sql($n, "SELECT effective FROM tracelink.trace_edges WHERE child = 'X'"), 'f',
		$n->name . ': Q -> X is not effective');
	is(sql($n, "SELECT string_agg(code || ':' || relation || ' v' || version, ' ' ORDER BY depth, code, occurred_at) FROM tracelink.trace('X')"),
		'X:self v2 X:self v3', $n->name . ': X\'s records keep their versions; Q is not its ancestor');
}
is(sql($shop, "SELECT active_version FROM tracelink.links"), '3', 'the shop has version 3 now');

# ---------------------------------------------------------------------
# A node outside the group forges a validly signed trace entry addressed
# to the group, recording at the shop's process.  Every receiving node
# refuses its effect alike, and their state stays the same.
# ---------------------------------------------------------------------
sql($outsider, <<'SQL');
CREATE FUNCTION forge_trace_entry(p_tx bigint, p_payload jsonb, p_deps bytea[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    seed bytea := decode(split_part(pg_read_file('pg_tracelink/outsider.key'), E'\n', 3), 'hex');
    audience text[] := '{factory,farm,shop}';
    deps bytea[] := (SELECT array_agg(d ORDER BY d) FROM unnest(p_deps) d);
    e_hash bytea;
    head tracelink.ledger_heads;
    prior bytea[];
    hdr jsonb;
    bh bytea;
    us bigint := (extract(epoch FROM now()) * 1000000)::bigint;
BEGIN
    SELECT * INTO head FROM tracelink.ledger_heads WHERE origin = 'outsider';
    e_hash := sha256(convert_to(tracelink.entry_preimage('tl.trace.record', p_payload, deps, 'outsider',
                                                         p_tx, 0, audience), 'UTF8'));
    INSERT INTO tracelink.ledger_entries (origin, tx, seq, kind, payload, deps, audience, entry_hash)
    VALUES ('outsider', p_tx, 0, 'tl.trace.record', tracelink.jcs(p_payload), deps, audience, e_hash);
    SELECT array_agg(substring(b.entry_hashes FROM i * 32 + 1 FOR 32) ORDER BY b.block_no, i) INTO prior
      FROM tracelink.ledger_blocks b, generate_series(0, b.entry_count - 1) i
     WHERE b.origin = 'outsider';
    prior := prior || e_hash;
    hdr := jsonb_build_object('block_no', head.block_no + 1,
                              'entries_root', encode(tracelink.merkle_root(ARRAY[e_hash]), 'hex'),
                              'entry_count', 1, 'next_key', NULL, 'origin', 'outsider',
                              'prev_hash', encode(head.block_hash, 'hex'), 'sealed_at', us,
                              'signer_key', encode(tracelink.ed25519_public_key(seed), 'hex'),
                              'tree_root', encode(tracelink.merkle_root(prior), 'hex'),
                              'tree_size', array_length(prior, 1), 'tx', p_tx, 'type', 'block');
    bh := sha256(convert_to(tracelink.jcs(hdr), 'UTF8'));
    INSERT INTO tracelink.ledger_blocks
    VALUES ('outsider', head.block_no + 1, p_tx, 1, e_hash, tracelink.merkle_root(ARRAY[e_hash]),
            array_length(prior, 1), tracelink.merkle_root(prior), head.block_hash,
            'epoch'::timestamptz + us * interval '1 microsecond',
            tracelink.ed25519_public_key(seed), NULL, bh, tracelink.ed25519_sign(seed, bh));
END $$;
ALTER TABLE tracelink.ledger_entries DISABLE TRIGGER USER;
ALTER TABLE tracelink.ledger_blocks DISABLE TRIGGER USER;
SQL
my $adoption = sql($outsider,
	"SELECT string_agg(quote_literal(h::text), ',') FROM (SELECT proposal_id AS h FROM tracelink.proposals WHERE version = 3 AND status = 'passed'
	  UNION SELECT b.entry_hash FROM tracelink.ballots b JOIN tracelink.proposals p USING (proposal_id) WHERE p.version = 3) x");
my $link_hex = sql($outsider, "SELECT encode(link_id, 'hex') FROM tracelink.trace_links");
sql($outsider, qq{SELECT forge_trace_entry(900001, jsonb_build_object('clock', (extract(epoch FROM now()) * 1000000)::bigint,
    'link', '$link_hex', 'records', jsonb_build_array(jsonb_build_object(
      'code', 'FORGED', 'data', '{"code": "FORGED"}'::jsonb, 'form', 'Sale', 'process', 'Retail',
      'source', 'manual', 'stage', 'Shelf', 'version', 3))),
  ARRAY[$adoption]::bytea[])});
for my $n (@group)
{
	wait_for($n, "SELECT count(*) = 1 FROM tracelink.quarantined WHERE what = 'effect' AND origin = 'outsider'",
		$n->name . ' refuses the forged record');
	like(sql($n, "SELECT reason FROM tracelink.quarantined WHERE what = 'effect' AND origin = 'outsider'"),
		qr/node "outsider" is not a member of stage "Shelf" of process "Retail"/, $n->name . ': because the outsider is not a member of the stage');
	is(sql($n, "SELECT count(*) FROM tracelink.codes WHERE code = 'FORGED'"), '0', $n->name . ': nothing of it took effect');
}
is(scalar(keys %{ { map { $_ => 1 } values %{ { state_digests(@group) } } } }), 1,
	'after the forged entry, farm, factory and shop still have the same state_digest');

$_->stop for @nodes;
done_testing();
