# What arrives is checked as verify() checks it, with the same words.
#
# First a rogue peer (its key pinned, signing what it likes) streams blocks
# that are validly signed but hold entries verify() refuses: a key rotation
# entry in a block that hands over to no key (or to another key), a block
# that hands over to a new key without a rotation entry, an entry whose
# payload is not JSON.  Each such entry is quarantined on arrival, its
# block applied, the rogue's later blocks keep arriving, and verify() on
# the receivers finds nothing wrong.
#
# Then, for every check of block.c, a chain that breaks it: put into n1's
# ledger at rest (as a superuser could, rolled back afterwards), verify()
# names the problem; fed to n2 as export lines (ingest() applies them
# through the replication apply path), the quarantine gives the same words;
# and what n2 applied verifies.
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
my $forge_sql = slurp_file("$ENV{TESTDIR}/sql/include/forge.sql");
$_->safe_psql('postgres', $forge_sql) for @nodes;

sub q1
{
	my ($node, $sql) = @_;
	return $node->safe_psql('postgres', $sql);
}

# ---------------------------------------------------------------------
# The rogue's stream.
# ---------------------------------------------------------------------
q1($rogue, <<'SQL');
ALTER TABLE tracelink.ledger_entries DISABLE TRIGGER USER;
ALTER TABLE tracelink.ledger_blocks DISABLE TRIGGER USER;
SELECT forge_from_own_chain('rogue',
    decode(split_part(pg_read_file('pg_tracelink/rogue.key'), E'\n', 3), 'hex'));
SQL

# seeds of the keys the rogue hands over to, as hex
my %seed = map { $_ => q1($rogue, "SELECT encode(sha256('rogue $_'::bytea), 'hex')") } qw(k1 k2 k3 other);
my %key = map {
	$_ => q1($rogue, "SELECT encode(tracelink.ed25519_public_key('\\x$seed{$_}'), 'hex')")
} keys %seed;

sub rotation
{
	my ($key) = @_;
	return "forge_entry('tl.key_rotation', jsonb_build_object('public_key', '$key'))";
}

# the reported case: a block that hands over to no key holds a rotation entry
q1($rogue,
	"SELECT forge_block('rogue', jsonb_build_array(forge_entry('acme.before', '{\"n\": 1}'), "
	  . rotation($key{other}) . '))');
# a block that hands over to k1 without a rotation entry: the entry that
# completes it is refused
q1($rogue,
	"SELECT forge_block('rogue', jsonb_build_array(forge_entry('acme.x', '{\"n\": 2}'),"
	  . " forge_entry('acme.y', '{\"n\": 3}')), '{\"next_seed\": \"$seed{k1}\"}')");
# signed by k1, hands over to k2, but its rotation entry names another key
q1($rogue,
	"SELECT forge_block('rogue', jsonb_build_array(" . rotation($key{other})
	  . "), '{\"next_seed\": \"$seed{k2}\"}')");
# signed by k2: entries whose payload is not JSON, or not canonical JSON
# (an export line cannot carry those: its reader makes payloads canonical),
# beside a good one
q1($rogue,
	"SELECT forge_block('rogue', jsonb_build_array(forge_entry('acme.ok', '{\"n\": 4}'),"
	  . " '{\"kind\": \"acme.bad\", \"payload\": \"not json\"}'::jsonb,"
	  . " '{\"kind\": \"acme.spaced\", \"payload\": \"{\\\"b\\\": 1, \\\"a\\\": 2}\"}'::jsonb))");
# a proper rotation to k3, then blocks signed by k3
q1($rogue,
	"SELECT forge_block('rogue', jsonb_build_array(" . rotation($key{k3})
	  . "), '{\"next_seed\": \"$seed{k3}\"}')");
q1($rogue, "SELECT forge_block('rogue', jsonb_build_array(forge_entry('acme.after', jsonb_build_object('n', $_))))")
  for 5 .. 6;
