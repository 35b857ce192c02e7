# Off-chain files across three nodes (docs/files.md): files of several MB
# round-trip with verification; a blob for the audience [na, nb] stored on
# na reaches nb and never nc, a public one reaches all; a peer serves
# chunks only to the nodes of a blob's audience; a chunk corrupted at rest
# on nb is reported by verify_blobs() and fetched again from na, a missing
# blob is fetched whole; and one file of 1 GB is stored and read back
# streaming with the backend's peak memory far below the file's size.
use strict;
use warnings;
use Digest::SHA qw(sha256_hex);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlTest;

my @nodes = map { tl_node($_) } qw(na nb nc);
my ($na, $nb, $nc) = @nodes;
mesh(@nodes);
for my $node (@nodes)
{
	ok( $node->poll_query_until('postgres',
			"SELECT count(*) = 2 FROM tracelink.peers WHERE status = 'streaming'"),
		$node->name . ' streams from both peers');
}

# A large object on na of $n * 32 pseudo-random bytes; returns its oid.
sub make_lo
{
	my ($seed, $n) = @_;
	return $na->safe_psql('postgres',
		"SELECT lo_from_bytea(0, (SELECT string_agg(sha256(('$seed' || g)::bytea), ''::bytea ORDER BY g)"
		  . " FROM generate_series(1, $n) g))");
}

# md5 of a blob's bytes read back with read_blob() on a node
sub read_md5
{
	my ($node, $hash) = @_;
	return $node->safe_psql('postgres',
		"SELECT md5(string_agg(c, ''::bytea ORDER BY n))"
		  . " FROM tracelink.read_blob(decode('$hash', 'hex')) WITH ORDINALITY AS r(c, n)");
}

sub held
{
	my ($node, $hash) = @_;
	return $node->safe_psql('postgres',
		"SELECT (SELECT count(*) FROM tracelink.blobs WHERE sha256 = decode('$hash', 'hex'))"
		  . " || '/' || (SELECT count(*) FROM tracelink.blob_chunks WHERE sha256 = decode('$hash', 'hex'))");
}

# the private file first, then the public one: once the public one has
# arrived on nc, so would have the private one
my $lo_s = make_lo('secret', 100_000);    # 3.2 MB: 4 chunks
my $lo_p = make_lo('public', 170_000);    # 5.4 MB: 6 chunks
my $ref_s = $na->safe_psql('postgres',
	"SELECT tracelink.store_blob($lo_s, 'lab report.pdf', 'application/pdf', ARRAY['nb'])");
my $ref_p = $na->safe_psql('postgres',
	"SELECT tracelink.store_blob($lo_p, 'leaf.mp4', 'video/mp4')");
my ($hs) = $ref_s =~ /"sha256": "([0-9a-f]{64})"/;
my ($hp) = $ref_p =~ /"sha256": "([0-9a-f]{64})"/;
ok($hs && $hp, 'store_blob returns file references');
like($ref_p, qr/"size": 5440000/, 'the reference gives the size');
my $md5_s = $na->safe_psql('postgres', "SELECT md5(lo_get($lo_s))");
my $md5_p = $na->safe_psql('postgres', "SELECT md5(lo_get($lo_p))");
is($na->safe_psql('postgres', "SELECT encode(sha256(lo_get($lo_p)), 'hex')"),
	$hp, 'a blob is named by the SHA-256 of its bytes');

for my $node ($nb, $nc)
{
	ok( $node->poll_query_until('postgres',
			"SELECT count(*) = 6 FROM tracelink.blob_chunks WHERE sha256 = decode('$hp', 'hex')"),
		'the public file reaches ' . $node->name);
	is(read_md5($node, $hp), $md5_p, 'and reads back the same on ' . $node->name);
}
ok( $nb->poll_query_until('postgres',
		"SELECT count(*) = 4 FROM tracelink.blob_chunks WHERE sha256 = decode('$hs', 'hex')"),
	'the file for [na, nb] reaches nb');
is(read_md5($nb, $hs), $md5_s, 'and reads back the same there');
is($nb->safe_psql('postgres', "SELECT audience FROM tracelink.blobs WHERE sha256 = decode('$hs', 'hex')"),
	'{na,nb}', 'with its audience');
