# docs/tutorial.md works as written: every ```sql block, in order, on the
# node its first line names ("-- on farm"), through psql with
# ON_ERROR_STOP.  What the test does instead of the person: it starts the
# three nodes (the tutorial's shell block), puts their sockets and ports in
# place of "host=localhost port=5433/5434/5435", sets the psql variables
# farm_key, factory_key and shop_key that the person copies by hand, and
# waits for replication to converge before each block (the person reads
# the output in between).  Then: the three nodes hold the same state, the
# pack's provenance reaches the farm, every chain verifies, and the
# workflow's NOTIFY payloads name the link one way (its id in hex).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use TlTest;

my $file = 'docs/tutorial.md';
open my $fh, '<', $file or die "cannot read $file: $!";
my (@blocks, $block);
while (my $line = <$fh>)
{
	if (!defined $block && $line =~ /^```sql\s*$/)
	{
		$block = { line => $., sql => '' };
		next;
	}
	if (defined $block && $line =~ /^```\s*$/)
	{
		push @blocks, $block;
		undef $block;
		next;
	}
	$block->{sql} .= $line if defined $block;
}
close $fh;
ok(!defined $block, "every sql block of $file is closed");
ok(@blocks >= 15, "$file has its sql blocks (" . scalar(@blocks) . ')');

my %port_of = (5433 => 'farm', 5434 => 'factory', 5435 => 'shop');
my %node = map { $_ => tl_node($_, bare => 1) } values %port_of;
my @all = values %node;

# a session on the shop listening on the workflow's channels
my $listener = $node{shop}->background_psql('postgres');
$listener->query_safe("LISTEN $_")
  for qw(tracelink_invitation tracelink_ballot tracelink_link tracelink_revision);

my $ran = 0;
for my $b (@blocks)
{
	my ($on) = $b->{sql} =~ /^-- on (\w+)/;
	ok(defined $on && $node{$on}, "block at line $b->{line} names its node")
	  or next;
	my $sql = $b->{sql};
	$sql =~ s{host=localhost port=(\d+)}{
		my $n = $node{ $port_of{$1} // die "unknown port $1 at line $b->{line}" };
		'host=' . $n->host . ' port=' . $n->port
	}ge;

	# what the person sees before going on: once every node subscribes to
	# both others, replication has caught up
	my @nodes = grep {
		$_->safe_psql('postgres',
			"SELECT count(*) FROM pg_extension WHERE extname = 'tracelink'")
		  && $_->safe_psql('postgres', 'SELECT tracelink.node_name() IS NOT NULL') eq 't'
	} @all;
	my @meshed = grep {
		$_->safe_psql('postgres', 'SELECT count(*) FROM tracelink.peers WHERE subscribed') == 2
	} @nodes;
	wait_converged(@all) if @meshed == 3;
	my @vars;
	for my $n (@nodes)
	{
		my $key = $n->safe_psql('postgres', "SELECT encode(tracelink.node_public_key(), 'hex')");
		push @vars, '-v', $n->name . "_key=$key";
	}

	my ($out, $err);
	my $rc = $node{$on}->psql('postgres', $sql,
		stdout => \$out, stderr => \$err, extra_params => \@vars);
	is($rc, 0, "block at line $b->{line} runs on $on")
	  or diag("stderr: $err\nSQL:\n$sql");
	$b->{out} = $out;
	$ran++;
}
is($ran, scalar(@blocks), 'every block ran');

wait_converged(@all);
my %digests = state_digests(@all);
is(scalar(keys %{ { reverse %digests } }), 1, 'the three nodes hold the same state')
  or diag(explain \%digests);
is($node{farm}->safe_psql('postgres',
		"SELECT string_agg(code || ':' || node, ' ' ORDER BY depth DESC) FROM tracelink.trace('P-1')"),
	'P-1:shop B-1:factory LOT-1:farm',
	'the pack\'s provenance on the farm reaches back to the farm\'s lot');
for my $n (@all)
{
	is($n->safe_psql('postgres', 'SELECT bool_and(ok) AND count(*) = 3 FROM tracelink.verify()'),
		't', $n->name . ': every chain verifies');
}
like($blocks[-1]{out} // '', qr/^\w+\|\d+\|\d+\|t$/m, 'the last block shows verify() rows that are ok');

# NOTIFY payloads name the link one way on every channel: "link", its id in
# hex (psql prints notifications after the next statement it runs)
my $link_id = $node{shop}->safe_psql('postgres', "SELECT encode(tracelink.link_id('Green tea'), 'hex')");
my $heard = $listener->query_safe('SELECT 1');
$listener->quit;
my (%channels, @odd);
while ($heard =~ /Asynchronous notification "(\w+)" with payload "(.*?)" received/g)
{
	my ($channel, $payload) = ($1, $2);
	$channels{$channel}++;
	push @odd, "$channel: $payload"
	  unless $payload =~ /"link": ?"$link_id"/ && $payload !~ /Green tea/;
}
is(join(',', sort keys %channels), 'tracelink_ballot,tracelink_invitation,tracelink_link',
	'the shop heard invitations, ballots and decisions');
is(join("\n", @odd), '', 'every payload names the link by "link", its id in hex');

done_testing();
