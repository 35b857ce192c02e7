# RFC 6962 / RFC 9162 Merkle conformance, read at test time from
# ../shared/vectors/rfc6962-merkle:
#   - every transparency-dev/merkle probe under inclusion/ and consistency/
#     through tracelink.verify_inclusion / verify_consistency (wantErr true
#     means the verifier must say false, wantErr false means true);
#   - rfc6962_reference_vectors.json: tree heads for sizes 0..8 through
#     merkle_root, leaf hashes through merkle_leaf_hash, and the inclusion
#     and consistency proofs through the proof functions, byte for byte.
# The subtreeinclusion/ and subtreeconsistency/ folders are not read: they
# test "subtree" proofs of draft-ietf-plants-merkle-tree-certs, which are
# beyond RFC 6962/9162 and not offered by tracelink.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Find;
use JSON::PP;
use MIME::Base64;
use Math::BigInt;
use TlTest;

my $vectors = vectors_dir();
if (!defined $vectors)
{
	plan tests => 1;
	SKIP: { skip 'skipped: ../shared/vectors not found, RFC 6962 vectors not run', 1; }
	exit 0;
}
my $dir = "$vectors/rfc6962-merkle";

my $node = tl_node('merkle');

sub read_json
{
	my ($path) = @_;
	open my $fh, '<:raw', $path or die "cannot read $path: $!";
	local $/;
	my $text = <$fh>;
	close $fh;
	return JSON::PP->new->allow_bignum->decode($text);
}

# Probe sizes and indexes are Go uint64s.  SQL has bigint: a value above
# 2^63 - 1 is passed as the same 64 bits read as a signed number (what a C
# caller converting uint64 to int64 would pass), which is negative and so
# must be refused.  Only inclusion/0/leafIdx-sub-@1 (2^64 - 1) needs it.
my $two63 = Math::BigInt->new(2)**63;
sub as_bigint
{
	my $v = Math::BigInt->new("$_[0]");
	$v -= Math::BigInt->new(2)**64 if $v >= $two63;
	return "$v";
}

# A byte string as COPY-safe text: "x" and its hex, so that an empty string
# ("x") stays distinct from a missing one.
sub hx { return 'x' . unpack('H*', $_[0]); }

