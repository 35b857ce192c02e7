-- tracelink.stage: JSON input, normalisation (defaults filled in, canonical
-- RFC 8785 output) and every input error of stages, forms and data items.
\set ECHO none
\i sql/include/setup.sql
\set ECHO all


-- defaults: description, role, members, forms; no order for a standalone stage
SELECT '{"name":"Harvest"}'::tracelink.stage;
-- members default to [creator]; item defaults: description, sources, required,
-- trace_code, widget; creator and options only when given
SELECT '{"name":"Harvest","creator":"alice","role":"grower","forms":[{"name":"Picking","key":true,
         "items":[{"name":"Code","type":"text","required":true,"trace_code":true},
                  {"name":"Weight","type":"numeric","description":"kg","creator":"bob",
                   "sources":["manual","device"]}]}]}'::tracelink.stage;
-- given members are kept as they are (creator not added), in the given order
SELECT '{"name":"Harvest","creator":"alice","members":["carol","bob"]}'::tracelink.stage;
-- a standalone stage keeps its order when given
SELECT '{"name":"Harvest","order":3}'::tracelink.stage;
-- key order, whitespace and number spelling do not matter: output is canonical
SELECT E'{ "order" : 3.0,\n "name" : "Harvest" }'::tracelink.stage::text
     = '{"name":"Harvest","order":3}'::tracelink.stage::text AS canonical;
-- defaults written out give the same value as defaults left out
SELECT '{"name":"H","forms":[{"name":"F","items":[{"name":"I","type":"text"}]}]}'::tracelink.stage::text
     = '{"name":"H","description":"","role":"","members":[],"forms":[{"name":"F","key":false,"description":"",
         "items":[{"name":"I","type":"text","description":"","sources":["manual"],"required":false,
                   "widget":"textbox","trace_code":false}]}]}'::tracelink.stage::text AS defaults_explicit;
-- unknown data types, sources and widgets are accepted by input (validate reports them)
SELECT '{"name":"H","forms":[{"name":"F","items":[{"name":"I","type":"colour","sources":["fax"],"widget":"slider","options":[]}]}]}'::tracelink.stage;
-- names: non-ASCII is fine, 200 bytes is the limit, inner whitespace is fine
SELECT '{"name":"采摘 Harvest"}'::tracelink.stage;
SELECT tracelink.name(('{"name":"' || repeat('é', 100) || '"}')::tracelink.stage) = repeat('é', 100) AS name_200_bytes;
SELECT NULL::tracelink.stage IS NULL AS null_ok;

-- malformed JSON: the canonical JSON parser's errors
SELECT err($$ SELECT '{"name":'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"a","name":"b"}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"a","order":1e400}'::tracelink.stage $$);
SELECT err($$ SELECT ''::tracelink.stage $$);

-- not an object
SELECT err($$ SELECT '[]'::tracelink.stage $$);
SELECT err($$ SELECT '"Harvest"'::tracelink.stage $$);
SELECT err($$ SELECT 'null'::tracelink.stage $$);

-- stage keys
SELECT err($$ SELECT '{"name":"H","colour":"red"}'::tracelink.stage $$);
SELECT hint_of($$ SELECT '{"name":"H","colour":"red"}'::tracelink.stage $$);
SELECT err($$ SELECT '{"colour":"red"}'::tracelink.stage $$);      -- unknown key before missing name
SELECT err($$ SELECT '{}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":null}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":7}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":""}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":" Harvest"}'::tracelink.stage $$);
SELECT err($$ SELECT E'{"name":"Harvest\\n"}'::tracelink.stage $$);
SELECT err($$ SELECT ('{"name":"' || repeat('x', 201) || '"}')::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","description":1}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","role":["grower"]}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","creator":""}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","creator":{}}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","members":"alice"}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","members":["alice",3]}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","members":["alice","bob "]}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","order":0}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","order":-2}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","order":1.5}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","order":"1"}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","order":3000000000}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","forms":{}}'::tracelink.stage $$);

