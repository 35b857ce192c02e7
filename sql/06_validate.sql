-- Validation: tracelink.validate() lists every problem (path, code, message)
-- in document order; tracelink.validate_strict() raises the first one with
-- its own SQLSTATE, a detail naming the element and its path, and a hint.
-- Uses the table "tea" (sql/include/tea.sql).
\set ECHO none
\i sql/include/setup.sql
\i sql/include/tea.sql
\set ECHO all

-- a complete link has no problems
SELECT * FROM tracelink.validate((SELECT l FROM tea));
SELECT tracelink.validate_strict(l) FROM tea;
SELECT * FROM tracelink.validate((SELECT tracelink.process(l, 'Growing') FROM tea));
SELECT * FROM tracelink.validate((SELECT s FROM tea, tracelink.stages(tracelink.process(l, 'Growing')) s LIMIT 1));
SELECT count(*) FROM tracelink.validate(NULL::tracelink.link);

-- a minimal valid process to vary: one stage, one form, the trace-code item
CREATE TABLE base AS SELECT '{"name":"P","stages":[{"name":"S","forms":[{"name":"F","items":[
    {"name":"Code","type":"text","required":true,"trace_code":true}]}]}]}'::tracelink.process AS p;
SELECT * FROM tracelink.validate((SELECT p FROM base));
-- link_of(processes...): a link of those processes, in that order, each
-- invited (to node n1), so that only the problems of the processes show
CREATE FUNCTION link_of(VARIADIC procs jsonb[]) RETURNS tracelink.link LANGUAGE sql AS $$
    SELECT jsonb_build_object('name', 'L',
        'process_order', (SELECT coalesce(jsonb_agg(p ->> 'name' ORDER BY i), '[]') FROM unnest(procs) WITH ORDINALITY u(p, i)),
        'invitations', (SELECT coalesce(jsonb_object_agg(p ->> 'name', '["n1"]'::jsonb), '{}') FROM unnest(procs) p),
        'processes', to_jsonb(procs))::tracelink.link
$$;
SELECT * FROM tracelink.validate((SELECT link_of(p::jsonb) FROM base));

-- TL001: no trace-code acquisition item
SELECT * FROM tracelink.validate('{"name":"P","stages":[{"name":"S","forms":[{"name":"F","items":[{"name":"Weight","type":"numeric"}]}]}]}'::tracelink.process);
SELECT err($$ SELECT tracelink.validate_strict('{"name":"P","stages":[{"name":"S","forms":[{"name":"F","items":[{"name":"W","type":"numeric"}]}]}]}'::tracelink.process) $$);
SELECT hint_of($$ SELECT tracelink.validate_strict('{"name":"P","stages":[{"name":"S","forms":[{"name":"F","items":[{"name":"W","type":"numeric"}]}]}]}'::tracelink.process) $$);
-- TL011: a trace-code item must be a required text item (one problem each)
SELECT * FROM tracelink.validate('{"name":"P","stages":[{"name":"S","forms":[{"name":"F","items":[{"name":"Code","type":"numeric","trace_code":true}]}]}]}'::tracelink.process);
-- ... also in a standalone stage (TL001 is a process check)
SELECT * FROM tracelink.validate('{"name":"S","forms":[{"name":"F","items":[{"name":"Code","type":"text","trace_code":true}]}]}'::tracelink.stage);
SELECT err($$ SELECT tracelink.validate_strict('{"name":"S","forms":[{"name":"F","items":[{"name":"Code","type":"text","trace_code":true}]}]}'::tracelink.stage) $$);

-- TL002: repeated names
SELECT * FROM tracelink.validate('{"name":"P","stages":[
    {"name":"S","members":["ann","bob","ann"],"forms":[
        {"name":"F","items":[{"name":"Code","type":"text","required":true,"trace_code":true},
                             {"name":"Code","type":"text"},
                             {"name":"W","type":"text","sources":["manual","upload","manual"]},
                             {"name":"V","type":"text","widget":"dropdown","options":["a","b","a"]}]},
        {"name":"F","items":[{"name":"X","type":"text"}]}]},
    {"name":"S","forms":[{"name":"G","items":[{"name":"Y","type":"text"}]}]}],
  "inputs":[{"name":"in","from":"Q","output":"o"},{"name":"in","from":"R","output":"o"}],
  "outputs":[{"name":"out"},{"name":"out"}]}'::tracelink.process);
