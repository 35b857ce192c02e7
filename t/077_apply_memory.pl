# Bounded memory on the apply path (issue 14, item 5).  A peer applies one
# transaction of 1,000,000 trace records (10,000 entries of 100 records,
# about 280 MB of entries, all ahead of their block) with its apply
# worker's peak resident memory bounded: past
# tracelink.apply_waiting_memory the entries wait in inbox_entries, and the
# block takes them out TL_APPLY_CHUNK at a time (src/apply.c).  Then the
# same with a 64 kB setting and small entries, so that entries go to the
# inbox many times within a transaction and the block takes them out in
# many chunks, in order.  TL_APPLY_RECORDS makes the first transaction
# smaller, for a quick run by hand.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use TlTest;

my $records = $ENV{TL_APPLY_RECORDS} // 1_000_000;
my $peak_limit_kb = 128 * 1024;

my $maker = tl_node('maker');
my $taker = tl_node('taker');
my @nodes = ($maker, $taker);
mesh(@nodes);
for my $node (@nodes)
{
	$node->poll_query_until('postgres', "SELECT count(*) = 1 FROM tracelink.peers WHERE status = 'streaming'")
	  or die $node->name . ' did not connect';
}

sub sql { my ($node, $sql) = @_; return $node->safe_psql('postgres', $sql); }

# poll with a timeout that fits a million records
sub wait_long
{
	my ($node, $query, $what, $seconds) = @_;
	my $deadline = time() + $seconds;
	while (time() < $deadline)
	{
		return ok(1, $what) if sql($node, $query) eq 't';
		sleep 1;
	}
	return ok(0, "$what (not within $seconds s)");
}

sql($maker, q{SELECT tracelink.request_link('Bulk', ARRAY['Making', 'Checking'],
        '{"Making": ["maker"], "Checking": ["taker"]}', '{}', '{"rule": "unanimous"}')});
$taker->poll_query_until('postgres', "SELECT count(*) = 1 FROM tracelink.link_invitations WHERE node = 'taker'")
  or die 'taker saw no invitation';
