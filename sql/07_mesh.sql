-- The mesh: tracelink.mesh() (data edges between processes with the layers
-- of both ends) and tracelink.mesh_layers() (topological layering, Kahn);
-- errors TL002, TL008, TL009, TL010.  Uses the table "tea"
-- (sql/include/tea.sql).
\set ECHO none
\i sql/include/setup.sql
\i sql/include/tea.sql
\set ECHO all

SELECT * FROM tracelink.mesh((SELECT l FROM tea));
SELECT * FROM tracelink.mesh_layers((SELECT l FROM tea));

-- mesh_of(processes...): a link of minimal processes, each given as
-- 'name:input<-producer.output@level,...' (level 1 when left out); each
-- producer gets the outputs its consumers name
CREATE FUNCTION mesh_of(VARIADIC procs text[]) RETURNS tracelink.link LANGUAGE sql AS $$
    WITH spec AS (
        SELECT k, split_part(p, ':', 1) AS name, nullif(split_part(p, ':', 2), '') AS inputs
          FROM unnest(procs) WITH ORDINALITY u(p, k)),
    input AS (
        SELECT spec.k, n, spec.name AS consumer,
               split_part(i, '<-', 1) AS name,
               split_part(split_part(i, '<-', 2), '.', 1) AS producer,
               split_part(split_part(split_part(i, '<-', 2), '.', 2), '@', 1) AS output,
               coalesce(nullif(split_part(i, '@', 2), ''), '1')::int AS level
          FROM spec, unnest(string_to_array(spec.inputs, ',')) WITH ORDINALITY x(i, n))
    SELECT jsonb_build_object('name', 'M', 'processes', jsonb_agg(jsonb_build_object(
               'name', spec.name,
               'inputs', (SELECT coalesce(jsonb_agg(jsonb_build_object('name', i.name, 'from', i.producer,
                                                                       'output', i.output, 'level', i.level)
                                                    ORDER BY i.n), '[]')
                            FROM input i WHERE i.k = spec.k),
               'outputs', (SELECT coalesce(jsonb_agg(DISTINCT jsonb_build_object('name', i.output, 'level', i.level)), '[]')
                             FROM input i WHERE i.producer = spec.name))
           ORDER BY spec.k))::tracelink.link
      FROM spec
$$;
SELECT mesh_of('Farm:', 'Mill:grain<-Farm.crop@2');

-- two producers feed one consumer; the consumer is one layer above the higher
SELECT * FROM tracelink.mesh(mesh_of('Farm:', 'Mill:grain<-Farm.crop@2', 'Dairy:',
                                     'Bakery:flour<-Mill.flour@2,milk<-Dairy.milk',
                                     'Shop:bread<-Bakery.bread@3'));
SELECT * FROM tracelink.mesh_layers(mesh_of('Farm:', 'Mill:grain<-Farm.crop@2', 'Dairy:',
                                            'Bakery:flour<-Mill.flour@2,milk<-Dairy.milk',
                                            'Shop:bread<-Bakery.bread@3'));

-- a later process may feed an earlier one: edges against process order
SELECT tracelink.process_order(l) FROM (SELECT tracelink.merge_patch(mesh_of('Retail:boxes<-Pack.box', 'Pack:raw<-Farm.crop', 'Farm:'),
                                                                     '{"process_order":["Retail","Pack","Farm"]}') l) x;
SELECT * FROM tracelink.mesh((SELECT tracelink.merge_patch(mesh_of('Retail:boxes<-Pack.box', 'Pack:raw<-Farm.crop', 'Farm:'),
                                                           '{"process_order":["Retail","Pack","Farm"]}')));
SELECT * FROM tracelink.mesh_layers((SELECT tracelink.merge_patch(mesh_of('Retail:boxes<-Pack.box', 'Pack:raw<-Farm.crop', 'Farm:'),
                                                                  '{"process_order":["Retail","Pack","Farm"]}')));
