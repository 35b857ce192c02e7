# A row from a peer never stops replication.  A rogue peer (its key pinned,
# signing what it likes) withholds blocks, sends entry rows again while
# they wait for their block, re-sends a quarantined block with its entries,
# repeats an equivocating block, and sends a parked block that cannot be
# written once its predecessor is (it reuses the predecessor's transaction
# number).  Every such row is quarantined with a reason, the apply worker
# never fails, nothing valid is lost, and the rogue's later valid blocks
# keep arriving: tracelink.peers says "streaming" throughout.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlTest;

my @nodes = map { tl_node($_) } qw(n1 n2 rogue);
my ($n1, $n2, $rogue) = @nodes;
my @receivers = ($n1, $n2);
mesh(@nodes);
for my $node (@nodes)
{
	$node->poll_query_until('postgres',
		"SELECT count(*) = 2 FROM tracelink.peers WHERE status = 'streaming'")
	  or die $node->name . ' does not stream from its peers';
}

# Stop at the first wait that does not end: on code that stalls, every
# later wait would only time out again.
sub wait_or_stop
{
	my ($node, $query, $name) = @_;
	return 1 if ok($node->poll_query_until('postgres', $query), $name);
	diag($node->name . "'s log:\n" . substr(slurp_file($node->logfile), -3000));
	$_->stop('immediate') for @nodes;
	done_testing();
	exit 0;
}

sub q1
{
	my ($node, $sql) = @_;
	return $node->safe_psql('postgres', $sql);
}

# every receiver holds the rogue's head as the rogue (or its forged chain) has it
sub rogue_head_everywhere
{
	my ($hash, $what) = @_;
	wait_or_stop($_,
		"SELECT encode(block_hash, 'hex') = '$hash' FROM tracelink.ledger_heads WHERE origin = 'rogue'",
		$_->name . " applies the rogue's blocks up to $what")
	  for @receivers;
}

# The rogue, as a superuser of its own database, writes its ledger tables
# directly: triggers off, and no keys, so that it can send a row twice.
$rogue->safe_psql('postgres', slurp_file("$ENV{TESTDIR}/sql/include/forge.sql"));
$rogue->safe_psql('postgres', <<'SQL');
CREATE FUNCTION rogue_seed() RETURNS bytea LANGUAGE sql AS
$$ SELECT decode(split_part(pg_read_file('pg_tracelink/rogue.key'), E'\n', 3), 'hex') $$;
ALTER TABLE tracelink.ledger_entries DISABLE TRIGGER USER;
ALTER TABLE tracelink.ledger_blocks DISABLE TRIGGER USER;
ALTER TABLE tracelink.ledger_blocks DROP CONSTRAINT ledger_blocks_pkey;
ALTER TABLE tracelink.ledger_blocks DROP CONSTRAINT ledger_blocks_tx;
SQL

# its publications without (withhold) and with its blocks
sub withhold_blocks
{
	for my $peer (qw(n1 n2))
	{
		$rogue->safe_psql('postgres',
			"ALTER PUBLICATION tracelink_to_$peer SET TABLE tracelink.ledger_entries"
			  . " WHERE (origin = 'rogue' AND (audience IS NULL OR '$peer' = ANY (audience)))");
	}
}

sub publish_blocks
{
	$rogue->safe_psql('postgres',
		"SELECT tracelink._publish_for_peer('n1'), tracelink._publish_for_peer('n2')");
}

sub rogue_head
{
	return q1($rogue,
		"SELECT encode(block_hash, 'hex') FROM tracelink.ledger_heads WHERE origin = 'rogue'");
}

q1($rogue, "SELECT tracelink.append('acme.honest', '{\"n\": 0}')");
rogue_head_everywhere(rogue_head(), 'its first honest block');

# ---------------------------------------------------------------------
# A withheld block, and entry rows of it sent again while they wait.
# ---------------------------------------------------------------------
withhold_blocks();
q1($rogue, "SELECT tracelink.append('acme.withheld', '{\"n\": 1}')");
wait_or_stop($_,
	"SELECT count(*) = 1 FROM tracelink.inbox_entries WHERE origin = 'rogue'",
	$_->name . ' parks the entry whose block is withheld')
  for @receivers;
# the same entry row again, in a transaction of its own
q1($rogue,
	"INSERT INTO tracelink.ledger_entries SELECT * FROM tracelink.ledger_entries"
	  . " WHERE origin = 'rogue' AND kind = 'acme.withheld'");
