# GS1 CBV 2.0 Event Hash ID conformance: for every NAME.jsonld in
# ../shared/vectors/epcis-event-hash, each event of the document's eventList
# (epcisBody.eventList, or epcisBody.queryResults.resultsBody.eventList of a
# query document), in order, gives line i of NAME.prehashes through
# tracelink.epcis_prehash() and line i of NAME.hashes through
# tracelink.epcis_event_hash().
#
# An event is hashed on its own, so it is given the document's @context (the
# JSON-LD way to carry namespaces with one event).  A document-level
# "<prefix>:ignoreFields" list (a repository convention, outside the event)
# is applied here, by removing those members from the event before hashing.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Digest::SHA qw(sha256_hex);
use Encode qw(encode_utf8 decode_utf8);
use TlTest;

my $vectors = vectors_dir();
if (!defined $vectors)
{
	plan tests => 1;
	SKIP: { skip 'skipped: ../shared/vectors not found, EPCIS event hash vectors not run', 1; }
	exit 0;
}
my $dir = "$vectors/epcis-event-hash";
if (!-d $dir)
{
	plan tests => 1;
	SKIP: { skip "skipped: $dir not found, EPCIS event hash vectors not run", 1; }
	exit 0;
}

my $node = tl_node('epcishash');

sub slurp
{
	my ($path) = @_;
	open my $fh, '<:raw', $path or die "cannot read $path: $!";
	local $/;
	my $text = <$fh>;
	close $fh;
	return $text;
}

sub lines
{
	my ($path) = @_;
	my $text = slurp($path);
	$text =~ s/\r//g;
	my @l = split /\n/, decode_utf8($text);
	return @l;
}

opendir my $dh, $dir or die "cannot list $dir: $!";
my @names = sort map { /^(.*)\.jsonld\z/ ? $1 : () } readdir $dh;
closedir $dh;
ok(@names > 0, scalar(@names) . ' example documents found');

for my $name (@names)
{
	my $doc = slurp("$dir/$name.jsonld");
	die "$name.jsonld holds the quoting tag" if $doc =~ /\$epcis\$/;
	my $rows = $node->safe_psql('postgres', <<"SQL");
WITH doc AS (SELECT \$epcis\$$doc\$epcis\$::jsonb AS d),
body AS (
  SELECT d, coalesce(d->'epcisBody'->'eventList',
                     d->'epcisBody'->'queryResults'->'resultsBody'->'eventList') AS events,
         coalesce((SELECT value FROM jsonb_each(d) WHERE key LIKE '%:ignoreFields'),
                  (SELECT value FROM jsonb_each(d->'epcisBody'->'queryResults') WHERE key LIKE '%:ignoreFields'),
                  '[]') AS ignored
    FROM doc),
ev AS (
  SELECT n, (e - ARRAY(SELECT jsonb_array_elements_text(ignored)))
              || jsonb_build_object('\@context', d->'\@context') AS e
    FROM body, jsonb_array_elements(events) WITH ORDINALITY AS x(e, n))
SELECT tracelink.epcis_prehash(e) || E'\\t' || tracelink.epcis_event_hash(e) FROM ev ORDER BY n;
SQL
	my @got = split /\n/, decode_utf8($rows);
	my @want_hash = lines("$dir/$name.hashes");
	is(scalar(@got), scalar(@want_hash), "$name: one hash per event (" . scalar(@want_hash) . ')');
	my @want_pre = -f "$dir/$name.prehashes" ? lines("$dir/$name.prehashes") : ();
	if (-f "$dir/$name.prehashes")
	{
		is(scalar(@want_pre), scalar(@want_hash), "$name: as many pre-hash lines as hashes");
	}
	else
	{
		note("$name: the vectors have no .prehashes file; hashes compared only");
	}
	for my $i (0 .. $#want_hash)
	{
		my ($pre, $hash) = split /\t/, ($got[$i] // "\t"), 2;
		my ($want_hex) = $want_hash[$i] =~ /sha-256;([0-9a-f]{64})/;
		if (@want_pre && sha256_hex(encode_utf8($want_pre[$i])) ne ($want_hex // ''))
		{
			# The vector's own pre-hash line does not hash to its hash ID
			# line (two such lines, docs/epcis.md): the hash ID is the
			# authority, so our string must be one that hashes to it.
			note("$name event " . ($i + 1) . ": the vectors' pre-hash line does not hash to their hash ID");
			is(sha256_hex(encode_utf8($pre // '')), $want_hex,
				"$name event " . ($i + 1) . ': pre-hash string hashes to the vectors\' hash ID (their pre-hash line is inconsistent)');
		}
		elsif (@want_pre)
		{
			is($pre, $want_pre[$i], "$name event " . ($i + 1) . ': pre-hash string')
			  or diag('SHA-256 of the expected pre-hash line: '
				  . sha256_hex(encode_utf8($want_pre[$i]))
				  . "; the vectors' hash of this event: $want_hash[$i]");
		}
		is($hash, $want_hash[$i], "$name event " . ($i + 1) . ': event hash ID');
	}
}

$node->stop;
done_testing();