SELECT err($$ SELECT tracelink.validate_strict(tracelink.merge_patch(p, '{"outputs":[{"name":"o"},{"name":"o"}]}')) FROM base $$);

-- TL003, TL004, TL005: unknown data type, source, widget; widget and options
SELECT * FROM tracelink.validate('{"name":"S","forms":[{"name":"F","items":[
    {"name":"A","type":"colour"},
    {"name":"B","type":"text","sources":["manual","fax","carrier pigeon"]},
    {"name":"C","type":"text","widget":"slider"},
    {"name":"D","type":"text","widget":"dropdown"},
    {"name":"E","type":"text","widget":"dropdown","options":[]},
    {"name":"F","type":"text","widget":"textarea","options":["x"]},
    {"name":"G","type":"text","widget":"slider","options":["x"]},
    {"name":"H","type":"video","widget":"dropdown","options":["one","two"],"sources":["device","external","upload"]}]}]}'::tracelink.stage);
SELECT err($$ SELECT tracelink.validate_strict('{"name":"S","forms":[{"name":"F","items":[{"name":"A","type":"colour"}]}]}'::tracelink.stage) $$);
SELECT hint_of($$ SELECT tracelink.validate_strict('{"name":"S","forms":[{"name":"F","items":[{"name":"A","type":"colour"}]}]}'::tracelink.stage) $$);
SELECT err($$ SELECT tracelink.validate_strict('{"name":"S","forms":[{"name":"F","items":[{"name":"B","type":"text","sources":["fax"]}]}]}'::tracelink.stage) $$);
SELECT hint_of($$ SELECT tracelink.validate_strict('{"name":"S","forms":[{"name":"F","items":[{"name":"B","type":"text","sources":["fax"]}]}]}'::tracelink.stage) $$);
SELECT err($$ SELECT tracelink.validate_strict('{"name":"S","forms":[{"name":"F","items":[{"name":"C","type":"text","widget":"slider"}]}]}'::tracelink.stage) $$);
SELECT hint_of($$ SELECT tracelink.validate_strict('{"name":"S","forms":[{"name":"F","items":[{"name":"C","type":"text","widget":"slider"}]}]}'::tracelink.stage) $$);

-- TL006: empty process, stage, form; an item with no data source; an empty link
SELECT * FROM tracelink.validate('{"name":"P"}'::tracelink.process);
SELECT * FROM tracelink.validate('{"name":"P","stages":[{"name":"S"},{"name":"T","forms":[{"name":"F"}]},
    {"name":"U","forms":[{"name":"G","items":[{"name":"Code","type":"text","required":true,"trace_code":true,"sources":[]}]}]}]}'::tracelink.process);
SELECT * FROM tracelink.validate('{"name":"L"}'::tracelink.link);
SELECT err($$ SELECT tracelink.validate_strict('{"name":"S"}'::tracelink.stage) $$);

-- link checks: process order, invitations (TL002, TL007, TL013, TL014)
SELECT * FROM tracelink.validate(
  (SELECT tracelink.merge_patch('{"name":"L"}'::tracelink.link,
     jsonb_build_object(
       'process_order', '["A","B","A","C"]'::jsonb,
       'invitations', '{"A":["n1"],"B":[],"Z":["n9"],"X":["n5","n6","n5"]}'::jsonb,
       'processes', jsonb_build_array(
          p::jsonb || '{"name":"A","node":"n2"}',
          p::jsonb || '{"name":"X","node":"n6"}'))) FROM base));
