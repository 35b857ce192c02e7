-- Accessors of the definition types, tracelink.with_process and
-- tracelink.merge_patch.  Uses the table "tea" (sql/include/tea.sql).
\set ECHO none
\i sql/include/setup.sql
\i sql/include/tea.sql
\set ECHO all

SELECT tracelink.name(l) FROM tea;
SELECT tracelink.name(tracelink.process(l, 'Growing')) FROM tea;
SELECT tracelink.name('{"name":"Plant"}'::tracelink.stage);

-- processes in process order, stages in stage order
SELECT tracelink.name(p) AS process, tracelink.name(s) AS stage, s::jsonb -> 'order' AS "order"
  FROM tea, tracelink.processes(l) p, tracelink.stages(p) s;
SELECT count(*) FROM tracelink.processes('{"name":"empty"}'::tracelink.link);
SELECT count(*) FROM tracelink.stages('{"name":"empty"}'::tracelink.process);

-- tracelink.process(link, name): NULL when there is none
SELECT tracelink.process(l, 'Retail') IS NULL AS absent, tracelink.process(l, NULL) IS NULL AS null_name FROM tea;
SELECT tracelink.process(l, 'Growing') OPERATOR(tracelink.=) p AS same_as_in_processes
  FROM tea, tracelink.processes(l) p WHERE tracelink.name(p) = 'Growing';
-- with repeated names, the first one
SELECT tracelink.process('{"name":"L","processes":[{"name":"A","node":"n1"},{"name":"A","node":"n2"}]}', 'A')::jsonb ->> 'node' AS node;

SELECT * FROM tracelink.forms((SELECT s FROM tea, tracelink.stages(tracelink.process(l, 'Growing')) s
                                WHERE tracelink.name(s) = 'Harvest'));
SELECT count(*) FROM tracelink.forms('{"name":"empty"}'::tracelink.stage);

SELECT * FROM tracelink.data_items((SELECT tracelink.process(l, 'Growing') FROM tea));
SELECT * FROM tracelink.data_items((SELECT tracelink.process(l, 'Packaging') FROM tea));
SELECT * FROM tracelink.data_items('{"name":"Check","creator":"eve","forms":[{"name":"A","items":[{"name":"x","type":"file","creator":"eve"}]},
                                    {"name":"B","key":true,"items":[{"name":"y","type":"video","sources":[]}]}]}'::tracelink.stage);

SELECT * FROM tracelink.trace_code_items((SELECT tracelink.process(l, 'Growing') FROM tea));
SELECT count(*) FROM tracelink.trace_code_items('{"name":"none"}'::tracelink.process);

SELECT * FROM tracelink.inputs((SELECT tracelink.process(l, 'Packaging') FROM tea));
SELECT * FROM tracelink.outputs((SELECT tracelink.process(l, 'Growing') FROM tea));
SELECT * FROM tracelink.inputs('{"name":"P","inputs":[{"name":"a","from":"Q","output":"x"},{"name":"b","from":"R","output":"y","level":3}]}'::tracelink.process);
SELECT * FROM tracelink.outputs('{"name":"P","outputs":[{"name":"a"},{"name":"b","level":5,"description":"pallet"}]}'::tracelink.process);

SELECT tracelink.process_order(l) FROM tea;
-- invitations in process order, then processes outside it (by name)
SELECT * FROM tracelink.invitations((SELECT l FROM tea));
SELECT * FROM tracelink.invitations('{"name":"L","process_order":["B","A"],
    "invitations":{"Z":["z1"],"A":["a1","a2"],"B":["b1"],"C":[]}}'::tracelink.link);

-- voting rules: modification falls back to adoption; NULL is the system default
SELECT tracelink.voting_rule(l) AS adoption, tracelink.voting_rule(l, 'modification') AS modification FROM tea;
SELECT tracelink.voting_rule(l, 'adoption') AS adoption, tracelink.voting_rule(l, 'modification') AS modification
  FROM (SELECT '{"name":"L","voting":{"modification":{"rule":"fraction","numerator":2,"denominator":3}}}'::tracelink.link l) x;
