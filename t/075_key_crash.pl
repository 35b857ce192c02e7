# The node key survives a crash at every point of init_node() and
# rotate_key() (issue 9, item 3): after each crash the node signs with the key
# its ledger names, verify() is clean, and no key file the ledger may still
# name is gone.  Crashes are real: `pg_ctl stop -m immediate`, or SIGKILL of
# the backend at a chosen point of its transaction (the postmaster then
# restarts every process and recovers from the WAL).  The WAL writer is slowed
# down so that an asynchronous commit stays in WAL buffers until the crash.
# Last, a peer that subscribes afterwards follows every hand-over.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlTest;

my $n1 = tl_node(
	'n1', conf => <<'CONF');
wal_writer_delay = 10s
wal_writer_flush_after = 1GB
bgwriter_lru_maxpages = 0
autovacuum = off
checkpoint_timeout = 1h
restart_after_crash = on
CONF
my $keydir = $n1->data_dir . '/pg_tracelink';

# The files in the key directory, sorted, space-separated.
sub key_files
{
	opendir(my $d, $keydir) or return '';
	my @files = sort grep { !/^\.\.?$/ } readdir $d;
	closedir $d;
	return join(' ', @files);
}

sub current_key
{
	return $n1->safe_psql('postgres', "SELECT encode(tracelink.node_public_key(), 'hex')");
}

# Ends the SQL it is appended to by killing its own backend with SIGKILL.
my $kill_me = q{
DO $crash$ BEGIN
  EXECUTE pg_catalog.format('COPY (SELECT 1) TO PROGRAM %L',
                            'kill -KILL ' || pg_catalog.pg_backend_pid());
END $crash$;
};

# Run $sql, then crash the server in the middle of that transaction; return
# once it has recovered.
sub crash_inside
{
	my ($sql, $label) = @_;
	my $log_offset = -s $n1->logfile;
	my ($rc, $out, $err) = $n1->psql('postgres', $sql . $kill_me);
	isnt($rc, 0, "$label: the backend died");
	ok($n1->wait_for_log(qr/terminated by signal 9: Killed/, $log_offset),
		"$label: the server went through crash recovery");
	# connect only once the restarted server is ready, not before the
	# postmaster has noticed the crash
	$n1->wait_for_log(qr/all server processes terminated; reinitializing(?s:.*)database system is ready to accept connections/,
		$log_offset);
	$n1->poll_query_until('postgres', 'SELECT true')
	  or die "$label: n1 did not recover";
}

sub crash_and_restart
{
	$n1->stop('immediate');
	$n1->start;
}

# The node appends, and verify() finds nothing wrong.
sub signs_and_verifies
{
	my ($label) = @_;
	my ($rc, $out, $err) = $n1->psql('postgres',
		"SELECT tracelink.append('acme.scan', jsonb_build_object('after', '$label')) IS NOT NULL");
	is($rc . $out, '0t', "$label: append signs a block") or diag($err);
	is( $n1->safe_psql('postgres',
			"SELECT string_agg(origin || ': ' || ok || coalesce(' ' || first_bad || ' ' || reason, ''), '; ')"
			  . " FROM tracelink.verify()"),
		'n1: true', "$label: verify() finds nothing wrong");
}

# ---- init_node() ------------------------------------------------------------

crash_inside(q{BEGIN; SELECT tracelink.init_node('n1');}, 'crash inside init_node');
is($n1->safe_psql('postgres', 'SELECT tracelink.node_name() IS NULL'),
	't', 'the node of the crashed init_node does not exist');
is(key_files(), 'n1.key', 'its key file was left behind');
my ($rc, $out, $err) = $n1->psql('postgres', "SELECT tracelink.init_node('n1')");
like($err, qr/key file ".*n1\.key" already exists/,
	'init_node does not overwrite a key file it cannot prove unused');
unlink("$keydir/n1.key") or die "unlink: $!";
my $genesis_key = $n1->safe_psql('postgres', "SELECT encode(tracelink.init_node('n1'), 'hex')");
crash_and_restart();
is(current_key(), $genesis_key, 'an acknowledged init_node survives a crash');
signs_and_verifies('init_node then crash');

# ---- rotation with synchronous_commit = off ---------------------------------

