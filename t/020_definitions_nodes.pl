# Trace link definitions between nodes: values of the definition types cross
# logical replication in binary mode (the receive function, run by the apply
# worker with an empty search_path) and in text mode (the input function)
# unchanged, and node-local templates survive pg_dump and restore.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use TlTest;

my $a = tl_node('defs_a');
my $b = tl_node('defs_b');

my $link = <<'JSON';
{"name": "Pu-erh tea", "creator": "n1", "info": {"region": "Yunnan", "grade": 2.5},
 "process_order": ["Growing", "Packing"],
 "invitations": {"Growing": ["n2"], "Packing": ["n1"]},
 "processes": [
  {"name": "Packing", "node": "n1",
   "inputs": [{"name": "leaves", "from": "Growing", "output": "lot", "level": 2}],
   "stages": [{"name": "Pack", "forms": [{"name": "Box", "key": true, "items": [
     {"name": "Trace code", "type": "text", "required": true, "trace_code": true}]}]}]},
  {"name": "Growing", "node": "n2", "outputs": [{"name": "lot", "level": 2}],
   "stages": [{"name": "Harvest", "order": 2, "forms": [{"name": "Pick", "items": [
     {"name": "Trace code", "type": "text", "required": true, "trace_code": true},
     {"name": "Weight", "type": "numeric", "description": "kg 采摘"}]}]},
              {"name": "Plant", "order": 1, "creator": "bob", "forms": [{"name": "Field", "items": [
     {"name": "Variety", "type": "text", "widget": "dropdown", "options": ["Assamica", "Sinensis"]}]}]}]}]}
JSON

my $ddl = 'CREATE TABLE defs (id int PRIMARY KEY, s tracelink.stage, p tracelink.process, l tracelink.link)';
$a->safe_psql('postgres', $ddl);
$b->safe_psql('postgres', $ddl);
$a->safe_psql('postgres', <<"SQL");
INSERT INTO defs
SELECT 1, s, p, l
  FROM (SELECT \$json\$$link\$json\$::tracelink.link AS l) x,
       LATERAL (SELECT tracelink.process(l, 'Growing') AS p) y,
       LATERAL (SELECT s FROM tracelink.stages(p) s LIMIT 1) z;
CREATE PUBLICATION defs_pub FOR TABLE defs;
SQL

my $connstr = $a->connstr . ' dbname=postgres';
for my $binary ('true', 'false')
{
	$b->safe_psql('postgres', 'TRUNCATE defs');
	$b->safe_psql('postgres',
		"CREATE SUBSCRIPTION defs_sub CONNECTION '$connstr' PUBLICATION defs_pub WITH (binary = $binary)");
	$b->wait_for_subscription_sync($a, 'defs_sub');
	$a->safe_psql('postgres', "INSERT INTO defs SELECT 2, s, p, tracelink.with_process(l, p) FROM defs WHERE id = 1");
	$a->wait_for_catchup('defs_sub');

	my $query = <<'SQL';
SELECT string_agg(id || ':' || encode(tracelink.digest(s), 'hex') || ':' || encode(tracelink.digest(p), 'hex')
                  || ':' || encode(tracelink.digest(l), 'hex'), ',' ORDER BY id) FROM defs
SQL
	my $want = $a->safe_psql('postgres', $query);
	is($b->safe_psql('postgres', $query), $want,
		"definitions arrive byte for byte (subscription binary = $binary)");
	is($b->safe_psql('postgres', 'SELECT count(*) FROM defs, tracelink.validate(l)'),
		'0', "replicated link still validates (binary = $binary)");

	$b->safe_psql('postgres', 'DROP SUBSCRIPTION defs_sub');
	$a->safe_psql('postgres', 'DELETE FROM defs WHERE id = 2');
}

# Templates are node data: pg_dump keeps them (extension config table), and
# the definitions read back as the same canonical values.
$a->safe_psql('postgres', <<'SQL');
SELECT tracelink.save_template('Growing', p, 'from the tea link') FROM defs WHERE id = 1;
SELECT tracelink.save_template('Packing', tracelink.process(l, 'Packing')) FROM defs WHERE id = 1;
SQL
my $dump = PostgreSQL::Test::Utils::tempdir() . '/defs.dump';
$a->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $a->connstr('postgres') ], 'pg_dump with templates');
$b->safe_psql('postgres', 'CREATE DATABASE restored');
$b->command_ok([ 'pg_restore', '-d', $b->connstr('restored'), $dump ], 'pg_restore with templates');
my $templates = <<'SQL';
SELECT string_agg(name || ':' || encode(tracelink.digest(definition), 'hex') || ':' || coalesce(description, '-'),
                  ',' ORDER BY name) FROM tracelink.templates
SQL
is($b->safe_psql('restored', $templates), $a->safe_psql('postgres', $templates),
	'templates survive pg_dump and pg_restore');
is($b->safe_psql('restored', "SELECT tracelink.name(tracelink.instantiate_template('Growing', 'Coffee'))"),
	'Coffee', 'a restored template instantiates');

$a->stop;
$b->stop;
done_testing();
