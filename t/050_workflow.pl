# The whole life of a trace link across four nodes: request, invitations
# (one declines, another is re-invited), process building (one from a
# template), assembly, a unanimous adoption vote, a local vote on a non-key
# change, a failing global vote on a key change, a vote whose ballots reach
# the nodes in different orders, and a vote closed early.  Every node ends
# with the same state_digest and the same versions.  Then recording limited
# to a stage's members: a peer's record at a stage it is not a member of is
# quarantined on every receiver.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlTest;

my @nodes = map { tl_node($_) } qw(creator alpha beta delta);
my ($c, $a, $b, $d) = @nodes;
my %by_name = map { $_->name => $_ } @nodes;
mesh(@nodes);
for my $node (@nodes)
{
	$node->poll_query_until('postgres',
		"SELECT count(*) = 3 FROM tracelink.peers WHERE status = 'streaming'")
	  or die $node->name . ' did not connect';
}

sub sql { my ($node, $sql) = @_; return $node->safe_psql('postgres', $sql); }

# the psql error of a statement that must fail
sub error_of
{
	my ($node, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $sql);
	return $ret == 0 ? '(no error)' : $err;
}

# all nodes agree on the shared state
sub converged
{
	my ($label) = @_;
	wait_converged(@nodes);
	my %digests = state_digests(@nodes);
	my %distinct = map { $_ => 1 } values %digests;
	is(scalar(keys %distinct), 1, "$label: every node has the same state_digest");
	for my $node (@nodes)
	{
		is(sql($node, "SELECT count(*) FROM tracelink.quarantined WHERE what <> 'effect'"), '0',
			"$label: nothing quarantined on " . $node->name);
	}
}

sub wait_for
{
	my ($node, $sql, $what) = @_;
	ok($node->poll_query_until('postgres', $sql), $what);
}

# ---------------------------------------------------------------------
# 1. The creator requests a link: three processes, one invitee each.
# ---------------------------------------------------------------------
sql($c, q{SELECT tracelink.request_link('Spring tea', ARRAY['Growing', 'Processing', 'Packing'],
        '{"Growing": ["alpha"], "Processing": ["beta"], "Packing": ["delta"]}',
        '{"product": "green tea"}', '{"rule": "unanimous"}', '{"rule": "majority"}')});
for my $n ($a, $b, $d)
{
	wait_for($n, "SELECT count(*) = 1 FROM tracelink.pending_invitations WHERE link = 'Spring tea'",
		$n->name . ' sees its invitation');
}

# ---------------------------------------------------------------------
# 2. Answers: alpha and beta accept, delta declines; assembly is blocked
#    until the creator re-invites alpha for Packing.
# ---------------------------------------------------------------------
sql($a, "SELECT tracelink.reply_invitation('Spring tea', 'Growing', true)");
sql($b, "SELECT tracelink.reply_invitation('Spring tea', 'Processing', true)");
sql($d, "SELECT tracelink.reply_invitation('Spring tea', 'Packing', false, 'no capacity this season')");
like(error_of($d, "SELECT tracelink.reply_invitation('Spring tea', 'Packing', true)"),
	qr/already answered the invitation/, 'a second answer is refused');
like(error_of($b, "SELECT tracelink.reply_invitation('Spring tea', 'Growing', true)"),
	qr/not invited to build process "Growing"/, 'answering someone else\'s invitation is refused');
wait_for($c, "SELECT count(*) = 1 FROM tracelink.link_invitations WHERE status = 'declined'",
	'the creator sees the decline');
wait_for($c, "SELECT count(*) = 2 FROM tracelink.link_invitations WHERE status = 'accepted'",
	'the creator sees both acceptances');