-- two inputs from one producer are two edges; positions are NULL for
-- processes that are not in the process order
SELECT * FROM tracelink.mesh((SELECT tracelink.merge_patch(mesh_of('A:', 'B:x<-A.o,y<-A.o'), '{"process_order":["B"]}')));
SELECT * FROM tracelink.mesh_layers((SELECT tracelink.merge_patch(mesh_of('A:', 'B:x<-A.o,y<-A.o'), '{"process_order":["B"]}')));
-- no processes, no edges
SELECT count(*) FROM tracelink.mesh('{"name":"empty"}');
SELECT count(*) FROM tracelink.mesh_layers('{"name":"empty"}');
-- the mesh does not need a valid link otherwise (e.g. no stages, no invitations)
SELECT count(*) FROM tracelink.validate(mesh_of('A:', 'B:x<-A.o')) WHERE code NOT IN ('TL008', 'TL009', 'TL010');
SELECT producer, consumer FROM tracelink.mesh(mesh_of('A:', 'B:x<-A.o'));

-- cycles: the detail names the cycle; one per strongly connected component,
-- starting at its first process in process order, a shortest way round
SELECT err($$ SELECT * FROM tracelink.mesh(mesh_of('A:i<-B.o', 'B:i<-A.o')) $$);
SELECT hint_of($$ SELECT * FROM tracelink.mesh(mesh_of('A:i<-B.o', 'B:i<-A.o')) $$);
SELECT err($$ SELECT * FROM tracelink.mesh_layers(mesh_of('A:self<-A.o')) $$);
SELECT err($$ SELECT * FROM tracelink.mesh(mesh_of('S:', 'A:i<-S.o,j<-D.o', 'B:i<-A.o', 'C:i<-B.o', 'D:i<-C.o,k<-B.o')) $$);
SELECT path, message FROM tracelink.validate(mesh_of('A:i<-B.o', 'B:i<-A.o', 'C:i<-B.o', 'D:i<-E.o', 'E:i<-D.o', 'F:i<-F.o', 'G:i<-F.o'))
 WHERE code = 'TL010';
-- a long cycle (iterative algorithms: no recursion depth to run out of)
SELECT message FROM tracelink.validate((
    SELECT mesh_of(VARIADIC array_agg(format('P%s:i<-P%s.o', n, CASE WHEN n = 1 THEN 300 ELSE n - 1 END) ORDER BY n))
      FROM generate_series(1, 300) n)) WHERE code = 'TL010' \gset
SELECT length(:'message') AS message_length, left(:'message', 40) AS message_start, right(:'message', 20) AS message_end;
-- and a long chain is layered 0 .. n-1
SELECT max(layer), count(*) FROM tracelink.mesh_layers((
    SELECT mesh_of(VARIADIC array_agg(CASE WHEN n = 1 THEN 'P1:' ELSE format('P%s:i<-P%s.o', n, n - 1) END ORDER BY n))
      FROM generate_series(1, 500) n));

-- unresolved inputs, levels, repeated process names
SELECT err($$ SELECT * FROM tracelink.mesh(mesh_of('A:i<-Z.o')) $$);
SELECT err($$ SELECT * FROM tracelink.mesh(tracelink.merge_patch(mesh_of('A:', 'B:i<-A.o'), '{"processes":[{"name":"A"},{"name":"B","inputs":[{"name":"i","from":"A","output":"o"}]}]}')) $$);
SELECT err($$ SELECT * FROM tracelink.mesh(tracelink.merge_patch(mesh_of('A:', 'B:i<-A.o'), '{"processes":[{"name":"A","outputs":[{"name":"o","level":2}]},{"name":"B","inputs":[{"name":"i","from":"A","output":"o"}]}]}')) $$);
SELECT hint_of($$ SELECT * FROM tracelink.mesh(tracelink.merge_patch(mesh_of('A:', 'B:i<-A.o'), '{"processes":[{"name":"A","outputs":[{"name":"o","level":2}]},{"name":"B","inputs":[{"name":"i","from":"A","output":"o"}]}]}')) $$);
SELECT err($$ SELECT * FROM tracelink.mesh(mesh_of('A:', 'B:i<-A.o@0')) $$);
SELECT err($$ SELECT * FROM tracelink.mesh(tracelink.merge_patch(mesh_of('A:', 'B:'), '{"processes":[{"name":"A"},{"name":"B","outputs":[{"name":"unused","level":120}]}]}')) $$);
SELECT err($$ SELECT * FROM tracelink.mesh_layers(mesh_of('A:', 'A:')) $$);
-- the first problem in document order is raised
SELECT err($$ SELECT * FROM tracelink.mesh(mesh_of('A:i<-B.o', 'B:i<-A.o', 'C:i<-Nowhere.o')) $$);
SELECT count(*) FROM tracelink.mesh(NULL::tracelink.link);
DROP FUNCTION mesh_of(text[]);