# A proof: its hashes as hx() joined by ",".  A JSON null proof is Go's nil
# slice, i.e. the empty proof.
sub proof_text
{
	my ($proof) = @_;
	return join ',', map { hx(decode_base64($_)) } @{ $proof // [] };
}

# Where tracelink's policy differs from the probe's expectation, on purpose.
my %policy = (
	'consistency/additional/sizes-are-equal-one-and-proof-is-empty.json' =>
	  'roots are the 12-byte string "don\'t care 2"; tracelink refuses tree heads that are not 32-byte SHA-256 values, even when equal',
);

my @rows;
my %files;
for my $kind ('inclusion', 'consistency')
{
	find(
		{
			no_chdir => 1,
			wanted => sub {
				return unless /\.json\z/ && -f $_;
				my $rel = substr($File::Find::name, length("$dir/transparency-dev-testdata/"));
				my $p = read_json($File::Find::name);
				my $want = $p->{wantErr} ? 'f' : 't';
				my $why = '';
				if (exists $policy{$rel})
				{
					($want, $why) = ('f', 'policy');
				}
				if ($kind eq 'inclusion')
				{
					push @rows, [ $kind, $rel, as_bigint($p->{leafIdx}), as_bigint($p->{treeSize}),
						hx(decode_base64($p->{leafHash})), hx(decode_base64($p->{root})),
						proof_text($p->{proof}), $want, $why ];
				}
				else
				{
					push @rows, [ $kind, $rel, as_bigint($p->{size1}), as_bigint($p->{size2}),
						hx(decode_base64($p->{root1})), hx(decode_base64($p->{root2})),
						proof_text($p->{proof}), $want, $why ];
				}
				$files{$kind}++;
			}
		},
		"$dir/transparency-dev-testdata/$kind");
}

my $copy = join '', map { join("\t", @$_) . "\n" } @rows;
my $result = $node->safe_psql('postgres', <<"SQL");
CREATE TEMP TABLE probe (kind text, file text, a bigint, b bigint, h1 text, h2 text,
                         proof text, want boolean, why text);
COPY probe FROM STDIN;
$copy\\.
CREATE FUNCTION pg_temp.unhx(t text) RETURNS bytea LANGUAGE sql IMMUTABLE
    AS \$\$ SELECT decode(substr(t, 2), 'hex') \$\$;
CREATE TEMP TABLE outcome AS
  SELECT kind, file, want, why,
         CASE kind
           WHEN 'inclusion' THEN
             tracelink.verify_inclusion(a, b, pg_temp.unhx(h1), proof_hashes, pg_temp.unhx(h2))
           ELSE
             tracelink.verify_consistency(a, b, pg_temp.unhx(h1), pg_temp.unhx(h2), proof_hashes)
         END AS got
    FROM (SELECT *, ARRAY(SELECT pg_temp.unhx(e) FROM unnest(string_to_array(proof, ',')) WITH ORDINALITY AS u(e, o)
                           ORDER BY o) AS proof_hashes
            FROM probe) p;
SELECT kind, count(*), count(*) FILTER (WHERE NOT want), count(*) FILTER (WHERE why = 'policy'),
       count(*) FILTER (WHERE got IS DISTINCT FROM want),
       coalesce(string_agg(file || '=' || coalesce(got::text, 'null'), ' ' ORDER BY file)
                  FILTER (WHERE got IS DISTINCT FROM want), '')
  FROM outcome GROUP BY kind ORDER BY kind;
SQL
my %outcome = map { my ($k, @rest) = split /\|/, $_, -1; ($k => \@rest) } split /\n/, $result;

my $policy_cases = 0;
for my $kind ('inclusion', 'consistency')
{
	my ($total, $rejects, $policy_count, $bad, $which) = @{ $outcome{$kind} // [ 0, 0, 0, -1, '' ] };
	ok($total == $files{$kind} && $total > 0, "transparency-dev $kind: all $files{$kind} probes loaded");
	is($bad, 0, "transparency-dev $kind: verify_$kind agrees with all $total probes ($rejects must be refused)")
	  or diag("disagreeing probes (file=result): " . substr($which, 0, 2000));
	$policy_cases += $policy_count;
}
is($policy_cases, scalar(keys %policy),
	'the documented policy exception (non-32-byte equal roots) was met, and refused')
  or diag(join "\n", map { "$_: $policy{$_}" } sort keys %policy);
diag("policy: $_ expects acceptance upstream; $policy{$_}") for sort keys %policy;

# --- reference vectors -------------------------------------------------------
my $ref = read_json("$dir/rfc6962_reference_vectors.json");
my $leaves_sql = 'ARRAY[' . join(',', map { "'\\x$_'::bytea" } @{ $ref->{leaf_inputs_hex} }) . ']';
sub first_leaves { my ($n) = @_; return "($leaves_sql)[1:$n]"; }

# tree heads 0..8 and leaf hashes
my @roots = @{ $ref->{root_hashes_by_tree_size}{roots} };
my @checks = map {
	"encode(tracelink.merkle_root(" . ($_ == 0 ? "'{}'::bytea[]" : first_leaves($_)) . "), 'hex') = '$roots[$_]'"
} 0 .. $#roots;
my @leaf_hashes = @{ $ref->{leaf_hashes_hex} };
push @checks, map {
	"encode(tracelink.merkle_leaf_hash('\\x$ref->{leaf_inputs_hex}[$_]'), 'hex') = '$leaf_hashes[$_]'"
} 0 .. $#leaf_hashes;
$result = $node->safe_psql('postgres', 'SELECT ' . join(" AND\n ", @checks));
is($result, 't', 'reference: tree heads of sizes 0..' . $#roots . ' and all ' . scalar(@leaf_hashes) . ' leaf hashes match');

# the hasher vectors that the SQL interface can express; "RFC6962 Node"
# hashes two 4-byte strings as children, which a tree of 32-byte hashes
# never has (node hashing is covered by every tree head above)
my @hasher = grep { $_->{desc} ne 'RFC6962 Node' } @{ $ref->{hasher_vectors}{cases} };
@checks = map {
	my $c = $_;
	defined $c->{input}
	  ? "encode(tracelink.merkle_leaf_hash(convert_to('$c->{input}{leaf_ascii}', 'UTF8')), 'hex') = '$c->{want_hex}'"
	  : "encode(tracelink.merkle_root('{}'), 'hex') = '$c->{want_hex}'"
} @hasher;
$result = $node->safe_psql('postgres', 'SELECT ' . join(' AND ', @checks));
is($result, 't', 'reference: ' . scalar(@hasher) . ' hasher vectors (empty tree, empty leaf, leaf "L123456") match');

# inclusion proofs: generated byte for byte and verified; the invalid case
# (tree size 0) is refused by both functions
my ($good, $ok_count, @fail) = (0, 0);
for my $c (@{ $ref->{inclusion_proofs}{cases} })
{
	my ($i, $n) = ($c->{leaf_index}, $c->{tree_size});
	if ($n == 0)
	{
		my ($rc, $out, $err) = $node->psql('postgres',
			"SELECT tracelink.merkle_inclusion_proof('{}'::bytea[], $i)");
		my $v = $node->safe_psql('postgres',
			"SELECT tracelink.verify_inclusion($i, 0, tracelink.sha256_digest(''), '{}', tracelink.sha256_digest(''))");
		if ($rc != 0 && $err =~ /out of range/ && $v eq 'f') { $ok_count++ }
		else { push @fail, "invalid case ($i, $n): rc=$rc err=$err verify=$v" }
		next;
	}
	my $expected = '{' . join(',', @{ $c->{proof_hex} }) . '}';
	my ($got, $verified) = split /\|/, $node->safe_psql('postgres', <<"SQL");
SELECT (SELECT coalesce('{' || string_agg(encode(e, 'hex'), ',' ORDER BY o) || '}', '{}')
          FROM unnest(p) WITH ORDINALITY AS u(e, o)),
       tracelink.verify_inclusion($i, $n, tracelink.merkle_leaf_hash(($leaves_sql)[$i + 1]), p, '\\x$roots[$n]')
  FROM (SELECT tracelink.merkle_inclusion_proof(@{[ first_leaves($n) ]}, $i) AS p) x
SQL
	if ($got eq $expected && $verified eq 't') { $ok_count++ }
	else { push @fail, "leaf $i of $n: got $got verified $verified" }
}
is($ok_count, scalar(@{ $ref->{inclusion_proofs}{cases} }),
	"reference: all $ok_count inclusion proof cases reproduced and verified (the invalid one refused)")
  or diag(join "\n", @fail);

($ok_count, @fail) = (0);
for my $c (@{ $ref->{consistency_proofs}{cases} })
{
	my ($m, $n) = ($c->{size1}, $c->{size2});
	my $expected = '{' . join(',', @{ $c->{proof_hex} }) . '}';
	my ($got, $verified) = split /\|/, $node->safe_psql('postgres', <<"SQL");
SELECT (SELECT coalesce('{' || string_agg(encode(e, 'hex'), ',' ORDER BY o) || '}', '{}')
          FROM unnest(p) WITH ORDINALITY AS u(e, o)),
       tracelink.verify_consistency($m, $n, '\\x$roots[$m]', '\\x$roots[$n]', p)
  FROM (SELECT tracelink.merkle_consistency_proof(@{[ first_leaves($n) ]}, $m) AS p) x
SQL
	if ($got eq $expected && $verified eq 't') { $ok_count++ }
	else { push @fail, "$m -> $n: got $got verified $verified" }
}
is($ok_count, scalar(@{ $ref->{consistency_proofs}{cases} }),
	"reference: all $ok_count consistency proof cases reproduced and verified")
  or diag(join "\n", @fail);

$node->stop;
done_testing();
