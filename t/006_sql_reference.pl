# docs/sql-reference.md lists every object of the extension, and names
# nothing that is not one.
#
# The objects come from the catalog: every member of the extension
# (pg_depend, deptype 'e': functions and procedures, tables, views,
# sequences, types, operators, operator classes and families), the settings
# it defines (tracelink.*) and the roles it creates (tracelink_*).  Casts are
# named by their functions; indexes and triggers belong to their tables.
#
# An object is listed when its name (a function's name, without its
# arguments; an operator's symbol) is a word of a code span outside the
# code blocks and the error tables: `sha256(data bytea)`, `tracelink.key_directory`, table
# `ledger_entries`.  An entry is a row of a reference table whose first
# column is "function", "object" or "view": at least one name in its first
# cell must be an object (or an index of schema tracelink).
#
# And no function of the extension is hidden behind a pg_catalog namesake.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use TlTest;

my $doc_file = 'docs/sql-reference.md';
open my $fh, '<', $doc_file or die "cannot read $doc_file: $!";
my @lines = <$fh>;
close $fh;

# Code blocks: their content is example code, not reference; one left open
# would swallow the sections after it.
my (@text, $fence_open);
for my $i (0 .. $#lines)
{
	if ($lines[$i] =~ /^\s*```/)
	{
		$fence_open = defined $fence_open ? undef : $i + 1;
		push @text, '';
		next;
	}
	push @text, defined $fence_open ? '' : $lines[$i];
}
ok(!defined $fence_open,
	"every code block is closed" . (defined $fence_open ? " (the one at line $fence_open is not)" : ''));

# Words of the error tables (first column "SQLSTATE") do not list objects.
my (%words, %operators, $table_header);
my $reference = '';
for my $line (@text)
{
	if ($line =~ /^\|\s*([^|]*?)\s*\|/)
	{
		$table_header //= $1;
		next if $table_header eq 'SQLSTATE';
	}
	else
	{
		undef $table_header;
	}
	$reference .= $line;
}
# a code span may run over a line break
for my $span ($reference =~ /`([^`]+)`/g)
{
	if ($span =~ /^\s*([=<>!~*+\-\/&|#@%^]+)\s*$/)
	{
		$operators{$1} = 1;
		next;
	}
	for my $word ($span =~ /([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)/g)
	{
		$words{$word} = 1;
		$words{$1} = 1 if $word =~ /^tracelink\.(.+)$/;
	}
}

my $node = tl_node('sqlref');

# kind|name|identity (a function's arguments, for the message)
my $members = $node->safe_psql('postgres', <<'SQL');
WITH m AS (
  SELECT d.classid, d.objid
    FROM pg_catalog.pg_depend d
    JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
   WHERE d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
     AND e.extname = 'tracelink' AND d.deptype = 'e')
SELECT CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END,
       p.proname, p.proname || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')'
  FROM m JOIN pg_catalog.pg_proc p ON m.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND p.oid = m.objid
UNION ALL
SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
                      WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' ELSE 'relation' END,
       c.relname, c.relname
  FROM m JOIN pg_catalog.pg_class c ON m.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND c.oid = m.objid
UNION ALL
SELECT 'type', t.typname, t.typname
  FROM m JOIN pg_catalog.pg_type t ON m.classid = 'pg_catalog.pg_type'::pg_catalog.regclass AND t.oid = m.objid
UNION ALL
SELECT 'operator', o.oprname,
       o.oprname || ' (' || o.oprleft::pg_catalog.regtype || ', ' || o.oprright::pg_catalog.regtype || ')'
  FROM m JOIN pg_catalog.pg_operator o ON m.classid = 'pg_catalog.pg_operator'::pg_catalog.regclass AND o.oid = m.objid
UNION ALL
SELECT 'operator class', c.opcname, c.opcname
  FROM m JOIN pg_catalog.pg_opclass c ON m.classid = 'pg_catalog.pg_opclass'::pg_catalog.regclass AND c.oid = m.objid
UNION ALL
SELECT 'operator family', f.opfname, f.opfname
  FROM m JOIN pg_catalog.pg_opfamily f ON m.classid = 'pg_catalog.pg_opfamily'::pg_catalog.regclass AND f.oid = m.objid
ORDER BY 1, 3
SQL

my $settings = $node->safe_psql('postgres', <<'SQL');
LOAD 'tracelink';
SELECT 'setting', name, name FROM pg_catalog.pg_settings WHERE name LIKE 'tracelink.%' ORDER BY name
SQL

my $roles = $node->safe_psql('postgres',
	"SELECT 'role', rolname, rolname FROM pg_catalog.pg_roles WHERE rolname LIKE 'tracelink\\_%' ORDER BY rolname");

my $indexes = $node->safe_psql('postgres',
	"SELECT relname FROM pg_catalog.pg_class WHERE relkind = 'i' AND relnamespace = 'tracelink'::pg_catalog.regnamespace");

my (@objects, %names);
for my $row (split /\n/, join("\n", $members, $settings, $roles))
{
	next if $row eq '';
	my ($kind, $name, $identity) = split /\|/, $row, 3;
	push @objects, [ $kind, $name, $identity ];
	$names{$name} = 1;
}
$names{$_} = 1 for split /\n/, $indexes;

my %counted;
$counted{ $_->[0] }++ for @objects;
ok($counted{function} > 100 && $counted{table} > 10 && $counted{view} > 5
	  && $counted{setting} && $counted{role} && $counted{type},
	'the catalog lists the extension\'s objects ('
	  . join(', ', map { "$_: $counted{$_}" } sort keys %counted) . ')');

my @missing;
for my $o (@objects)
{
	my ($kind, $name, $identity) = @$o;
	my $listed = $kind eq 'operator' ? $operators{$name} : $words{$name};
	push @missing, "$kind $identity" unless $listed;
}
is(join("\n", @missing), '',
	"every object of the extension is in $doc_file (" . scalar(@missing) . " missing)");

# Entries of the reference tables.
my (@unknown, $checked, $header);
for my $i (0 .. $#text)
{
	my $line = $text[$i];
	if ($line !~ /^\|/)
	{
		undef $header;
		next;
	}
	my @cells = split /(?<!\\)\|/, $line;
	shift @cells;
	my $first = $cells[0] // '';
	if (!defined $header)
	{
		($header = $first) =~ s/^\s+|\s+$//g;
		next;
	}
	next if $first =~ /^\s*-+\s*$/;
	next unless $header =~ /^(function|object|view)$/;
	my @spans = $first =~ /`([^`]+)`/g;
	next unless @spans;
	$checked++;
	my $found = 0;
	for my $span (@spans)
	{
		if ($span =~ /^\s*([=<>!~*+\-\/&|#@%^]+)\s*$/)
		{
			$found = 1;
			next;
		}
		for my $word ($span =~ /([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)/g)
		{
			(my $bare = $word) =~ s/^tracelink\.//;
			$found = 1 if $names{$word} || $names{$bare};
		}
	}
	(my $shown = $first) =~ s/^\s+|\s+$//g;
	push @unknown, "line " . ($i + 1) . ": $shown" unless $found;
}
ok($checked > 50, "the reference has entries ($checked)");
is(join("\n", @unknown), '',
	"every entry of $doc_file names an object of the extension (" . scalar(@unknown) . " do not)");

# No function of the extension is hidden behind a pg_catalog namesake: with
# the same name and argument types, pg_catalog (searched first) wins every
# unqualified call (tracelink.sha256 was, and is now sha256_digest).
my $hidden = $node->safe_psql('postgres', <<'SQL');
SELECT string_agg(p.oid::pg_catalog.regprocedure::text, ', ' ORDER BY p.proname)
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_proc c ON c.proname = p.proname AND c.proargtypes = p.proargtypes
       AND c.pronamespace = 'pg_catalog'::pg_catalog.regnamespace
 WHERE p.pronamespace = 'tracelink'::pg_catalog.regnamespace
SQL
is($hidden, '', 'no function of the extension has a pg_catalog namesake with its argument types');

done_testing();
