# Ed25519 conformance of tracelink.ed25519_public_key, ed25519_sign and
# ed25519_verify against vectors read at test time from
# ../shared/vectors/ed25519:
#   - RFC 8032 section 7.1: keys from seeds, signatures byte for byte, verify;
#   - Wycheproof v1 ed25519_test.json: every valid/invalid result;
#   - Wycheproof legacy eddsa_test.json: the same, and signing with the
#     group's secret key reproduces every valid signature;
#   - C2SP CCTV edge cases, which have no expected result: they pin the
#     verification policy (libsodium's), which every node of a consortium
#     must share so that all nodes agree on which entries are valid.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use TlTest;

my $vectors = vectors_dir();
if (!defined $vectors)
{
	plan tests => 1;
	SKIP: { skip 'skipped: ../shared/vectors not found, Ed25519 vectors not run', 1; }
	exit 0;
}
my $dir = "$vectors/ed25519";

my $node = tl_node('ed25519');

sub read_json
{
	my ($path) = @_;
	open my $fh, '<:raw', $path or die "cannot read $path: $!";
	local $/;
	my $text = <$fh>;
	close $fh;
	return JSON::PP->new->decode($text);
}

# Load rows (array refs of COPY-safe fields) into a temp table and return
# the single-row result of $query over it, split into fields.
sub query_over
{
	my ($table, $columns, $rows, $query) = @_;
	my $copy = join '', map { join("\t", @$_) . "\n" } @$rows;
	my $out = $node->safe_psql('postgres', <<"SQL");
CREATE TEMP TABLE $table ($columns);
COPY $table FROM STDIN;
$copy\\.
$query
SQL
	return split /\|/, $out, -1;
}

# --- RFC 8032 section 7.1 ---------------------------------------------------
my $rfc = read_json("$dir/rfc8032/rfc8032_section7_1_ed25519.json");
my @rfc_rows = map {
	[ $_->{name} =~ s/\s+/_/gr, $_->{secret_key_hex}, $_->{public_key_hex},
	  $_->{message_hex}, $_->{signature_hex} ]
} @{ $rfc->{tests} };
my ($n, $bad_pk, $bad_sig, $bad_verify, $which) = query_over(
	'rfc', 'name text, seed text, pk text, msg text, sig text', \@rfc_rows, <<'SQL');
SELECT count(*),
       count(*) FILTER (WHERE tracelink.ed25519_public_key(decode(seed, 'hex')) IS DISTINCT FROM decode(pk, 'hex')),
       count(*) FILTER (WHERE tracelink.ed25519_sign(decode(seed, 'hex'), decode(msg, 'hex')) IS DISTINCT FROM decode(sig, 'hex')),
       count(*) FILTER (WHERE tracelink.ed25519_verify(decode(pk, 'hex'), decode(msg, 'hex'), decode(sig, 'hex')) IS NOT TRUE),
       coalesce(string_agg(name, ',') FILTER (WHERE
           tracelink.ed25519_public_key(decode(seed, 'hex')) IS DISTINCT FROM decode(pk, 'hex') OR
           tracelink.ed25519_sign(decode(seed, 'hex'), decode(msg, 'hex')) IS DISTINCT FROM decode(sig, 'hex') OR
           tracelink.ed25519_verify(decode(pk, 'hex'), decode(msg, 'hex'), decode(sig, 'hex')) IS NOT TRUE), '')
  FROM rfc;
SQL
is($n, scalar(@rfc_rows), "RFC 8032 7.1: all $n vectors loaded");
is("$bad_pk/$bad_sig/$bad_verify", '0/0/0',
	"RFC 8032 7.1: public keys, signatures and verification all match ($n vectors)")
  or diag("wrong: $which (public key/sign/verify failures: $bad_pk/$bad_sig/$bad_verify)");

# --- Wycheproof ---------------------------------------------------------------
# One row per test: tcId, pk, sk (or empty), msg, sig, expected validity.
sub wycheproof_rows
{
	my ($json, $key_field) = @_;
	my @rows;
	for my $group (@{ $json->{testGroups} })
	{
		my $key = $group->{$key_field};
		for my $t (@{ $group->{tests} })
		{
			die "unexpected result \"$t->{result}\" in tcId $t->{tcId}"
			  unless $t->{result} eq 'valid' || $t->{result} eq 'invalid';
			push @rows, [ $t->{tcId}, $key->{pk}, $key->{sk} // '', $t->{msg},
				$t->{sig}, $t->{result} eq 'valid' ? 't' : 'f' ];
		}
	}
	return @rows;
}

