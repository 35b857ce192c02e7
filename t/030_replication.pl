# Nodes synchronise over logical replication: a full mesh of three nodes
# converges; a writer killed with -m immediate mid-stream and a receiver
# killed mid-stream lose nothing committed; a partitioned subscription
# catches up; a node that joins late receives the whole history; a rogue
# peer's forged, replayed, broken-chain, equivocating and impersonating rows
# are quarantined while everything else keeps flowing; remove_peer stops it.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlTest;

my @nodes = map { tl_node("n$_") } 1 .. 3;
my ($n1, $n2, $n3) = @nodes;
my %keys = mesh(@nodes);

for my $node (@nodes)
{
	ok( $node->poll_query_until('postgres',
			"SELECT count(*) = 2 FROM tracelink.peers WHERE status = 'streaming'"),
		$node->name . ' streams from both peers');
}

sub write_on
{
	my ($node, $rows, $tag) = @_;
	$node->safe_psql('postgres',
		"SELECT count(tracelink.append('acme.scan', jsonb_build_object('tag', '$tag', 'i', g)))"
		  . " FROM generate_series(1, $rows) g");
}

# entries per origin, as one string, as a node holds them
sub entry_counts
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT string_agg(origin || ':' || n, ',' ORDER BY origin)"
		  . " FROM (SELECT origin, count(*) n FROM tracelink.ledger_entries GROUP BY origin) c");
}

# all nodes agree: same digest, same entries per origin, verify() clean
sub check_same
{
	my ($label, @group) = @_;
	my %digests = state_digests(@group);
	my %distinct = map { $_ => 1 } values %digests;
	is(scalar(keys %distinct), 1, "$label: one state_digest on " . join(',', sort keys %digests));
	# Heads can agree a moment before the last entries are visible
	# everywhere (a late joiner's genesis, its first witnesses): give the
	# counts the same time to settle that a poll gets, then compare.
	my %counts;
	for my $try (1 .. $PostgreSQL::Test::Utils::timeout_default * 10)
	{
		%counts = map { $_->name => entry_counts($_) } @group;
		last if scalar(keys %{ { map { $_ => 1 } values %counts } }) == 1;
		select(undef, undef, undef, 0.1);
	}
	my %distinct_counts = map { $_ => 1 } values %counts;
	is(scalar(keys %distinct_counts), 1, "$label: the same entries of every origin everywhere")
	  or diag(explain \%counts);
	for my $node (@group)
	{
		is( $node->safe_psql('postgres',
				"SELECT coalesce(string_agg(origin || ': ' || first_bad || ': ' || reason, '; '), '')"
				  . " FROM tracelink.verify() WHERE NOT ok"),
			'', "$label: verify() finds nothing wrong on " . $node->name);
	}
}

write_on($_, 5, 'first') for @nodes;
wait_converged(@nodes);
check_same('full mesh', @nodes);
is( $n2->safe_psql('postgres',
		"SELECT string_agg(origin || ':' || n, ',' ORDER BY origin) FROM (SELECT origin, count(*) n"
		  . " FROM tracelink.ledger_entries WHERE kind <> 'tl.witness' GROUP BY origin) c"),
	'n1:6,n2:6,n3:6', 'each node holds genesis + 5 entries of every origin, besides witnesses');

# ---------------------------------------------------------------------
# A writer is killed in the middle of a stream of commits, then restarted.
# ---------------------------------------------------------------------
sub start_stream
{
	my ($node, $tag, $count) = @_;
	my ($out, $err) = ('', '');
	my $sql = "DO \$\$ BEGIN FOR i IN 1..$count LOOP"
	  . " PERFORM tracelink.append('acme.stream', jsonb_build_object('tag', '$tag', 'i', i));"
	  . " COMMIT; END LOOP; END \$\$";
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-q', '-d', $node->connstr('postgres'), '-c', $sql ],
		'>', \$out, '2>', \$err);
	return $h;
}

my $stream = start_stream($n1, 'killed-writer', 100000);
$n1->poll_query_until('postgres',
	"SELECT count(*) > 200 FROM tracelink.ledger_blocks WHERE origin = 'n1'")
  or die 'the stream did not start';
