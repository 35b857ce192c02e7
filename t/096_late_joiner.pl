# A late joiner to a link's business group (issue 14, item 3): grower,
# factory and shop run a link and record (lots with private values, a batch
# made of the lots, a pack made of the batch); late, a peer outside the
# group, is invited to Retail while the link is active, accepts, and joins
# the group with version 2, voted in.  A record made after that depends on
# the earlier ones and waits on late; one call, tracelink.catch_up('grower'),
# brings late the earlier records, its own and relayed ones, each verified
# against the block late holds.  Then late's apply_queue is empty, its
# provenance is the older members', its state digest theirs, and it holds
# no private value whose audience left it out, while it holds the one
# recorded after it joined for an audience that names it now.  Shadowing objects are planted
# on both sides (sql/include/plant_shadows.sql): none of them runs.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlTest;

my @nodes = map { tl_node($_) } qw(grower factory shop late);
my ($grower, $factory, $shop, $late) = @nodes;
my @group = ($grower, $factory, $shop);
mesh(@nodes);
for my $node (@nodes)
{
	$node->poll_query_until('postgres', "SELECT count(*) = 3 FROM tracelink.peers WHERE status = 'streaming'")
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

# every node answers a product's provenance alike: every column of
# trace(), the values of private items aside (a node shows those it holds)
sub same_trace
{
	my ($label, @codes) = @_;
	for my $code (@codes)
	{
		my %rows = map {
			$_->name => sql($_, qq{SELECT string_agg(concat_ws('|', code, relation, depth, link, version, process, stage, form,
                        (data - ARRAY(SELECT jsonb_object_keys(coalesce(commitments, '{}'))))::text, source, node,
                        occurred_at, recorded_at, encode(entry_hash, 'hex'), position, commitments::text, bound_version),
                        E'\n' ORDER BY depth, code, entry_hash, position)
                 FROM tracelink.trace('$code')})
		} @nodes;
		is(scalar(keys %{ { map { $_ => 1 } values %rows } }), 1,
			"$label: trace('$code') is the same on the four nodes");
		is($rows{late}, $rows{shop}, "$label: trace('$code') on late is shop's");
	}
}

# shadows on grower and late; grower's login for late and late's superuser
# sessions resolve unqualified names to them first
my $plant = slurp_file('sql/include/plant_shadows.sql');
for my $node ($grower, $late)
{
	sql($node, "CREATE SCHEMA evil; $plant");
}
my $late_login = sql($grower, "SELECT tracelink.peer_login_name('late')");
sql($grower, "GRANT USAGE ON SCHEMA evil TO $late_login; ALTER ROLE $late_login SET search_path = evil, pg_catalog");
my $shadowed = 'SET search_path = evil, pg_catalog; ';

# ---------------------------------------------------------------------
# The link, version 1: Growing (grower) -> Processing (factory) ->
# Retail (shop).  Growing's price is private to grower and factory;
# Retail's till to Retail's participants (shop, and late once it joins).
# ---------------------------------------------------------------------
sql($grower, q{SELECT tracelink.request_link('Late tea', ARRAY['Growing', 'Processing', 'Retail'],
        '{"Growing": ["grower"], "Processing": ["factory"], "Retail": ["shop"]}', '{}', '{"rule": "unanimous"}')});
my %process = (grower => 'Growing', factory => 'Processing', shop => 'Retail');
my %definition = (
	grower => q{{"name": "Growing", "stages": [{"name": "Harvest", "forms": [{"name": "Lot", "key": true, "items": [
       {"name": "lot", "type": "text", "required": true, "trace_code": true},
       {"name": "weight kg", "type": "numeric", "required": true},
       {"name": "price", "type": "numeric", "audience": ["grower", "factory"]}]}]}],
     "outputs": [{"name": "leaves", "level": 2}]}},
	factory => q{{"name": "Processing", "stages": [{"name": "Steaming", "forms": [{"name": "Batch", "key": true, "items": [
       {"name": "batch", "type": "text", "required": true, "trace_code": true}]}]}],
     "inputs": [{"name": "leaves", "from": "Growing", "output": "leaves", "level": 2}],
     "outputs": [{"name": "tea", "level": 2}]}},
	shop => q{{"name": "Retail", "stages": [{"name": "Shelf", "forms": [{"name": "Pack", "key": true, "items": [
       {"name": "pack", "type": "text", "required": true, "trace_code": true},
       {"name": "till", "type": "text", "audience": "process"}]}]}],
     "inputs": [{"name": "tea", "from": "Processing", "output": "tea", "level": 2}]}});
for my $n (@group)
{
	wait_for($n, "SELECT count(*) = 1 FROM tracelink.link_invitations WHERE node = '" . $n->name . "'",
		$n->name . ' sees its invitation');
	sql($n, "SELECT tracelink.reply_invitation('Late tea', '$process{$n->name}', true)");
}
wait_converged(@nodes);
sql($_, "SELECT tracelink.submit_process('Late tea', '$definition{$_->name}')") for @group;
wait_for($_, 'SELECT count(*) = 3 FROM tracelink.link_processes', $_->name . ' has every process') for @nodes;
wait_converged(@nodes);
my $p1 = sql($grower, "SELECT encode(tracelink.assemble('Late tea'), 'hex')");
for my $n (@group)
{
	wait_for($n, 'SELECT count(*) = 1 FROM tracelink.open_ballots', $n->name . ' may vote on version 1');
	sql($n, "SELECT tracelink.vote('\\x$p1', true)");
}
wait_for($_, "SELECT active_version = 1 FROM tracelink.links WHERE name = 'Late tea'",
	$_->name . ': version 1 is active') for @nodes;

# ---------------------------------------------------------------------
# Records of version 1, with transformations across the three nodes
# ---------------------------------------------------------------------
sql($grower, q{SELECT tracelink.record_batch('Late tea', '[
  {"code": "L-1", "process": "Growing", "stage": "Harvest", "form": "Lot",
   "data": {"weight kg": 40, "price": "812.50"}, "occurred_at": "2026-05-01T06:00:00Z"},
  {"code": "L-2", "process": "Growing", "stage": "Harvest", "form": "Lot",
   "data": {"weight kg": 38, "price": "790.00"}, "occurred_at": "2026-05-01T06:30:00Z"}]')});
wait_for($factory, 'SELECT count(*) = 2 FROM tracelink.codes', 'factory has the lots');
sql($factory, q{SELECT tracelink.record('Late tea', 'B-1', 'Processing', 'Steaming', 'Batch', '{}',
        inputs => '["L-1", "L-2"]', occurred_at => '2026-05-02 09:00+00')});
wait_for($shop, 'SELECT count(*) = 3 FROM tracelink.codes', 'shop has the batch');
sql($shop, q{SELECT tracelink.record('Late tea', 'P-1', 'Retail', 'Shelf', 'Pack', '{"till": "T-secret-1"}',
        inputs => '["B-1"]', occurred_at => '2026-05-03 10:00+00')});
wait_converged(@nodes);
is(sql($grower, "SELECT string_agg(audience::text, ' ' ORDER BY audience::text) FROM tracelink.ledger_entries WHERE kind = 'tl.trace.private'"),
	'{factory,grower}', 'the price of version 1 went to grower and factory');
is(sql($shop, "SELECT audience FROM tracelink.ledger_entries WHERE kind = 'tl.trace.private'"),
	'{shop}', 'the till of version 1 went to Retail\'s participant of then, shop');
is(sql($late, "SELECT count(*) FROM tracelink.ledger_entries WHERE kind = 'tl.trace.record'"), '0',
	'late, outside the group, received no trace record');
is(sql($late, "SELECT active_version FROM tracelink.links WHERE name = 'Late tea'"), '1',
	'but it holds the link and its version (workflow entries go to every node)');
is(sql($late, "${shadowed}SELECT lines, quarantined FROM tracelink.catch_up('grower')"), '0|0',
	'catch_up() before late joins the group brings nothing: it is not entitled to the records');
# the same rule on arrival: grower's lots handed to late now are refused
my $lots_line = sql($grower, "SELECT l FROM tracelink.export('grower') l WHERE l::jsonb ->> 'kind' = 'tl.trace.record'");
is(sql($late, "SELECT lines, quarantined FROM tracelink.ingest(\$l\$$lots_line\$l\$)"), '1|1',
	'an earlier record handed to late before it joins is refused');
is(sql($late, 'SELECT reason FROM tracelink.quarantined'), 'entry is not addressed to this node',
	'as not addressed to it');

# ---------------------------------------------------------------------
# late joins Retail while the link is active; version 2 is voted in
# ---------------------------------------------------------------------
sql($grower, "SELECT tracelink.reinvite('Late tea', 'Retail', ARRAY['late'])");
wait_for($late, "SELECT count(*) = 1 FROM tracelink.pending_invitations", 'late sees its invitation');
sql($late, "SELECT tracelink.reply_invitation('Late tea', 'Retail', true, 'joining late')");
wait_converged(@nodes);
sql($grower, "SELECT tracelink.request_modification('Late tea', process_order => ARRAY['Growing', 'Processing', 'Retail'], reason => 'late joins Retail')");
like(error_of($grower, "SELECT tracelink.reinvite('Late tea', 'Retail', ARRAY['nobody'])"),
	qr/link "Late tea" is (modifying|voting): invitations only while it is being designed or active/,
	'no invitation while the link is being modified');
my $p2 = sql($grower, "SELECT encode(proposal_id, 'hex') FROM tracelink.proposals WHERE version = 2");
for my $n (@nodes)
{
	wait_for($n, 'SELECT count(*) = 1 FROM tracelink.open_ballots', $n->name . ' may vote on version 2');
	sql($n, "SELECT tracelink.vote('\\x$p2', true)");
}
wait_for($_, "SELECT active_version = 2 FROM tracelink.links WHERE name = 'Late tea'",
	$_->name . ': version 2 is active') for @nodes;

# a record after the join depends on the pack's batch: it waits on late
sql($shop, q{SELECT tracelink.record('Late tea', 'P-2', 'Retail', 'Shelf', 'Pack', '{"till": "T-2"}',
        inputs => '["B-1"]', occurred_at => '2026-05-04 10:00+00')});
is(sql($shop, "SELECT audience FROM tracelink.ledger_entries WHERE kind = 'tl.trace.record' AND payload LIKE '%P-2%'"),
	'{factory,grower,late,shop}', 'the record after the join is addressed to the group of version 2');
is(sql($shop, "SELECT audience FROM tracelink.ledger_entries WHERE kind = 'tl.trace.private' AND payload LIKE '%T-2%'"),
	'{late,shop}', 'its till to Retail\'s participants now, late among them');
wait_for($late, 'SELECT count(*) = 2 FROM tracelink.apply_queue',
	'on late it waits in apply_queue (with its till) for the records made before late joined');
my %before = state_digests($late, $shop);
isnt($before{late}, $before{shop}, 'late\'s state differs from shop\'s');

# ---------------------------------------------------------------------
# catch_up(): the earlier records, from grower (factory's and shop's
# relayed), verified on arrival
# ---------------------------------------------------------------------
is(sql($late, "${shadowed}SELECT lines, quarantined FROM tracelink.catch_up('grower')"), '3|0',
	"catch_up('grower'): the entries of grower's lots, factory's batch and shop's pack; nothing quarantined");
is(sql($late, "SELECT count(*) FROM tracelink.apply_queue"), '0', 'late\'s apply_queue is empty');
is(sql($late, "SELECT string_agg(code, ' ' ORDER BY code) FROM tracelink.codes"), 'B-1 L-1 L-2 P-1 P-2',
	'late holds every record of the link');
is(sql($late, "${shadowed}SELECT lines, quarantined FROM tracelink.catch_up('grower')"), '0|0',
	'asked again: what late holds is left out, nothing is applied twice');
wait_converged(@nodes);
for my $n (@nodes)
{
	is(sql($n, 'SELECT count(*) FROM tracelink.quarantined'), $n == $late ? '1' : '0',
		'nothing quarantined on ' . $n->name . ($n == $late ? ' but the record refused before it joined' : ''));
	is(sql($n, 'SELECT bool_and(ok) FROM tracelink.verify()'), 't', 'verify() is clean on ' . $n->name);
	is(sql($n, 'SELECT count(*) FROM tracelink.apply_queue'), '0', 'nothing waits on ' . $n->name);
}
my %digests = state_digests(@nodes);
is(scalar(keys %{ { map { $_ => 1 } values %digests } }), 1,
	'the four nodes have the same state_digest');
same_trace('after the catch-up', 'P-1', 'P-2', 'L-1');
is(sql($late, "SELECT string_agg(code || ':' || relation, ' ' ORDER BY depth, code) FROM tracelink.trace('P-2')"),
	'L-1:upstream L-2:upstream B-1:upstream P-2:self', 'late follows P-2 back to the lots');

# private values: none whose audience left late out, the one that names it
is(sql($late, "SELECT string_agg(item || '=' || value::text, ' ') FROM tracelink.private_values"), 'till="T-2"',
	'late holds the till of P-2, whose audience names it, and no private value of version 1');
is(sql($late, q{SELECT count(*) FROM tracelink.ledger_entries
               WHERE payload LIKE '%T-secret-1%' OR payload LIKE '%812.50%' OR payload LIKE '%790.00%'}), '0',
	'no entry on late holds a private value of version 1');
is(sql($late, "SELECT (SELECT string_agg(k, ',' ORDER BY k) FROM jsonb_object_keys(commitments) k) FROM tracelink.trace('L-1') WHERE code = 'L-1'"),
	'price', 'late sees the commitment of L-1\'s price instead');
is(sql($late, "SELECT (data ? 'till')::text || ' ' || (commitments ? 'till')::text FROM tracelink.trace('P-1') WHERE code = 'P-1'"),
	'false true', 'and of P-1\'s till');

# ---------------------------------------------------------------------
# refusals
# ---------------------------------------------------------------------
like(error_of($late, "SELECT * FROM tracelink.catch_up('nobody')"), qr/unknown peer "nobody"/, 'an unknown peer');
like(error_of($late, "SELECT * FROM tracelink.catch_up(NULL)"), qr/a peer is required/, 'a peer is required');
like(error_of($grower, "SELECT * FROM tracelink._serve_entitled('shop', 10)"),
	qr/only a peer's login may ask for a catch-up/, 'a login that is not a peer gets nothing');
sql($late, 'CREATE ROLE reader_l LOGIN IN ROLE tracelink_reader');
like(($late->psql('postgres', "SELECT * FROM tracelink.catch_up('grower')", extra_params => [ '-U', 'reader_l' ]))[2],
	qr/permission denied for function catch_up/, 'catch_up() is for tracelink_admin');

# nothing planted ran, on either side
for my $node ($grower, $late)
{
	is(sql($node, 'SELECT count(*) FROM evil.ran'), '0', 'no shadowing object ran on ' . $node->name)
	  or diag(sql($node, "SELECT what, by_role, count(*) FROM evil.ran GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 10"));
}

done_testing();
