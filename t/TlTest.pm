# Helpers shared by tracelink's TAP tests.
package TlTest;

use strict;
use warnings;
use Exporter 'import';
use File::Spec;
use PostgreSQL::Test::Cluster;
use Test::More;

our @EXPORT = qw(tl_node vectors_dir);

# A started node with tracelink created in database "postgres", configured
# for logical replication.
sub tl_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(allows_streaming => 'logical');
	$node->append_conf('postgresql.conf', <<'CONF');
max_wal_senders = 20
max_replication_slots = 20
max_logical_replication_workers = 12
max_worker_processes = 20
wal_receiver_status_interval = 1
CONF
	$node->append_conf('postgresql.conf', $opts{conf}) if $opts{conf};
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION tracelink');
	return $node;
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
