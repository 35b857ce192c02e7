# GS1 EPCIS 2.0 in and out (docs/epcis.md).
# (a) Every GS1 example document (../shared/vectors/epcis2/examples-json)
#     imports into a link of its own (none needs anything docs/epcis.md
#     lists as unsupported); the export of every imported link validates against the
#     GS1 JSON schema with python3-jsonschema (Draft 7).
# (b) Two nodes import overlapping documents while they cannot see each
#     other; once connected each event exists once on both (the
#     lowest-ranked copy is kept, the other marked duplicate), trace()
#     follows an AggregationEvent and a TransformationEvent across the
#     nodes, and epcis_document() is the same on both.
use strict;
use warnings;
use File::Find;
use File::Spec;
use File::Temp qw(tempdir);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlTest;

sub sql { my ($node, $sql) = @_; return $node->safe_psql('postgres', $sql); }

sub error_of
{
	my ($node, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $sql);
	return $ret == 0 ? '(no error)' : $err;
}

sub wait_for
{
	my ($node, $sql, $what) = @_;
	ok($node->poll_query_until('postgres', $sql), $what);
}

my $form_items = q{"items": [
      {"name": "epc", "type": "text", "required": true, "trace_code": true, "sources": ["external"]},
      {"name": "event_id", "type": "text", "sources": ["external"]},
      {"name": "event", "type": "text", "sources": ["external"]}]};

