# Peer logins and the names of peers' replication objects, and roles in a
# cluster of several tracelink databases:
# - two nodes whose names share their first 48 characters get distinct
#   logins, publications and subscriptions, replicate, and are removed
#   cleanly (identifiers are 63 bytes: the names used to be truncated);
# - remove_peer drops the peer's login (a peer login could log in and
#   replicate after its removal), keeps one that another database of the
#   cluster still uses, and a removed peer can be added again;
# - add_peer does not take over a role that can do more than replicate,
#   and neither add_peer nor remove_peer runs objects found through the
#   caller's search_path;
# - with the pg_hba.conf of docs/operations.md (no "replication" line for
#   peer logins) a peer login replicates logically but cannot take a base
#   backup, which would hold the key file;
# - init_node() warns when the key lies inside the data directory, not
#   when it lies outside or behind a symbolic link to outside;
# - a member of one node's database cannot write to another tracelink
#   database of the same cluster;
# - add_peer before the peer has added this node says it waits for the
#   peer (no FATAL from the peer's server).
use strict;
use warnings;
use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlTest;

my $prefix = 'long_' . ('x' x 43);
is(length($prefix), 48, 'the long names share their first 48 characters');
my ($la_name, $lb_name) = ("${prefix}_alpha", "${prefix}_bravo");

# hub keeps its key outside the data directory, la in the default place,
# lb behind a symbolic link to outside
my $outside = PostgreSQL::Test::Utils::tempdir();
my $hub = tl_node('hub', conf => "tracelink.key_directory = '$outside/hub'\n");
my $la = tl_node($la_name);
my $lb = tl_node($lb_name);
make_path("$outside/lb");
symlink("$outside/lb", $lb->data_dir . '/pg_tracelink') or die "symlink: $!";

# init_node, with what it says on stderr
my (%keys, %warned);
for my $node ($hub, $la, $lb)
{
	my ($key, $err);
	$node->psql('postgres', "SELECT encode(tracelink.init_node('" . $node->name . "'), 'hex')",
		stdout => \$key, stderr => \$err, on_error_die => 1);
	$keys{ $node->name } = $key;
	$warned{ $node->name } = $err =~ /WARNING:  the secret key of node .* is stored inside the data directory/;
}
ok($warned{$la_name}, 'init_node warns when the key lies in the data directory');
ok(!$warned{hub}, 'init_node does not warn when the key lies outside');
ok(!$warned{$lb_name}, 'init_node does not warn when the key directory links to outside');
ok(-f "$outside/lb/$lb_name.key", 'the key went through the link to outside');

# A peer that has not added this node yet refuses its login: add_peer
# says it waits for the peer, not the peer's FATAL.
my ($add_out, $add_err);
my $la_conninfo = TlTest::peer_conninfo($hub, $la);
$hub->psql('postgres',
	"CALL tracelink.add_peer('$la_name', \$\$$la_conninfo\$\$, '\\x$keys{$la_name}')",
	stdout => \$add_out, stderr => \$add_err, on_error_die => 1);
like($add_err, qr/NOTICE:  peer "$la_name": waiting for the peer to add this node/,
	'add_peer before the peer has added this node: waiting for the peer');
unlike($add_err, qr/FATAL|unreachable/, 'and no FATAL of the peer is shown');

my @nodes = ($hub, $la, $lb);
connect_nodes(\%keys, \@nodes, \@nodes);

# ---------------------------------------------------------------------
# Long names: distinct objects, replication, removal.
# ---------------------------------------------------------------------
is( $hub->safe_psql('postgres', <<'SQL'),
SELECT count(DISTINCT tracelink.peer_login_name(name)) || ' '
       || count(DISTINCT tracelink.peer_publication_name(name)) || ' '
       || count(DISTINCT tracelink.peer_subscription_name(name)) || ' '
       || bool_and(octet_length(tracelink.peer_login_name(name)) <= 63
                   AND octet_length(tracelink.peer_publication_name(name)) <= 63
                   AND octet_length(tracelink.peer_subscription_name(name)) <= 63)
  FROM tracelink.nodes WHERE name LIKE 'long%'
SQL
	'2 2 2 true', 'two long names give two logins, publications and subscriptions, each at most 63 bytes');