my $head = q1($rogue, "SELECT encode(prev_hash, 'hex') FROM forge_chain WHERE origin = 'rogue'");

for my $node (@receivers)
{
	my $name = $node->name;
	ok( $node->poll_query_until('postgres',
			"SELECT encode(block_hash, 'hex') = '$head' FROM tracelink.ledger_heads WHERE origin = 'rogue'"),
		"$name applies every block the rogue signed");
	is( q1($node,
			"SELECT string_agg(row_data->>'kind' || ': ' || reason, ' | ' ORDER BY id) FROM tracelink.quarantine"
			  . " WHERE origin = 'rogue'"),
		join(' | ',
			"tl.key_rotation: key rotation entry names another key than its block's next_key",
			'acme.y: block hands over to a new key but holds no key rotation entry',
			"tl.key_rotation: key rotation entry names another key than its block's next_key",
			'acme.bad: payload is not JSON: invalid input syntax for canonical JSON',
			'acme.spaced: payload is not RFC 8785 canonical JSON'),
		"$name quarantines exactly the entries verify() would refuse");
	is( q1($node,
			"SELECT string_agg(kind, ',' ORDER BY tx, seq) FROM tracelink.ledger_entries"
			  . " WHERE origin = 'rogue' AND kind <> 'tl.genesis'"),
		'acme.before,acme.x,acme.ok,tl.key_rotation,acme.after,acme.after',
		"$name applies the other entries");
	is(q1($node, "SELECT encode(signer_key, 'hex') FROM tracelink.ledger_heads WHERE origin = 'rogue'"),
		$key{k3}, "$name follows the rogue's keys to k3");
	is( q1($node,
			"SELECT coalesce(string_agg(origin || ': ' || first_bad || ': ' || reason, '; '), '')"
			  . " FROM tracelink.verify() WHERE NOT ok"),
		'', "$name: verify() finds nothing wrong in what arrived");
	is(q1($node, "SELECT count(*) FROM tracelink.peers WHERE status = 'streaming'"),
		'2', "$name streams from both peers");
}
# verify() says the same about such a payload at rest
my $at_rest = q1($n1, <<'SQL');
BEGIN;
ALTER TABLE tracelink.ledger_entries DISABLE TRIGGER USER;
UPDATE tracelink.ledger_entries SET payload = 'not json',
       entry_hash = sha256(convert_to(forge_preimage(origin, tx, seq, kind, 'not json', deps, audience), 'UTF8'))
 WHERE origin = 'rogue' AND kind = 'acme.ok';
SELECT reason FROM tracelink.verify('rogue');
ROLLBACK;
SQL
is($at_rest, 'payload is not JSON: invalid input syntax for canonical JSON',
	'verify() refuses a payload that is not JSON, in the words of the quarantine');

# ---------------------------------------------------------------------
# Every check, at rest and on arrival.
# ---------------------------------------------------------------------

# A chain of origin G: its genesis block, then what the case adds.  SQL
# with G for the origin, its seed and the key of its seed.
my $genesis = "SELECT forge_genesis('G', sha256('G'::bytea))";
my $k1 = "encode(tracelink.ed25519_public_key(sha256('G next'::bytea)), 'hex')";
my $next = "jsonb_build_object('next_seed', encode(sha256('G next'::bytea), 'hex'))";
my $plain = "jsonb_build_array(forge_entry('acme.x', '{\"n\": 1}'))";
my $zeros = '00' x 32;