SELECT tracelink.voting_rule('{"name":"L"}') IS NULL AS system_default;
SELECT err($$ SELECT tracelink.voting_rule('{"name":"L"}', 'approval') $$);
SELECT hint_of($$ SELECT tracelink.voting_rule('{"name":"L"}', 'approval') $$);
SELECT tracelink.voting_rule('{"name":"L"}', NULL) IS NULL AS strict;

SELECT tracelink.link_info(l) FROM tea;
SELECT tracelink.link_info('{"name":"L"}');

-- with_process: replace a process of the same name, keeping process order
SELECT tracelink.process_order(w), tracelink.name(tracelink.process(w, 'Growing')),
       tracelink.process(w, 'Growing')::jsonb -> 'description' AS description,
       (SELECT array_agg(tracelink.name(p)) FROM tracelink.processes(w) p) AS processes
  FROM (SELECT tracelink.with_process(l, tracelink.merge_patch(tracelink.process(l, 'Growing'),
                                                               '{"description":"revised"}')) w
          FROM tea) x;
-- ... or add one: it goes after those in process order, which stays as it was
SELECT tracelink.process_order(w), (SELECT array_agg(tracelink.name(p)) FROM tracelink.processes(w) p) AS processes
  FROM (SELECT tracelink.with_process(l, '{"name":"Retail"}') w FROM tea) x;
-- a design request gets its processes as participants build them, in order
SELECT tracelink.with_process(tracelink.with_process(
         '{"name":"L","process_order":["A","B"],"invitations":{"A":["n1"],"B":["n2"]}}', '{"name":"B"}'),
         '{"name":"A"}');

-- merge_patch: RFC 7386 on the canonical JSON, then normalised as input
SELECT tracelink.merge_patch('{"name":"S","role":"grower","description":"d"}'::tracelink.stage,
                             '{"role":"carrier","description":null,"members":["m"]}');
SELECT tracelink.merge_patch('{"name":"P","stages":[{"name":"A"},{"name":"B"}]}'::tracelink.process,
                             '{"stages":[{"name":"C"}],"node":"n5"}');
-- nested objects merge, null removes a member, arrays are replaced whole
SELECT tracelink.link_info(tracelink.merge_patch('{"name":"L","info":{"a":1,"b":{"c":2,"d":3}}}'::tracelink.link,
                             '{"info":{"a":null,"b":{"c":null,"e":[1,null]},"f":{"g":null}}}')) AS info;
SELECT tracelink.merge_patch('{"name":"S"}'::tracelink.stage, '{}') OPERATOR(tracelink.=) '{"name":"S"}'::tracelink.stage AS empty_patch;
SELECT err($$ SELECT tracelink.merge_patch('{"name":"S"}'::tracelink.stage, '[1]') $$);
SELECT err($$ SELECT tracelink.merge_patch('{"name":"P"}'::tracelink.process, 'null') $$);
SELECT err($$ SELECT tracelink.merge_patch('{"name":"L"}'::tracelink.link, '"x"') $$);
SELECT err($$ SELECT tracelink.merge_patch('{"name":"S"}'::tracelink.stage, '{"name":null}') $$);
SELECT err($$ SELECT tracelink.merge_patch('{"name":"P","stages":[{"name":"A"}]}'::tracelink.process, '{"stages":[{"name":"A","order":"1"}]}') $$);
SELECT err($$ SELECT tracelink.merge_patch('{"name":"L"}'::tracelink.link, '{"voting":{"adoption":{"rule":"k_of_n","k":1e300}}}') $$);
SELECT tracelink.merge_patch('{"name":"S"}'::tracelink.stage, NULL) IS NULL AS strict;
