-- A realistic trace link definition: 5 processes in a chain (tea from the
-- garden to the shop), 4 stages each (20), 5 data items per stage (100) in
-- one or two forms, with descriptions, sources, widgets, options, inputs
-- and outputs with data levels, invitations and a voting rule.  Stored as
-- pretty-printed (not canonical) JSON text in bench_doc(doc).
CREATE TABLE bench_doc (doc text NOT NULL);

WITH p AS (
    SELECT k, (ARRAY['Growing', 'Processing', 'Blending', 'Packaging', 'Retail'])[k] AS name
      FROM generate_series(1, 5) k),
item AS (
    SELECT p.k, s, i,
           jsonb_strip_nulls(jsonb_build_object(
               'name', CASE WHEN i = 1 THEN 'Trace code' ELSE format('Item %s.%s.%s', p.k, s, i) END,
               'description', format('Data item %s of stage %s of %s, recorded at every lot', i, s, p.name),
               'type', CASE WHEN i = 1 THEN 'text' ELSE (ARRAY['numeric', 'time', 'image', 'text'])[1 + i % 4] END,
               'required', i <= 2,
               'trace_code', CASE WHEN i = 1 AND s = 1 THEN true END,
               'sources', CASE i % 3 WHEN 0 THEN '["manual","device"]'::jsonb
                                     WHEN 1 THEN '["manual"]'::jsonb
                                     ELSE '["upload","external"]'::jsonb END,
               'widget', CASE WHEN i = 5 THEN 'dropdown' WHEN i = 4 THEN 'textarea' END,
               'options', CASE WHEN i = 5 THEN '["grade A","grade B","grade C","rejected"]'::jsonb END,
               'creator', format('member%s', p.k))) AS item
      FROM p, generate_series(1, 4) s, generate_series(1, 5) i),
form AS (
    SELECT k, s, jsonb_agg(jsonb_build_object(
               'name', CASE WHEN f = 1 THEN 'Lot record' ELSE 'Quality check' END,
               'key', f = 1,
               'description', 'Filled in for every lot',
               'items', items) ORDER BY f) AS forms
      FROM (SELECT k, s, CASE WHEN i <= 3 THEN 1 ELSE 2 END AS f, jsonb_agg(item ORDER BY i) AS items
              FROM item GROUP BY k, s, 3) x
     GROUP BY k, s),
stage AS (
    SELECT f.k, jsonb_agg(jsonb_build_object(
               'name', format('%s stage %s', p.name, f.s),
               'role', (ARRAY['grower', 'processor', 'blender', 'packer', 'retailer'])[f.k],
               'creator', format('member%s', f.k),
               'members', jsonb_build_array(format('member%s', f.k), format('auditor%s', f.k)),
               'description', format('Stage %s of %s', f.s, p.name),
               'forms', f.forms) ORDER BY f.s) AS stages
      FROM form f JOIN p USING (k)
     GROUP BY f.k)
INSERT INTO bench_doc
SELECT jsonb_pretty(jsonb_build_object(
    'name', 'Pu-erh tea, spring harvest',
    'creator', 'node1',
    'info', jsonb_build_object('product', 'pu-erh tea', 'region', 'Yunnan', 'season', 2024,
                               'standard', 'GB/T 22111-2008', 'contact', 'trace@example.org'),
    'process_order', (SELECT jsonb_agg(name ORDER BY k) FROM p),
    'invitations', (SELECT jsonb_object_agg(name, jsonb_build_array(format('node%s', k))) FROM p),
    'voting', '{"adoption":{"rule":"k_of_n","k":3},"modification":{"rule":"unanimous"}}'::jsonb,
    'processes', (SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
        'name', p.name,
        'node', format('node%s', p.k),
        'description', format('%s of the tea', p.name),
        'inputs', CASE WHEN p.k > 1 THEN jsonb_build_array(jsonb_build_object(
                      'name', 'incoming lot', 'from', (SELECT q.name FROM p q WHERE q.k = p.k - 1),
                      'output', 'lot', 'level', 2)) END,
        'outputs', jsonb_build_array(jsonb_build_object('name', 'lot', 'level', 2,
                                                        'description', 'one lot, by trace code')),
        'stages', s.stages)) ORDER BY p.k DESC)
        FROM p JOIN stage s USING (k))));

-- the definition is what it claims to be, and valid
DO $$
DECLARE
    l tracelink.link := (SELECT doc::tracelink.link FROM bench_doc);
BEGIN
    IF (SELECT count(*) FROM tracelink.processes(l)) <> 5
       OR (SELECT count(*) FROM tracelink.processes(l) p, tracelink.stages(p)) <> 20
       OR (SELECT count(*) FROM tracelink.processes(l) p, tracelink.data_items(p)) <> 100
       OR EXISTS (SELECT FROM tracelink.validate(l)) THEN
        RAISE EXCEPTION 'the generated link is not 5 processes, 20 stages, 100 valid items';
    END IF;
END
$$;