is(held($nc, $hs), '0/0', 'nc holds no row of the file for [na, nb]');
is($nc->safe_psql('postgres', "SELECT count(*) FROM tracelink.quarantine WHERE what IN ('blob', 'chunk')"),
	'0', 'and nothing of it was sent there to be refused');
is(read_md5($na, $hp), $md5_p, 'the origin reads its own file back');

# a copy into a large object, as for \lo_export
my $lo_copy = $nb->safe_psql('postgres', "SELECT tracelink.blob_to_lo(decode('$hp', 'hex'))");
is($nb->safe_psql('postgres', "SELECT md5(lo_get($lo_copy))"), $md5_p, 'blob_to_lo copies the bytes');

for my $node (@nodes)
{
	is($node->safe_psql('postgres', "SELECT string_agg(status, ',') FROM tracelink.verify_blobs()"),
		$node == $nc ? 'ok' : 'ok,ok', 'verify_blobs() on ' . $node->name . ': all ok');
}

# Serving: na gives a chunk of the file for [na, nb] to nb's login, not to nc's
for my $peer (qw(nb nc))
{
	my $login = $na->safe_psql('postgres', "SELECT tracelink.peer_login_name('$peer')");
	my $n = $na->safe_psql('postgres',
		"SELECT count(*) FROM tracelink._serve_blob_chunk(decode('$hs', 'hex'), 0)",
		extra_params => [ '-U', $login ]);
	is($n, $peer eq 'nb' ? '1' : '0', "na serves a chunk of it to $peer\'s login: $n");
}
my ($rc, $out, $err) = $nc->psql('postgres', "SELECT tracelink.fetch_blob(decode('$hs', 'hex'))");
like($err, qr/no peer serves blob $hs to this node.*Peers asked: na, nb\./s,
	'nc cannot fetch the file for [na, nb] from anyone');
is(held($nc, $hs), '0/0', 'nc still holds none of it');

# corruption at rest on nb: reported, refused, fetched again from na
$nb->safe_psql('postgres',
	"UPDATE tracelink.blob_chunks SET data = overlay(data PLACING '\\xdeadbeef' FROM 1000)"
	  . " WHERE sha256 = decode('$hp', 'hex') AND chunk_no = 2");
like(
	$nb->safe_psql('postgres',
		"SELECT status || ': ' || detail FROM tracelink.verify_blobs() WHERE sha256 = decode('$hp', 'hex')"),
	qr/^corrupt: chunk 2 does not match its SHA-256/,
	'verify_blobs() on nb names the corrupt chunk');
($rc, $out, $err) = $nb->psql('postgres', "SELECT tracelink.read_blob(decode('$hp', 'hex'))");
like($err, qr/ERROR:  blob $hp is corrupt: chunk 2/, 'read_blob refuses it before any byte');
is($out, '', 'and returns nothing');
is($nb->safe_psql('postgres', "SELECT tracelink.fetch_blob(decode('$hp', 'hex'))"),
	'1', 'fetch_blob replaces the one corrupt chunk');
is(read_md5($nb, $hp), $md5_p, 'after which read_blob returns the file');

# a chunk missing, fetched from a named peer; a whole blob missing on nc
$nb->safe_psql('postgres',
	"DELETE FROM tracelink.blob_chunks WHERE sha256 = decode('$hs', 'hex') AND chunk_no = 3");
is($nb->safe_psql('postgres', "SELECT tracelink.fetch_blob(decode('$hs', 'hex'), 'na')"),
	'1', 'a missing chunk is fetched from the named peer');
is(read_md5($nb, $hs), $md5_s, 'and the file reads back');
$nc->safe_psql('postgres',
	"DELETE FROM tracelink.blob_chunks WHERE sha256 = decode('$hp', 'hex');"
	  . " DELETE FROM tracelink.blobs WHERE sha256 = decode('$hp', 'hex')");
is($nc->safe_psql('postgres', "SELECT tracelink.fetch_blob(decode('$hp', 'hex'), 'nb')"),
	'6', 'a blob lost whole is fetched again, from a node that is not its origin');
