# A rogue node splits its view: it signs different blocks with one number
# and shows each to different honest nodes (a row filter per peer's
# publication), so that no honest node receives two blocks with one number.
# Every honest node must still detect it within a bounded time, by the
# witness entries the honest nodes exchange (docs/ledger.md, "Witnessing
# heads"):
#   1. alpha and bravo get block n = X, charlie gets Y, and the rogue goes
#      silent at once: the apply path's witnesses catch it on all three;
#      the three record the same pair of signed heads, flag the rogue in
#      sync_status and peers, and NOTIFY;
#   2. with witnessing on the apply path slowed (interval of an hour) and a
#      quiet network, alpha and bravo get different blocks n+1: nothing is
#      caught until tracelink.witness() runs (as cron would); then alpha and
#      bravo catch it from each other's heads, and charlie, whose copy stops
#      at n, from the evidence they pass on; charlie keeps the heads beyond
#      its copy through a restart;
#   3. the rogue extends charlie's branch: charlie checks the heads it kept
#      and records the equivocations they show;
#   4. forged and malformed witnesses are quarantined with their reasons,
#      a head of alpha's own chain signed with alpha's stolen key is
#      recorded as a key compromise, and replication goes on.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use TlTest;

my @honest = map { tl_node($_, conf => "tracelink.witness_interval = 0\n") } qw(alpha bravo charlie);
my ($alpha, $bravo, $charlie) = @honest;
my $rogue = tl_node('rogue', conf => "tracelink.witness_interval = -1\n");
my %keys = mesh(@honest, $rogue);
for my $node (@honest, $rogue)
{
	$node->poll_query_until('postgres',
		"SELECT count(*) = 3 FROM tracelink.peers WHERE status = 'streaming'")
	  or die $node->name . ' does not stream from all its peers';
}
for my $node (@honest)
{
	$node->safe_psql('postgres', "SELECT tracelink.append('acme.scan', '{\"n\": 1}')");
}
wait_converged(@honest, $rogue);

# ---------------------------------------------------------------------
# The rogue: with its triggers disabled it writes blocks of its own chain
# itself, signed with its key file.  A forged block's tx says which peers
# get it: tx = 900000 + 1000 * mask + k, mask bits 1 alpha, 2 bravo,
# 4 charlie (lower tx: every peer).
# ---------------------------------------------------------------------
my %bit = (alpha => 1, bravo => 2, charlie => 4);
for my $peer (sort keys %bit)
{
	my $filter = "tx < 900000 OR ((tx - 900000) / 1000) & $bit{$peer} <> 0";
	$rogue->safe_psql('postgres',
		"ALTER PUBLICATION tracelink_to_$peer SET TABLE"
		  . " tracelink.ledger_entries WHERE (origin = 'rogue' AND (audience IS NULL OR '$peer' = ANY (audience)) AND ($filter)),"
		  . " tracelink.ledger_blocks WHERE (origin = 'rogue' AND ($filter))");
}
$rogue->safe_psql('postgres', <<'SQL');
CREATE FUNCTION seed_of(path text) RETURNS bytea LANGUAGE sql AS
$$ SELECT decode(split_part(pg_read_file(path), E'\n', 3), 'hex') $$;

-- the leaves of the chain ending with block p_prev: forged blocks remember
-- theirs, the rogue's honest blocks are its ledger
CREATE TABLE forged (block_hash bytea PRIMARY KEY, leaves bytea[] NOT NULL);
CREATE FUNCTION chain_leaves(p_origin text, p_prev bytea) RETURNS bytea[] LANGUAGE sql AS $$
    SELECT coalesce((SELECT leaves FROM forged WHERE block_hash = p_prev),
                    (SELECT array_agg(substring(b.entry_hashes FROM i * 32 + 1 FOR 32) ORDER BY b.block_no, i)
                       FROM tracelink.ledger_blocks b, generate_series(0, b.entry_count - 1) i
                      WHERE b.origin = p_origin AND b.tx < 900000
                        AND b.block_no <= (SELECT block_no FROM tracelink.ledger_blocks
                                            WHERE origin = p_origin AND block_hash = p_prev)))
$$;

-- a signed head of a block that follows p_prev, holding one entry
CREATE FUNCTION make_head(p_origin text, p_seed bytea, p_block_no bigint, p_prev bytea, p_tx bigint,
                          p_entry bytea) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    leaves bytea[] := coalesce(chain_leaves(p_origin, p_prev), '{}') || p_entry;
    hdr jsonb;
    bh bytea;