# and an entry sent twice in the transaction that appends it
q1($rogue, <<'SQL');
BEGIN;
SELECT tracelink.append('acme.withheld', '{"n": 2}');
INSERT INTO tracelink.ledger_entries SELECT * FROM tracelink.ledger_entries
 WHERE origin = 'rogue' AND payload = '{"n":2}';
COMMIT;
SQL
# the blocks, at last
publish_blocks();
q1($rogue,
	"INSERT INTO tracelink.ledger_blocks SELECT DISTINCT ON (block_no) * FROM tracelink.ledger_blocks"
	  . " WHERE origin = 'rogue' AND tx IN (SELECT tx FROM tracelink.ledger_entries WHERE kind = 'acme.withheld')"
	  . " ORDER BY block_no");
rogue_head_everywhere(rogue_head(), 'the withheld ones');
for my $node (@receivers)
{
	my $name = $node->name;
	is(q1($node, "SELECT count(*) FROM tracelink.ledger_entries WHERE kind = 'acme.withheld'"),
		'2', "$name applies each withheld entry once");
	is(q1($node, "SELECT count(*) FROM tracelink.inbox_entries WHERE origin = 'rogue'"),
		'0', "$name keeps nothing waiting");
	is( q1($node,
			"SELECT string_agg(reason, ' | ' ORDER BY reason) FROM tracelink.quarantine"
			  . " WHERE origin = 'rogue' AND what = 'entry' AND row_data->>'kind' = 'acme.withheld'"),
		'replayed entry: it is already waiting for its block | '
		  . 'replayed entry: the same entry arrived twice while waiting for its block',
		"$name quarantines the second copies as replays");
	is(q1($node, "SELECT status FROM tracelink.peers WHERE name = 'rogue'"),
		'streaming', "$name still streams from the rogue");
}

# ---------------------------------------------------------------------
# A block that is quarantined (its signature does not verify) with its
# entry, then the same rows again.  Its entries do not wait for a block
# that is gone: they are quarantined with its reason, both times.
# ---------------------------------------------------------------------
q1($rogue, "SELECT forge_from_own_chain('rogue', rogue_seed())");
my $forged_tx = q1($rogue, "SELECT next_tx FROM forge_chain WHERE origin = 'rogue'");
my $forged_no = q1($rogue, "SELECT next_block FROM forge_chain WHERE origin = 'rogue'");
q1($rogue,
	"SELECT forge_block('rogue', jsonb_build_array(forge_entry('acme.forged', '{\"n\": 1}')),"
	  . " '{\"signed\": false, \"advance\": false}')");
for my $node (@receivers)
{
	wait_or_stop($node,
		"SELECT count(*) = 1 FROM tracelink.quarantine WHERE origin = 'rogue' AND tx = $forged_tx AND what = 'entry'",
		$node->name . ' quarantines the entry of the forged block');
}
q1($rogue, <<"SQL");
BEGIN;
INSERT INTO tracelink.ledger_entries SELECT * FROM tracelink.ledger_entries WHERE origin = 'rogue' AND tx = $forged_tx;
INSERT INTO tracelink.ledger_blocks SELECT * FROM tracelink.ledger_blocks WHERE origin = 'rogue' AND tx = $forged_tx LIMIT 1;
COMMIT;
SQL
q1($rogue, "SELECT tracelink.append('acme.honest', '{\"n\": 3}')");
rogue_head_everywhere(rogue_head(), 'the honest block after the forged one');
for my $node (@receivers)
{
	my $name = $node->name;
	is( q1($node,
			"SELECT string_agg(what || ': ' || reason, ' | ' ORDER BY id) FROM tracelink.quarantine"
			  . " WHERE origin = 'rogue' AND tx = $forged_tx"),
		join(' | ',
			("block: signature does not verify with the origin's key",
			 "entry: its block $forged_no was quarantined: signature does not verify with the origin's key") x 2),
		"$name quarantines the forged block and its entry, sent twice");
	is(q1($node, "SELECT count(*) FROM tracelink.inbox_entries WHERE origin = 'rogue'"),
		'0', "$name keeps no entry of the forged block waiting");
}

# ---------------------------------------------------------------------
# The same equivocating block twice: one piece of evidence, two refusals
# for what they are.
# ---------------------------------------------------------------------
q1($rogue, "SELECT forge_from_own_chain('rogue', rogue_seed())");
my $eq_tx = q1($rogue, "SELECT next_tx FROM forge_chain WHERE origin = 'rogue'");
q1($rogue,
	"SELECT forge_block('rogue', jsonb_build_array(forge_entry('acme.equivocating', '{}')),"
	  . " jsonb_build_object('block_no', 1, 'advance', false, 'prev_hash',"
	  . "   (SELECT encode(block_hash, 'hex') FROM tracelink.ledger_blocks WHERE origin = 'rogue' AND block_no = 0)))");