# A transaction that appends, rotates and appends again: its block is signed
# by the old key and hands over to the new one.  The crash comes before the
# WAL writer has written its commit record, unless the rotation flushed it.
my $old_key = current_key();
my @lines = split /\n/, $n1->safe_psql(
	'postgres', q{
SET synchronous_commit = off;
BEGIN;
SELECT tracelink.append('acme.scan', '{"before": "rotation"}') IS NOT NULL;
SELECT encode(tracelink.rotate_key(), 'hex');
SELECT tracelink.append('acme.scan', '{"after": "rotation"}') IS NOT NULL;
COMMIT;
});
my $new_key = $lines[1];
crash_and_restart();
is(current_key(), $new_key,
	'async commit: an acknowledged rotation survives a crash before the WAL writer ran');
signs_and_verifies('async rotation then crash');
is(key_files(), 'n1.key', 'async commit: only the new key file is left');
is( $n1->safe_psql(
		'postgres', qq{
SELECT count(*) FILTER (WHERE signer_key = '\\x$old_key' AND next_key = '\\x$new_key')
       || ' ' || count(*) FILTER (WHERE signer_key = '\\x$new_key')
  FROM tracelink.ledger_blocks}),
	'1 1',
	'async commit: the rotating block is signed by the old key, the next by the new one');

# ---- rotation with synchronous_commit = on ----------------------------------

$new_key = $n1->safe_psql('postgres',
	"SET synchronous_commit = on; SELECT encode(tracelink.rotate_key(), 'hex')");
crash_and_restart();
is(current_key(), $new_key, 'sync commit: the rotation survives a crash');
signs_and_verifies('sync rotation then crash');
is(key_files(), 'n1.key', 'sync commit: only the new key file is left');

# ---- crash after the new key file is written, before commit -----------------

$old_key = current_key();
crash_inside(q{BEGIN; SELECT tracelink.rotate_key();}, 'crash inside rotate_key');
is(current_key(), $old_key, 'a rotation that never committed changes nothing');
is(key_files(), 'n1.key n1.key.next', 'its new key file is left behind');
signs_and_verifies('crash inside rotate_key');

# The state a rotation whose commit record was lost would leave had it
# installed its file anyway (the old key kept as .prev, the new one as .key):
# the ledger names the old key, which only .prev holds.
$n1->stop;
rename("$keydir/n1.key", "$keydir/n1.key.prev") or die "rename: $!";
rename("$keydir/n1.key.next", "$keydir/n1.key") or die "rename: $!";
$n1->start;
signs_and_verifies('files switched, hand-over lost');
is(current_key(), $old_key, 'the key the ledger names is back in use');
is(key_files(), 'n1.key', 'the key the ledger names is installed again');

# ---- commit durable, new key file not installed ------------------------------

# The key directory is made read-only after rotate_key() has written the new
# file and before COMMIT: the commit callback cannot rename it, the state a
# crash between commit and rename leaves.  The next rotate_key() must install
# the committed key first, not throw it away as a leftover.
sub rotate_uninstalled
{
	my ($label) = @_;
	my ($rc, $out, $err) = $n1->psql(
		'postgres', qq{
BEGIN;
SELECT encode(tracelink.rotate_key(), 'hex');
COPY (SELECT 1) TO PROGRAM 'chmod 0500 $keydir';
COMMIT;
});
	chmod(0700, $keydir) or die "chmod: $!";
	is($rc, 0, "$label: the rotation commits");
	like($err, qr/WARNING: .*n1\.key\.next/, "$label: the new key file could not be installed");
	is(key_files(), 'n1.key n1.key.next', "$label: both key files are there");
	return $out;
}

$new_key = rotate_uninstalled('rename failed, then rotate');
crash_and_restart();
is(current_key(), $new_key, 'the rotation whose file was not installed is current');
my $newer_key = $n1->safe_psql('postgres', "SELECT encode(tracelink.rotate_key(), 'hex')");
isnt($newer_key, '', 'a second rotation succeeds');
is(current_key(), $newer_key, 'the second rotation is current');
is(key_files(), 'n1.key n1.key.prev',
	'the second rotation installed its key and keeps the one before it');
signs_and_verifies('two rotations across an uninstalled key file');
is(key_files(), 'n1.key', 'the first block signed by the new key removes the one before it');