# processes, one from a template
sql($a, q{SELECT tracelink.save_template('growing-basic', '{"name": "Growing",
   "stages": [{"name": "Harvest", "role": "raw-material supplier", "forms": [
     {"name": "Harvest record", "key": true, "items": [
       {"name": "lot", "type": "text", "required": true, "trace_code": true},
       {"name": "weight kg", "type": "numeric", "required": true}]},
     {"name": "Weather", "items": [{"name": "rain mm", "type": "numeric"}]}]}],
   "outputs": [{"name": "fresh leaves", "level": 2}]}')});
sql($a, "SELECT tracelink.submit_process_from_template('Spring tea', 'Growing', 'growing-basic')");
my $processing = q{{"name": "Processing",
   "stages": [{"name": "Steaming", "role": "processor", "forms": [
     {"name": "Batch sheet", "key": true, "items": [
       {"name": "batch", "type": "text", "required": true, "trace_code": true}]},
     {"name": "Notes", "items": [{"name": "note", "type": "text", "widget": "textarea"}]}]}],
   "inputs": [{"name": "leaves", "from": "Growing", "output": "fresh leaves", "level": 2}],
   "outputs": [{"name": "tea batch", "level": 2}]}};
sql($b, "SELECT tracelink.submit_process('Spring tea', '$processing')");
my $packing = q{{"name": "Packing",
   "stages": [{"name": "Boxing", "role": "packer", "forms": [
     {"name": "Pack label", "key": true, "items": [
       {"name": "pack", "type": "text", "required": true, "trace_code": true}]}]}],
   "inputs": [{"name": "tea", "from": "Processing", "output": "tea batch", "level": 2}]}};
like(error_of($d, "SELECT tracelink.submit_process('Spring tea', '$packing')"),
	qr/has not accepted to build process "Packing"/, 'a node that declined cannot submit');
like(error_of($b, "SELECT tracelink.submit_process('Spring tea', '$packing')"),
	qr/has not accepted to build process "Packing"/, 'a node cannot submit another node\'s process');

wait_converged(@nodes);
like(error_of($c, "SELECT tracelink.assemble('Spring tea')"),
	qr/process "Packing" of link "Spring tea" has no participant/,
	'assembly is blocked while every invitee of a process declined');
like(error_of($a, "SELECT tracelink.assemble('Spring tea')"),
	qr/only the creator/, 'only the creator assembles');

sql($c, "SELECT tracelink.reinvite('Spring tea', 'Packing', ARRAY['alpha'])");
wait_for($a, "SELECT count(*) = 1 FROM tracelink.pending_invitations WHERE process = 'Packing'",
	'alpha sees its new invitation');
sql($a, "SELECT tracelink.reply_invitation('Spring tea', 'Packing', true)");
sql($a, "SELECT tracelink.submit_process('Spring tea', '$packing')");
wait_converged(@nodes);
is(sql($c, "SELECT template FROM tracelink.link_processes WHERE process = 'Growing'"),
	'growing-basic', 'the Growing process records the template it came from');

# ---------------------------------------------------------------------
# 3. Assembly and the adoption vote (unanimous among alpha, beta, creator).
# ---------------------------------------------------------------------
my $p1 = sql($c, "SELECT encode(tracelink.assemble('Spring tea'), 'hex')");
for my $n (@nodes)
{
	wait_for($n, "SELECT count(*) = 1 FROM tracelink.proposals WHERE proposal_id = '\\x$p1'",
		$n->name . ' received the proposal');
}
is(sql($a, "SELECT voters FROM tracelink.proposals WHERE proposal_id = '\\x$p1'"),
	'{alpha,beta,creator}', 'the participants and the creator vote; the node that declined does not');
is(sql($a, "SELECT count(*) FROM tracelink.open_ballots"), '1', 'alpha has an open ballot');
is(sql($d, "SELECT count(*) FROM tracelink.open_ballots"), '0', 'delta has none');
like(error_of($d, "SELECT tracelink.vote('\\x$p1', true)"),
	qr/not an eligible voter/, 'a non-voter\'s ballot is refused');

sql($a, "SELECT tracelink.vote('\\x$p1', true)");
like(error_of($a, "SELECT tracelink.vote('\\x$p1', false)"),
	qr/already voted/, 'a second ballot is refused');
sql($b, "SELECT tracelink.vote('\\x$p1', true)");
sql($c, "SELECT tracelink.vote('\\x$p1', true)");
for my $n (@nodes)
{
	wait_for($n, "SELECT active_version = 1 AND status = 'active' FROM tracelink.links WHERE name = 'Spring tea'",
		$n->name . ': version 1 is active');
}
converged('adopted');

# ---------------------------------------------------------------------
# 4. A modification touching only a non-key form: a local vote of the
#    process's participants (beta) under the modification rule.
# ---------------------------------------------------------------------
sql($c, "SELECT tracelink.request_modification('Spring tea', 'Processing', 'longer notes')");
wait_for($b, "SELECT count(*) = 1 FROM tracelink.modifications WHERE status = 'revising'",
	'beta sees the modification request');
like(error_of($a, "SELECT tracelink.confirm_revision('Spring tea', 'Processing')"),
	qr/does not build process "Processing"/, 'only the process\'s participants confirm');
(my $processing2 = $processing) =~ s/"note", "type": "text"/"note", "type": "text", "required": true/;
sql($b, "SELECT tracelink.submit_process('Spring tea', '$processing2')");
sql($b, "SELECT tracelink.confirm_revision('Spring tea', 'Processing')");
for my $n (@nodes)
{
	wait_for($n, "SELECT count(*) = 1 FROM tracelink.proposals WHERE version = 2 AND scope = 'local'",
		$n->name . ' sees a local vote for version 2');
}
is(sql($b, "SELECT voters FROM tracelink.proposals WHERE version = 2"), '{beta}',
	'the local vote is beta\'s alone');
my $p2 = sql($b, "SELECT encode(proposal_id, 'hex') FROM tracelink.open_ballots");
sql($b, "SELECT tracelink.vote('\\x$p2', true)");
for my $n (@nodes)
{
	wait_for($n, "SELECT active_version = 2 FROM tracelink.links WHERE name = 'Spring tea'",
		$n->name . ': version 2 is active');
}
converged('version 2');
is(sql($a, "SELECT status FROM tracelink.link_versions WHERE version = 1"), 'superseded',
	'version 1 is kept as superseded');

# ---------------------------------------------------------------------
# 5. A key-form change: a global vote (majority of three) that fails.
# ---------------------------------------------------------------------
sql($c, "SELECT tracelink.request_modification('Spring tea', 'Growing', 'weigh in grams')");
wait_for($a, "SELECT count(*) = 1 FROM tracelink.modifications WHERE status = 'revising'",
	'alpha sees the key-form modification request');
sql($a, q{SELECT tracelink.submit_process('Spring tea',
   tracelink.merge_patch(tracelink.template('growing-basic'), '{"stages": [{"name": "Harvest", "role": "raw-material supplier", "forms": [
     {"name": "Harvest record", "key": true, "items": [
       {"name": "lot", "type": "text", "required": true, "trace_code": true},
       {"name": "weight g", "type": "numeric", "required": true}]},
     {"name": "Weather", "items": [{"name": "rain mm", "type": "numeric"}]}]}]}'))});
sql($a, "SELECT tracelink.confirm_revision('Spring tea', 'Growing')");
wait_for($c, "SELECT count(*) = 1 FROM tracelink.proposals WHERE version = 3 AND status = 'open'",
	'the creator opened the vote for the key-form change');
is(sql($c, "SELECT scope || ' ' || threshold || ' ' || array_to_string(voters, ',') FROM tracelink.proposals WHERE version = 3 AND status = 'open'"),
	'global 2 alpha,beta,creator', 'a key-form change needs a majority of all participants');
my $p3 = sql($c, "SELECT encode(proposal_id, 'hex') FROM tracelink.proposals WHERE version = 3 AND status = 'open'");
for my $n ($a, $b) { wait_for($n, "SELECT count(*) = 1 FROM tracelink.open_ballots", $n->name . ' may vote'); }
sql($a, "SELECT tracelink.vote('\\x$p3', true)");
sql($b, "SELECT tracelink.vote('\\x$p3', false, 'grams are too fine')");
sql($c, "SELECT tracelink.vote('\\x$p3', false)");
for my $n (@nodes)
{
	wait_for($n, "SELECT status = 'failed' FROM tracelink.proposals WHERE proposal_id = '\\x$p3'",
		$n->name . ': the key-form change failed');
}
converged('failed vote');
is(sql($d, "SELECT active_version FROM tracelink.links"), '2', 'version 2 stays active');
is(sql($d, "SELECT ballots::text FROM tracelink.link_versions WHERE proposal_id = '\\x$p3'"),
	'{"beta": false, "alpha": true, "creator": false}', 'who voted what, on every node');
like(sql($a, "SELECT definition::text FROM tracelink.link_processes WHERE process = 'Growing'"),
	qr/weight kg/, 'after the failed vote the working definition is the active one again');

# ---------------------------------------------------------------------
# 6. Ballots in a different order: delta and the creator stop receiving
#    from alpha while beta and the creator vote, then alpha's ballot
#    arrives last there; the outcome is the same everywhere.
# ---------------------------------------------------------------------
$_->safe_psql('postgres', 'ALTER SUBSCRIPTION tracelink_from_alpha DISABLE') for ($c, $d);
sql($c, "SELECT tracelink.request_modification('Spring tea', process_order => ARRAY['Growing', 'Processing', 'Packing'], reason => 'reconfirm the order')");
wait_for($a, "SELECT count(*) = 1 FROM tracelink.open_ballots", 'alpha may vote on the order');
my $p4 = sql($c, "SELECT encode(proposal_id, 'hex') FROM tracelink.proposals WHERE status = 'open'");
sql($a, "SELECT tracelink.vote('\\x$p4', true)");
wait_for($b, "SELECT approvals = 1 FROM tracelink.proposals WHERE proposal_id = '\\x$p4'",
	'beta has alpha\'s ballot');
sql($b, "SELECT tracelink.vote('\\x$p4', false)");
wait_for($d, "SELECT rejections = 1 FROM tracelink.proposals WHERE proposal_id = '\\x$p4'",
	'delta has beta\'s ballot but not alpha\'s');
is(sql($d, "SELECT status FROM tracelink.proposals WHERE proposal_id = '\\x$p4'"), 'open',
	'without alpha\'s ballot the vote is still open on delta');
sql($c, "SELECT tracelink.vote('\\x$p4', true)");
wait_for($b, "SELECT status = 'passed' FROM tracelink.proposals WHERE proposal_id = '\\x$p4'",
	'beta, which had every ballot, decided at once');
wait_for($d, "SELECT approvals = 1 AND rejections = 1 FROM tracelink.proposals WHERE proposal_id = '\\x$p4'",
	'delta has the creator\'s and beta\'s ballots');
is(sql($d, "SELECT status FROM tracelink.proposals WHERE proposal_id = '\\x$p4'"), 'open',
	'with one approval of the two needed and alpha\'s ballot away, delta cannot decide yet');
$_->safe_psql('postgres', 'ALTER SUBSCRIPTION tracelink_from_alpha ENABLE') for ($c, $d);
wait_for($d, "SELECT status = 'passed' FROM tracelink.proposals WHERE proposal_id = '\\x$p4'",
	'alpha\'s ballot arrives last at delta, with the same outcome');
converged('ballots in a different order');
is(sql($c, "SELECT active_version FROM tracelink.links"), '3', 'the order change is version 3 (versions count adoptions)');

# ---------------------------------------------------------------------
# 7. A vote closed early: missing ballots count as rejections.
# ---------------------------------------------------------------------
sql($c, "SELECT tracelink.request_modification('Spring tea', process_order => ARRAY['Growing', 'Processing', 'Packing'], reason => 'close it early')");
my $p5 = sql($c, "SELECT encode(proposal_id, 'hex') FROM tracelink.proposals WHERE status = 'open'");
wait_for($a, "SELECT count(*) = 1 FROM tracelink.open_ballots", 'alpha may vote');
sql($a, "SELECT tracelink.vote('\\x$p5', true)");
wait_for($c, "SELECT approvals = 1 FROM tracelink.proposals WHERE proposal_id = '\\x$p5'",
	'the creator has alpha\'s approval');
like(error_of($a, "SELECT tracelink.close_vote('\\x$p5')"), qr/only the creator/,
	'only the creator closes a vote');
is(sql($c, "SELECT tracelink.close_vote('\\x$p5')"), 'failed',
	'closed with one approval of the two needed: failed');
like(error_of($b, "SELECT tracelink.vote('\\x$p5', true)"), qr/was closed|already decided/,
	'a ballot after the close is refused');
converged('closed early');
is(sql($a, "SELECT closed_early FROM tracelink.link_versions WHERE proposal_id = '\\x$p5'"), 't',
	'the versions view shows the vote was closed early');
is(sql($b, "SELECT string_agg(link || ' v' || version || ' ' || status, '; ' ORDER BY version, status) FROM tracelink.link_versions"),
	sql($a, "SELECT string_agg(link || ' v' || version || ' ' || status, '; ' ORDER BY version, status) FROM tracelink.link_versions"),
	'alpha and beta list the same versions');

# ---------------------------------------------------------------------
# 8. Who may record at a stage.  alpha submitted Growing without creators
#    or members: submit_process made alpha the creator of its stage and
#    items, and the stage's only member.  beta's record() there is refused;
#    a record beta forges (validly signed, as a node appending past the
#    API could) is quarantined on every receiver by the same check.
#    (Last: the forged block leaves beta's own chain behind.)
# ---------------------------------------------------------------------
is(sql($c, q{SELECT (s::jsonb)->>'creator' || ' ' || ((s::jsonb)->'members')::text
               FROM tracelink.link_processes w, tracelink.stages(w.definition) s
              WHERE w.process = 'Growing'}), 'alpha ["alpha"]',
	'the stage Harvest was created by alpha, its only member');
is(sql($c, q{SELECT string_agg(item || ':' || creator, ' ' ORDER BY item)
               FROM tracelink.link_processes w, tracelink.data_items(w.definition) WHERE w.process = 'Growing'}),
	'lot:alpha rain mm:alpha weight kg:alpha', 'every item of Growing was created by alpha');
sql($a, q{SELECT tracelink.record('Spring tea', 'LEAF-1', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 12}')});
for my $n ($c, $b)
{
	wait_for($n, "SELECT count(*) = 1 FROM tracelink.trace_records WHERE code = 'LEAF-1'",
		$n->name . ' has alpha\'s record at Harvest');
}
like(error_of($b, q{SELECT tracelink.record('Spring tea', 'LEAF-2', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1}')}),
	qr/node "beta" is not a member of stage "Harvest" of process "Growing"/,
	'beta may not record at alpha\'s stage');
sql($b, <<'SQL');
CREATE FUNCTION forge_trace_entry(p_tx bigint, p_payload jsonb, p_deps bytea[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    seed bytea := decode(split_part(pg_read_file('pg_tracelink/beta.key'), E'\n', 3), 'hex');
    audience text[] := '{alpha,beta,creator}';
    deps bytea[] := (SELECT array_agg(d ORDER BY d) FROM unnest(p_deps) d);
    e_hash bytea;
    head tracelink.ledger_heads;
    prior bytea[];
    hdr jsonb;
    bh bytea;
    us bigint := (extract(epoch FROM now()) * 1000000)::bigint;
BEGIN
    SELECT * INTO head FROM tracelink.ledger_heads WHERE origin = 'beta';
    e_hash := sha256(convert_to(tracelink.entry_preimage('tl.trace.record', p_payload, deps, 'beta',
                                                         p_tx, 0, audience), 'UTF8'));
    INSERT INTO tracelink.ledger_entries (origin, tx, seq, kind, payload, deps, audience, entry_hash)
    VALUES ('beta', p_tx, 0, 'tl.trace.record', tracelink.jcs(p_payload), deps, audience, e_hash);
    SELECT array_agg(substring(b.entry_hashes FROM i * 32 + 1 FOR 32) ORDER BY b.block_no, i) INTO prior
      FROM tracelink.ledger_blocks b, generate_series(0, b.entry_count - 1) i
     WHERE b.origin = 'beta';
    prior := prior || e_hash;
    hdr := jsonb_build_object('block_no', head.block_no + 1,
                              'entries_root', encode(tracelink.merkle_root(ARRAY[e_hash]), 'hex'),
                              'entry_count', 1, 'next_key', NULL, 'origin', 'beta',
                              'prev_hash', encode(head.block_hash, 'hex'), 'sealed_at', us,
                              'signer_key', encode(tracelink.ed25519_public_key(seed), 'hex'),
                              'tree_root', encode(tracelink.merkle_root(prior), 'hex'),
                              'tree_size', array_length(prior, 1), 'tx', p_tx, 'type', 'block');
    bh := sha256(convert_to(tracelink.jcs(hdr), 'UTF8'));
    INSERT INTO tracelink.ledger_blocks
    VALUES ('beta', head.block_no + 1, p_tx, 1, e_hash, tracelink.merkle_root(ARRAY[e_hash]),
            array_length(prior, 1), tracelink.merkle_root(prior), head.block_hash,
            'epoch'::timestamptz + us * interval '1 microsecond',
            tracelink.ed25519_public_key(seed), NULL, bh, tracelink.ed25519_sign(seed, bh));
END $$;
ALTER TABLE tracelink.ledger_entries DISABLE TRIGGER USER;
ALTER TABLE tracelink.ledger_blocks DISABLE TRIGGER USER;
SQL
my $adoption = sql($b,
	"SELECT string_agg(quote_literal(h::text), ',') FROM (SELECT proposal_id AS h FROM tracelink.proposals WHERE version = 3 AND status = 'passed'
	  UNION SELECT b.entry_hash FROM tracelink.ballots b JOIN tracelink.proposals p USING (proposal_id) WHERE p.version = 3 AND p.status = 'passed') x");
my $link_hex = sql($b, "SELECT encode(link_id, 'hex') FROM tracelink.trace_links");
sql($b, qq{SELECT forge_trace_entry(900001, jsonb_build_object('clock', (extract(epoch FROM now()) * 1000000)::bigint,
    'link', '$link_hex', 'records', jsonb_build_array(jsonb_build_object(
      'code', 'LEAF-2', 'data', '{"lot": "LEAF-2", "weight kg": 1}'::jsonb, 'form', 'Harvest record', 'process', 'Growing',
      'source', 'manual', 'stage', 'Harvest', 'version', 3))),
  ARRAY[$adoption]::bytea[])});
for my $n ($c, $a)
{
	wait_for($n, "SELECT count(*) = 1 FROM tracelink.quarantined WHERE what = 'effect' AND origin = 'beta' AND reason LIKE '%not a member%'",
		$n->name . ' quarantines beta\'s record at alpha\'s stage');
	is(sql($n, "SELECT reason FROM tracelink.quarantined WHERE what = 'effect' AND origin = 'beta' AND reason LIKE '%not a member%'"),
		'node "beta" is not a member of stage "Harvest" of process "Growing"', $n->name . ': with the reason');
	is(sql($n, "SELECT count(*) FROM tracelink.codes WHERE code = 'LEAF-2'"), '0', $n->name . ': nothing of it took effect');
}
is(sql($c, 'SELECT tracelink.state_digest()'), sql($a, 'SELECT tracelink.state_digest()'),
	'after the refused record, the creator and alpha have the same state_digest');

$_->stop for @nodes;
done_testing();