is(read_md5($nc, $hp), $md5_p, 'and reads back');
for my $node (@nodes)
{
	is($node->safe_psql('postgres', "SELECT string_agg(status, ',') FROM tracelink.verify_blobs()"),
		$node == $nc ? 'ok' : 'ok,ok', 'verify_blobs() on ' . $node->name . ' after fetching: all ok');
}

# the same content stored on na and on nb, each before it has the other's:
# every node keeps one copy, and the rows from the second origin are
# skipped, not refused (nb does not receive from na meanwhile)
my $sub_na = $nb->safe_psql('postgres', "SELECT tracelink.peer_subscription_name('na')");
$nb->safe_psql('postgres', "ALTER SUBSCRIPTION $sub_na DISABLE");
$nb->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM pg_stat_subscription WHERE subname = '$sub_na' AND pid IS NOT NULL")
  or die 'the subscription did not stop';
my $lo_twice_a = make_lo('twice', 40_000);
my $ref_twice = $na->safe_psql('postgres', "SELECT tracelink.store_blob($lo_twice_a, 'twice.bin')");
my ($ht) = $ref_twice =~ /"sha256": "([0-9a-f]{64})"/;
my $lo_twice_b = $nb->safe_psql('postgres',
	"SELECT lo_from_bytea(0, (SELECT string_agg(sha256(('twice' || g)::bytea), ''::bytea ORDER BY g)"
	  . " FROM generate_series(1, 40000) g))");
is($nb->safe_psql('postgres', "SELECT tracelink.store_blob($lo_twice_b, 'twice.bin')"),
	$ref_twice, 'nb stores the same content itself');
is($nb->safe_psql('postgres', "SELECT origin FROM tracelink.blobs WHERE sha256 = decode('$ht', 'hex')"),
	'nb', 'as its origin');
$nb->safe_psql('postgres', "ALTER SUBSCRIPTION $sub_na ENABLE");
my $lo_new = $na->safe_psql('postgres', "SELECT lo_from_bytea(0, 'a marker after it')");
$na->safe_psql('postgres', "SELECT tracelink.store_blob($lo_new, 'marker.txt')");
$lo_new = $nb->safe_psql('postgres', "SELECT lo_from_bytea(0, 'another marker')");
$nb->safe_psql('postgres', "SELECT tracelink.store_blob($lo_new, 'marker.txt')");
ok( $nb->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM tracelink.blobs WHERE sha256 = sha256('a marker after it')"),
	'nb receives from na again');
ok( $na->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM tracelink.blobs WHERE sha256 = sha256('another marker')"),
	'na receives from nb');
ok( $nc->poll_query_until('postgres',
		"SELECT count(*) = 2 FROM tracelink.blobs WHERE sha256 IN (sha256('a marker after it'), sha256('another marker'))"),
	'nc receives from both');
for my $node (@nodes)
{
	is(held($node, $ht), '1/2', 'the content from two origins is held once on ' . $node->name);
	is($node->safe_psql('postgres', "SELECT count(*) FROM tracelink.quarantine"),
		'0', 'nothing quarantined on ' . $node->name);
}
# rows that do not check out, written on na behind tracelink's back (as a
# superuser can) and published: quarantined on the peers, never applied,
# and replication goes on
$na->safe_psql('postgres', q{
INSERT INTO tracelink.blob_chunks VALUES (sha256('bad chunk'), 0, 'na', NULL, sha256('something else'), 'bad chunk');
INSERT INTO tracelink.blobs (sha256, origin, size, chunk_size, chunk_count) VALUES (sha256('bad header'), 'na', 5, 1048576, 3);
});
my $lo_after = $na->safe_psql('postgres', "SELECT lo_from_bytea(0, 'after the bad rows')");
$na->safe_psql('postgres', "SELECT tracelink.store_blob($lo_after, 'after.txt')");
for my $node ($nb, $nc)
{
	ok( $node->poll_query_until('postgres',
			"SELECT count(*) = 1 FROM tracelink.blobs WHERE sha256 = sha256('after the bad rows')"),
		'a file stored after the bad rows reaches ' . $node->name);
	is( $node->safe_psql('postgres',
			"SELECT string_agg(what || ': ' || reason, '; ' ORDER BY what) FROM tracelink.quarantine"),
		'blob: size, chunk_size and chunk_count of blob ' . sha256_hex('bad header')
		  . ' do not add up (chunks are 1048576 bytes); chunk: chunk 0 of blob ' . sha256_hex('bad chunk')
		  . ' does not match its SHA-256 (' . sha256_hex('something else') . ' sent, '
		  . sha256_hex('bad chunk') . ' computed)',
		'the bad rows are quarantined on ' . $node->name . ', with their reasons');
	is( $node->safe_psql('postgres',
			"SELECT count(*) FROM tracelink.blob_chunks WHERE sha256 = sha256('bad chunk')"
			  . " UNION ALL SELECT count(*) FROM tracelink.blobs WHERE sha256 = sha256('bad header')"),
		"0\n0", 'and not applied');
	is( $node->safe_psql('postgres',
			"SELECT row_data -> 'data' = 'null', row_data ->> 'chunk_no' FROM tracelink.quarantine WHERE what = 'chunk'"),
		't|0', 'the quarantine keeps the chunk row without its bytes');
}
for my $node (@nodes)
{
	is( $node->safe_psql('postgres',
			"SELECT count(*) FROM pg_stat_subscription WHERE relid IS NULL AND pid IS NOT NULL"),
		'2', $node->name . '\'s subscriptions still run');
}