is( $hub->safe_psql('postgres', <<'SQL'),
SELECT count(*) FROM tracelink.nodes n
  JOIN pg_roles r ON r.rolname = tracelink.peer_login_name(n.name) AND r.rolcanlogin AND r.rolreplication
  JOIN pg_publication p ON p.pubname = tracelink.peer_publication_name(n.name)
  JOIN pg_subscription s ON s.subname = tracelink.peer_subscription_name(n.name)
 WHERE NOT n.is_local
SQL
	'2', 'hub holds the login, publication and subscription of each long-named peer under those names');
for my $node (@nodes)
{
	ok( $node->poll_query_until('postgres',
			"SELECT count(*) = 2 FROM tracelink.peers WHERE status = 'streaming'"),
		$node->name . ' streams from both its peers');
}

sub write_on
{
	my ($node, $tag) = @_;
	$node->safe_psql('postgres',
		"SELECT tracelink.append('acme.scan', jsonb_build_object('tag', '$tag'))");
}

sub quarantined
{
	my ($node) = @_;
	return $node->safe_psql('postgres', 'SELECT count(*) FROM tracelink.quarantine');
}

write_on($_, 'long names') for @nodes;
wait_converged(@nodes);
my %digests = state_digests(@nodes);
is(scalar(keys %{ { map { $_ => 1 } values %digests } }), 1, 'the three nodes converge');
is(quarantined($_), '0', $_->name . ' quarantined nothing') for @nodes;

# the login la replicates from hub with, as la uses it
my $la_login = $hub->safe_psql('postgres', "SELECT tracelink.peer_login_name('$la_name')");
my $lb_login = $hub->safe_psql('postgres', "SELECT tracelink.peer_login_name('$lb_name')");

# ---------------------------------------------------------------------
# With the pg_hba.conf of docs/operations.md a peer login replicates
# logically and cannot take a base backup.
# ---------------------------------------------------------------------
my $backup = PostgreSQL::Test::Utils::tempdir();
my $hub_login_on_la = $la->safe_psql('postgres', "SELECT tracelink.peer_login_name('hub')");
# (initdb's pg_hba.conf has "local replication all trust": anyone with
# REPLICATION may take a base backup, key file included)
$la->command_ok(
	[ 'pg_basebackup', '-D', "$backup/open", '-X', 'none', '-d', $la->connstr('postgres') . " user=$hub_login_on_la" ],
	'with a "replication all" line in pg_hba.conf a peer login takes a base backup');
ok(-f "$backup/open/pg_tracelink/$la_name.key", '... and it holds the key file');

open my $hba, '>', $la->data_dir . '/pg_hba.conf' or die $!;
print $hba <<'HBA';
# docs/operations.md: peer logins get their database, never "replication"
local   postgres      all        trust
local   replication   postgres   trust
HBA
close $hba;
$la->reload;
$la->command_fails(
	[ 'pg_basebackup', '-D', "$backup/closed", '-X', 'none', '-d', $la->connstr('postgres') . " user=$hub_login_on_la" ],
	'without a "replication" line a peer login cannot take a base backup');
ok(!-e "$backup/closed/pg_tracelink", '... and gets no key file');
$la->safe_psql('postgres', "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE active");
write_on($la, 'after pg_hba');
wait_converged(@nodes);
pass('peers still replicate from it logically');

# ---------------------------------------------------------------------
# remove_peer drops the login; the other long-named peer is untouched.
# ---------------------------------------------------------------------
$hub->safe_psql('postgres', "CALL tracelink.remove_peer('$la_name')");
$la->safe_psql('postgres', "CALL tracelink.remove_peer('hub')");
is($hub->safe_psql('postgres', "SELECT status FROM tracelink.peers WHERE name = '$la_name'"),
	'removed', 'hub shows la as removed');
is( $hub->safe_psql('postgres', <<SQL),
SELECT (SELECT count(*) FROM pg_roles WHERE rolname = '$la_login')
     + (SELECT count(*) FROM pg_publication WHERE pubname = tracelink.peer_publication_name('$la_name'))
     + (SELECT count(*) FROM pg_subscription WHERE subname = tracelink.peer_subscription_name('$la_name'))
     + (SELECT count(*) FROM pg_replication_slots WHERE slot_name = tracelink.peer_slot_name('hub', '$la_name'))
SQL
	'0', 'hub keeps no login, publication, subscription or slot of the removed peer');
