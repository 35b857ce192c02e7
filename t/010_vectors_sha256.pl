# SHA-256 conformance: tracelink.sha256_digest reproduces the NIST CAVP SHAVS
# byte-oriented vectors (SHA256ShortMsg.rsp, SHA256LongMsg.rsp) and the
# Monte Carlo checkpoints (SHA256Monte.rsp), all read at test time from
# ../shared/vectors/sha256-nist-cavp.  tracelink.sha256_digest goes through
# tl_sha256, the path every hash in the ledger takes.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use TlTest;

my $vectors = vectors_dir();
if (!defined $vectors)
{
	plan tests => 1;
	SKIP: { skip 'skipped: ../shared/vectors not found, SHA-256 vectors not run', 1; }
	exit 0;
}
my $dir = "$vectors/sha256-nist-cavp";

my $node = tl_node('sha256');

# The "key = value" records of a CAVP .rsp file, as hashes, in file order.
# Comment lines, "[L = 32]" and the CR of CRLF files are ignored; a record
# ends at a blank line.
sub read_rsp
{
	my ($path) = @_;
	open my $fh, '<', $path or die "cannot read $path: $!";
	my (@records, %current);
	while (my $line = <$fh>)
	{
		$line =~ s/\r?\n\z//;
		next if $line =~ /^\s*(#|\[)/;
		if ($line =~ /^\s*(\w+)\s*=\s*(\S*)\s*$/)
		{
			$current{$1} = $2;
		}
		elsif ($line =~ /^\s*$/ && %current)
		{
			push @records, {%current};
			%current = ();
		}
	}
	push @records, {%current} if %current;
	close $fh;
	return @records;
}

# ShortMsg and LongMsg: Len is in bits; only the first Len/8 bytes of Msg
# are the message (for Len = 0 the file says "Msg = 00": the empty message).
my $copy = '';
my %count;
for my $file ('SHA256ShortMsg.rsp', 'SHA256LongMsg.rsp')
{
	for my $r (read_rsp("$dir/$file"))
	{
		die "unexpected record in $file" unless defined $r->{Len} && defined $r->{MD};
		die "Len $r->{Len} in $file is not whole bytes" if $r->{Len} % 8;
		my $msg = substr($r->{Msg}, 0, $r->{Len} / 4);
		die "Msg shorter than Len in $file" if length($msg) != $r->{Len} / 4;
		$copy .= "$file\t$r->{Len}\t$msg\t$r->{MD}\n";
		$count{$file}++;
	}
}

my $result = $node->safe_psql('postgres', <<"SQL");
CREATE TEMP TABLE cavp (file text, len int, msg text, md text);
COPY cavp FROM STDIN;
$copy\\.
SELECT file, count(*),
       count(*) FILTER (WHERE tracelink.sha256_digest(decode(msg, 'hex')) IS DISTINCT FROM decode(md, 'hex')),
       coalesce(string_agg(len::text, ',' ORDER BY len)
                  FILTER (WHERE tracelink.sha256_digest(decode(msg, 'hex')) IS DISTINCT FROM decode(md, 'hex')), '')
  FROM cavp GROUP BY file ORDER BY file;
SQL
my %rows = map { my ($f, @rest) = split /\|/, $_, -1; ($f => \@rest) } split /\n/, $result;

for my $file ('SHA256ShortMsg.rsp', 'SHA256LongMsg.rsp')
{
	my ($total, $bad, $lens) = @{ $rows{$file} // [ 0, -1, '' ] };
	ok($total == $count{$file} && $total > 0, "$file: all $count{$file} vectors loaded");
	is($bad, 0, "$file: tracelink.sha256_digest gives MD for each of the $total messages")
	  or diag("mismatching Len values: $lens");
}

# Monte Carlo (SHAVS 6.4): from Seed, 100 checkpoints; for each,
# MD0 = MD1 = MD2 = Seed, MDi = SHA256(MDi-3 || MDi-2 || MDi-1) for
# i = 3..1002, checkpoint = MD1002 = next Seed.  Run in PL/pgSQL through
# tracelink.sha256_digest (100,000 hashes), compared in one query.
my @monte = read_rsp("$dir/SHA256Monte.rsp");
my $seed = (shift @monte)->{Seed} or die "no Seed in SHA256Monte.rsp";
my $monte_copy = join '', map { "$_->{COUNT}\t$_->{MD}\n" } @monte;

$result = $node->safe_psql('postgres', <<"SQL");
CREATE TEMP TABLE monte (count int, md text);
COPY monte FROM STDIN;
$monte_copy\\.
CREATE FUNCTION pg_temp.sha256_monte(seed bytea, checkpoints int)
RETURNS TABLE (count int, md bytea) LANGUAGE plpgsql AS \$\$
DECLARE
    md0 bytea;
    md1 bytea;
    md2 bytea;
    mdi bytea;
BEGIN
    FOR j IN 0 .. checkpoints - 1 LOOP
        md0 := seed;
        md1 := seed;
        md2 := seed;
        FOR i IN 3 .. 1002 LOOP
            mdi := tracelink.sha256_digest(md0 || md1 || md2);
            md0 := md1;
            md1 := md2;
            md2 := mdi;
        END LOOP;
        seed := md2;
        count := j;
        md := md2;
        RETURN NEXT;
    END LOOP;
END
\$\$;
SELECT count(*),
       count(*) FILTER (WHERE r.md IS DISTINCT FROM decode(m.md, 'hex')),
       coalesce(min(m.count) FILTER (WHERE r.md IS DISTINCT FROM decode(m.md, 'hex')), -1)
  FROM monte m
  LEFT JOIN pg_temp.sha256_monte(decode('$seed', 'hex'), (SELECT count(*)::int FROM monte)) r
    ON r.count = m.count;
SQL
my ($total, $bad, $first) = split /\|/, $result;
is($total, scalar(@monte), 'SHA256Monte.rsp: all ' . scalar(@monte) . ' checkpoints loaded');
is($bad, 0, "SHA256Monte.rsp: all $total Monte Carlo checkpoints reproduced")
  or diag("first wrong checkpoint: COUNT = $first");

$node->stop;
done_testing();
