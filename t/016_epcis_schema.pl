# The GS1 EPCIS 2.0 JSON schema through tracelink's JSON Schema validator
# (src/json_schema.c), checked against a real one (python3-jsonschema,
# Draft7Validator with format checks): the schema is loaded with
# set_epcis_schema() from ../shared/vectors/epcis2/EPCIS-JSON-Schema.json;
# every example document in examples-json gets the same verdict from both
# validators (GS1 ships them valid), and so do mutated copies made here (a
# missing required member, a bizStep of the wrong type, an eventTime that
# is not a date-time, ...), which tracelink refuses with the path of the
# failing event's member, and a sweep of copies with each member of the
# first event changed or removed.  The schema and examples are read at test time;
# nothing of them is in the repository.
use strict;
use warnings;
use File::Find;
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;
use TlTest;

my $vectors = vectors_dir();
if (!defined $vectors || !-d "$vectors/epcis2")
{
	plan tests => 1;
	SKIP: { skip 'skipped: ../shared/vectors/epcis2 not found, GS1 EPCIS schema and examples not run', 1; }
	exit 0;
}
my $dir = "$vectors/epcis2";
my $python = '/usr/bin/python3';
die "python3-jsonschema is missing (scripts/lib.sh tl_install_packages installs it)"
  if system($python, '-c', 'import jsonschema, rfc3987') != 0;

my $node = tl_node('epcis_schema');
my $tmp = PostgreSQL::Test::Utils::tempdir();

sub slurp
{
	my ($path) = @_;
	open my $fh, '<:raw', $path or die "cannot read $path: $!";
	local $/;
	return scalar <$fh>;
}

sub spew
{
	my ($path, $text) = @_;
	open my $fh, '>:raw', $path or die "cannot write $path: $!";
	print $fh $text;
	close $fh;
}

# A JSON text as an SQL literal (dollar-quoted).
sub lit
{
	my ($json) = @_;
	die "dollar quote inside JSON" if $json =~ /\$tl_json\$/;
	return '$tl_json$' . $json . '$tl_json$';
}

# Load the schema the way docs/json-schema.md says (psql variable).
my $schema_path = "$dir/EPCIS-JSON-Schema.json";
my $sha = $node->safe_psql('postgres',
	"SELECT encode(tracelink.set_epcis_schema(" . lit(slurp($schema_path)) . "::jsonb), 'hex')");
like($sha, qr/^[0-9a-f]{64}$/, 'set_epcis_schema loads the GS1 schema');
is( $node->safe_psql('postgres',
		"SELECT encode(sha256, 'hex') = '$sha' AND schema->>'\$schema' = 'http://json-schema.org/draft-07/schema#' FROM tracelink.epcis_schema"),
	't', 'the loaded schema and its SHA-256 are kept');

# tracelink's problems of a document: "path<TAB>problem" lines.
sub tl_problems
{
	my ($json) = @_;
	return $node->safe_psql('postgres',
		"SELECT path || E'\\t' || problem FROM tracelink.epcis_schema_problems("
		  . lit($json) . "::jsonb)");
}

# python3-jsonschema's verdict on each file: "valid" or "invalid".
my $oracle = "$tmp/oracle.py";
spew($oracle, <<'PY');
import calendar, json, re, sys
from jsonschema import Draft7Validator, FormatChecker

# "uri" is checked by jsonschema itself (python3-rfc3987).  "date-time"
# needs rfc3339-validator, which Debian does not package: the same check
# (RFC 3339 section 5.6, as rfc3339-validator writes it) is registered here.
RFC3339 = re.compile(r'^(\d{4})-(0[1-9]|1[0-2])-(\d{2})T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d'
                     r'(?:\.\d+)?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$')
checker = FormatChecker()

@checker.checks('date-time')
def date_time(value):
    if not isinstance(value, str):
        return True
    m = RFC3339.match(value.upper())
    return bool(m) and 1 <= int(m[3]) <= calendar.monthrange(int(m[1]), int(m[2]))[1]