BEGIN
    hdr := jsonb_build_object('block_no', p_block_no,
                              'entries_root', encode(tracelink.merkle_root(ARRAY[p_entry]), 'hex'),
                              'entry_count', 1, 'next_key', NULL, 'origin', p_origin,
                              'prev_hash', encode(p_prev, 'hex'),
                              'sealed_at', (extract(epoch FROM clock_timestamp()) * 1000000)::bigint,
                              'signer_key', encode(tracelink.ed25519_public_key(p_seed), 'hex'),
                              'tree_root', encode(tracelink.merkle_root(leaves), 'hex'),
                              'tree_size', cardinality(leaves), 'tx', p_tx, 'type', 'block');
    bh := sha256(convert_to(tracelink.jcs(hdr), 'UTF8'));
    INSERT INTO forged VALUES (bh, leaves) ON CONFLICT DO NOTHING;
    RETURN hdr || jsonb_build_object('block_hash', encode(bh, 'hex'),
                                     'signature', encode(tracelink.ed25519_sign(p_seed, bh), 'hex'));
END $$;

-- a block of the rogue's chain after p_prev, with one entry, written into
-- its ledger tables (and so published by the filters above); returns its hash
CREATE FUNCTION forge_block(p_block_no bigint, p_prev bytea, p_tx bigint, p_kind text, p_payload jsonb)
RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE
    seed bytea := seed_of('pg_tracelink/rogue.key');
    e_hash bytea := sha256(convert_to(tracelink.entry_preimage(p_kind, p_payload, NULL, 'rogue', p_tx, 0), 'UTF8'));
    h jsonb := make_head('rogue', seed, p_block_no, p_prev, p_tx, e_hash);
BEGIN
    INSERT INTO tracelink.ledger_entries (origin, tx, seq, kind, payload, entry_hash)
    VALUES ('rogue', p_tx, 0, p_kind, tracelink.jcs(p_payload), e_hash);
    INSERT INTO tracelink.ledger_blocks
    VALUES ('rogue', p_block_no, p_tx, 1, e_hash, decode(h->>'entries_root', 'hex'), (h->>'tree_size')::bigint,
            decode(h->>'tree_root', 'hex'), p_prev,
            'epoch'::timestamptz + (h->>'sealed_at')::bigint * interval '1 microsecond',
            decode(h->>'signer_key', 'hex'), NULL, decode(h->>'block_hash', 'hex'), decode(h->>'signature', 'hex'));
    RETURN decode(h->>'block_hash', 'hex');
END $$;
ALTER TABLE tracelink.ledger_entries DISABLE TRIGGER USER;
ALTER TABLE tracelink.ledger_blocks DISABLE TRIGGER USER;
ALTER TABLE tracelink.ledger_blocks DROP CONSTRAINT ledger_blocks_pkey;
ALTER TABLE tracelink.ledger_blocks DROP CONSTRAINT ledger_blocks_tx;
SQL

sub forge
{
	my ($block_no, $prev, $mask, $k, $kind, $payload) = @_;
	my $tx = 900000 + 1000 * $mask + $k;
	return $rogue->safe_psql('postgres',
		"SELECT encode(forge_block($block_no, '\\x$prev', $tx, '$kind', '$payload'), 'hex')");
}

# the rogue's head as node holds it
sub rogue_head
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT block_no || ' ' || encode(block_hash, 'hex') FROM tracelink.ledger_heads WHERE origin = 'rogue'");
}

sub wait_rogue_head
{
	my ($node, $block_no, $hash) = @_;
	$node->poll_query_until('postgres',
		"SELECT block_no = $block_no AND block_hash = '\\x$hash' FROM tracelink.ledger_heads WHERE origin = 'rogue'")
	  or die $node->name . " did not apply the rogue's block $block_no";
}

