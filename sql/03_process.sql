-- tracelink.process: input and normalisation (stage order, inputs and
-- outputs with data levels), and every input error of processes.
\set ECHO none
\i sql/include/setup.sql
\set ECHO all

-- defaults; stages in creation order get order = position
SELECT '{"name":"Growing"}'::tracelink.process;
SELECT '{"name":"Growing","node":"n2","description":"tea gardens",
         "stages":[{"name":"Plant"},{"name":"Harvest"}],
         "outputs":[{"name":"leaves","level":2,"description":"per picking lot"},{"name":"waste"}],
         "inputs":[{"name":"seedlings","from":"Nursery","output":"plants"}]}'::tracelink.process;
-- a pre-ordered catalogue: every stage has an order; stages sorted by it, numbers kept
SELECT tracelink.name(s), s::jsonb -> 'order' AS "order"
  FROM tracelink.stages('{"name":"P","stages":[{"name":"C","order":30},{"name":"A","order":10},{"name":"B","order":20}]}'::tracelink.process) s;
-- normalising is idempotent: the canonical text reads back as itself
SELECT p::text::tracelink.process::text = p::text AS idempotent
  FROM (SELECT '{"name":"P","stages":[{"name":"C","order":3},{"name":"A","order":1}]}'::tracelink.process AS p) x;
-- a process's canonical stage is the canonical standalone stage
SELECT s::text = s::text::tracelink.stage::text AS stage_canonical
  FROM tracelink.stages('{"name":"P","stages":[{"name":"A","creator":"bob"}]}'::tracelink.process) s;
-- out-of-range levels are accepted by input (validate reports TL009)
SELECT '{"name":"P","outputs":[{"name":"o","level":0}],"inputs":[{"name":"i","from":"Q","output":"o","level":100}]}'::tracelink.process;

-- process keys
SELECT err($$ SELECT '{"name":"P","owner":"n1"}'::tracelink.process $$);
SELECT hint_of($$ SELECT '{"name":"P","owner":"n1"}'::tracelink.process $$);
SELECT err($$ SELECT '{"stages":[]}'::tracelink.process $$);
SELECT err($$ SELECT '{"name":"P","node":""}'::tracelink.process $$);
SELECT err($$ SELECT '{"name":"P","node":1}'::tracelink.process $$);
SELECT err($$ SELECT '{"name":"P","description":null}'::tracelink.process $$);
SELECT err($$ SELECT '{"name":"P","stages":{"name":"S"}}'::tracelink.process $$);
SELECT err($$ SELECT '{"name":"P","outputs":"leaves"}'::tracelink.process $$);
SELECT err($$ SELECT '{"name":"P","inputs":{}}'::tracelink.process $$);
-- errors deep inside name the whole chain of elements
SELECT err($$ SELECT '{"name":"Growing","stages":[{"name":"Plant"},{"name":"Harvest","forms":"x"}]}'::tracelink.process $$);
SELECT err($$ SELECT '{"name":"Growing","stages":[{"name":"Harvest","forms":[{"name":"Picking","items":[{"name":"Weight","type":"numeric","sources":"scale"}]}]}]}'::tracelink.process $$);
SELECT err($$ SELECT '{"name":"Growing","stages":[{"name":"Plant"},"Harvest"]}'::tracelink.process $$);

-- stage order: all or none, distinct
SELECT err($$ SELECT '{"name":"P","stages":[{"name":"A","order":1},{"name":"B"}]}'::tracelink.process $$);
SELECT err($$ SELECT '{"name":"P","stages":[{"name":"A"},{"name":"B","order":2}]}'::tracelink.process $$);
SELECT err($$ SELECT '{"name":"P","stages":[{"name":"A","order":2},{"name":"B","order":1},{"name":"C","order":2}]}'::tracelink.process $$);
SELECT err($$ SELECT '{"name":"P","stages":[{"name":"A","order":1},{"name":"B","order":0}]}'::tracelink.process $$);

-- outputs
SELECT err($$ SELECT '{"name":"P","outputs":[1]}'::tracelink.process $$);
SELECT err($$ SELECT '{"name":"P","outputs":[{"level":1}]}'::tracelink.process $$);
SELECT err($$ SELECT '{"name":"P","outputs":[{"name":"o","unit":"kg"}]}'::tracelink.process $$);
SELECT hint_of($$ SELECT '{"name":"P","outputs":[{"name":"o","unit":"kg"}]}'::tracelink.process $$);
SELECT err($$ SELECT '{"name":"P","outputs":[{"name":"o","level":"lot"}]}'::tracelink.process $$);
SELECT err($$ SELECT '{"name":"P","outputs":[{"name":"o","level":1.5}]}'::tracelink.process $$);
SELECT err($$ SELECT '{"name":"P","outputs":[{"name":"o","level":1e10}]}'::tracelink.process $$);
SELECT err($$ SELECT '{"name":"P","outputs":[{"name":"o","description":0}]}'::tracelink.process $$);

-- inputs
SELECT err($$ SELECT '{"name":"P","inputs":[null]}'::tracelink.process $$);
SELECT err($$ SELECT '{"name":"P","inputs":[{"name":"i","output":"o"}]}'::tracelink.process $$);
SELECT err($$ SELECT '{"name":"P","inputs":[{"name":"i","from":"Q"}]}'::tracelink.process $$);
SELECT err($$ SELECT '{"name":"P","inputs":[{"name":"i","from":"","output":"o"}]}'::tracelink.process $$);
SELECT err($$ SELECT '{"name":"P","inputs":[{"name":"i","from":"Q","output":" o"}]}'::tracelink.process $$);
SELECT err($$ SELECT '{"name":"P","inputs":[{"name":"i","from":"Q","output":"o","level":[1]}]}'::tracelink.process $$);
SELECT err($$ SELECT '{"name":"P","inputs":[{"name":"i","from":"Q","output":"o","description":"x"}]}'::tracelink.process $$);
SELECT hint_of($$ SELECT '{"name":"P","inputs":[{"name":"i","from":"Q","output":"o","description":"x"}]}'::tracelink.process $$);
