# Memory of tracelink's JSON paths is linear in the input with a small
# constant (issue 9): on documents of about 10 MB of each shape (numbers,
# strings, deep, wide, and a large link definition), each path's peak
# backend memory is at most 3 times that of jsonb_in (doc::jsonb) on the
# same document.  Peak = VmHWM from /proc/self/status of a fresh backend,
# after the statement minus before it, with shared_buffers at 1MB so that
# shared memory does not hide private memory.  The documents and the link
# come from bench/memory/ (docs.sql, setup.sql), which bench/memory/run.sh
# measures the same way.  Then the size limits: a record batch too large
# for one entry is split, an oversized export line is quarantined, and a
# transaction holds at most TL_BLOCK_MAX_ENTRIES entries.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $size = 10_000_000;
my $limit = 64 * 1024 * 1024;    # TL_JSON_MAX_BYTES
my $max_ratio = 3;

my $node = PostgreSQL::Test::Cluster->new('mem');
$node->init;
$node->append_conf('postgresql.conf', <<'CONF');
shared_buffers = 1MB
max_wal_size = 4GB
CONF
$node->start;

# A regression must fail this test with "out of memory", not exhaust the
# machine: every backend forked from now on may map at most 4 GB.
if (system('prlimit', '--pid', $node->{_pid}, '--as=4294967296:4294967296') != 0)
{
	note 'prlimit not available: backends run without an address space limit';
}

$node->safe_psql('postgres', <<'SQL');
CREATE EXTENSION tracelink;
SELECT tracelink.init_node('mem');
CREATE FUNCTION memory_vmhwm() RETURNS bigint LANGUAGE sql AS
$$ SELECT (regexp_match(pg_read_file('/proc/self/status'), 'VmHWM:\s+(\d+)'))[1]::bigint $$;
SQL
for my $script ('bench/memory/docs.sql', 'bench/memory/setup.sql')
{
	my ($rc, $out, $err) = $node->psql('postgres', slurp_file($script),
		extra_params => [ '-v', "size=$size" ], on_error_stop => 1);
	is($rc, 0, "$script runs") or diag $err;
}
my $work = $node->basedir;

# Peak memory (kB) of one statement in a fresh backend, or undef (and the
# error in a diagnostic) if it fails.
sub peak_kb
{
	my ($sql) = @_;
	my ($rc, $out, $err) = $node->psql('postgres',
		"SELECT memory_vmhwm();\n$sql;\nSELECT memory_vmhwm();",
		on_error_stop => 1);
	if ($rc != 0)
	{
		diag "statement failed: $err\n" . substr($sql, 0, 300);
		return undef;
	}
	my @lines = split /\n/, $out;
	return $lines[-1] - $lines[0];
}

# a peak against the bound, as one test
sub check_peak
{
	my ($kb, $base, $what) = @_;
	if (!defined $kb || !$base)
	{
		fail("$what: not measured");
		return;
	}
	cmp_ok($kb, '<=', $max_ratio * $base,
		sprintf('%s: %d kB, %.2f x %s', $what, $kb, $kb / $base,
			$what =~ /whole ledger/ ? 'the cheapest doc::jsonb' : 'doc::jsonb'));
}

sub doc { return "(SELECT doc FROM memory_docs WHERE shape = '$_[0]')" }

# the document as the info of a link: a valid definition of any shape
sub wrapped
{
	my ($shape) = @_;
	return doc($shape) if $shape eq 'link';
	return "('{\"name\":\"L\",\"info\":{\"doc\":' || " . doc($shape) . " || '}}')";
}

# path => SQL for a shape (one row, one short value)
my %path_sql = (
	jcs_text => sub { "SELECT length(tracelink.jcs(" . doc($_[0]) . "))" },
	jcs_jsonb => sub { "SELECT length(tracelink.jcs(" . doc($_[0]) . "::jsonb))" },
	digest => sub { "SELECT length(tracelink.digest(" . doc($_[0]) . "::jsonb))" },
	link_in => sub { "SELECT " . wrapped($_[0]) . "::tracelink.link IS NULL" },
	link_recv => sub {
		"COPY memory_links_in FROM '$work/link-$_[0].bin' (FORMAT binary)"
	},
	link_jsonb => sub { "SELECT " . wrapped($_[0]) . "::jsonb::tracelink.link IS NULL" },
	validate => sub {
		"SELECT count(*) FROM memory_links l, tracelink.validate(l.def) WHERE l.shape = '$_[0]'"
	},
	append => sub { "SELECT length(tracelink.append('mem.doc', " . doc($_[0]) . "::jsonb))" },
	tree_head => sub {
		"SELECT tracelink.verify_tree_head(" . doc($_[0]) . "::jsonb, '\\x"
		  . ('00' x 32) . "')";
	},
	record => sub {
		"SELECT length(tracelink.record('Mem', 'c-$_[0]', 'P', 'S', 'F',"
		  . " jsonb_build_object('lot', 'c-$_[0]', 'note', " . doc($_[0]) . ")))";
	},
	ingest => sub {
		"SELECT lines FROM tracelink.ingest((SELECT lines FROM memory_export WHERE shape = '$_[0]'))";
	},);