$n1->stop('immediate');
$stream->finish;
$n1->start;
my ($committed) = $n1->safe_psql('postgres',
	"SELECT count(*) FROM tracelink.ledger_entries WHERE origin = 'n1' AND payload LIKE '%killed-writer%'");
cmp_ok($committed, '>', 200, "n1 committed $committed stream entries before it was killed");
is($n1->safe_psql('postgres', "SELECT ok FROM tracelink.verify('n1')"), 't',
	'the killed writer\'s own chain verifies after restart');
write_on($n1, 3, 'after-restart');
wait_converged(@nodes);
check_same('writer killed mid-stream', @nodes);
for my $node ($n2, $n3)
{
	is( $node->safe_psql('postgres',
			"SELECT count(*) FROM tracelink.ledger_entries WHERE origin = 'n1' AND payload LIKE '%killed-writer%'"),
		$committed, $node->name . ' holds every entry n1 committed before it was killed');
}

# ---------------------------------------------------------------------
# A receiver is killed while a peer streams to it.
# ---------------------------------------------------------------------
$stream = start_stream($n2, 'killed-receiver', 400);
$n3->poll_query_until('postgres',
	"SELECT count(*) > 50 FROM tracelink.ledger_entries WHERE payload LIKE '%killed-receiver%'")
  or die 'n3 received nothing';
$n3->stop('immediate');
$stream->finish;
$n3->start;
wait_converged(@nodes);
check_same('receiver killed mid-stream', @nodes);
is($n3->safe_psql('postgres',
		"SELECT count(*) FROM tracelink.ledger_entries WHERE payload LIKE '%killed-receiver%'"),
	'400', 'n3 holds all 400 entries of the stream it was killed in');

# ---------------------------------------------------------------------
# A partition: n3 stops receiving from n1 for a while.
# ---------------------------------------------------------------------
$n3->safe_psql('postgres', 'ALTER SUBSCRIPTION tracelink_from_n1 DISABLE');
$n3->poll_query_until('postgres',
	"SELECT status = 'disabled' FROM tracelink.peers WHERE name = 'n1'")
  or die 'subscription did not stop';
write_on($n1, 4, "partition-$_") for 1 .. 5;
write_on($n2, 2, 'partition-n2');
my %n1_heads = heads_of($n1);
$n2->poll_query_until('postgres',
	"SELECT block_no = $n1_heads{n1} FROM tracelink.ledger_heads WHERE origin = 'n1'")
  or die 'n2 did not catch up with n1';
my %n3_heads = heads_of($n3);
cmp_ok($n3_heads{n1}, '<', $n1_heads{n1}, 'during the partition n3 falls behind n1');
$n3->safe_psql('postgres', 'ALTER SUBSCRIPTION tracelink_from_n1 ENABLE');
wait_converged(@nodes);
check_same('after the partition', @nodes);

# ---------------------------------------------------------------------
# A node joins late and catches up on the whole history.
# ---------------------------------------------------------------------
my $n4 = tl_node('n4');
%keys = (%keys, init_nodes($n4));
connect_nodes(\%keys, [$n4], \@nodes);
push @nodes, $n4;
wait_converged(@nodes);
check_same('late joiner', @nodes);
write_on($n4, 2, 'from-n4');
wait_converged(@nodes);
check_same('late joiner writes', @nodes);

# ---------------------------------------------------------------------
# A rogue peer.  Its key is pinned like any peer's; then, as superuser of
# its own database with its triggers disabled, it sends forged rows.
# ---------------------------------------------------------------------
my $rogue = tl_node('rogue');
%keys = (%keys, init_nodes($rogue));
connect_nodes(\%keys, [$rogue], \@nodes);
write_on($rogue, 3, 'rogue-honest');
wait_converged(@nodes, $rogue);

$rogue->safe_psql('postgres', <<'SQL');
-- the rogue's own signing seed, read from its key file
CREATE FUNCTION rogue_seed() RETURNS bytea LANGUAGE sql AS
$$ SELECT decode(split_part(pg_read_file('pg_tracelink/rogue.key'), E'\n', 3), 'hex') $$;