my @cases = (
	[
		'rotation entry in a block that hands over to no key',
		"$genesis; SELECT forge_block('G', jsonb_build_array(forge_entry('acme.x', '{}'),"
		  . " forge_entry('tl.key_rotation', jsonb_build_object('public_key', $k1))))",
		"key rotation entry names another key than its block's next_key"
	],
	[
		'rotation entry naming another key than next_key',
		"$genesis; SELECT forge_block('G', jsonb_build_array(forge_entry('tl.key_rotation',"
		  . " jsonb_build_object('public_key', encode(tracelink.ed25519_public_key(sha256('x'::bytea)), 'hex')))), $next)",
		"key rotation entry names another key than its block's next_key"
	],
	[
		'rotation entry with a key in uppercase hex',
		"$genesis; SELECT forge_block('G', jsonb_build_array(forge_entry('tl.key_rotation',"
		  . " jsonb_build_object('public_key', upper($k1)))), $next)",
		'key rotation entry does not name a 32-byte public key'
	],
	[
		'block handing over to a new key without a rotation entry',
		"$genesis; SELECT forge_block('G', jsonb_build_array(forge_entry('acme.x', '{}'),"
		  . " forge_entry('acme.y', '{}')), $next)",
		'block hands over to a new key but holds no key rotation entry'
	],
	[
		'first entry of a chain that is no genesis entry',
		"SELECT forge_genesis('G', sha256('G'::bytea), p_kind => 'acme.first')",
		'the first entry of a chain must be its genesis entry'
	],
	[
		'genesis entry naming another node',
		"SELECT forge_genesis('G', sha256('G'::bytea), p_node => 'n1')",
		'the genesis entry does not name its origin and the key that signed block 0'
	],
	[
		'genesis entry naming another key',
		"SELECT forge_genesis('G', sha256('G'::bytea), p_key => sha256('x'::bytea))",
		'the genesis entry does not name its origin and the key that signed block 0'
	],
	[
		'payload that is not canonical JSON',
		"$genesis; SELECT forge_block('G', '[{\"kind\": \"acme.x\", \"payload\": \"{\\\"b\\\": 1, \\\"a\\\": 2}\"}]')",
		'payload is not RFC 8785 canonical JSON',
		'at rest only: on arrival, the rogue\'s stream above'
	],
	[
		'payload with a number not in its shortest form',
		"$genesis; SELECT forge_block('G', '[{\"kind\": \"acme.x\", \"payload\": \"{\\\"a\\\":1.0}\"}]')",
		'payload is not RFC 8785 canonical JSON',
		'at rest only: on arrival, the rogue\'s stream above'
	],
	[
		'payload with an escape that canonical JSON does not use',
		"$genesis; SELECT forge_block('G', '[{\"kind\": \"acme.x\", \"payload\": \"{\\\"a\\\":\\\"\\\\u0041\\\"}\"}]')",
		'payload is not RFC 8785 canonical JSON',
		'at rest only: on arrival, the rogue\'s stream above'
	],
	[
		'kind that is no entry kind',
		"$genesis; SELECT forge_block('G', jsonb_build_array(forge_entry('Acme.X', '{}')))",
		'kind is not a valid entry kind'
	],
	[
		'dependencies out of order',
		"$genesis; SELECT forge_block('G', jsonb_build_array(forge_entry('acme.x', '{}',"
		  . " jsonb_build_object('deps', jsonb_build_array('" . ('ff' x 32) . "', '" . ('01' x 32) . "')))))",
		'deps are not sorted and unique'
	],
	[
		'seq outside its block',
		"$genesis; SELECT forge_block('G', jsonb_build_array(forge_entry('acme.x', '{}', '{\"seq\": 5}')))",
		"seq 5 is outside the block's 1 entries"
	],
	[
		'entries swapped in their block',
		"$genesis; SELECT forge_block('G', jsonb_build_array(forge_entry('acme.x', '{\"n\": 1}', '{\"seq\": 1}'),"
		  . " forge_entry('acme.x', '{\"n\": 2}', '{\"seq\": 0}')))",
		'entry is not the one the block sealed at this position (moved or replaced)'
	],
	[
		'block that does not link to its predecessor',
		"$genesis; SELECT forge_block('G', $plain, '{\"prev_hash\": \"" . ('aa' x 32) . "\"}')",
		'block does not link to block 0 (prev_hash differs): the chain was forked or rewritten'
	],
	[
		'block 0 that does not start a chain',
		"SELECT forge_genesis('G', sha256('G'::bytea), p_opts => '{\"prev_hash\": \"" . ('aa' x 32) . "\"}')",
		'block does not start the chain (the prev_hash of block 0 is not 32 zero bytes): the chain was forked or rewritten'
	],
	[
		'block signed by another key than the origin\'s',
		"$genesis; UPDATE forge_chain SET seed = sha256('x'::bytea); SELECT forge_block('G', $plain)",
		"block is signed by a key that is not the origin's current key"
	],
	[
		'signature that does not verify',
		"$genesis; SELECT forge_block('G', $plain, '{\"signed\": false}')",
		"signature does not verify with the origin's key"
	],
	[
		'tree head that does not follow',
		"$genesis; SELECT forge_block('G', $plain, '{\"tree_root\": \"" . ('bb' x 32) . "\"}')",
		'tree head (tree_size, tree_root) does not follow from the blocks before it'
	]);

