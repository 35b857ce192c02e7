# The standalone verifier, tools/tracelink-verify, checks exports of a
# ledger outside PostgreSQL: a node's own chain (blocks of different sizes,
# entries with dependencies, a key rotation), the same chain exported by a
# peer that received it by logical replication, exports that start at a
# later block, and signed tree heads saved earlier.  Copies of the export
# file are then tampered with in Perl, one way each; every one is caught and
# named, with exit status 1 (does not verify) or 2 (cannot be read).
use strict;
use warnings;
use Digest::SHA qw(sha256_hex);
use File::Spec;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlTest;

# The verifier built in this tree (scripts/test.sh runs from a copy of the
# built tree), else the one "make install" put next to the server binaries.
my $verifier = File::Spec->catfile($ENV{TESTDIR} // '.', 'tools', 'tracelink-verify');
if (!-x $verifier)
{
	($verifier) = grep { -x } map { File::Spec->catfile($_, 'tracelink-verify') }
	  File::Spec->path;
}
plan skip_all => 'skipped: tracelink-verify is neither built in this tree nor on PATH'
  unless defined $verifier && -x $verifier;

my $bindir = `pg_config --bindir`;
chomp $bindir;
ok(-x "$bindir/tracelink-verify", 'make install put tracelink-verify in bindir');

my $dir = PostgreSQL::Test::Utils::tempdir;

# run the verifier with --jobs N: (exit status, stdout, stderr)
sub run_jobs
{
	my ($jobs, @args) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ $verifier, '--jobs', $jobs, @args ], '<', \undef, '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

# run the verifier on one thread and on two, which must say the same:
# (exit status, stdout, stderr)
sub run_verifier
{
	my (@args) = @_;
	my @one = run_jobs(1, @args);
	my @two = run_jobs(2, @args);
	my $what = join(' ', map { m{([^/]+)$} ? $1 : $_ } @args);
	is_deeply(\@two, \@one, "--jobs 2 says what --jobs 1 says ($what)");
	return @one;
}

# assert exit status and a pattern on stdout (and one on stderr, if given)
sub verifier_like
{
	my ($args, $status, $out_re, $name, $err_re) = @_;
	my ($rc, $out, $err) = run_verifier(@$args);
	is($rc, $status, "$name: exit status $status")
	  or diag("stdout: $out\nstderr: $err");
	like($out, $out_re, "$name: output names the problem");
	like($err, $err_re, "$name: warning or error on stderr") if defined $err_re;
	return $out;
}

# export an origin's chain as an auditor would, with psql, into a file
sub export_to
{
	my ($node, $origin, $file, $from_block) = @_;
	my $sql = "SELECT * FROM tracelink.export('$origin'"
	  . (defined $from_block ? ", $from_block" : '') . ')';
	local $ENV{PGCLIENTENCODING} = 'UTF8';
	IPC::Run::run([ 'psql', '-XAt', '-d', $node->connstr('postgres'), '-c', $sql ],
		'>', "$dir/$file")
	  or die "export of $origin failed";
	return "$dir/$file";
}

# save a signed tree head (of the latest block, or of a tree size)
sub save_tree_head
{
	my ($node, $origin, $file, $size) = @_;
	my $sth = $node->safe_psql('postgres',
		"SELECT tracelink.signed_tree_head('$origin'" . (defined $size ? ", $size" : '') . ')');
	open my $fh, '>', "$dir/$file" or die;
	print $fh "$sth\n";
	close $fh;
	return "$dir/$file";
}

sub read_lines
{
	my ($file) = @_;
	open my $fh, '<', $file or die "$file: $!";
	my @lines = <$fh>;
	close $fh;
	chomp @lines;
	return @lines;
}

sub write_lines
{
	my ($file, @lines) = @_;
	open my $fh, '>', "$dir/$file" or die;
	print $fh join('', map { "$_\n" } @lines);
	close $fh;
	return "$dir/$file";
}

sub slurp
{
	my ($file) = @_;
	open my $fh, '<', $file or die "$file: $!";
	local $/;
	my $s = <$fh>;
	close $fh;
	return $s;
}

# index of the first line matching a pattern
sub line_index
{
	my ($re, @lines) = @_;
	for my $i (0 .. $#lines)
	{
		return $i if $lines[$i] =~ $re;
	}
	die "no line matches $re";
}

sub write_on
{
	my ($node, $sql) = @_;
	$node->safe_psql('postgres', $sql);
}

# ---------------------------------------------------------------------
# A chain with blocks of different sizes, dependencies and a key rotation;
# a fork of it (a copy of the node, key file included, that goes its own
# way) signs its own tree head.
# ---------------------------------------------------------------------
# (no witness entries: the exports below are compared byte for byte after
# n1 and n2 exchange blocks)
my $no_witness = "tracelink.witness_interval = -1\n";
my $n1 = tl_node('n1', conf => $no_witness);
my %keys = init_nodes($n1);
my $append = "SELECT count(tracelink.append('acme.scan', jsonb_build_object('tag', %s, 'i', g)))"
  . " FROM generate_series(1, %d) g";
write_on($n1, sprintf($append, "'b1'", 3));
write_on($n1, "SELECT tracelink.append('acme.pack', '{\"tag\": \"b2\"}',"
	  . " ARRAY(SELECT entry_hash FROM tracelink.ledger WHERE payload->>'tag' = 'b1' AND ordinal < 3))");
write_on($n1, sprintf($append, "'b3'", 6));

$n1->backup('fork_point');
my $fork = PostgreSQL::Test::Cluster->new('n1_fork');
$fork->init_from_backup($n1, 'fork_point');
$fork->start;

write_on($n1,   sprintf($append, "'b4'",   2));
write_on($fork, sprintf($append, "'fork'", 2));
my $fork_size = $fork->safe_psql('postgres', "SELECT max(tree_size) FROM tracelink.ledger_blocks");
is($n1->safe_psql('postgres', "SELECT max(tree_size) FROM tracelink.ledger_blocks"),
	$fork_size, 'the fork has a block of the same tree size as n1');
my $fork_sth = save_tree_head($fork, 'n1', 'fork_sth.json', $fork_size);
$fork->stop;

my $new_key = $n1->safe_psql('postgres', <<'SQL');
BEGIN;
SELECT encode(tracelink.rotate_key(), 'hex');
SELECT count(tracelink.append('acme.scan', jsonb_build_object('tag', 'b5', 'i', g))) FROM generate_series(1, 2) g;
COMMIT;
SQL
($new_key) = grep { /^[0-9a-f]{64}$/ } split /\n/, $new_key;
write_on($n1, "SELECT tracelink.append('acme.note', '{\"tag\": \"b6\", \"text\": \"caf\xc3\xa9 \\\\ \\n\"}',"
	  . " ARRAY(SELECT entry_hash FROM tracelink.ledger WHERE payload->>'tag' IN ('b2', 'b5')))");
write_on($n1, sprintf($append, "'b7'", 4));

my %expect = map { split /\|/ } split /\n/, $n1->safe_psql('postgres', <<'SQL');
SELECT 'entries', count(*)::text FROM tracelink.ledger_entries WHERE origin = 'n1'
UNION ALL SELECT 'blocks', count(*)::text FROM tracelink.ledger_blocks WHERE origin = 'n1'
UNION ALL SELECT 'size', max(tree_size)::text FROM tracelink.ledger_blocks WHERE origin = 'n1'
UNION ALL SELECT 'root', tracelink.signed_tree_head('n1') ->> 'tree_root'
UNION ALL SELECT 'rotation_block', block_no::text FROM tracelink.ledger_blocks WHERE next_key IS NOT NULL
UNION ALL SELECT 'b3_block', (SELECT min(block_no) FROM tracelink.ledger WHERE payload->>'tag' = 'b3')::text
SQL
is($expect{blocks}, 8, 'n1 has 8 blocks');
is($n1->safe_psql('postgres', "SELECT ok FROM tracelink.verify('n1')"), 't',
	'verify() inside the database agrees that the chain is sound');

my $summary = "n1: OK, $expect{entries} entries, $expect{blocks} blocks,"
  . " tree size $expect{size}, root $expect{root}";
my $key = "n1=$keys{n1}";

my $export = export_to($n1, 'n1', 'n1.jsonl');
my $sth_latest = save_tree_head($n1, 'n1', 'sth_latest.json');
my $sth_mid = save_tree_head($n1, 'n1', 'sth_mid.json', 4);

# ---------------------------------------------------------------------
# Sound exports verify
# ---------------------------------------------------------------------
my ($rc, $out, $err) = run_verifier('--key', $key, '--sth', $sth_latest, '--sth', $sth_mid,
	'--complete', $export);
is($rc, 0, 'the export verifies with the pinned key and two saved tree heads');
is($out, "$summary, matches 2 signed tree heads\n", 'the summary gives entries, blocks, tree size and root');
is($err, '', 'and warns about nothing');

($rc, $out, $err) = run_verifier($export);
is($rc, 0, 'without --key the export verifies too');
is($out, "$summary\n", 'with the same summary');
like($err, qr/warning: n1: no --key given: trusting the genesis key the export names itself \($keys{n1}\)/,
	'but a warning says the key was not pinned');

($rc, $out, $err) = run_verifier("--key=$key", '-');
is($rc, 2, 'an empty standard input cannot be verified');
like($out, qr/^-: FAILED at line 1: the export is empty/, 'and says so');

# exports from a later block
my $b3 = $expect{b3_block};
my $partial = export_to($n1, 'n1', 'n1_from_b3.jsonl', $b3);
($rc, $out, $err) = run_verifier('--key', $key, '--sth', $sth_latest, $partial);
is($rc, 0, "an export from block $b3 verifies");
like($out, qr/^n1: OK, \d+ entries, \d+ blocks, tree size $expect{size}, root $expect{root} \(signed, not recomputed\), matches 1 signed tree head$/,
	'its root is marked as not recomputed');
like($err, qr/the export starts at block $b3: that block's link to block \d+ \(prev_hash\) is taken on trust/,
	'and a warning names what cannot be checked');

my $after_rotation = $expect{rotation_block} + 1;
my $late = export_to($n1, 'n1', 'n1_late.jsonl', $after_rotation);
verifier_like([ '--key', $key, $late ], 1,
	qr/^n1: FAILED at block $after_rotation: block is signed by a key that is not the origin's current key \(an export that starts after a key rotation needs --key/,
	'an export after the key rotation against the genesis key');
verifier_like([ '--key', "n1=$new_key", $late ], 0, qr/^n1: OK, /,
	'the same export with the rotated key pinned');
verifier_like([$late], 0, qr/^n1: OK, /, 'the same export with no key pinned',
	qr/block $after_rotation is signed by key $new_key, which the export cannot trace back to the genesis key: taken as the anchor/);
verifier_like([ '--key', "n1=$new_key", '--sth', $sth_mid, $late ], 1,
	qr/^n1: FAILED at signed tree head \S+ \(block \d+\): the head is older than the export, which starts at block $after_rotation/,
	'a tree head older than a partial export');

# ---------------------------------------------------------------------
# A peer's copy: n2 receives n1's chain by logical replication
# ---------------------------------------------------------------------
my $n2 = tl_node('n2', conf => $no_witness);
%keys = (%keys, init_nodes($n2));
connect_nodes(\%keys, [$n1], [$n2]);
write_on($n2, "SELECT count(tracelink.append('acme.scan', jsonb_build_object('on', 'n2', 'i', g))) FROM generate_series(1, 3) g");
wait_converged($n1, $n2);

my $on_n2 = export_to($n2, 'n1', 'n1_on_n2.jsonl');
is(slurp($on_n2), slurp($export), "n1's chain exported on n2 is byte for byte the export from n1");
($rc, $out, $err) = run_verifier('--key', $key, '--sth', $sth_latest, $on_n2);
is($rc, 0, "n1's chain exported on n2 verifies with n1's pinned key");
is($out, "$summary, matches 1 signed tree head\n", 'with the same summary');

my $n2_export = export_to($n2, 'n2', 'n2.jsonl');
($rc, $out, $err) = run_verifier('--key', $key, '--key', "n2=$keys{n2}", $export, $n2_export);
is($rc, 0, 'two origins verify in one run');
like($out, qr/^\Q$summary\E\nn2: OK, 4 entries, 2 blocks, tree size 4, root [0-9a-f]{64}\n$/,
	'one line per origin');

# ---------------------------------------------------------------------
# Tampering with copies of the export
# ---------------------------------------------------------------------
my @lines = read_lines($export);
my $last_block = $expect{blocks} - 1;

# 1. a payload byte is changed
my @t = @lines;
my $i = line_index(qr/"tag":"b3"/, @t);
$t[$i] =~ s/"i":1/"i":7/ or die;
verifier_like([ '--key', $key, write_lines('payload.jsonl', @t) ], 1,
	qr/^n1: FAILED at entry n1:\d+ \(block $b3, seq 0\): entry hash does not match the hash its block sealed: the entry's content was changed$/,
	'a changed payload');

# 2. an entry line is dropped: not in the export, an error under --complete
@t = @lines;
$i = line_index(qr/"tag":"b3"/, @t);
splice(@t, $i + 2, 1);
my $dropped = write_lines('dropped_entry.jsonl', @t);
verifier_like([ '--key', $key, $dropped ], 0,
	qr/^n1: OK, \d+ entries \(1 not in export\), /, 'a dropped entry line without --complete');
verifier_like([ '--key', $key, '--complete', $dropped ], 1,
	qr/^n1: FAILED at entry n1:\d+ \(block $b3, seq 2\): entry is missing from the export \(deleted\?\)$/,
	'a dropped entry line with --complete');

# 3. two entry lines change places
@t = @lines;
$i = line_index(qr/"tag":"b3"/, @t);
@t[ $i + 1, $i + 2 ] = @t[ $i + 2, $i + 1 ];
verifier_like([ '--key', $key, write_lines('swapped.jsonl', @t) ], 1,
	qr/^n1: FAILED at entry n1:\d+ \(block $b3, seq 1\): entry lines are out of order \(seq 1 comes after seq 2\)$/,
	'two swapped entry lines');

# 4. a block's signature is changed
@t = @lines;
$i = line_index(qr/^\{"block_hash".*"block_no":2,/, @t);
$t[$i] =~ s/"signature":"(.)/'"signature":"' . ($1 eq '0' ? '1' : '0')/e or die;
verifier_like([ '--key', $key, write_lines('signature.jsonl', @t) ], 1,
	qr/^n1: FAILED at block 2: signature does not verify with the origin's key$/,
	'a changed signature');

# 5. the last block is dropped with its entries: only a saved head shows it
@t = @lines;
my $first_b7 = line_index(qr/"tag":"b7"/, @t);
my $truncated = write_lines('truncated.jsonl', @t[ 0 .. $first_b7 - 1 ]);
verifier_like([ '--key', $key, $truncated ], 0,
	qr/^n1: OK, \d+ entries, $last_block blocks, /,
	'a truncated export alone looks like an older one');
verifier_like([ '--key', $key, '--sth', $sth_latest, $truncated ], 1,
	qr/^n1: FAILED at block $last_block: the export is truncated: it ends at block @{[$last_block - 1]} \(tree size \d+\), but signed tree head \S+ \(block $last_block\) has tree size $expect{size}$/,
	'a truncated export against the latest saved tree head');

# 6. only the last block line is dropped
verifier_like([ '--key', $key, write_lines('no_last_block.jsonl', @lines[ 0 .. $#lines - 1 ]) ], 1,
	qr/^n1: FAILED at line ${\ ($first_b7 + 1)}: entry belongs to no block: the export ends before the block that seals it$/,
	'entries without their block line');

# 7. a block line in the middle is dropped
@t = @lines;
$i = line_index(qr/^\{"block_hash".*"block_no":3,/, @t);
splice(@t, $i, 1);
verifier_like([ '--key', $key, write_lines('no_block_3.jsonl', @t) ], 1,
	qr/^n1: FAILED at block 3: block is missing: the chain jumps from block 2 to 4$/,
	'a missing block');

# 8. prev_hash is changed
@t = @lines;
$i = line_index(qr/^\{"block_hash".*"block_no":3,/, @t);
$t[$i] =~ s/"prev_hash":"(.)/'"prev_hash":"' . ($1 eq 'a' ? 'b' : 'a')/e or die;
verifier_like([ '--key', $key, write_lines('prev_hash.jsonl', @t) ], 1,
	qr/^n1: FAILED at block 3: block does not link to block 2 \(prev_hash differs\): the chain was forked or rewritten$/,
	'a changed prev_hash');

# 9. a payload is changed and its hash replaced in the block's entry_hashes
@t = @lines;
$i = line_index(qr/"tag":"b4"/, @t);
my $old_hash = sha256_hex($t[$i]);
$t[$i] =~ s/"i":1/"i":9/ or die;
my $new_hash = sha256_hex($t[$i]);
my $bi = line_index(qr/^\{"block_hash".*$old_hash/, @t);
$t[$bi] =~ s/$old_hash/$new_hash/;
verifier_like([ '--key', $key, write_lines('entry_hashes.jsonl', @t) ], 1,
	qr/^n1: FAILED at block \d+: entries_root is not the Merkle root of the block's entry hashes$/,
	'a changed payload whose hash was put into entry_hashes');

# 10. the wrong pinned key
verifier_like([ '--key', "n1=$keys{n2}", $export ], 1,
	qr/^n1: FAILED at header: the export's genesis_key $keys{n1} is not the pinned key of origin "n1"$/,
	'another node\'s key pinned');

# 11. a tree head of a fork of the ledger, signed with the same key
verifier_like([ '--key', $key, '--sth', $fork_sth, $export ], 1,
	qr/^n1: FAILED at block \d+: block differs from signed tree head \S+fork_sth.json \(block \d+\) \(tree size $fork_size, tree root [0-9a-f]{64}\), which the origin's key signed: the ledger was rewritten or forked after that head was published$/,
	'a signed tree head from a fork');

# 12. a saved tree head whose signature was changed
my $bad_sth = slurp($sth_latest);
$bad_sth =~ s/"signature": "(.)/'"signature": "' . ($1 eq '0' ? '1' : '0')/e or die;
open my $fh, '>', "$dir/bad_sth.json" or die;
print $fh $bad_sth;
close $fh;
verifier_like([ '--key', $key, '--sth', "$dir/bad_sth.json", $export ], 1,
	qr/^n1: FAILED at signed tree head \S+bad_sth.json \(block $last_block\): signature does not verify with the origin's key: the head is corrupt or forged$/,
	'a saved tree head with a changed signature');

# 13. a garbage line
@t = @lines;
splice(@t, 5, 0, 'this is not JSON');
verifier_like([ '--key', $key, write_lines('garbage.jsonl', @t) ], 2,
	qr/^n1: FAILED at line 6: line is not valid JSON: invalid token at byte 1 \(truncated or garbled\?\)$/,
	'a garbage line');

# 14. a truncated line (the file is cut in the middle of its last line)
my $cut = slurp($export);
$cut = substr($cut, 0, length($cut) - 100);
open $fh, '>', "$dir/cut.jsonl" or die;
print $fh $cut;
close $fh;
verifier_like([ '--key', $key, "$dir/cut.jsonl" ], 2,
	qr/^n1: FAILED at line ${\ scalar(@lines)}: line is not valid JSON: .* \(truncated or garbled\?\)$/,
	'a truncated line');

# 15. a well-formed line that is not an entry line
@t = @lines;
$i = line_index(qr/"tag":"b1"/, @t);
$t[$i] =~ s/"seq":(\d+)/"seq":"$1"/ or die;
verifier_like([ '--key', $key, write_lines('seq_string.jsonl', @t) ], 2,
	qr/^n1: FAILED at line ${\ ($i + 1)}: not a tracelink entry line: field "seq" is not an integer from 0 to 2147483647$/,
	'an entry line with a mistyped field');

# 16. CRLF line endings
verifier_like([ '--key', $key, write_lines('crlf.jsonl', map { "$_\r" } @lines) ], 2,
	qr/crlf.jsonl: FAILED at line 1: line ends with a carriage return/,
	'CRLF line endings');

# 17. an entry line moved into the next block's entries
@t = @lines;
$i = line_index(qr/"tag":"b2"/, @t);
my ($moved) = splice(@t, $i, 1);
splice(@t, $i + 1, 0, $moved);
verifier_like([ '--key', $key, write_lines('moved.jsonl', @t) ], 1,
	qr/^n1: FAILED at line ${\ ($i + 2)}: entry of transaction \d+ stands before block 3, which seals transaction \d+ \(lines moved, or its block is missing\)$/,
	'an entry line moved to another block');

# ---------------------------------------------------------------------
# Usage errors
# ---------------------------------------------------------------------
verifier_like([], 2, qr/^$/, 'no export given', qr/error: no export file given/);
verifier_like([ '--key', 'n1=abc', $export ], 2, qr/^$/, 'a malformed key',
	qr/error: --key n1: the key must be 64 hex digits/);
verifier_like([ '--key', $key, '--key', "n9=$keys{n2}", $export ], 2, qr/^\Q$summary\E$/,
	'a key for an origin with no export', qr/error: --key n9: no export of origin "n9" was given/);
verifier_like([ '--key', $key, $export, $on_n2 ], 2,
	qr/^\Q$summary\E\nn1: FAILED at line 1: a second export of origin "n1": give one export per origin$/,
	'two exports of one origin');
verifier_like([ '--sth', $export, $export ], 2, qr/^$/, 'an export given as a tree head',
	qr/error: signed tree head "\S+n1.jsonl" is not valid JSON: unexpected text after the JSON value/);
verifier_like([ "$dir/missing.jsonl" ], 2, qr/FAILED: could not open "\S+missing.jsonl": No such file/,
	'a missing file');

# ---------------------------------------------------------------------
# A long export, read in many batches on several threads: the same
# verdicts as on one, wherever the problem is
# ---------------------------------------------------------------------
write_on($n1, sprintf($append, "'big'", 20000));
my $big = export_to($n1, 'n1', 'big.jsonl');
my @big = read_lines($big);
my $big_entries = $n1->safe_psql('postgres', "SELECT count(*) FROM tracelink.ledger_entries WHERE origin = 'n1'");
for my $jobs (1, 3)
{
	my ($brc, $bout) = run_jobs($jobs, '--key', $key, '--complete', $big);
	is($brc, 0, "a long export verifies with --jobs $jobs");
	like($bout, qr/^n1: OK, $big_entries entries, /, "--jobs $jobs counts every entry");
}
@t = @big;
$i = line_index(qr/"i":15000,"tag":"big"/, @t);
$t[$i] =~ s/"i":15000/"i":15001/ or die;
my $big_payload = write_lines('big_payload.jsonl', @t);
verifier_like([ '--key', $key, $big_payload ], 1,
	qr/^n1: FAILED at entry n1:\d+ \(block \d+, seq 14999\): entry hash does not match the hash its block sealed: the entry's content was changed$/,
	'a payload changed deep in a long export');
is_deeply([ run_jobs(3, '--key', $key, $big_payload) ], [ run_jobs(1, '--key', $key, $big_payload) ],
	'--jobs 3 says what --jobs 1 says of it');
@t = @big;
$t[-1] =~ s/"signature":"(.)/'"signature":"' . ($1 eq '0' ? '1' : '0')/e or die;
verifier_like([ '--key', $key, write_lines('big_signature.jsonl', @t) ], 1,
	qr/^n1: FAILED at block \d+: signature does not verify with the origin's key$/,
	'the signature of a long block changed');
verifier_like([ '--key', $key, '--jobs', '0', $big ], 2,
	qr/^$/, '--jobs 0 is refused', qr/--jobs wants a number of threads from 1 to 256, not "0"/);

$_->stop for ($n1, $n2);
done_testing();