is($hub->safe_psql('postgres',
		"SELECT rolcanlogin AND rolreplication FROM pg_roles WHERE rolname = '$lb_login'"),
	't', 'the login of the other long-named peer stays');
is($hub->safe_psql('postgres', "SELECT status FROM tracelink.peers WHERE name = '$lb_name'"),
	'streaming', 'the other long-named peer still streams');
$hub->command_fails(
	[ 'psql', '-X', '-d', $hub->connstr('postgres') . " user=$la_login", '-c', 'SELECT 1' ],
	'the removed peer cannot log in any more');

# ---------------------------------------------------------------------
# A removed peer is added again (both sides); a different key is refused.
# ---------------------------------------------------------------------
my ($ret, $out, $err) = $hub->psql('postgres',
	"CALL tracelink.add_peer('$la_name', 'host=/nonexistent', '\\x" . ('ab' x 32) . "')");
like($err, qr/already known with another public key/, 'adding a removed peer with another key is refused');
# add $to on $from again, and subscribe both ways
sub readd
{
	my ($from, $to, $search_path) = @_;
	$from->safe_psql('postgres',
		($search_path // '') . "CALL tracelink.add_peer('" . $to->name . "', \$\$"
		  . TlTest::peer_conninfo($from, $to) . "\$\$, '\\x$keys{ $to->name }')");
}
readd($hub, $la);
readd($la, $hub);
$_->safe_psql('postgres', 'SELECT * FROM tracelink.connect_peers()') for ($hub, $la);
is($hub->safe_psql('postgres',
		"SELECT rolcanlogin AND rolreplication FROM pg_roles WHERE rolname = '$la_login'"),
	't', 'adding the peer again makes its login again');
write_on($_, 'readded') for @nodes;
wait_converged(@nodes);
%digests = state_digests(@nodes);
is(scalar(keys %{ { map { $_ => 1 } values %digests } }), 1, 'the re-added peer converges again');
is($_->safe_psql('postgres', 'SELECT count(*) FROM tracelink.verify() WHERE NOT ok'), '0',
	$_->name . ': verify() finds nothing wrong') for @nodes;

# ---------------------------------------------------------------------
# A role of the login's name that can do more is not taken over.
# ---------------------------------------------------------------------
$hub->safe_psql('postgres', 'CREATE ROLE tracelink_peer_big LOGIN SUPERUSER');
($ret, $out, $err) = $hub->psql('postgres',
	"CALL tracelink.add_peer('big', 'host=/nonexistent', '\\x" . ('cd' x 32) . "')");
like($err, qr/role "tracelink_peer_big" exists and has more privileges than a peer login may have/,
	'add_peer refuses to use a superuser role as a peer login');
is($hub->safe_psql('postgres', "SELECT count(*) FROM tracelink.nodes WHERE name = 'big'"), '0',
	'... and pins nothing');
$hub->safe_psql('postgres', 'DROP ROLE tracelink_peer_big');

# ---------------------------------------------------------------------
# add_peer and remove_peer run nothing found through the caller's
# search_path: a member plants functions and operators they used to
# resolve there, and a superuser calls them with that schema first.
# ---------------------------------------------------------------------
$hub->safe_psql('postgres', <<'SQL');
CREATE ROLE planter LOGIN IN ROLE tracelink_member;
CREATE SCHEMA planted AUTHORIZATION planter;
SET ROLE planter;
-- a call is counted even when the statement that made it fails
CREATE SEQUENCE planted.calls;
GRANT USAGE ON SEQUENCE planted.calls TO PUBLIC;
CREATE FUNCTION planted.mark(what text) RETURNS void LANGUAGE sql AS
  $$ SELECT pg_catalog.nextval('planted.calls'::pg_catalog.regclass) $$;
CREATE FUNCTION planted.format(text, text) RETURNS text LANGUAGE sql AS
  $$ SELECT planted.mark('format'); SELECT pg_catalog.format($1, $2) $$;
CREATE FUNCTION planted.format(text, text, text) RETURNS text LANGUAGE sql AS
  $$ SELECT planted.mark('format'); SELECT pg_catalog.format($1, $2, $3) $$;
CREATE FUNCTION planted.format(text, text, text, text, text) RETURNS text LANGUAGE sql AS
  $$ SELECT planted.mark('format'); SELECT pg_catalog.format($1, $2, $3, $4, $5) $$;
CREATE FUNCTION planted.length(bytea) RETURNS integer LANGUAGE sql AS
  $$ SELECT planted.mark('length'); SELECT pg_catalog.length($1) $$;
CREATE FUNCTION planted.current_database() RETURNS name LANGUAGE sql AS
  $$ SELECT planted.mark('current_database'); SELECT pg_catalog.current_database() $$;
CREATE FUNCTION planted.pg_terminate_backend(integer) RETURNS boolean LANGUAGE sql AS
  $$ SELECT planted.mark('terminate'); SELECT pg_catalog.pg_terminate_backend($1) $$;
CREATE FUNCTION planted.text_ne(text, text) RETURNS boolean LANGUAGE sql AS
  $$ SELECT planted.mark('<>'); SELECT $1 OPERATOR(pg_catalog.<>) $2 $$;
CREATE OPERATOR planted.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = planted.text_ne);
CREATE FUNCTION planted.text_eq(text, text) RETURNS boolean LANGUAGE sql AS
  $$ SELECT planted.mark('='); SELECT $1 OPERATOR(pg_catalog.=) $2 $$;
