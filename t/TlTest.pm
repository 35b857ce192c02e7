# Helpers shared by tracelink's TAP tests.
package TlTest;

use strict;
use warnings;
use Exporter 'import';
use File::Spec;
use PostgreSQL::Test::Cluster;
use Test::More;

our @EXPORT = qw(tl_node vectors_dir init_nodes connect_nodes mesh wait_converged heads_of
  state_digests);

# A started node with tracelink created in database "postgres", configured
# for logical replication (bare => 1: without the extension; archiving =>
# 1: archiving its WAL, for point-in-time recovery).
sub tl_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(allows_streaming => 'logical', has_archiving => $opts{archiving} ? 1 : 0);
	$node->append_conf('postgresql.conf', <<'CONF');
max_wal_senders = 20
max_replication_slots = 20
max_logical_replication_workers = 12
max_worker_processes = 20
wal_receiver_status_interval = 1
CONF
	$node->append_conf('postgresql.conf', $opts{conf}) if $opts{conf};
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION tracelink') unless $opts{bare};
	return $node;
}

# Make each node a tracelink node named after its cluster; returns
# name => public key (hex).
sub init_nodes
{
	my (@nodes) = @_;
	my %keys;
	for my $node (@nodes)
	{
		my $name = $node->name;
		$keys{$name} = $node->safe_psql('postgres',
			"SELECT encode(tracelink.init_node('$name'), 'hex')");
	}
	return %keys;
}

# Connection string with which $from subscribes to $to: the login $to made
# for $from (tracelink.peer_login_name(), which hashes long names).
sub peer_conninfo
{
	my ($from, $to) = @_;
	my $login = $to->safe_psql('postgres',
		"SELECT tracelink.peer_login_name('" . $from->name . "')");
	return $to->connstr('postgres') . " user=$login";
}

# Let every node in @a and every node in @b add each other as peers (a full
# mesh when @b is @a).
sub connect_nodes
{
	my ($keys, $a, $b) = @_;
	for my $x (@$a)
	{
		for my $y (@$b)
		{
			next if $x->name eq $y->name;
			for my $pair ([ $x, $y ], [ $y, $x ])
			{
				my ($from, $to) = @$pair;
				my $known = $from->safe_psql('postgres',
					"SELECT count(*) FROM tracelink.nodes WHERE name = '" . $to->name . "'");
				next if $known;
				my $conninfo = peer_conninfo($from, $to);
				$from->safe_psql('postgres',
					"CALL tracelink.add_peer('" . $to->name . "', \$\$$conninfo\$\$, '\\x$keys->{$to->name}')");
			}
		}
	}
	# peers that were added before their counterpart subscribe now
	$_->safe_psql('postgres', 'SELECT * FROM tracelink.connect_peers()') for (@$a, @$b);
}

sub mesh
{
	my (@nodes) = @_;
	my %keys = init_nodes(@nodes);
	connect_nodes(\%keys, \@nodes, \@nodes);
	return %keys;
}

# origin => last block number, as $node sees it
sub heads_of
{
	my ($node) = @_;
	my %heads = map { split /\|/ }
	  split /\n/, $node->safe_psql('postgres', 'SELECT origin, block_no FROM tracelink.ledger_heads');
	return %heads;
}

# Wait until every node has applied every other node's latest block.
# Applying a peer's block may append a witness entry in the same
# transaction (docs/ledger.md, "Witnessing heads"), which moves the
# applying node's own head: wait again until a round moves no node's head.
sub wait_converged
{
	my (@nodes) = @_;
	for (my $round = 1;; $round++)
	{
		my %own = map { my %h = heads_of($_); ($_->name => $h{ $_->name } // -1) } @nodes;
		for my $origin (@nodes)
		{
			my $head = $own{ $origin->name };
			for my $node (@nodes)
			{
				next if $node == $origin;
				$node->poll_query_until('postgres',
					"SELECT coalesce((SELECT block_no FROM tracelink.ledger_heads WHERE origin = '"
					  . $origin->name . "'), -1) >= $head")
				  or die $node->name . ' did not catch up with ' . $origin->name;
			}
		}
		my @moved = grep { my %h = heads_of($_); ($h{ $_->name } // -1) != $own{ $_->name } } @nodes;
		last unless @moved;
		die 'heads still move after 50 rounds' if $round >= 50;
	}
}

# name => state digest (hex)
sub state_digests
{
	my (@nodes) = @_;
	return map {
		$_->name => $_->safe_psql('postgres', "SELECT encode(tracelink.state_digest(), 'hex')")
	} @nodes;
}

# The public conformance vectors (../shared/vectors next to the repository,
# or $TRACELINK_VECTORS), or undef when they are not there.
sub vectors_dir
{
	my @candidates = grep { defined && length } (
		$ENV{TRACELINK_VECTORS},
		File::Spec->catdir($ENV{TESTDIR} // '.', '..', 'shared', 'vectors'));
	for my $dir (@candidates)
	{
		return $dir if -d $dir;
	}
	return undef;
}

1;