-- form keys
SELECT err($$ SELECT '{"name":"H","forms":[7]}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","forms":[{"name":"F"},{"title":"G"}]}'::tracelink.stage $$);
SELECT hint_of($$ SELECT '{"name":"H","forms":[{"name":"F"},{"title":"G"}]}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","forms":[{"name":"F"},{"description":"G"}]}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","forms":[{"name":"F","key":"yes"}]}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","forms":[{"name":"F","description":false}]}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","forms":[{"name":"F","items":{"name":"I"}}]}'::tracelink.stage $$);

-- item keys
SELECT err($$ SELECT '{"name":"H","forms":[{"name":"F","items":[[]]}]}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","forms":[{"name":"F","items":[{"name":"I","type":"text","unit":"kg"}]}]}'::tracelink.stage $$);
SELECT hint_of($$ SELECT '{"name":"H","forms":[{"name":"F","items":[{"name":"I","type":"text","unit":"kg"}]}]}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","forms":[{"name":"F","items":[{"type":"text"}]}]}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","forms":[{"name":"F","items":[{"name":"I"}]}]}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","forms":[{"name":"F","items":[{"name":"I","type":1}]}]}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","forms":[{"name":"F","items":[{"name":"I","type":"text","required":1}]}]}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","forms":[{"name":"F","items":[{"name":"I","type":"text","trace_code":"true"}]}]}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","forms":[{"name":"F","items":[{"name":"I","type":"text","widget":null}]}]}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","forms":[{"name":"F","items":[{"name":"I","type":"text","sources":"manual"}]}]}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","forms":[{"name":"F","items":[{"name":"I","type":"text","sources":[null]}]}]}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","forms":[{"name":"F","items":[{"name":"I","type":"text","options":[1,2]}]}]}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","forms":[{"name":"F","items":[{"name":"I","type":"text","creator":" bob"}]}]}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","forms":[{"name":"F","items":[{"name":"I","type":"text","description":[]}]}]}'::tracelink.stage $$);
-- a long unknown key is shown cut, on a character boundary
SELECT err($$ SELECT ('{"name":"H","' || repeat('é', 40) || '":1}')::tracelink.stage $$);

-- "audience" of a form or an item: "public", "process" or an array of node
-- names, kept as given (order too); absent stays absent (no default)
SELECT '{"name":"H","forms":[{"name":"F","audience":"process","items":[
         {"name":"A","type":"text"},
         {"name":"B","type":"text","audience":["carol","bob"]},
         {"name":"C","type":"text","audience":"public"}]}]}'::tracelink.stage;
SELECT '{"name":"H","forms":[{"name":"F","items":[{"name":"I","type":"text"}]}]}'::tracelink.stage::jsonb
       @? '$.**.audience' AS absent_gets_audience;
-- input checks the shape only: unknown words, empty arrays and repeats are
-- validation's (TL015, TL002; see 06_validate)
SELECT '{"name":"H","forms":[{"name":"F","audience":[],"items":[{"name":"I","type":"text","audience":"everyone"},
         {"name":"J","type":"text","audience":["bob","bob"]}]}]}'::tracelink.stage;
-- not a string or an array; an element that is not a string or not a name
SELECT err($$ SELECT '{"name":"H","forms":[{"name":"F","audience":null,"items":[]}]}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","forms":[{"name":"F","audience":{"nodes":["bob"]}}]}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","forms":[{"name":"F","audience":true}]}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","forms":[{"name":"F","items":[{"name":"I","type":"text","audience":1}]}]}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","forms":[{"name":"F","items":[{"name":"I","type":"text","audience":["bob",2]}]}]}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","forms":[{"name":"F","items":[{"name":"I","type":"text","audience":["bob",""]}]}]}'::tracelink.stage $$);
SELECT err($$ SELECT '{"name":"H","forms":[{"name":"F","items":[{"name":"I","type":"text","audience":[" bob"]}]}]}'::tracelink.stage $$);
SELECT err($$ SELECT ('{"name":"H","forms":[{"name":"F","audience":["' || repeat('x', 201) || '"]}]}')::tracelink.stage $$);
-- the audience is checked first, after the name (canonical key order)
SELECT err($$ SELECT '{"name":"H","forms":[{"name":"F","items":[{"name":"I","type":1,"audience":1}]}]}'::tracelink.stage $$);