validator = Draft7Validator(json.load(open(sys.argv[1])), format_checker=checker)
for name in open(sys.argv[2]).read().splitlines():
    errors = list(validator.iter_errors(json.load(open(name))))
    print(name + '\t' + ('invalid' if errors else 'valid'))
PY

sub oracle
{
	my @files = @_;
	spew("$tmp/oracle_files", join("\n", @files) . "\n");
	my $out = `$python $oracle '$schema_path' '$tmp/oracle_files'`;
	die "oracle failed" if $? != 0;
	my %verdict = map { split /\t/ } split /\n/, $out;
	return \%verdict;
}

# Every example, recursively.
my @examples;
find(sub { push @examples, $File::Find::name if /\.jsonld\z/ }, "$dir/examples-json");
@examples = sort @examples;
is(scalar @examples, 47, '47 GS1 example documents');

my $python_verdicts = oracle(@examples);
my $valid = 0;
for my $file (@examples)
{
	(my $name = $file) =~ s{^\Q$dir/examples-json/\E}{};
	my $problems = tl_problems(slurp($file));
	my $tl = $problems eq '' ? 'valid' : 'invalid';
	is($tl, $python_verdicts->{$file}, "$name: $tl, as python3-jsonschema says")
	  or diag($problems);
	$valid++ if $tl eq 'valid';
}
is($valid, 47, 'every GS1 example validates');

# Mutated copies of an example with two ObjectEvents: each is refused, at
# the failing event's index and member, and python3-jsonschema refuses it too.
my $base = decode_json(slurp("$dir/examples-json/Example_9.6.1-ObjectEvent.jsonld"));
my $json = JSON::PP->new->canonical;
my @mutations = (
	[
		'missing required eventTime', sub { delete $_[0]{epcisBody}{eventList}[1]{eventTime} },
		'$.epcisBody.eventList[1].eventTime', qr/required member is missing/
	],
	[
		'bizStep of the wrong type', sub { $_[0]{epcisBody}{eventList}[0]{bizStep} = 42 },
		'$.epcisBody.eventList[0].bizStep', qr/matches none of the 2 alternatives of anyOf/
	],
	[
		'eventTime not a date-time', sub { $_[0]{epcisBody}{eventList}[1]{eventTime} = '2005-04-03 20:33:31' },
		'$.epcisBody.eventList[1].eventTime', qr/is not a valid date-time/
	],
	[
		'eventTimeZoneOffset out of pattern', sub { $_[0]{epcisBody}{eventList}[0]{eventTimeZoneOffset} = '+15:00' },
		'$.epcisBody.eventList[0].eventTimeZoneOffset', qr/does not match the pattern/
	],
	[
		'action not in the enum', sub { $_[0]{epcisBody}{eventList}[0]{action} = 'MOVE' },
		'$.epcisBody.eventList[0].action', qr/MOVE/
	],
	[
		'epcList element not a uri', sub { $_[0]{epcisBody}{eventList}[0]{epcList}[1] = 'not a uri' },
		'$.epcisBody.eventList[0].epcList[1]', qr/is not a valid uri/
	],
	[
		'schemaVersion missing', sub { delete $_[0]{schemaVersion} },
		'$.schemaVersion', qr/required member is missing/
	],
	[
		'eventList not an array', sub { $_[0]{epcisBody}{eventList} = {} },
		'$.epcisBody.eventList', qr/expected array, got object/
	],
	[
		'unchanged copy', sub { }, undef, undef
	]);