# One file of 1 GB on a node of its own (small shared_buffers, so that the
# backend's peak resident memory is its own): stored from a large object
# and read back one chunk at a time.  Peak = VmHWM of the backend that did
# the work.
my $big = tl_node('big', conf => "shared_buffers = 16MB\nmax_wal_size = 4GB\n");
$big->safe_psql('postgres', "SELECT tracelink.init_node('big')");
my $chunks = 1024;
my $t0 = time;
my $lo_big = $big->safe_psql('postgres', 'SELECT lo_create(0)');
$big->safe_psql('postgres', qq{
DO \$\$
BEGIN
    FOR k IN 0 .. $chunks - 1 LOOP
        PERFORM lo_put($lo_big, k * 1048576::bigint, convert_to(repeat(lpad(k::text, 16, '0'), 65536), 'SQL_ASCII'));
    END LOOP;
END
\$\$;
});
my $sha = Digest::SHA->new(256);
$sha->add(sprintf('%016d', $_) x 65536) for 0 .. $chunks - 1;
my $want = $sha->hexdigest;
my $vmhwm = q{SELECT (regexp_match(pg_read_file('/proc/self/status'), 'VmHWM:\s+(\d+)'))[1]::bigint};
my $out_store = $big->safe_psql('postgres', qq{
SELECT ($vmhwm) AS before \\gset
SELECT tracelink.store_blob($lo_big, 'big.bin') ->> 'sha256' AS h \\gset
SELECT :'h', :before, ($vmhwm);
});
my ($h_big, $before_store, $peak_store) = split /\|/, $out_store;
is($h_big, $want, '1 GB stored: its name is the SHA-256 of its bytes');
my $out_read = $big->safe_psql('postgres', qq{
CREATE TEMP SEQUENCE k MINVALUE 0 START 0;
SELECT ($vmhwm) AS before \\gset
SELECT count(*), sum(length(c)),
       bool_and(convert_from(substr(c, 1, 16), 'SQL_ASCII')::bigint = nextval('k'))
  FROM (SELECT tracelink.read_blob(decode('$h_big', 'hex')) AS c) s;
SELECT :before, ($vmhwm);
});
my ($counts, $mem) = split /\n/, $out_read;
is($counts, "$chunks|1073741824|t", '1 GB read back: every chunk, in order');
my ($before_read, $peak_read) = split /\|/, $mem;
note(sprintf('1 GB in %d s; peak backend memory (VmHWM): store %d kB (%d kB before), read %d kB (%d kB before)',
		time - $t0, $peak_store, $before_store, $peak_read, $before_read));
cmp_ok($peak_store, '<', 128 * 1024, 'storing 1 GB keeps the backend under 128 MB');
cmp_ok($peak_read, '<', 128 * 1024, 'reading 1 GB keeps the backend under 128 MB');
is($big->safe_psql('postgres', "SELECT status FROM tracelink.verify_blobs()"), 'ok', 'verify_blobs() checks it');

done_testing();
