-- Node-local process templates: save, read, instantiate (as is, renamed,
-- changed by a merge patch), replace and drop; who may do what.
-- Uses the table "tea" (sql/include/tea.sql).
\set ECHO none
\i sql/include/setup.sql
\i sql/include/tea.sql
\set ECHO all

CREATE ROLE regress_tl_reader NOLOGIN;
CREATE ROLE regress_tl_member NOLOGIN;
CREATE ROLE regress_tl_member2 NOLOGIN;
CREATE ROLE regress_tl_admin NOLOGIN;
GRANT tracelink_reader TO regress_tl_reader;
GRANT tracelink_member TO regress_tl_member, regress_tl_member2;
GRANT tracelink_admin TO regress_tl_admin;
-- roles are cluster-wide: tie the writers to this database, in case the
-- server holds other tracelink databases (docs/operations.md)
GRANT CONNECT ON DATABASE :"DBNAME" TO regress_tl_member, regress_tl_member2, regress_tl_admin;
GRANT SELECT ON tea TO PUBLIC;

-- the templates table is registered for pg_dump (every table is: 50_dump_restore)
SELECT 'tracelink.templates'::regclass = ANY (extconfig::regclass[]) AS templates_dumped
  FROM pg_extension WHERE extname = 'tracelink';

SET ROLE regress_tl_member;
SELECT tracelink.save_template('Tea growing', tracelink.process(l, 'Growing'), 'two stages, trace code at planting') FROM tea;
SELECT name, tracelink.name(definition), description, created_by, created_at <= now() AS created_at_ok
  FROM tracelink.templates;
SELECT tracelink.template('Tea growing') OPERATOR(tracelink.=) tracelink.process(l, 'Growing') AS same FROM tea;
-- a duplicate is refused unless replace is asked for
SELECT err($$ SELECT tracelink.save_template('Tea growing', '{"name":"other"}') $$);
SELECT hint_of($$ SELECT tracelink.save_template('Tea growing', '{"name":"other"}') $$);
SELECT tracelink.save_template('Tea growing', tracelink.process(l, 'Growing'), 'revised', replace => true) FROM tea;
SELECT name, description, created_by FROM tracelink.templates;
-- members write only through the functions
SELECT err($$ INSERT INTO tracelink.templates (name, definition) VALUES ('x', '{"name":"x"}') $$);
SELECT err($$ UPDATE tracelink.templates SET description = 'x' $$);
SELECT err($$ DELETE FROM tracelink.templates $$);
-- bad arguments
SELECT err($$ SELECT tracelink.save_template('', '{"name":"x"}') $$);
SELECT err($$ SELECT tracelink.save_template(' Tea', '{"name":"x"}') $$);
SELECT err($$ SELECT tracelink.save_template(repeat('t', 201), '{"name":"x"}') $$);
SELECT err($$ SELECT tracelink.save_template(NULL, '{"name":"x"}') $$);
SELECT err($$ SELECT tracelink.save_template('T', NULL) $$);
SELECT err($$ SELECT tracelink.save_template('T', '{"name":"x"}', NULL, NULL) $$);
SELECT err($$ SELECT tracelink.save_template('T', '{"name":"x","stages":1}') $$);
SELECT count(*) FROM tracelink.templates;

-- instantiate: as is, renamed, changed (RFC 7386 merge patch), checked as input
SELECT tracelink.instantiate_template('Tea growing') OPERATOR(tracelink.=) tracelink.template('Tea growing') AS as_is;
SELECT tracelink.name(p), p::jsonb -> 'node' AS node, p::jsonb -> 'description' AS description,
       (SELECT array_agg(tracelink.name(s)) FROM tracelink.stages(p) s) AS stages
  FROM (SELECT tracelink.instantiate_template('Tea growing', 'Coffee growing',
                                              '{"node":"n7","description":"coffee","name":"ignored"}') p) x;
SELECT (SELECT array_agg(tracelink.name(s) || ':' || (s::jsonb ->> 'order')) FROM tracelink.stages(p) s) AS stages
  FROM (SELECT tracelink.instantiate_template('Tea growing', changes => '{"stages":[{"name":"Sow","order":2},{"name":"Pick","order":1}]}') p) x;
SELECT tracelink.instantiate_template(NULL) IS NULL AS null_template;
SELECT err($$ SELECT tracelink.instantiate_template('Coffee') $$);
SELECT err($$ SELECT tracelink.instantiate_template('Tea growing', ' renamed') $$);
SELECT err($$ SELECT tracelink.instantiate_template('Tea growing', NULL, '{"stages":[{"name":"A","order":1},{"name":"B"}]}') $$);
SELECT err($$ SELECT tracelink.instantiate_template('Tea growing', NULL, '[]') $$);
SELECT err($$ SELECT tracelink.template('Coffee') $$);
SELECT tracelink.template(NULL) IS NULL AS strict;
-- ... into another link, where it is validated with the rest
SELECT * FROM tracelink.validate(tracelink.with_process(
    '{"name":"Coffee","process_order":["Coffee growing"],"invitations":{"Coffee growing":["n7"]}}',
    tracelink.instantiate_template('Tea growing', 'Coffee growing', '{"node":"n7","outputs":null}')));

-- another member may neither replace nor drop it; an admin may
SET ROLE regress_tl_member2;
SELECT err($$ SELECT tracelink.save_template('Tea growing', '{"name":"mine"}', replace => true) $$);
SELECT hint_of($$ SELECT tracelink.save_template('Tea growing', '{"name":"mine"}', replace => true) $$);
SELECT err($$ SELECT tracelink.drop_template('Tea growing') $$);
SELECT tracelink.save_template('Packing', '{"name":"Packing"}');
SET ROLE regress_tl_admin;
SELECT tracelink.save_template('Packing', '{"name":"Packing","description":"by the admin"}', replace => true);
SELECT name, created_by FROM tracelink.templates ORDER BY name;

-- a reader can read, instantiate and validate, but not write
SET ROLE regress_tl_reader;
SELECT name FROM tracelink.templates ORDER BY name;
SELECT tracelink.name(tracelink.instantiate_template('Packing', 'Boxing'));
SELECT count(*) FROM tracelink.validate(tracelink.template('Packing'));
SELECT count(*) FROM tracelink.validate((SELECT l FROM tea));
SELECT err($$ SELECT tracelink.save_template('R', '{"name":"R"}') $$);
SELECT err($$ SELECT tracelink.drop_template('Packing') $$);
SELECT err($$ INSERT INTO tracelink.templates (name, definition) VALUES ('x', '{"name":"x"}') $$);

SET ROLE regress_tl_member;
SELECT tracelink.drop_template('Tea growing');
SELECT err($$ SELECT tracelink.drop_template('Tea growing') $$);
SELECT tracelink.drop_template(NULL) IS NULL AS strict;
SET ROLE regress_tl_admin;
SELECT tracelink.drop_template('Packing');
RESET ROLE;
SELECT count(*) FROM tracelink.templates;

-- the table refuses bad names even from a superuser
-- (the detail shows the row with its timestamp: only the message is kept)
SELECT split_part(err($$ INSERT INTO tracelink.templates (name, definition) VALUES (' x', '{"name":"x"}') $$), ' [', 1);

-- the database is shared with later tests: leave nothing behind
DROP TABLE tea;
REVOKE CONNECT ON DATABASE :"DBNAME" FROM regress_tl_member, regress_tl_member2, regress_tl_admin;
DROP ROLE regress_tl_reader, regress_tl_member, regress_tl_member2, regress_tl_admin;
