# RFC 8785 conformance: tracelink.jcs reproduces, byte for byte, the
# reference test data of cyberphone/json-canonicalization (input -> output)
# and the first 100,000 lines of its ECMAScript number test file.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use IO::Uncompress::Gunzip qw(gunzip $GunzipError);
use TlTest;

my $vectors = vectors_dir();
if (!defined $vectors)
{
	plan tests => 1;
	SKIP: { skip 'skipped: ../shared/vectors not found, RFC 8785 vectors not run', 1; }
	exit 0;
}
my $dir = "$vectors/jcs-rfc8785";

my $node = tl_node('jcs');

sub slurp_raw
{
	my ($path) = @_;
	open my $fh, '<:raw', $path or die "cannot read $path: $!";
	local $/;
	my $data = <$fh>;
	close $fh;
	return $data;
}

opendir my $dh, "$dir/input" or die "cannot list $dir/input: $!";
my @cases = sort grep { /\.json$/ } readdir $dh;
closedir $dh;
ok(scalar(@cases) >= 6, 'found the RFC 8785 input files');

for my $case (@cases)
{
	my $input = slurp_raw("$dir/input/$case");
	my $expected = slurp_raw("$dir/output/$case");
	my $tag = '$jcs_input$';
	die "tag occurs in $case" if index($input, $tag) >= 0;
	my $got = $node->safe_psql('postgres', "SELECT tracelink.jcs($tag$input$tag)");
	ok($got eq $expected, "jcs($case) matches the reference output byte for byte")
	  or diag("got:      $got\nexpected: $expected");
}

# ECMAScript number formatting.  Each line is "hexbits,expected"; we feed a
# %.17g rendering of the double (made here by Perl, not by tracelink) and
# expect exactly the reference text.
my $raw;
gunzip("$dir/es6-numbers/es6testfile_first100000.txt.gz" => \$raw)
  or die "gunzip failed: $GunzipError";
my @lines = grep { length } split /\n/, $raw;
my $copy = '';
my $n = 0;
for my $line (@lines)
{
	my ($hex, $expected) = split /,/, $line;
	my $bits = substr(('0' x 16) . $hex, -16);
	my $double = unpack('d>', pack('H16', $bits));
	# a 15-digit rendering too, when it round-trips: that takes the
	# digits-only fast path, the 17-digit one the binary path
	my $short = sprintf('%.15g', $double);
	$short = '' unless $short + 0 == $double;
	$copy .= sprintf("%d\t%.17g\t%s\t%s\n", $n++, $double, $short, $expected);
}
is($n, 100000, 'read 100,000 ECMAScript number lines');
my $result = $node->safe_psql('postgres', <<"SQL");
CREATE TEMP TABLE es6 (n int, input text, short_input text, expected text);
COPY es6 FROM STDIN;
$copy\\.
SELECT count(*) FILTER (WHERE tracelink.jcs(input) IS DISTINCT FROM expected)
       || ' ' || count(*) || ' ' ||
       coalesce((SELECT string_agg(input || '->' || tracelink.jcs(input) || '/' || expected, ';')
                   FROM (SELECT * FROM es6 WHERE tracelink.jcs(input) IS DISTINCT FROM expected
                          ORDER BY n LIMIT 3) x), '')
  FROM es6;
SQL
my ($bad, $total, $examples) = split / /, $result, 3;
is($total, 100000, 'all number lines loaded');
is($bad, 0, 'every ECMAScript number line canonicalises to the reference text')
  or diag("first mismatches: $examples");

$result = $node->safe_psql('postgres', <<"SQL");
CREATE TEMP TABLE es6 (n int, input text, short_input text, expected text);
COPY es6 FROM STDIN;
$copy\\.
SELECT count(*) FILTER (WHERE tracelink.jcs(short_input) IS DISTINCT FROM expected)
       || ' ' || count(*) || ' ' ||
       coalesce((SELECT string_agg(short_input || '->' || tracelink.jcs(short_input) || '/' || expected, ';')
                   FROM (SELECT * FROM es6 WHERE short_input <> ''
                            AND tracelink.jcs(short_input) IS DISTINCT FROM expected
                          ORDER BY n LIMIT 3) x), '')
  FROM es6 WHERE short_input <> '';
SQL
($bad, $total, $examples) = split / /, $result, 3;
cmp_ok($total, '>', 1000, "thousands of lines have a round-tripping 15-digit form ($total)");
is($bad, 0, '15-digit forms (digits-only fast path) give the same text as the binary path')
  or diag("first mismatches: $examples");

$node->stop;
done_testing();