-- Insert an entry and a one-entry block for it, bypassing tracelink: the
-- header is well formed; the signature is genuine or garbage.
CREATE FUNCTION forge_block(p_block_no bigint, p_prev bytea, p_tx bigint, p_signed boolean,
                            p_nonce text, p_origin text DEFAULT 'rogue') RETURNS bytea
LANGUAGE plpgsql AS $$
DECLARE
    payload jsonb := jsonb_build_object('nonce', p_nonce);
    e_hash bytea;
    prior bytea[];
    hdr jsonb;
    bh bytea;
    us bigint := (extract(epoch FROM now()) * 1000000)::bigint;
BEGIN
    e_hash := sha256(convert_to(tracelink.entry_preimage('rogue.forged', payload, NULL, p_origin, p_tx, 0), 'UTF8'));
    INSERT INTO tracelink.ledger_entries (origin, tx, seq, kind, payload, entry_hash)
    VALUES (p_origin, p_tx, 0, 'rogue.forged', tracelink.jcs(payload), e_hash);
    SELECT coalesce(array_agg(substring(h FROM i * 32 + 1 FOR 32) ORDER BY i), '{}') INTO prior
      FROM (SELECT string_agg(entry_hashes, ''::bytea ORDER BY block_no) h
              FROM (SELECT DISTINCT ON (block_no) * FROM tracelink.ledger_blocks
                     WHERE origin = p_origin AND block_no < p_block_no ORDER BY block_no, sealed_at) b) x,
           generate_series(0, coalesce(length(x.h), 0) / 32 - 1) i;
    prior := prior || e_hash;
    hdr := jsonb_build_object('block_no', p_block_no,
                              'entries_root', encode(tracelink.merkle_root(ARRAY[e_hash]), 'hex'),
                              'entry_count', 1, 'next_key', NULL, 'origin', p_origin,
                              'prev_hash', encode(p_prev, 'hex'), 'sealed_at', us,
                              'signer_key', encode(tracelink.ed25519_public_key(rogue_seed()), 'hex'),
                              'tree_root', encode(tracelink.merkle_root(prior), 'hex'),
                              'tree_size', array_length(prior, 1), 'tx', p_tx, 'type', 'block');
    bh := sha256(convert_to(tracelink.jcs(hdr), 'UTF8'));
    INSERT INTO tracelink.ledger_blocks
    VALUES (p_origin, p_block_no, p_tx, 1, e_hash, tracelink.merkle_root(ARRAY[e_hash]),
            array_length(prior, 1), tracelink.merkle_root(prior), p_prev,
            'epoch'::timestamptz + us * interval '1 microsecond',
            tracelink.ed25519_public_key(rogue_seed()), NULL, bh,
            CASE WHEN p_signed THEN tracelink.ed25519_sign(rogue_seed(), bh)
                 ELSE decode(repeat('ab', 64), 'hex') END);
    RETURN bh;
END $$;
ALTER TABLE tracelink.ledger_entries DISABLE TRIGGER USER;
ALTER TABLE tracelink.ledger_blocks DISABLE TRIGGER USER;
ALTER TABLE tracelink.ledger_blocks DROP CONSTRAINT ledger_blocks_pkey;
ALTER TABLE tracelink.ledger_blocks DROP CONSTRAINT ledger_blocks_tx;
SQL

my %rogue_heads = heads_of($rogue);
my $next = $rogue_heads{rogue} + 1;
my $head_hash = $rogue->safe_psql('postgres',
	"SELECT encode(block_hash, 'hex') FROM tracelink.ledger_heads WHERE origin = 'rogue'");

# (a) a forged signature
$rogue->safe_psql('postgres',
	"SELECT forge_block($next, '\\x$head_hash', 1001, false, 'forged signature')");
# (b) a replayed block
$rogue->safe_psql('postgres',
	"INSERT INTO tracelink.ledger_blocks SELECT * FROM tracelink.ledger_blocks WHERE origin = 'rogue' AND block_no = 1");
# (c) a broken chain, validly signed
$rogue->safe_psql('postgres',
	"SELECT forge_block($next, sha256('elsewhere'), 1002, true, 'broken chain')");
# (d) equivocation: a valid block, then another valid one with the same number
my $valid_hash = $rogue->safe_psql('postgres',
	"SELECT encode(forge_block($next, '\\x$head_hash', 1003, true, 'valid'), 'hex')");