my $i = 0;
for my $case (@cases)
{
	my ($name, $sql, $message, $at_rest_only) = @$case;
	my $origin = 'g' . ++$i;
	$sql =~ s/'G([ ']?)/'$origin$1/g;
	my $pin =
	  "INSERT INTO tracelink.nodes (name, public_key) VALUES ('$origin', tracelink.ed25519_public_key(sha256('$origin'::bytea)))";
	my $out = q1($n1, <<"SQL");
BEGIN;
ALTER TABLE tracelink.ledger_entries DISABLE TRIGGER USER;
ALTER TABLE tracelink.ledger_blocks DISABLE TRIGGER USER;
$pin;
$sql;
SELECT 'verify: ' || coalesce(reason, '(ok)') FROM tracelink.verify('$origin');
SELECT 'lines: ' || string_agg(l, E'\\n' ORDER BY n) FROM tracelink.export('$origin') WITH ORDINALITY x(l, n);
ROLLBACK;
SQL
	my ($verify) = $out =~ /^verify: (.*)$/m;
	my ($lines) = $out =~ /^lines: (.*)\z/ms;
	is($verify, $message, "$name: verify() at rest");
	next if $at_rest_only;
	q1($n2, $pin);
	q1($n2, "SELECT * FROM tracelink.ingest(\$L\$$lines\$L\$)");
	is( q1($n2,
			"SELECT count(*) > 0 FROM tracelink.quarantine WHERE origin = '$origin' AND reason = \$M\$$message\$M\$"),
		't', "$name: quarantined on arrival, in the same words");
	is(q1($n2, "SELECT coalesce(reason, 'ok') FROM tracelink.verify('$origin')"),
		'ok', "$name: what arrived verifies");
}

# A block with more entries than a block may: verify() refuses it as the
# apply path does (its export line would be too large to ingest).
is( q1($n1, <<"SQL"),
BEGIN;
ALTER TABLE tracelink.ledger_entries DISABLE TRIGGER USER;
ALTER TABLE tracelink.ledger_blocks DISABLE TRIGGER USER;
INSERT INTO tracelink.nodes (name, public_key) VALUES ('big', tracelink.ed25519_public_key(sha256('big'::bytea)));
DO \$\$ BEGIN PERFORM forge_genesis('big', sha256('big'::bytea)); END \$\$;
INSERT INTO tracelink.ledger_blocks
SELECT 'big', 1, 2, 1000001, decode(repeat('00', 32 * 1000001), 'hex'), '\\x$zeros', 1000002, '\\x$zeros',
       block_hash, now(), signer_key, NULL, '\\x$zeros', decode(repeat('00', 64), 'hex')
  FROM tracelink.ledger_blocks WHERE origin = 'big';
SELECT reason FROM tracelink.verify('big');
ROLLBACK;
SQL
	'block holds more entries than a block may (its export line would be too large)',
	'verify() refuses a block with more entries than a block may hold');

$_->stop for @nodes;
done_testing();
