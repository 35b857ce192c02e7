# Upgrades give the catalog of a fresh install (docs/upgrades.md).
#
# For every frozen version upgrade/tracelink--X.sql: a database created at
# X and brought up with ALTER EXTENSION tracelink UPDATE has exactly the
# catalog of a fresh CREATE EXTENSION tracelink (t/extension_catalog.sql:
# every member object, its definition, ACL and comment, columns, indexes,
# triggers, policies, config-dump registrations).  A difference is named
# object by object.  Also: the checks see differences planted on purpose;
# released scripts are never edited; one library serves every version it
# upgrades from (each old version installs with it, and a C symbol keeps
# its SQL contract).
use strict;
use warnings;
use Digest::SHA qw(sha256_hex);
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TlTest;

# Released install scripts, frozen: their SHA-256 may never change.  A new
# release adds its line here when it freezes its script.
my %frozen = ('0.1.0' => '6a1618c3837f978c541f7e2b3f80c85e535beac1219277060738b5d2e45282ff');

my $node = tl_node('catalog', bare => 1);
my $catalog_sql = slurp_file('t/extension_catalog.sql');
my ($default) = slurp_file('tracelink.control') =~ /^default_version = '([^']+)'/m;
ok($default, "tracelink.control names the current version ($default)");

my @versions = map { m{upgrade/tracelink--([^-]+)\.sql$} ? ($1) : () } glob('upgrade/tracelink--*.sql');
is_deeply([ sort @versions ], [ sort keys %frozen ], 'every released version in upgrade/ is listed as frozen here');
for my $v (@versions)
{
	is(sha256_hex(slurp_file("upgrade/tracelink--$v.sql")), $frozen{$v},
		"upgrade/tracelink--$v.sql is unchanged since its release");
}

sub catalog
{
	my ($db) = @_;
	my $doc = decode_json($node->safe_psql($db, $catalog_sql));
	is($doc->{duplicates}, 0, "$db: every fact of the catalog is named once");
	return $doc->{facts};
}