CREATE OPERATOR planted.= (LEFTARG = text, RIGHTARG = text, FUNCTION = planted.text_eq);
CREATE FUNCTION planted.text_nregex(text, text) RETURNS boolean LANGUAGE sql AS
  $$ SELECT planted.mark('!~'); SELECT $1 OPERATOR(pg_catalog.!~) $2 $$;
CREATE OPERATOR planted.!~ (LEFTARG = text, RIGHTARG = text, FUNCTION = planted.text_nregex);
CREATE FUNCTION planted.text_concat(text, text) RETURNS text LANGUAGE sql AS
  $$ SELECT planted.mark('||'); SELECT $1 OPERATOR(pg_catalog.||) $2 $$;
CREATE OPERATOR planted.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = planted.text_concat);
RESET ROLE;
SQL
my $planted = 'SET search_path = planted, pg_catalog;';
$hub->safe_psql('postgres', "$planted CALL tracelink.remove_peer('$la_name')");
$la->safe_psql('postgres', "CALL tracelink.remove_peer('hub')");
readd($hub, $la, $planted);
is($hub->safe_psql('postgres', 'SELECT is_called FROM planted.calls'),
	'f', 'add_peer and remove_peer ran none of the planted functions and operators');
is($hub->safe_psql('postgres', "SELECT rolsuper FROM pg_roles WHERE rolname = 'planter'"), 'f',
	'the planter is still not a superuser');
readd($la, $hub);
$_->safe_psql('postgres', 'SELECT * FROM tracelink.connect_peers()') for ($hub, $la);
write_on($_, 'after planting') for @nodes;
wait_converged(@nodes);
pass('hub and la replicate again after the planted search_path');

# ---------------------------------------------------------------------
# Two tracelink databases in one cluster: hub's cluster gets a second
# node, "hub2" in database "second", which also peers with lb.
# ---------------------------------------------------------------------
$hub->safe_psql('postgres', 'CREATE DATABASE second');
$hub->safe_psql('second', 'CREATE EXTENSION tracelink');
$hub->safe_psql('second', "ALTER DATABASE second SET tracelink.key_directory = '$outside/hub2'");
$keys{hub2} = $hub->safe_psql('second', "SELECT encode(tracelink.init_node('hub2'), 'hex')");
my $hub2_conn = $hub->connstr('second') . " user=$lb_login";
$lb->safe_psql('postgres',
	"CALL tracelink.add_peer('hub2', \$\$$hub2_conn\$\$, '\\x$keys{hub2}')");
my $lb_conn = $lb->connstr('postgres') . ' user='
  . $lb->safe_psql('postgres', "SELECT tracelink.peer_login_name('hub2')");