sql($maker, "SELECT tracelink.reply_invitation('Bulk', 'Making', true)");
sql($taker, "SELECT tracelink.reply_invitation('Bulk', 'Checking', true)");
wait_converged(@nodes);
sql($maker, q{SELECT tracelink.submit_process('Bulk', '{"name": "Making",
  "stages": [{"name": "Line", "forms": [{"name": "Unit", "items": [
     {"name": "serial", "type": "text", "required": true, "trace_code": true},
     {"name": "weight g", "type": "numeric"}]}]}],
  "outputs": [{"name": "units", "level": 2}]}')});
sql($taker, q{SELECT tracelink.submit_process('Bulk', '{"name": "Checking",
  "stages": [{"name": "Check", "forms": [{"name": "Result", "items": [
     {"name": "sample", "type": "text", "required": true, "trace_code": true}]}]}],
  "inputs": [{"name": "units", "from": "Making", "output": "units", "level": 2}]}')});
$_->poll_query_until('postgres', 'SELECT count(*) = 2 FROM tracelink.link_processes') for @nodes;
wait_converged(@nodes);
my $proposal = sql($maker, "SELECT encode(tracelink.assemble('Bulk'), 'hex')");
for my $node (@nodes)
{
	$node->poll_query_until('postgres', 'SELECT count(*) = 1 FROM tracelink.open_ballots') or die 'no ballot';
	sql($node, "SELECT tracelink.vote('\\x$proposal', true)");
}
$_->poll_query_until('postgres', "SELECT active_version = 1 FROM tracelink.links WHERE name = 'Bulk'") for @nodes;

# the apply worker of taker's subscription to maker, and its peak memory
sub apply_worker_peak_kb
{
	my $pid = sql($taker, "SELECT pid FROM pg_stat_subscription
	                        WHERE subname = tracelink.peer_subscription_name('maker') AND relid IS NULL");
	open my $fh, '<', "/proc/$pid/status" or die "no /proc/$pid/status: $!";
	my ($kb) = map { /^VmHWM:\s+(\d+) kB/ ? $1 : () } <$fh>;
	close $fh;
	return ($pid, $kb);
}
my ($pid_before, $peak_before) = apply_worker_peak_kb();

# ---------------------------------------------------------------------
# one transaction of $records records
# ---------------------------------------------------------------------
my $start = time();
sql($maker, qq{BEGIN;
INSERT INTO tracelink.record_staging (link, code, process, stage, form, data)
SELECT 'Bulk', 'U-' || i, 'Making', 'Line', 'Unit', jsonb_build_object('weight g', 100 + i % 50)
  FROM generate_series(1, $records) i;
SELECT tracelink.record_staged('Bulk');
COMMIT;});
my $recorded = time() - $start;
is(sql($maker, 'SELECT count(*) FROM tracelink.records'), $records, "maker recorded $records records in one transaction");
my $entries = sql($maker, "SELECT count(*) FROM tracelink.ledger_entries WHERE kind = 'tl.trace.record'");
$start = time();
wait_long($taker, "SELECT count(*) = $records FROM tracelink.records", "taker applied the $records records",
	1800);
my $applied = time() - $start;
my ($pid_after, $peak_kb) = apply_worker_peak_kb();
is($pid_after, $pid_before, 'one apply worker applied them (no restart)');
note(sprintf('%d records in %d entries: recorded in %.1f s, applied on the peer %.1f s after the commit;'
	  . ' apply worker peak resident memory %d kB (%d kB before)',
	  $records, $entries, $recorded, $applied, $peak_kb, $peak_before));
cmp_ok($peak_kb, '<', $peak_limit_kb,
	"the apply worker's peak memory stays under 128 MB ($peak_kb kB) for a transaction of $entries entries");
is(sql($taker, 'SELECT count(*) FROM tracelink.inbox_entries'), '0', 'nothing is left in the inbox');
is(sql($taker, 'SELECT count(*) FROM tracelink.quarantined'), '0', 'nothing quarantined');
is(sql($taker, "SELECT bool_and(ok) FROM tracelink.verify()"), 't', "taker verifies maker's chain");
wait_converged(@nodes);
my %digests = state_digests(@nodes);
is($digests{maker}, $digests{taker}, 'the two nodes have the same state digest');

# ---------------------------------------------------------------------
# a small setting: entries go to the inbox many times in one transaction,
# and the block takes them out in many chunks, in order of seq
# ---------------------------------------------------------------------
$taker->append_conf('postgresql.conf', "tracelink.apply_waiting_memory = '64kB'\nlog_min_messages = debug1\n");
$taker->reload;
for (my $i = 0;; $i++)
{
	last if sql($taker, "LOAD 'tracelink'; SHOW tracelink.apply_waiting_memory") =~ /\b64kB$/;
	die 'the setting did not take' if $i > 100;
	sleep 1;
}
my $small = 20_000;
sql($maker, qq{BEGIN;
SET LOCAL tracelink.records_per_entry = 10;
INSERT INTO tracelink.record_staging (link, code, process, stage, form, data)
SELECT 'Bulk', 'V-' || i, 'Making', 'Line', 'Unit', jsonb_build_object('weight g', i)
  FROM generate_series(1, $small) i;
SELECT tracelink.record_staged('Bulk');
COMMIT;});
wait_long($taker, "SELECT count(*) = $records + $small FROM tracelink.records",
	"taker applied $small more records in 2,000 entries with tracelink.apply_waiting_memory = 64kB", 600);
my $moved = () = slurp_file($taker->logfile) =~ /entries waiting for their block take more than tracelink\.apply_waiting_memory: moved to the inbox/g;
cmp_ok($moved, '>=', 10, "entries went to the inbox $moved times within the transaction");
is(sql($taker, "SELECT count(*) FROM tracelink.records r JOIN tracelink.codes c USING (code_id)
                 WHERE c.code LIKE 'V-%' AND (r.data->>'weight g')::int = substr(c.code, 3)::int"),
	$small, 'each of them with its own values');
is(sql($taker, 'SELECT count(*) FROM tracelink.inbox_entries'), '0', 'nothing is left in the inbox');
is(sql($taker, 'SELECT count(*) FROM tracelink.quarantined'), '0', 'nothing quarantined');
is(sql($taker, "SELECT bool_and(ok) FROM tracelink.verify()"), 't', 'taker still verifies');
wait_converged(@nodes);
%digests = state_digests(@nodes);
is($digests{maker}, $digests{taker}, 'the two nodes have the same state digest again');

done_testing();