my $verify_query = <<'SQL';
SELECT count(*), count(*) FILTER (WHERE valid),
       count(*) FILTER (WHERE tracelink.ed25519_verify(decode(pk, 'hex'), decode(msg, 'hex'), decode(sig, 'hex')) IS DISTINCT FROM valid),
       coalesce(string_agg(tcid::text, ',' ORDER BY tcid) FILTER (WHERE
           tracelink.ed25519_verify(decode(pk, 'hex'), decode(msg, 'hex'), decode(sig, 'hex')) IS DISTINCT FROM valid), ''),
       count(*) FILTER (WHERE valid AND sk <> ''),
       count(*) FILTER (WHERE valid AND sk <> '' AND
           tracelink.ed25519_sign(decode(sk, 'hex'), decode(msg, 'hex')) IS DISTINCT FROM decode(sig, 'hex')),
       count(*) FILTER (WHERE sk <> '' AND
           tracelink.ed25519_public_key(decode(sk, 'hex')) IS DISTINCT FROM decode(pk, 'hex'))
  FROM TABLE_NAME;
SQL
my $columns = 'tcid int, pk text, sk text, msg text, sig text, valid boolean';

my $v1 = read_json("$dir/wycheproof/ed25519_test.json");
my @v1_rows = wycheproof_rows($v1, 'publicKey');
my ($total, $valid, $bad, $ids) =
  query_over('wp_v1', $columns, \@v1_rows, $verify_query =~ s/TABLE_NAME/wp_v1/r);
is($total, $v1->{numberOfTests}, "Wycheproof v1: all $v1->{numberOfTests} tests loaded");
is($bad, 0, "Wycheproof v1: ed25519_verify agrees with all $total results ($valid valid)")
  or diag("disagreeing tcIds: $ids");

my $legacy = read_json("$dir/wycheproof/legacy/eddsa_test.json");
my @legacy_rows = wycheproof_rows($legacy, 'key');
my ($signable, $bad_sign, $bad_key);
($total, $valid, $bad, $ids, $signable, $bad_sign, $bad_key) =
  query_over('wp_legacy', $columns, \@legacy_rows, $verify_query =~ s/TABLE_NAME/wp_legacy/r);
is($total, $legacy->{numberOfTests}, "Wycheproof legacy: all $legacy->{numberOfTests} tests loaded");
is($bad, 0, "Wycheproof legacy: ed25519_verify agrees with all $total results ($valid valid)")
  or diag("disagreeing tcIds: $ids");
ok($signable == $valid && $bad_sign == 0 && $bad_key == 0,
	"Wycheproof legacy: signing with the group key reproduces all $signable valid signatures, and every sk gives its pk")
  or diag("signable $signable of $valid valid, wrong signatures $bad_sign, wrong public keys $bad_key");

# --- CCTV edge cases: the verification policy --------------------------------
# libsodium refuses small-order and non-canonical encodings of A and R and
# uses the cofactorless equation; so a vector verifies exactly when it has
# none of the flags low_order_A, low_order_R, non_canonical_A,
# non_canonical_R, low_order_residue (ed25519-dalek's verify_strict rule).
my $cctv = read_json("$dir/cctv-edge-cases/ed25519vectors.json");
my %refused = map { $_ => 1 }
  qw(low_order_A low_order_R non_canonical_A non_canonical_R low_order_residue);
my @cctv_rows = map {
	my $flags = $_->{flags} // [];
	my $expect = (grep { $refused{$_} } @$flags) ? 'f' : 't';
	[ $_->{number}, $_->{key}, '', unpack('H*', $_->{msg}), $_->{sig}, $expect ]
} @$cctv;
($total, $valid, $bad, $ids) =
  query_over('cctv', $columns, \@cctv_rows, $verify_query =~ s/TABLE_NAME/cctv/r);
is($total, scalar(@$cctv), "CCTV: all $total edge-case vectors loaded");
is($bad, 0, "CCTV: exactly the $valid vectors without low-order or non-canonical A/R and without a low-order residue verify")
  or diag("vectors against the policy: $ids");

$node->stop;
done_testing();