$rogue->safe_psql('postgres',
	"SELECT forge_block($next, '\\x$head_hash', 1004, true, 'equivocating')");
# (e) an entry whose content does not match its hash, for the valid block
$rogue->safe_psql('postgres',
	"INSERT INTO tracelink.ledger_entries (origin, tx, seq, kind, payload, entry_hash)"
	  . " SELECT origin, tx, seq, kind, '{\"nonce\":\"altered\"}', entry_hash"
	  . " FROM tracelink.ledger_entries WHERE origin = 'rogue' AND tx = 1003");
# (f) impersonation: the rogue sends n1 a block claiming to be n2's
$rogue->safe_psql('postgres',
	"ALTER PUBLICATION tracelink_to_n1 SET TABLE tracelink.ledger_blocks");
$rogue->safe_psql('postgres',
	"SELECT forge_block(1000, sha256('x'), 1005, true, 'impersonation', 'n2')");

# meanwhile the honest nodes keep writing
write_on($_, 2, 'during-attack') for @nodes;

my @expected = (
	[ 'signature does not verify', 'forged signature' ],
	[ 'replayed block', 'replayed block' ],
	[ 'does not link to block', 'broken chain' ],
	[ 'equivocation', 'equivocating block' ],
	[ 'entry hash does not match', 'altered entry' ]);
for my $node (@nodes)
{
	for my $case (@expected)
	{
		my ($reason, $what) = @$case;
		ok( $node->poll_query_until('postgres',
				"SELECT count(*) > 0 FROM tracelink.quarantine WHERE origin = 'rogue' AND reason LIKE '%$reason%'"),
			$node->name . " quarantines the rogue's $what");
	}
	is( $node->safe_psql('postgres',
			"SELECT count(*) FROM tracelink.equivocations WHERE origin = 'rogue' AND block_no = $next"),
		'1', $node->name . ' keeps the equivocation as evidence');
}
ok( $n1->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM tracelink.quarantine WHERE source = 'tracelink_from_rogue' AND origin = 'n2'"
		  . " AND reason LIKE '%carries only its own peer''s rows%'"),
	'n1 quarantines a block the rogue sent in n2\'s name');

# the valid forged block is the rogue's own business: it is applied
for my $node (@nodes)
{
	is( $node->safe_psql('postgres',
			"SELECT encode(block_hash, 'hex') FROM tracelink.ledger_heads WHERE origin = 'rogue'"),
		$valid_hash, $node->name . ' applied the rogue\'s one valid block');
}
wait_converged(@nodes);
check_same('after the attack', @nodes);
is($n2->safe_psql('postgres', "SELECT count(*) FROM tracelink.quarantined"),
	$n2->safe_psql('postgres', "SELECT count(*) FROM tracelink.quarantine"),
	'the quarantined view lists the quarantine');

# ---------------------------------------------------------------------
# remove_peer: replication with the rogue stops; its blocks still verify.
# ---------------------------------------------------------------------
for my $node (@nodes)
{
	$node->safe_psql('postgres', "CALL tracelink.remove_peer('rogue')");
	is( $node->safe_psql('postgres',
			"SELECT status FROM tracelink.peers WHERE name = 'rogue'"),
		'removed', $node->name . ' shows the rogue as removed');
	is( $node->safe_psql('postgres',
			"SELECT count(*) FROM pg_subscription WHERE subname = 'tracelink_from_rogue'")
		  + $node->safe_psql('postgres',
			"SELECT count(*) FROM pg_publication WHERE pubname = 'tracelink_to_rogue'"),
		0, $node->name . ' keeps no subscription or publication for the rogue');
	is($node->safe_psql('postgres', "SELECT ok FROM tracelink.verify('rogue')"), 't',
		$node->name . ': the rogue\'s applied blocks still verify');
}
is($n1->psql('postgres', "CALL tracelink.remove_peer('rogue')"), 3,
	'removing an unknown peer is an error');
write_on($_, 1, 'final') for @nodes;
wait_converged(@nodes);
check_same('final', @nodes);

$_->stop for (@nodes, $rogue);
done_testing();