# digest() is jcs_jsonb's serialiser, and receive is input's code after the
# binary frame: bench/memory/run.sh measures them for every shape, this
# test for the link only
my @paths = qw(jcs_text jcs_jsonb link_in link_jsonb append tree_head record ingest);
my %baseline;
for my $shape (qw(numbers strings deep wide link))
{
	my @shape_paths =
	  $shape eq 'link' ? qw(digest link_in link_recv link_jsonb validate append) : @paths;
	$node->safe_psql('postgres',
		"COPY (SELECT def FROM memory_links WHERE shape = '$shape') TO '$work/link-$shape.bin' (FORMAT binary)"
	);
	my $base = peak_kb("SELECT pg_column_size(" . doc($shape) . "::jsonb)");
	$baseline{$shape} = $base;
	note "$shape: doc::jsonb peaks at " . ($base // '?') . ' kB';
	for my $path (@shape_paths)
	{
		if ($path eq 'ingest')
		{
			# the export lines (header, entry, block) of the entry "append" wrote
			$node->safe_psql('postgres', <<SQL);
INSERT INTO memory_export
SELECT '$shape', string_agg(l, E'\\n')
  FROM tracelink.export('mem', (SELECT max(b.block_no) FROM tracelink.ledger_blocks b
                                  JOIN tracelink.ledger_entries e ON e.origin = b.origin AND e.tx = b.tx
                                 WHERE e.kind = 'mem.doc')) l
SQL
		}
		check_peak(peak_kb($path_sql{$path}->($shape)), $base, "$path of $shape");
	}
}

# the ledger's paths: every document above is in the ledger now, but each
# entry's memory is freed before the next, so they stay within the bound
# of the cheapest single document
my ($cheapest) = sort { $a <=> $b } grep { defined } values %baseline;
for my $check (
	[ 'verify', 'SELECT count(*) FROM tracelink.verify()' ],
	[ 'export', "SELECT sum(length(l)) FROM tracelink.export('mem') l" ],
	[
		'record_proof',
		"SELECT sum(pg_column_size(p)) FROM (SELECT DISTINCT entry_hash FROM tracelink.records) r,"
		  . " tracelink.record_proof(r.entry_hash, 0) p"
	],
	[
		'verify_record_proof',
		"SELECT bool_and(tracelink.verify_record_proof(p, n.public_key))"
		  . " FROM (SELECT DISTINCT entry_hash FROM tracelink.records) r,"
		  . " tracelink.record_proof(r.entry_hash, 0) p, tracelink.nodes n WHERE n.name = 'mem'"
	])
{
	my ($name, $sql) = @$check;
	check_peak(peak_kb($sql), $cheapest, "$name of the whole ledger");
}
is($node->safe_psql('postgres', 'SELECT bool_and(ok) FROM tracelink.verify()'),
	't', 'the ledger verifies');

# a batch too large for one entry is split into entries that fit
my $note_len = 7 * 1024 * 1024;
is( $node->safe_psql(
		'postgres', <<SQL),
SELECT tracelink.record_batch('Mem', jsonb_agg(jsonb_build_object(
         'code', 'big-' || i, 'process', 'P', 'stage', 'S', 'form', 'F',
         'data', jsonb_build_object('lot', 'big-' || i, 'note', repeat('x', $note_len)))))
  FROM generate_series(1, 10) i;
SELECT count(DISTINCT r.entry_hash) > 1, max(length(e.payload)) <= $limit
  FROM tracelink.records r JOIN tracelink.codes c ON c.code_id = r.code_id
  JOIN tracelink.ledger_entries e ON e.entry_hash = r.entry_hash
 WHERE c.code LIKE 'big-%';
SQL
	"10\nt|t", 'a record batch of 70 MB is split into entries within the size limit');

# an export line over the limit is quarantined with the limit's error
my ($rc, $out, $err) = $node->psql('postgres', <<SQL);
SELECT lines, quarantined FROM tracelink.ingest('{"type":"entry","pad":"' || repeat('x', $limit) || '"}');
SELECT reason FROM tracelink.quarantine ORDER BY id DESC LIMIT 1;
SQL
like($out, qr/^1\|1\nline could not be processed: JSON document is too large$/,
	'an export line over the limit is quarantined');

# a transaction's block holds at most TL_BLOCK_MAX_ENTRIES entries
($rc, $out, $err) = $node->psql('postgres', <<'SQL');
SELECT count(tracelink.append('mem.bulk', '{}')) FROM generate_series(1, 1000001);
SQL
like($err, qr/ERROR:  a transaction may append at most 1000000 ledger entries/,
	'a transaction holds at most 1,000,000 entries');
is($node->safe_psql('postgres', "SELECT count(*) FROM tracelink.ledger_entries WHERE kind = 'mem.bulk'"),
	'0', 'and nothing of it is kept');

$node->stop;
done_testing();