q1($rogue,
	"INSERT INTO tracelink.ledger_blocks SELECT * FROM tracelink.ledger_blocks WHERE origin = 'rogue' AND tx = $eq_tx");
q1($rogue, "SELECT tracelink.append('acme.honest', '{\"n\": 4}')");
rogue_head_everywhere(rogue_head(), 'the honest block after the equivocating one');
for my $node (@receivers)
{
	my $name = $node->name;
	is( q1($node,
			"SELECT string_agg(reason, ' | ') FROM tracelink.quarantine"
			  . " WHERE origin = 'rogue' AND tx = $eq_tx AND what = 'block'"),
		'equivocation: origin "rogue" shows two different blocks numbered 1 | '
		  . 'equivocation: origin "rogue" shows two different blocks numbered 1',
		"$name refuses the equivocating block twice as an equivocation");
	is(q1($node, "SELECT count(*) FROM tracelink.equivocations WHERE origin = 'rogue'"),
		'1', "$name keeps the evidence once");
}

# ---------------------------------------------------------------------
# A parked block that cannot follow its predecessor (it seals the same
# transaction): the predecessor is applied, the parked block alone is
# quarantined, and the rogue's next valid block follows.  From here on
# the rogue's chain is forged (its own head stays behind).
# ---------------------------------------------------------------------
q1($rogue, "SELECT forge_from_own_chain('rogue', rogue_seed())");
my $d_tx = q1($rogue, "SELECT next_tx FROM forge_chain WHERE origin = 'rogue'");
my $d_no = q1($rogue, "SELECT next_block FROM forge_chain WHERE origin = 'rogue'");
q1($rogue,
	"SELECT forge_block('rogue', jsonb_build_array(forge_entry('acme.valid', '{\"n\": 1}')), '{\"hold\": true}')");
q1($rogue,
	"SELECT forge_block('rogue', '[]', jsonb_build_object('tx', $d_tx, 'advance', false))");
wait_or_stop($_,
	"SELECT count(*) = 1 FROM tracelink.inbox_blocks WHERE origin = 'rogue'",
	$_->name . ' parks the block ahead of its predecessor')
  for @receivers;
q1($rogue, "INSERT INTO tracelink.ledger_blocks SELECT (b).* FROM forge_held b WHERE block_no = $d_no");
my $last;
$last = q1($rogue,
	"SELECT encode(forge_block('rogue', jsonb_build_array(forge_entry('acme.valid', jsonb_build_object('n', $_)))), 'hex')"
) for 2 .. 4;
rogue_head_everywhere($last, 'the valid blocks after the one that reused a transaction');
for my $node (@receivers)
{
	my $name = $node->name;
	is( q1($node,
			"SELECT reason FROM tracelink.quarantine WHERE origin = 'rogue' AND what = 'block' AND block_no = "
			  . ($d_no + 1) . " AND tx = $d_tx"),
		"block seals transaction $d_tx, which block $d_no of its origin sealed already",
		"$name quarantines only the parked block that reuses a transaction");
	is(q1($node, "SELECT count(*) FROM tracelink.ledger_entries WHERE origin = 'rogue' AND kind = 'acme.valid'"),
		'4', "$name applies every valid forged entry");
}

# ---------------------------------------------------------------------
# Nothing lost, nothing stalled.
# ---------------------------------------------------------------------
my $expected = q1($rogue,
	"SELECT count(DISTINCT entry_hash) FROM tracelink.ledger_entries"
	  . " WHERE origin = 'rogue' AND (tx < 1000 OR kind = 'acme.valid')");
for my $node (@receivers)
{
	my $name = $node->name;
	is(q1($node, "SELECT count(*) FROM tracelink.ledger_entries WHERE origin = 'rogue'"),
		$expected, "$name holds every entry of the rogue's valid blocks");
	is( q1($node,
			"SELECT coalesce(string_agg(origin || ': ' || reason, '; '), '') FROM tracelink.verify() WHERE NOT ok"),
		'', "$name: verify() finds nothing wrong");
	is(q1($node, "SELECT count(*) FROM tracelink.peers WHERE status = 'streaming'"),
		'2', "$name streams from both peers");
	my $log = slurp_file($node->logfile);
	unlike($log, qr/duplicate key value violates unique constraint/,
		"$name: no write of the apply path failed");
	unlike($log, qr/"logical replication worker" \(PID \d+\) exited with exit code/,
		"$name: no apply worker exited");
}

$_->stop for @nodes;
done_testing();