$hub->safe_psql('second',
	"CALL tracelink.add_peer('$lb_name', \$\$$lb_conn\$\$, '\\x$keys{$lb_name}')");
$lb->safe_psql('postgres', "SELECT * FROM tracelink.connect_peers('hub2')");
ok( $hub->poll_query_until('second',
		"SELECT status = 'streaming' FROM tracelink.peers WHERE name = '$lb_name'"),
	'hub2 streams from lb');
ok( $lb->poll_query_until('postgres',
		"SELECT status = 'streaming' FROM tracelink.peers WHERE name = 'hub2'"),
	'lb streams from hub2, with the login hub made for it in the other database');

# remove_peer in one database keeps the login the other still uses
($ret, $out, $err) = $hub->psql('second', "CALL tracelink.remove_peer('$lb_name')");
like($err, qr/login "\Q$lb_login\E" is kept: database postgres of this cluster still grants it privileges/,
	'remove_peer keeps a login that another database of the cluster uses');
is($hub->safe_psql('postgres',
		"SELECT rolcanlogin AND rolreplication FROM pg_roles WHERE rolname = '$lb_login'"),
	't', '... with LOGIN and REPLICATION');
write_on($hub, 'shared login');
wait_converged($hub, $lb);
pass('lb still receives from hub over that login');
$lb->safe_psql('postgres', "CALL tracelink.remove_peer('hub2')");

# ---------------------------------------------------------------------
# Roles are cluster-wide: a member of hub's node may not write to hub2's.
# ---------------------------------------------------------------------
$hub->safe_psql('postgres', <<'SQL');
CREATE ROLE hub_member LOGIN IN ROLE tracelink_member;
GRANT CONNECT ON DATABASE postgres TO hub_member;
SQL
sub as_member
{
	my ($db, $sql) = @_;
	my ($r, $o, $e) = $hub->psql($db, $sql, extra_params => [ '-U', 'hub_member' ]);
	return $r == 0 ? 'ok' : ($e =~ /ERROR:  (.*)/)[0];
}
is(as_member('postgres', "SELECT tracelink.append('acme.scan', '{\"by\": \"member\"}')"),
	'ok', 'a member of hub appends to hub, whose database grants it CONNECT');
is(as_member('second', "SELECT tracelink.append('acme.scan', '{\"by\": \"member\"}')"),
	'role "hub_member" is not a member of the tracelink node in database "second"',
	'... and may not append to hub2, in the same cluster, where it connects only as PUBLIC');
is(as_member('second', "SELECT tracelink.save_template('T', '{\"name\": \"P\", \"stages\": []}')"),
	'role "hub_member" is not a member of the tracelink node in database "second"',
	'... nor save a template there');
is(as_member('second', "SELECT tracelink.request_link('L', ARRAY['P'], '{\"P\": [\"hub2\"]}')"),
	'role "hub_member" is not a member of the tracelink node in database "second"',
	'... nor use the workflow API there');
$hub->safe_psql('second', 'GRANT CONNECT ON DATABASE second TO tracelink_member');
is(as_member('second', "SELECT tracelink.append('acme.scan', '{\"by\": \"member\"}')"),
	'role "hub_member" is not a member of the tracelink node in database "second"',
	'CONNECT granted to tracelink_member, shared by every node, does not count');
is($hub->safe_psql('second', 'SELECT count(*) FROM tracelink.ledger_entries WHERE payload LIKE \'%member%\''),
	'0', 'hub2\'s ledger holds nothing of the member');
$hub->safe_psql('second', 'GRANT CONNECT ON DATABASE second TO hub_member');
is(as_member('second', "SELECT tracelink.append('acme.scan', '{\"by\": \"member\"}')"),
	'ok', 'once hub2\'s database grants it CONNECT, the member appends there');
# a cluster with one tracelink database checks nothing
$la->safe_psql('postgres', 'CREATE ROLE la_member LOGIN IN ROLE tracelink_member');
is( $la->safe_psql('postgres',
		"SET ROLE la_member; SELECT tracelink.append('acme.scan', '{}') IS NOT NULL"),
	't', 'in a cluster with one tracelink database a member needs no CONNECT grant of its own');

$_->stop for @nodes;
done_testing();
