# The whole life of a trace link across four nodes: request, invitations
# (one declines, another is re-invited), process building (one from a
# template), assembly, a unanimous adoption vote, a local vote on a non-key
# change, a failing global vote on a key change, a vote whose ballots reach
# the nodes in different orders, and a vote closed early.  Every node ends
# with the same state_digest and the same versions.
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

$_->stop for @nodes;
done_testing();