-- a design request: nothing built yet
SELECT * FROM tracelink.validate('{"name":"L","process_order":["A","B"],"invitations":{"A":["n1"],"B":["n2"]}}'::tracelink.link);
SELECT err($$ SELECT tracelink.validate_strict('{"name":"L","process_order":["A"],"invitations":{"A":["n1"]}}'::tracelink.link) $$);
SELECT hint_of($$ SELECT tracelink.validate_strict('{"name":"L","process_order":["A"],"invitations":{"A":["n1"]}}'::tracelink.link) $$);
SELECT err($$ SELECT tracelink.validate_strict(tracelink.with_process('{"name":"L","process_order":["B"],"invitations":{"B":["n1"]}}', p)) FROM base $$);
SELECT err($$ SELECT tracelink.validate_strict(tracelink.with_process('{"name":"L","process_order":["P"]}', p)) FROM base $$);
-- the same process twice in a link
SELECT * FROM tracelink.validate((SELECT link_of(p::jsonb, p::jsonb || '{"node":"n1"}') FROM base));

-- inputs and data levels (TL008, TL009)
SELECT * FROM tracelink.validate((SELECT link_of(
        p::jsonb || '{"name":"A","outputs":[{"name":"lot","level":2},{"name":"scrap","level":0}]}',
        p::jsonb || '{"name":"B","inputs":[{"name":"from nowhere","from":"Z","output":"lot"},
                                           {"name":"missing output","from":"A","output":"pallet"},
                                           {"name":"wrong level","from":"A","output":"lot","level":1},
                                           {"name":"too coarse","from":"A","output":"lot","level":100},
                                           {"name":"from scrap","from":"A","output":"scrap","level":0},
                                           {"name":"fine","from":"A","output":"lot","level":2}]}') FROM base));
-- a process alone: levels are checked, inputs cannot be resolved
SELECT * FROM tracelink.validate((SELECT tracelink.merge_patch(p, '{"inputs":[{"name":"i","from":"Z","output":"o","level":0}]}') FROM base));
SELECT err($$ SELECT tracelink.validate_strict(tracelink.merge_patch(p, '{"outputs":[{"name":"o","level":-1}]}')) FROM base $$);
SELECT hint_of($$ SELECT tracelink.validate_strict(tracelink.merge_patch(p, '{"outputs":[{"name":"o","level":-1}]}')) FROM base $$);
SELECT err($$ SELECT tracelink.validate_strict(link_of(p::jsonb || '{"name":"A","outputs":[{"name":"o"}]}',
                                                       p::jsonb || '{"name":"B","inputs":[{"name":"i","from":"A","output":"o","level":3}]}')) FROM base $$);
SELECT err($$ SELECT tracelink.validate_strict(link_of(p::jsonb || '{"name":"B","inputs":[{"name":"i","from":"A","output":"o"}]}')) FROM base $$);

-- TL010: a cycle in the data graph (more in 07_mesh)
SELECT * FROM tracelink.validate((SELECT link_of(
        p::jsonb || '{"name":"A","inputs":[{"name":"i","from":"B","output":"o"}],"outputs":[{"name":"o"}]}',
        p::jsonb || '{"name":"B","inputs":[{"name":"i","from":"A","output":"o"}],"outputs":[{"name":"o"}]}') FROM base));
SELECT err($$ SELECT tracelink.validate_strict(link_of(
        p::jsonb || '{"name":"A","inputs":[{"name":"i","from":"A","output":"o"}],"outputs":[{"name":"o"}]}')) FROM base $$);

-- TL012: voting rules
SELECT * FROM tracelink.validate((SELECT tracelink.merge_patch(link_of(p::jsonb),
    '{"voting":{"adoption":{"rule":"plurality"},"modification":{"rule":"majority","k":2}}}') FROM base));
SELECT v.rule, (SELECT string_agg(path || ' ' || code || ' ' || message, '; ')
                  FROM tracelink.validate(tracelink.merge_patch(link_of(p::jsonb),
                                                                jsonb_build_object('voting', jsonb_build_object('adoption', v.rule))))) AS problems
  FROM base, (VALUES ('{"rule":"unanimous"}'::jsonb), ('{"rule":"majority"}'), ('{"rule":"unanimous","numerator":1}'),
                     ('{"rule":"fraction","numerator":2,"denominator":3}'), ('{"rule":"fraction","numerator":1,"denominator":1}'),
                     ('{"rule":"fraction","numerator":3,"denominator":2}'), ('{"rule":"fraction","numerator":0,"denominator":2}'),
                     ('{"rule":"fraction","numerator":1,"denominator":0}'), ('{"rule":"fraction","numerator":-1,"denominator":-2}'),
                     ('{"rule":"fraction","numerator":1}'), ('{"rule":"fraction","numerator":1,"denominator":2,"k":1}'),
                     ('{"rule":"k_of_n","k":1}'), ('{"rule":"k_of_n","k":0}'), ('{"rule":"k_of_n"}'),
                     ('{"rule":"k_of_n","k":2,"denominator":3}')) v(rule);
SELECT err($$ SELECT tracelink.validate_strict(tracelink.merge_patch(link_of(p::jsonb), '{"voting":{"adoption":{"rule":"plurality"}}}')) FROM base $$);
SELECT hint_of($$ SELECT tracelink.validate_strict(tracelink.merge_patch(link_of(p::jsonb), '{"voting":{"adoption":{"rule":"plurality"}}}')) FROM base $$);
SELECT err($$ SELECT tracelink.validate_strict(tracelink.merge_patch(link_of(p::jsonb), '{"voting":{"adoption":{"rule":"fraction","numerator":5,"denominator":4}}}')) FROM base $$);
SELECT hint_of($$ SELECT tracelink.validate_strict(tracelink.merge_patch(link_of(p::jsonb), '{"voting":{"adoption":{"rule":"fraction","numerator":5,"denominator":4}}}')) FROM base $$);

-- every problem, in document order (paths into the canonical form), and the
-- strict variant raises the first of them
CREATE TABLE messy AS SELECT '{"name":"L","process_order":["B","A"],"invitations":{"A":["n1"]},
  "voting":{"adoption":{"rule":"k_of_n","k":0}},
  "processes":[
    {"name":"A","inputs":[{"name":"i","from":"B","output":"x"}],
     "stages":[{"name":"S","forms":[{"name":"F","items":[{"name":"I","type":"blob","trace_code":true,"required":true}]}]}]},
    {"name":"B","stages":[{"name":"T","forms":[{"name":"G"}]}]}]}'::tracelink.link AS l;