# ---------------------------------------------------------------------
# (a) the GS1 examples
# ---------------------------------------------------------------------
SKIP:
{
	my $vectors = vectors_dir();
	my $dir = defined $vectors ? File::Spec->catdir($vectors, 'epcis2') : undef;
	skip 'the EPCIS 2.0 examples are not there (../shared/vectors/epcis2 or $TRACELINK_VECTORS): skipped', 1
	  unless defined $dir && -d "$dir/examples-json";
	my @files;
	find(sub { push @files, $File::Find::name if /\.jsonld$/ }, "$dir/examples-json");
	@files = sort @files;
	is(scalar(@files), 47, 'the 47 GS1 example documents');

	my $solo = tl_node('solo');
	init_nodes($solo);
	# imports are checked against GS1's own schema once it is loaded
	my $schema_text = slurp_file("$dir/EPCIS-JSON-Schema.json");
	$schema_text =~ s/'/''/g;
	like(sql($solo, "SELECT encode(tracelink.set_epcis_schema('$schema_text'::jsonb), 'hex')"),
		qr/^[0-9a-f]{64}$/, 'the GS1 EPCIS JSON schema is loaded on solo');
	my $out = tempdir(CLEANUP => 1);
	my @exports;
	my $n = 0;
	for my $file (@files)
	{
		$n++;
		(my $name = $file) =~ s{^\Q$dir\E/examples-json/}{};
		my $link = "ex$n";
		sql($solo, "SELECT tracelink.request_link('$link', ARRAY['Events'], '{\"Events\": [\"solo\"]}')");
		sql($solo, "SELECT tracelink.reply_invitation('$link', 'Events', true)");
		sql($solo, qq{SELECT tracelink.submit_process('$link', '{"name": "Events", "stages": [{"name": "Any",
		  "forms": [{"name": "Event", "key": true, $form_items}]}]}')});
		sql($solo, "SELECT tracelink.vote(tracelink.assemble('$link'), true)");
		my $text = slurp_file($file);
		$text =~ s/'/''/g;
		my $err = error_of($solo, "SELECT tracelink.import_epcis('$text', '$link')");
		# none is refused today (docs/epcis.md, "Supported")
		if ($err ne '(no error)')
		{
			my ($msg) = $err =~ /ERROR:\s+(.*)/;
			fail("$name imports");
			diag("$name: $msg");
			next;
		}
		my $imported = sql($solo,
			"SELECT count(*) FROM tracelink.epcis_imported_events WHERE link = '$link' AND NOT duplicate");
		my $listed = sql($solo, "SELECT count(*) FROM tracelink.epcis_query('{\"link\": \"$link\"}')");
		ok($imported > 0 && $imported == $listed, "$name imports ($imported events) and every event is queried back");
		my $export = sql($solo, "SELECT tracelink.epcis_events('{\"link\": \"$link\"}')");
		my $path = "$out/$link.json";
		open(my $fh, '>', $path) or die "cannot write $path: $!";
		print $fh $export;
		close($fh);
		push @exports, [ $name, $path ];
		is(sql($solo, "SELECT count(*) FROM jsonb_array_elements(tracelink.epcis_events('{\"link\": \"$link\"}') #> '{epcisBody,eventList}') e
		                WHERE e ->> 'eventID' <> tracelink.epcis_event_hash(e - 'tl:ledger')"),
			'0', "$name: every exported event's eventID is its event hash ID");
	}

	# a document that fails GS1's schema is refused whole, with the event
	# and the path: the first event of an example, then a copy of it with a
	# number for its bizStep
	my ($victim) = grep { slurp_file($_) =~ /"type"\s*:\s*"EPCISDocument"/ } @files;
	my $bad = sql($solo, "SELECT jsonb_set(d, '{epcisBody,eventList}',
	                        jsonb_build_array(d #> '{epcisBody,eventList,0}', (d #> '{epcisBody,eventList,0}') || '{\"bizStep\": 7}'))
	                        FROM (SELECT '" . (slurp_file($victim) =~ s/'/''/gr) . "'::jsonb AS d) x");
	$bad =~ s/'/''/g;
	my $before = sql($solo, 'SELECT count(*) FROM tracelink.records');
	like(error_of($solo, "SELECT tracelink.import_epcis('$bad', 'ex1')"),
		qr/EPCIS document refused: event 1 at \$\.epcisBody\.eventList\[1\]\.bizStep/,
		'a document failing the GS1 schema is refused, naming event 1 and its path');
	is(sql($solo, 'SELECT count(*) FROM tracelink.records'), $before, 'nothing of it was imported');

	# the exports against the GS1 schema, with a real validator
	my $schema = "$dir/EPCIS-JSON-Schema.json";
	my $py = q{
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
v = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
for p in sys.argv[2:]:
    errs = sorted(v.iter_errors(json.load(open(p))), key=lambda e: list(e.absolute_path))
    print(p + "\t" + ("ok" if not errs else "; ".join("%s: %s" % ("/".join(map(str, e.absolute_path)), e.message[:200]) for e in errs[:3])))
};
	my ($stdout, $stderr) = run_command([ 'python3', '-c', $py, $schema, map { $_->[1] } @exports ]);
	my %verdict = map { split /\t/, $_, 2 } split /\n/, $stdout;
	for my $e (@exports)
	{
		is($verdict{ $e->[1] } // "no verdict: $stderr", 'ok', "$e->[0]: its export validates against the GS1 EPCIS JSON schema");
	}
	$solo->stop;
}

# ---------------------------------------------------------------------
# (b) two nodes, overlapping documents
# ---------------------------------------------------------------------
my $north = tl_node('north');
my $south = tl_node('south');
my @nodes = ($north, $south);
mesh(@nodes);
for my $node (@nodes)
{
	$node->poll_query_until('postgres', "SELECT count(*) = 1 FROM tracelink.peers WHERE status = 'streaming'")
	  or die $node->name . ' did not connect';
}
sql($north, q{SELECT tracelink.request_link('Cod', ARRAY['Handling'], '{"Handling": ["north", "south"]}')});
wait_for($south, "SELECT count(*) = 1 FROM tracelink.link_invitations WHERE node = 'south'", 'south sees its invitation');
sql($_, "SELECT tracelink.reply_invitation('Cod', 'Handling', true)") for @nodes;
wait_converged(@nodes);
sql($north, qq{SELECT tracelink.submit_process('Cod', '{"name": "Handling", "stages": [{"name": "Any", "members": ["north", "south"],
  "forms": [{"name": "Event", "key": true, $form_items}]}]}')});
wait_converged(@nodes);
my $p1 = sql($north, "SELECT encode(tracelink.assemble('Cod'), 'hex')");
for my $n (@nodes)
{
	wait_for($n, 'SELECT count(*) = 1 FROM tracelink.open_ballots', $n->name . ' may vote');
	sql($n, "SELECT tracelink.vote('\\x$p1', true)");
}
for my $n (@nodes)
{
	wait_for($n, "SELECT active_version = 1 FROM tracelink.links WHERE name = 'Cod'", $n->name . ': version 1 is active');
}

my $ctx = q{"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"], "type": "EPCISDocument",
  "schemaVersion": "2.0", "creationDate": "2026-06-01T00:00:00Z"};
my $commission = q{{"type": "ObjectEvent", "eventTime": "2026-06-01T06:00:00Z", "eventTimeZoneOffset": "+00:00",
  "epcList": ["urn:epc:id:sgtin:7.1.1", "urn:epc:id:sgtin:7.1.2"], "action": "ADD", "bizStep": "commissioning"}};
my $pack = q{{"type": "AggregationEvent", "eventTime": "2026-06-01T08:00:00Z", "eventTimeZoneOffset": "+00:00",
  "parentID": "urn:epc:id:sscc:7.9", "childEPCs": ["urn:epc:id:sgtin:7.1.1", "urn:epc:id:sgtin:7.1.2"],
  "action": "ADD", "bizStep": "packing"}};
my $fillet = q{{"type": "TransformationEvent", "eventTime": "2026-06-02T08:00:00Z", "eventTimeZoneOffset": "+00:00",
  "inputEPCList": ["urn:epc:id:sscc:7.9"],
  "outputQuantityList": [{"epcClass": "urn:epc:class:lgtin:7.2.F", "quantity": 20, "uom": "KGM"}],
  "bizStep": "transforming"}};

# each node imports while it cannot see the other: the packing event on both
sql($north, 'ALTER SUBSCRIPTION tracelink_from_south DISABLE');
sql($south, 'ALTER SUBSCRIPTION tracelink_from_north DISABLE');
is(sql($north, "SELECT imported || '/' || records FROM tracelink.import_epcis('{$ctx, \"epcisBody\": {\"eventList\": [$commission, $pack]}}', 'Cod')"),
	'2/5', 'north imports the commissioning and the packing');
is(sql($south, "SELECT imported || '/' || records FROM tracelink.import_epcis('{$ctx, \"epcisBody\": {\"eventList\": [$pack, $fillet]}}', 'Cod')"),
	'2/5', 'south imports the packing and the filleting');
is(sql($south, "SELECT imported || '/' || duplicates FROM tracelink.import_epcis('{$ctx, \"epcisBody\": {\"eventList\": [$pack]}}', 'Cod')"),
	'0/1', 'south recognises the packing it already has');
sql($north, 'ALTER SUBSCRIPTION tracelink_from_south ENABLE');
sql($south, 'ALTER SUBSCRIPTION tracelink_from_north ENABLE');
wait_converged(@nodes);
for my $n (@nodes)
{
	wait_for($n, 'SELECT count(*) = 0 FROM tracelink.apply_queue', $n->name . ': nothing waits');
	is(sql($n, 'SELECT count(*) FROM tracelink.quarantined'), '0', $n->name . ': nothing quarantined');
	is(sql($n, 'SELECT count(*) FROM tracelink.epcis_imported_events'), '4', $n->name . ': both copies of the packing are held');
	is(sql($n, "SELECT string_agg(event_type || ':' || duplicate, ' ' ORDER BY event_time, duplicate) FROM tracelink.epcis_imported_events"),
		'ObjectEvent:false AggregationEvent:false AggregationEvent:true TransformationEvent:false',
		$n->name . ': one copy of the packing is kept, the other is a duplicate');
	is(sql($n, "SELECT count(*) FROM tracelink.epcis_query('{}')"), '3', $n->name . ': each event once');
	is(sql($n, "SELECT string_agg(code || ':' || depth, ' ' ORDER BY depth, code) FROM (SELECT DISTINCT code, depth FROM tracelink.trace('urn:epc:class:lgtin:7.2.F')) t"),
		'urn:epc:id:sgtin:7.1.1:-2 urn:epc:id:sgtin:7.1.2:-2 urn:epc:id:sscc:7.9:-1 urn:epc:class:lgtin:7.2.F:0',
		$n->name . ': trace() follows the transformation and the aggregation across the nodes');
}
is(sql($north, 'SELECT node FROM tracelink.epcis_imported_events WHERE duplicate'),
	sql($south, 'SELECT node FROM tracelink.epcis_imported_events WHERE duplicate'),
	'both nodes mark the same copy as the duplicate');
is(sql($north, "SELECT tracelink.epcis_document('urn:epc:class:lgtin:7.2.F')::text"),
	sql($south, "SELECT tracelink.epcis_document('urn:epc:class:lgtin:7.2.F')::text"),
	'epcis_document() is the same on both nodes');
is(sql($north, "SELECT jsonb_array_length(tracelink.epcis_document('urn:epc:class:lgtin:7.2.F') #> '{epcisBody,eventList}')"),
	'3', 'it holds the three events once each');
my %digests = state_digests(@nodes);
is($digests{north}, $digests{south}, 'north and south have the same state_digest');

done_testing();