# The first line where two values part.
sub first_difference
{
	my ($x, $y) = @_;
	return "missing" unless defined $x;
	my @x = split /\n/, $x, -1;
	my @y = split /\n/, $y // '', -1;
	for my $i (0 .. ($#x > $#y ? $#x : $#y))
	{
		my ($l, $r) = ($x[$i] // '(end)', $y[$i] // '(end)');
		return "line " . ($i + 1) . ": \"$l\"" if $l ne $r;
	}
	return $x;
}

# The differences of two catalogs, one line each, naming the object.
sub differences
{
	my ($fresh, $upgraded) = @_;
	my @out;
	my %keys = map { $_ => 1 } (keys %$fresh, keys %$upgraded);
	for my $k (sort keys %keys)
	{
		my ($f, $u) = ($fresh->{$k}, $upgraded->{$k});
		next if defined $f && defined $u && $f eq $u;
		if (!defined $u) { push @out, "$k: missing after the upgrade (fresh: " . first_difference($f, '') . ")"; }
		elsif (!defined $f) { push @out, "$k: only after the upgrade (" . first_difference($u, '') . ")"; }
		else
		{
			push @out, "$k: fresh " . first_difference($f, $u) . "; upgraded " . first_difference($u, $f);
		}
	}
	return @out;
}

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION tracelink');
my $fresh = catalog('fresh');
cmp_ok(scalar(keys %$fresh), '>', 1000, 'the fresh catalog has ' . scalar(keys %$fresh) . ' facts');
is($fresh->{'extension tracelink | extension'}, "version $default relocatable f schema tracelink",
	"a fresh install is at $default");
ok(defined $fresh->{'function tracelink.verify(pg_catalog.text) | definition'}, 'function definitions are compared');
ok(defined $fresh->{'table tracelink.ledger_entries | policy private_to_viewers'}, 'policies are compared');

my %c_symbols;    # version => { symbol => [ SQL contracts ] }
for my $v (grep { $_ ne $default } @versions)
{
	(my $db = "from_$v") =~ s/\W/_/g;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	# check_function_bodies is on: every C function of $v finds its symbol
	# in today's library, or this fails
	$node->safe_psql($db, "CREATE EXTENSION tracelink VERSION '$v'");
	pass("version $v installs with today's library (its C symbols are all there)");
	$c_symbols{$v} = c_contracts($db);
	$node->safe_psql($db, 'ALTER EXTENSION tracelink UPDATE');
	my @diff = differences($fresh, catalog($db));
	is(scalar(@diff), 0, "$v updated to $default has the catalog of a fresh install")
	  or diag(join("\n", 'differences (fresh install vs. upgraded):', @diff));
}

# C functions: a symbol keeps its SQL contract (arguments, result, strict,
# returns set); a changed contract takes a new symbol (docs/upgrades.md).
sub c_contracts
{
	my ($db) = @_;
	my %c;
	for my $line (split /\n/, $node->safe_psql($db, q{
		SELECT p.prosrc || '|' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ' -> '
		       || pg_catalog.pg_get_function_result(p.oid) || ' strict ' || p.proisstrict || ' set ' || p.proretset
		  FROM pg_catalog.pg_proc p
		 WHERE p.prolang = (SELECT l.oid FROM pg_catalog.pg_language l WHERE l.lanname = 'c')
		   AND p.pronamespace = 'tracelink'::pg_catalog.regnamespace}))
	{
		my ($sym, $contract) = split /\|/, $line, 2;
		push @{ $c{$sym} }, $contract;
	}
	return \%c;
}
# The C functions of $now whose symbol an old version declares with
# another contract.
sub broken_contracts
{
	my ($then, $now) = @_;
	my @broken;
	for my $sym (sort keys %$now)
	{
		my $old = $then->{$sym} or next;
		my %ok = map { $_ => 1 } @$old;
		push @broken, map { "$sym: $_ (before: " . join('; ', @$old) . ')' } grep { !$ok{$_} } @{ $now->{$sym} };
	}
	return @broken;
}
my $now = c_contracts('fresh');
for my $v (sort keys %c_symbols)
{
	my @broken = broken_contracts($c_symbols{$v}, $now);
	is(scalar(@broken), 0, "C symbols of $v keep their SQL contract in $default")
	  or diag(join("\n", @broken));
}

# The check sees a difference and names it: an upgraded database changed
# in four places.
my $v0 = (sort grep { $_ ne $default } @versions)[0];
$node->safe_psql('postgres', 'CREATE DATABASE planted');
$node->safe_psql('planted', "CREATE EXTENSION tracelink VERSION '$v0'; ALTER EXTENSION tracelink UPDATE");
$node->safe_psql('planted', q{
	COMMENT ON FUNCTION tracelink.versions() IS 'another comment';
	GRANT INSERT ON tracelink.nodes TO tracelink_reader;
	ALTER TABLE tracelink.quarantine ADD COLUMN extra int;
	ALTER FUNCTION tracelink.versions() COST 7;
});
# ... and a symbol of an old version declared with another contract
my ($v0_contract) = @{ $c_symbols{$v0}{tl_verify} };
$node->safe_psql('planted', q{CREATE FUNCTION tracelink.planted(integer) RETURNS integer
	AS '$libdir/tracelink', 'tl_verify' LANGUAGE C STRICT});
is(join("\n", broken_contracts($c_symbols{$v0}, c_contracts('planted'))),
	"tl_verify: integer -> integer strict true set false (before: $v0_contract)",
	'a C symbol declared with another contract is named');
my @planted = differences($fresh, catalog('planted'));
is(join("\n", map { /^(.+?): (?:missing after|only after|fresh )/ ? $1 : "unparsed: $_" } @planted),
	join("\n",
		'function tracelink.versions() | comment',
		'function tracelink.versions() | definition',
		'table tracelink.nodes | relation',
		'table tracelink.quarantine | column extra'),
	'planted differences are each named: ' . scalar(@planted))
  or diag(join("\n", @planted));

done_testing();