# the equivocations of the rogue at block_no, as the pair of hashes
sub pairs_at
{
	my ($node, $block_no) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(string_agg(encode(first_hash, 'hex') || '/' || encode(second_hash, 'hex'), ' '"
		  . " ORDER BY first_hash, second_hash), '') FROM tracelink.equivocations"
		  . " WHERE origin = 'rogue' AND block_no = $block_no");
}

sub pair
{
	my ($x, $y) = @_;
	return join('/', sort ($x, $y));
}

# a session listening on tracelink_equivocation on each honest node
my %listener;
for my $node (@honest)
{
	$listener{ $node->name } = $node->background_psql('postgres');
	$listener{ $node->name }->query_safe('LISTEN tracelink_equivocation');
}

# ---------------------------------------------------------------------
# 1. The split, then silence.
# ---------------------------------------------------------------------
my ($n, $prev) = split / /, rogue_head($alpha);
$n++;
my $x = forge($n, $prev, 3, 1, 'rogue.note', '{"says": "x"}');
my $y = forge($n, $prev, 4, 1, 'rogue.note', '{"says": "y"}');
wait_rogue_head($alpha, $n, $x);
wait_rogue_head($bravo, $n, $x);
wait_rogue_head($charlie, $n, $y);
$rogue->stop;
note "the rogue split block $n: $x to alpha and bravo, $y to charlie, and stopped";

for my $node (@honest)
{
	ok($node->poll_query_until('postgres',
			"SELECT count(*) = 1 FROM tracelink.equivocations WHERE origin = 'rogue' AND block_no = $n"),
		$node->name . ' detects the split of block ' . $n);
	is(pairs_at($node, $n), pair($x, $y), $node->name . ' records both blocks of the split');
	is( $node->safe_psql('postgres',
			"SELECT tracelink.verify_tree_head(first_block, '\\x$keys{rogue}')"
			  . " AND tracelink.verify_tree_head(second_block, '\\x$keys{rogue}')"
			  . " FROM tracelink.equivocations WHERE origin = 'rogue' AND block_no = $n"),
		't', $node->name . ': both recorded heads are signed by the rogue\'s key (the proof)');
	is( $node->safe_psql('postgres',
			"SELECT s.equivocating AND p.equivocating FROM tracelink.sync_status s"
			  . " JOIN tracelink.peers p ON p.name = s.peer WHERE s.peer = 'rogue'"),
		't', $node->name . ' flags the rogue in sync_status and peers');
	is( $node->safe_psql('postgres',
			"SELECT count(*) FROM tracelink.sync_status WHERE equivocating"),
		'1', $node->name . ' flags no honest node');
}
is( $alpha->safe_psql('postgres',
		"SELECT detected_by FROM tracelink.equivocations WHERE origin = 'rogue' AND block_no = $n"),
	'witness', 'alpha caught it from a witnessed head');

# the same record everywhere: the pair is ordered by hash, not by arrival
my %records = map {
	$_->name => $_->safe_psql('postgres',
		"SELECT string_agg(concat_ws('|', origin, block_no, encode(first_hash, 'hex'), encode(second_hash, 'hex'),"
		  . " first_block::text, second_block::text), E'\\n' ORDER BY block_no, first_hash, second_hash)"
		  . " FROM tracelink.equivocations")
} @honest;
is($records{bravo}, $records{alpha}, 'bravo records exactly what alpha records');
is($records{charlie}, $records{alpha}, 'charlie records exactly what alpha records');

# NOTIFY: ids only (the two block hashes); psql prints a notification
# after the next statement it runs
for my $node (@honest)
{
	my $out = $listener{ $node->name }->query_safe('SELECT 1');
	my ($first, $second) = $out =~
	  /Asynchronous notification "tracelink_equivocation" with payload "\{"first":"([0-9a-f]{64})","second":"([0-9a-f]{64})"\}"/;
	is(($first // '') . '/' . ($second // ''), pair($x, $y),
		$node->name . ' notifies its listeners with the two block hashes, nothing else');
}

$_->quit for values %listener;

# honest nodes holding the same entries still converge; charlie holds the
# rogue's other block, which is the split, and differs by nothing else
wait_converged(@honest);
my %digest = state_digests(@honest);
is($digest{bravo}, $digest{alpha}, 'alpha and bravo, holding the same entries, have one state_digest');
isnt($digest{charlie}, $digest{alpha}, 'charlie, holding the rogue\'s other block, has another');
my %rest = map {
	$_->name => $_->safe_psql('postgres',
		"SELECT encode(tracelink.digest(jsonb_build_array("
		  . " (SELECT jsonb_agg(h) FROM jsonb_array_elements(tracelink._ledger_state()->'heads') h WHERE h->>0 <> 'rogue'),"
		  . " tracelink._workflow_state(), tracelink._trace_state())), 'hex')")
} @honest;
is($rest{charlie}, $rest{alpha}, 'apart from the rogue\'s head, charlie\'s state is alpha\'s');

# ---------------------------------------------------------------------
# 2. A quiet network: the apply path witnesses at most once an hour, so
# only tracelink.witness() (cron) brings the next split to light.
# ---------------------------------------------------------------------
for my $node (@honest)
{
	$node->safe_psql('postgres', "ALTER SYSTEM SET tracelink.witness_interval = '1h'");
	$node->restart;
}
$rogue->start;
my $x1 = forge($n + 1, $x, 1, 2, 'rogue.note', '{"says": "x1"}');
my $z1 = forge($n + 1, $x, 2, 2, 'rogue.note', '{"says": "z1"}');
wait_rogue_head($alpha, $n + 1, $x1);
wait_rogue_head($bravo, $n + 1, $z1);
$rogue->stop;
note "the rogue split block " . ($n + 1) . ": $x1 to alpha, $z1 to bravo, and stopped";

for my $node ($alpha, $bravo)
{
	is($node->safe_psql('postgres', "SELECT news_since IS NOT NULL FROM tracelink.witness_state"),
		't', $node->name . ' notes the block as news to witness');
}
is(pairs_at($_, $n + 1), '', $_->name . ' has not caught the second split without witnessing')
  for @honest;

# cron: every honest node runs tracelink.witness() until all have caught it
my $caught = 0;
for my $tick (1 .. 600)
{
	$_->safe_psql('postgres', 'SELECT tracelink.witness()') for @honest;
	if (3 == grep { pairs_at($_, $n + 1) eq pair($x1, $z1) } @honest)
	{
		$caught = $tick;
		last;
	}
	usleep(200_000);
}
ok($caught, "with tracelink.witness() as cron, all three catch the second split (after $caught ticks)");
is( $charlie->safe_psql('postgres',
		"SELECT detected_by FROM tracelink.equivocations WHERE origin = 'rogue' AND block_no = " . ($n + 1)),
	'evidence', 'charlie, whose copy stops before that block, caught it from the evidence passed on');
is( $charlie->safe_psql('postgres',
		"SELECT witness_checks_pending FROM tracelink.sync_status WHERE peer = 'rogue'"),
	'2', 'charlie keeps both heads beyond its copy to check');
# witnesses do not answer witnesses: once the evidence is passed on, cron
# finds nothing more to witness
my $settled = 0;
for my $tick (1 .. 50)
{
	my @appended = grep { $_->safe_psql('postgres', 'SELECT tracelink.witness()') ne '' } @honest;
	if (!@appended)
	{
		$settled = $tick;
		last;
	}
	wait_converged(@honest);
}
ok($settled, "witnessing settles: witness() finds nothing new to witness after $settled ticks");
$charlie->restart;
is( $charlie->safe_psql('postgres',
		"SELECT string_agg(encode(block_hash, 'hex'), ' ' ORDER BY block_hash) FROM tracelink.witness_pending"
		  . " WHERE origin = 'rogue' AND block_no = " . ($n + 1)),
	join(' ', sort ($x1, $z1)), 'charlie still keeps them after a restart');

# ---------------------------------------------------------------------
# 3. The rogue extends charlie's branch: charlie checks what it kept.
# ---------------------------------------------------------------------
$rogue->start;
my $y1 = forge($n + 1, $y, 4, 3, 'rogue.note', '{"says": "y1"}');
wait_rogue_head($charlie, $n + 1, $y1);
is( $charlie->safe_psql('postgres',
		"SELECT count(*) FROM tracelink.witness_pending WHERE origin = 'rogue'"),
	'0', 'charlie checked the heads it kept once its copy reached them');
is(pairs_at($charlie, $n + 1),
	join(' ', sort (pair($x1, $z1), pair($x1, $y1), pair($y1, $z1))),
	'charlie records its block against each head it kept');
is( $charlie->safe_psql('postgres',
		"SELECT string_agg(detected_by, ',' ORDER BY detected_by) FROM tracelink.equivocations"
		  . " WHERE origin = 'rogue' AND block_no = " . ($n + 1)),
	'evidence,witness,witness', 'the two new pairs come from the witnessed heads');

# ---------------------------------------------------------------------
# 4. Forged and malformed witnesses, and a stolen key.
# ---------------------------------------------------------------------
my $bravo_head = $alpha->safe_psql('postgres', "SELECT tracelink.signed_tree_head('bravo')");
my $alpha_head = $alpha->safe_psql('postgres', "SELECT tracelink.signed_tree_head('alpha')");
my $alpha_key_file = $alpha->data_dir . '/pg_tracelink/alpha.key';
$rogue->safe_psql('postgres', <<"SQL");
-- bravo's head with another tree root and a garbage signature
CREATE TABLE forged_heads AS
SELECT 'forged' AS what, h || jsonb_build_object('block_hash', encode(sha256(convert_to(tracelink.jcs(h), 'UTF8')), 'hex'),
                                               'signature', repeat('ab', 64)) AS head
  FROM (SELECT ('$bravo_head'::jsonb - 'block_hash' - 'signature')
               || jsonb_build_object('tree_root', repeat('00', 32)) AS h) x;
-- alpha's chain, one block on, signed with alpha's key, read from its file
INSERT INTO forged_heads
SELECT 'stolen', make_head('alpha', seed_of('$alpha_key_file'), ('$alpha_head'::jsonb->>'block_no')::bigint + 1,
                           decode('$alpha_head'::jsonb->>'block_hash', 'hex'), 123456789,
                           sha256('an entry alpha never wrote'));
SQL
my $bad_head = $rogue->safe_psql('postgres', "SELECT head FROM forged_heads WHERE what = 'forged'");
my $stolen = $rogue->safe_psql('postgres', "SELECT head FROM forged_heads WHERE what = 'stolen'");
my $stolen_hash = $rogue->safe_psql('postgres', "SELECT head->>'block_hash' FROM forged_heads WHERE what = 'stolen'");
# a witness with a forged head of bravo, a malformed one, and the stolen one
my $w1 = forge($n + 2, $x1, 1, 4, 'tl.witness',
	qq({"equivocations": [], "heads": [$stolen, $bad_head, {"origin": "zulu"}]}));
# a witness that is not one
my $w2 = forge($n + 3, $w1, 1, 5, 'tl.witness', '{"heads": 5}');
wait_rogue_head($alpha, $n + 3, $w2);
my %quarantined = map { $_ => 1 } split /\n/, $alpha->safe_psql('postgres',
	"SELECT reason FROM tracelink.quarantine WHERE what = 'effect' AND origin = 'rogue' ORDER BY id");
ok( $quarantined{ 'witnessed head of "bravo" at block '
		  . ($bravo_head =~ /"block_no": (\d+)/)[0]
		  . ': signature does not verify with the origin\'s key' },
	'alpha quarantines the forged head of bravo')
  or diag(explain \%quarantined);
ok($quarantined{'witnessed head 3 is malformed: a head has exactly the members of a signed tree head'},
	'alpha quarantines the malformed head');
ok( $quarantined{
		'witness entry is malformed: its payload must be an object with exactly the arrays "equivocations" and "heads"'},
	'alpha quarantines the effect of a witness that is not one');
is( $alpha->safe_psql('postgres',
		"SELECT detected_by || ' ' || (first_hash IS NULL) || ' ' || encode(second_hash, 'hex')"
		  . " FROM tracelink.equivocations WHERE origin = 'alpha'"),
	"own chain true $stolen_hash",
	'alpha records the head of its own chain it never signed (its key is stolen)');
ok($alpha->log_contains('a block numbered \d+ of this node "alpha" that it never signed is validly signed by its key'),
	'alpha warns of it in its log');
is($alpha->safe_psql('postgres', "SELECT count(*) FROM tracelink.equivocations WHERE origin = 'bravo'"),
	'0', 'the forged head of bravo accuses nobody');

# replication goes on
$bravo->safe_psql('postgres', "SELECT tracelink.append('acme.scan', '{\"after\": \"forgeries\"}')");
ok( $alpha->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM tracelink.ledger_entries WHERE origin = 'bravo' AND payload LIKE '%forgeries%'"),
	'alpha still applies what bravo writes');
is($alpha->safe_psql('postgres', "SELECT ok FROM tracelink.verify('rogue')"), 't',
	'alpha\'s copy of the rogue\'s branch verifies');
is( $_->safe_psql('postgres',
		"SELECT coalesce(string_agg(origin || ': ' || reason, '; '), '') FROM tracelink.verify()"
		  . " WHERE NOT ok AND origin <> 'rogue'"),
	'', $_->name . ': every other chain verifies, witnesses included') for @honest;

$_->stop for (@honest, $rogue);
done_testing();