my @mutated;
for my $i (0 .. $#mutations)
{
	my $doc = decode_json(encode_json($base));
	$mutations[$i][1]->($doc);
	my $file = "$tmp/mutation_$i.json";
	spew($file, $json->encode($doc));
	push @mutated, $file;
}
$python_verdicts = oracle(@mutated);
for my $i (0 .. $#mutations)
{
	my ($what, undef, $path, $message) = @{ $mutations[$i] };
	my $problems = tl_problems(slurp($mutated[$i]));
	my $tl = $problems eq '' ? 'valid' : 'invalid';
	is($tl, $python_verdicts->{ $mutated[$i] }, "$what: $tl, as python3-jsonschema says");
	if (defined $path)
	{
		like($problems, qr/^\Q$path\E\t.*$message/m, "$what: refused at $path")
		  or diag($problems);
	}
	else
	{
		is($problems, '', "$what: valid");
	}
}

# A sweep, for the verdicts only: in every example, every member of the
# first event in turn set to null, to 7 and to "x", and removed.  Both
# validators see the same documents; tracelink reads them all in one query.
my (@sweep, @sweep_files);
for my $file (@examples)
{
	my $doc = decode_json(slurp($file));
	my $events = $doc->{epcisBody}{eventList} // $doc->{epcisBody}{queryResults}{resultsBody}{eventList};
	next unless $events && @$events;
	(my $name = $file) =~ s{^\Q$dir/examples-json/\E}{};
	for my $member (sort keys %{ $events->[0] })
	{
		for my $change ('null', '7', '"x"', 'removed')
		{
			my $copy = decode_json(encode_json($doc));
			my $ev = ($copy->{epcisBody}{eventList} // $copy->{epcisBody}{queryResults}{resultsBody}{eventList})->[0];
			if ($change eq 'removed') { delete $ev->{$member}; }
			else { $ev->{$member} = decode_json("[$change]")->[0]; }
			my $path = "$tmp/sweep_" . scalar(@sweep_files) . '.json';
			spew($path, $json->encode($copy));
			push @sweep_files, $path;
			push @sweep, "$name: $member $change";
		}
	}
}
$python_verdicts = oracle(@sweep_files);
my $sql = "CREATE TABLE sweep (i int, doc jsonb);\n";
$sql .= "INSERT INTO sweep VALUES ($_, " . lit(slurp($sweep_files[$_])) . ");\n" for 0 .. $#sweep_files;
$sql .= "SELECT i || E'\\t' || CASE WHEN EXISTS (SELECT FROM tracelink.epcis_schema_problems(doc)) THEN 'invalid' ELSE 'valid' END FROM sweep ORDER BY i;";
my %tl_sweep = map { split /\t/ } split /\n/, $node->safe_psql('postgres', $sql);
my (@disagree, %count);
for my $i (0 .. $#sweep_files)
{
	$count{ $tl_sweep{$i} }++;
	push @disagree, "$sweep[$i]: tracelink $tl_sweep{$i}, python3-jsonschema $python_verdicts->{$sweep_files[$i]}"
	  if $tl_sweep{$i} ne $python_verdicts->{ $sweep_files[$i] };
}
is(join("\n", @disagree), '', scalar(@sweep_files) . ' swept documents: the same verdicts as python3-jsonschema ('
	  . ($count{valid} // 0) . ' valid, ' . ($count{invalid} // 0) . ' invalid)');
ok(($count{valid} // 0) > 0 && ($count{invalid} // 0) > 0, 'the sweep has both valid and invalid documents');

# An EPCIS query document: its events are under queryResults.
my $query = decode_json(slurp("$dir/examples-json/EPCISQueryDocument.jsonld"));
$query->{epcisBody}{queryResults}{resultsBody}{eventList}[0]{eventTime} = 'noon';
spew("$tmp/query.json", $json->encode($query));
$python_verdicts = oracle("$tmp/query.json");
is($python_verdicts->{"$tmp/query.json"}, 'invalid', 'python3-jsonschema refuses the mutated query document');
like(tl_problems(slurp("$tmp/query.json")),
	qr/^\$\.epcisBody\.queryResults\.resultsBody\.eventList\[0\]\.eventTime\t/m,
	'tracelink refuses it at its event\'s eventTime');

done_testing();