SELECT * FROM tracelink.validate((SELECT l FROM messy));
SELECT err($$ SELECT tracelink.validate_strict(l) FROM messy $$);
-- paths are SQL/JSON paths into the canonical definition
SELECT v.path, jsonb_path_query_first(m.l::jsonb, v.path::jsonpath) AS value
  FROM messy m, tracelink.validate(m.l) v;
SELECT v.path, jsonb_path_query_first(l::jsonb, v.path::jsonpath) AS value
  FROM (SELECT tracelink.merge_patch('{"name":"L","process_order":["Tea growing"]}'::tracelink.link,
                                     '{"invitations":{"Tea growing":["n1","n1"]}}') AS l) x,
       tracelink.validate(x.l) v;
DROP TABLE base, messy;
DROP FUNCTION link_of(jsonb[]);

-- audience (TL015, TL002): an unknown word, an empty array, a repeated node,
-- a trace-code item that is not public (its own audience or its form's)
SELECT * FROM tracelink.validate('{"name":"S","forms":[
    {"name":"F","audience":"everyone","items":[{"name":"A","type":"text","audience":[]},
                                               {"name":"B","type":"text","audience":["bob","ann","bob"]},
                                               {"name":"C","type":"text","audience":"private"}]},
    {"name":"G","audience":[],"items":[{"name":"D","type":"text"}]},
    {"name":"H","audience":"process","items":[{"name":"Code","type":"text","required":true,"trace_code":true},
                                              {"name":"Code2","type":"text","required":true,"trace_code":true,"audience":"public"}]},
    {"name":"K","items":[{"name":"Code3","type":"text","required":true,"trace_code":true,"audience":["bob"]},
                         {"name":"Code4","type":"text","required":true,"trace_code":true,"audience":"nobody"}]}]}'::tracelink.stage);