# and with the old key moved to .prev first (a crash between the two renames)
$new_key = rotate_uninstalled('rename failed, then append');
$n1->stop('immediate');
rename("$keydir/n1.key", "$keydir/n1.key.prev") or die "rename: $!";
$n1->start;
signs_and_verifies('append after an uninstalled key file');
is(current_key(), $new_key, 'the uninstalled key is current');
is(key_files(), 'n1.key', 'loading installed the committed key file');

# ---- aborted rotations and savepoints ----------------------------------------

$old_key = current_key();
$n1->safe_psql('postgres', 'BEGIN; SELECT tracelink.rotate_key(); ROLLBACK;');
is(key_files(), 'n1.key', 'an aborted rotation leaves no key file');
$n1->safe_psql(
	'postgres', q{
BEGIN;
SAVEPOINT s;
SELECT tracelink.rotate_key();
ROLLBACK TO s;
SELECT tracelink.append('acme.scan', '{"after": "rolled back rotation"}');
COMMIT;
});
is(current_key(), $old_key, 'a rotation rolled back to its savepoint changes nothing');
is(key_files(), 'n1.key', 'nor leaves a key file');
@lines = split /\n/, $n1->safe_psql(
	'postgres', q{
BEGIN;
SAVEPOINT s;
SELECT encode(tracelink.rotate_key(), 'hex');
ROLLBACK TO s;
SAVEPOINT t;
SELECT encode(tracelink.rotate_key(), 'hex');
RELEASE t;
COMMIT;
});
is(current_key(), $lines[1], 'the rotation after a rolled-back one is current');
crash_and_restart();
is(current_key(), $lines[1], 'and survives a crash');
signs_and_verifies('rotation after a rolled-back savepoint');
is(key_files(), 'n1.key', 'one key file after the savepoints');

# ---- a peer follows every hand-over -------------------------------------------

# n2 rotates in the transaction that creates it: its genesis block hands over.
my $n2 = tl_node('n2');
my ($n2_genesis, $n2_key) = split /\n/, $n2->safe_psql(
	'postgres', q{
BEGIN;
SELECT encode(tracelink.init_node('n2'), 'hex');
SELECT encode(tracelink.rotate_key(), 'hex');
COMMIT;
});
is( $n2->safe_psql('postgres', "SELECT encode(tracelink.node_public_key(), 'hex')"),
	$n2_key, 'a rotation in the transaction of init_node is current');
my %keys = (n1 => $genesis_key, n2 => $n2_genesis);
connect_nodes(\%keys, [$n1], [$n2]);
$n2->safe_psql('postgres', "SELECT tracelink.append('acme.scan', '{\"by\": \"n2\"}')");
$n1->safe_psql('postgres',
	"SET synchronous_commit = off; SELECT tracelink.rotate_key(); SELECT tracelink.append('acme.scan', '{\"last\": true}')");
wait_converged($n1, $n2);
my $rotations = $n1->safe_psql('postgres',
	"SELECT count(*) FROM tracelink.ledger_blocks WHERE origin = 'n1' AND next_key IS NOT NULL");
is( $n2->safe_psql(
		'postgres', qq{
SELECT (SELECT count(*) FROM tracelink.ledger_blocks WHERE origin = 'n1' AND next_key IS NOT NULL)
       || ' ' || (SELECT encode(signer_key, 'hex') FROM tracelink.ledger_heads WHERE origin = 'n1')
       || ' ' || (SELECT count(*) FROM tracelink.quarantine)}),
	"$rotations " . current_key() . ' 0',
	"the peer holds all $rotations hand-overs of n1, names its current key and quarantined nothing");
is($n2->safe_psql('postgres', 'SELECT bool_and(ok) FROM tracelink.verify()'),
	't', "the peer's verify() finds nothing wrong");
is( $n1->safe_psql(
		'postgres', q{
SELECT (SELECT encode(signer_key, 'hex') FROM tracelink.ledger_heads WHERE origin = 'n2')
       || ' ' || (SELECT count(*) FROM tracelink.quarantine)
       || ' ' || (SELECT bool_and(ok) FROM tracelink.verify())}),
	"$n2_key 0 true",
	"n1 follows n2's hand-over in its genesis block");

done_testing();