SELECT err($$ SELECT tracelink.validate_strict('{"name":"S","forms":[{"name":"F","items":[{"name":"A","type":"text","audience":"all"}]}]}'::tracelink.stage) $$);
SELECT hint_of($$ SELECT tracelink.validate_strict('{"name":"S","forms":[{"name":"F","items":[{"name":"A","type":"text","audience":"all"}]}]}'::tracelink.stage) $$);
SELECT err($$ SELECT tracelink.validate_strict('{"name":"S","forms":[{"name":"F","audience":[],"items":[{"name":"A","type":"text"}]}]}'::tracelink.stage) $$);
SELECT hint_of($$ SELECT tracelink.validate_strict('{"name":"S","forms":[{"name":"F","audience":[],"items":[{"name":"A","type":"text"}]}]}'::tracelink.stage) $$);
SELECT err($$ SELECT tracelink.validate_strict('{"name":"S","forms":[{"name":"F","audience":"process","items":[{"name":"Code","type":"text","required":true,"trace_code":true}]}]}'::tracelink.stage) $$);
SELECT hint_of($$ SELECT tracelink.validate_strict('{"name":"S","forms":[{"name":"F","audience":"process","items":[{"name":"Code","type":"text","required":true,"trace_code":true}]}]}'::tracelink.stage) $$);
-- accepted audiences: no problems (a process alone cannot check node names)
SELECT * FROM tracelink.validate('{"name":"P","stages":[{"name":"S","forms":[
    {"name":"F","audience":"process","items":[{"name":"A","type":"text"},{"name":"B","type":"text","audience":["zed"]},
                                              {"name":"Code","type":"text","required":true,"trace_code":true,"audience":"public"}]},
    {"name":"G","audience":["ann","bob"],"items":[{"name":"C","type":"text","audience":"public"}]}]}]}'::tracelink.process);
-- in a link, a named node must be the creator or invited to some process
SELECT * FROM tracelink.validate(
    '{"name":"L","creator":"boss","process_order":["P","Q"],"invitations":{"P":["ann"],"Q":["bob","cy"]},
      "processes":[{"name":"P","stages":[{"name":"S","forms":[
          {"name":"F","audience":["boss","cy","eve"],"items":[
              {"name":"Code","type":"text","required":true,"trace_code":true,"audience":"public"},
              {"name":"X","type":"text","audience":["ann","mallory","mallory","bob"]}]}]}]}]}'::tracelink.link);
SELECT err($$ SELECT tracelink.validate_strict('{"name":"L","process_order":["P"],"invitations":{"P":["ann"]},
      "processes":[{"name":"P","stages":[{"name":"S","forms":[{"name":"F","audience":["ann","eve"],
          "items":[{"name":"Code","type":"text","required":true,"trace_code":true,"audience":"public"}]}]}]}]}'::tracelink.link) $$);
SELECT hint_of($$ SELECT tracelink.validate_strict('{"name":"L","process_order":["P"],"invitations":{"P":["ann"]},
      "processes":[{"name":"P","stages":[{"name":"S","forms":[{"name":"F","audience":["ann","eve"],
          "items":[{"name":"Code","type":"text","required":true,"trace_code":true,"audience":"public"}]}]}]}]}'::tracelink.link) $$);
-- a link whose audiences name only its creator and invited nodes is valid
SELECT count(*) FROM tracelink.validate(
    '{"name":"L","creator":"boss","process_order":["P"],"invitations":{"P":["ann","bob"]},
      "processes":[{"name":"P","stages":[{"name":"S","forms":[{"name":"F","audience":["boss","bob"],
          "items":[{"name":"Code","type":"text","required":true,"trace_code":true,"audience":"public"},
                   {"name":"X","type":"text","audience":["ann"]}]}]}]}]}'::tracelink.link);
-- data_items() shows the effective audience: the item's, else its form's, else public
SELECT form, item, audience FROM tracelink.data_items('{"name":"S","forms":[
    {"name":"F","audience":"process","items":[{"name":"A","type":"text"},{"name":"B","type":"text","audience":["bob"]},
                                              {"name":"C","type":"text","audience":"public"}]},
    {"name":"G","items":[{"name":"D","type":"text"},{"name":"E","type":"text","audience":"process"}]}]}'::tracelink.stage);
SELECT name, audience FROM tracelink.forms('{"name":"S","forms":[{"name":"F","audience":["ann"]},{"name":"G"}]}'::tracelink.stage);
