-- JSON Schema validation (src/json_schema.c): every supported keyword with
-- small schemas, paths of problems, refused schemas, $ref loops, deep
-- nesting, the problem limit, and the EPCIS schema table.
\set ECHO none
\i sql/include/setup.sql
\set ECHO all

-- v(schema, doc): the problems, one per line ('ok' when none)
CREATE FUNCTION v(s jsonb, d jsonb) RETURNS SETOF text LANGUAGE sql AS $$
    SELECT coalesce(string_agg(path || ': ' || problem, E'\n'), 'ok')
      FROM tracelink.json_schema_problems(s, d)
$$;

-- type, with integer and lists of types; boolean schemas
SELECT v('{"type": "string"}', '"a"'), v('{"type": "string"}', '1');
SELECT v('{"type": "integer"}', '3'), v('{"type": "integer"}', '3.0'), v('{"type": "integer"}', '3.5');
SELECT v('{"type": ["null", "number"]}', 'null'), v('{"type": ["null", "number"]}', '"x"');
SELECT v('true', '{"a": 1}'), v('false', '1'), v('{}', '[1]');
-- enum, const
SELECT v('{"enum": ["a", 1, {"x": [true]}]}', '{"x": [true]}'), v('{"enum": ["a", 1]}', '"b"');
SELECT v('{"const": 2}', '2.0'), v('{"const": {"a": null}}', '{"a": 0}');
-- strings: lengths in characters, pattern (searched, not anchored), formats
SELECT v('{"minLength": 2, "maxLength": 3}', '"é€"'), v('{"minLength": 2}', '"é"'), v('{"maxLength": 1}', '"ab"');
SELECT v('{"pattern": "b+"}', '"abba"'), v('{"pattern": "^b+$"}', '"abba"');
SELECT v('{"pattern": "^\\d+(\\.\\d+)*$"}', '"1.2.3"'), v('{"pattern": "^\\d+(\\.\\d+)*$"}', '"1..2"');
-- ECMA-262 \b is a word boundary; negative lookahead
SELECT v('{"pattern": "\\bcat\\b"}', '"a cat"'), v('{"pattern": "\\bcat\\b"}', '"concat"');
SELECT v('{"pattern": "^(?!urn:)"}', '"https://x"'), v('{"pattern": "^(?!urn:)"}', '"urn:x"');
SELECT v('{"format": "date-time"}', '"2024-02-29T23:59:60.5+14:00"'),
       v('{"format": "date-time"}', '"2023-02-29T10:00:00Z"'),
       v('{"format": "date-time"}', '"2023-01-01 10:00:00Z"'),
       v('{"format": "date-time"}', '"2023-01-01T10:00:00"');
SELECT v('{"format": "date"}', '"2023-12-31"'), v('{"format": "time"}', '"25:00:00Z"');
SELECT v('{"format": "uri"}', '"urn:epc:id:sgtin:0614141.107346.2017"'),
       v('{"format": "uri"}', '"https://id.gs1.org/01/09520123456788/21/12345?x=%20#f"'),
       v('{"format": "uri"}', '"no scheme"'), v('{"format": "uri"}', '"http://a b"'),
       v('{"format": "uri"}', '"x:%zz"');
-- formats this validator does not know are annotations; formats apply to strings only
SELECT v('{"format": "email"}', '"not an email"'), v('{"format": "date-time"}', '7');
-- numbers
SELECT v('{"minimum": 1, "maximum": 2}', '1'), v('{"minimum": 1}', '0.5'), v('{"maximum": 2}', '3');
SELECT v('{"exclusiveMinimum": 1, "exclusiveMaximum": 2}', '1'), v('{"exclusiveMaximum": 2}', '2');
SELECT v('{"multipleOf": 0.5}', '2.5'), v('{"multipleOf": 3}', '7');
-- arrays: items (one schema, a list), additionalItems, counts, uniqueItems, contains
SELECT v('{"items": {"type": "string"}}', '["a", 1, "b", true]');
SELECT v('{"items": [{"type": "string"}, {"type": "number"}], "additionalItems": false}', '["a", 1, null]');
SELECT v('{"items": [{"type": "string"}], "additionalItems": {"type": "number"}}', '["a", 1, "b"]');
SELECT v('{"minItems": 2, "maxItems": 3}', '[1]'), v('{"maxItems": 1}', '[1, 2]');
SELECT v('{"uniqueItems": true}', '[1, "1", {"a": 1, "b": 2}, {"b": 2, "a": 1}]'), v('{"uniqueItems": true}', '[1, 1.0]'),
       v('{"uniqueItems": true}', '[[1], [2]]');
SELECT v('{"contains": {"const": 3}}', '[1, 3]'), v('{"contains": {"const": 3}}', '[1, 2]');
-- objects: required (the path names the missing member), properties,
-- patternProperties, additionalProperties, counts, propertyNames, dependencies
SELECT v('{"required": ["a", "b c"]}', '{"a": 1}');
SELECT v('{"properties": {"a": {"type": "string"}, "@context": {"type": "array"}}}', '{"a": 1, "@context": "x", "z": 2}');
SELECT v('{"properties": {"a": {}}, "patternProperties": {"^x-": {"type": "number"}}, "additionalProperties": false}',
         '{"a": 1, "x-1": 2, "x-2": "no", "b": 3}');
SELECT v('{"additionalProperties": {"type": "boolean"}}', '{"a": true, "b": 0}');
SELECT v('{"minProperties": 2}', '{"a": 1}'), v('{"maxProperties": 1}', '{"a": 1, "b": 2}');
SELECT v('{"propertyNames": {"pattern": "^[a-z]+$"}}', '{"ok": 1, "Not": 2}');
SELECT v('{"not": {"propertyNames": {"maxLength": 1}}}', '{"ab": 1}'), v('{"not": {"propertyNames": {"maxLength": 1}}}', '{"a": 1}');
SELECT v('{"dependencies": {"a": ["b"], "c": {"required": ["d"]}}}', '{"a": 1, "c": 2}');
-- allOf, anyOf, oneOf, not, if/then/else
SELECT v('{"allOf": [{"type": "number"}, {"minimum": 5}]}', '3');
SELECT v('{"anyOf": [{"type": "string"}, {"type": "number"}]}', '2'),
       v('{"anyOf": [{"type": "string"}, {"type": "number"}]}', 'null');
-- the alternative that got furthest into the document is the one reported
SELECT v('{"anyOf": [{"type": "string"}, {"properties": {"a": {"properties": {"b": {"type": "string"}}}}}, {"type": "array"}]}',
         '{"a": {"b": 1}}');
SELECT v('{"oneOf": [{"type": "number"}, {"minimum": 2}]}', '1'),
       v('{"oneOf": [{"type": "number"}, {"minimum": 2}]}', '3'),
       v('{"oneOf": [{"type": "string"}, {"type": "array"}]}', '3');
SELECT v('{"not": {"type": "null"}}', '1'), v('{"not": {"type": "null"}}', 'null');
SELECT v('{"if": {"properties": {"t": {"const": "A"}}}, "then": {"required": ["a"]}, "else": {"required": ["b"]}}', '{"t": "A"}'),
       v('{"if": {"properties": {"t": {"const": "A"}}}, "then": {"required": ["a"]}, "else": {"required": ["b"]}}', '{"t": "B"}'),
       v('{"then": {"required": ["a"]}}', '{}');
-- $ref: to the root and to definitions (JSON pointer with ~1 and %40); a
-- recursive schema is fine as long as it goes down the document
SELECT v('{"definitions": {"a/b": {"type": "string"}, "@c": {"$ref": "#/definitions/a~1b"}}, "items": {"$ref": "#/definitions/%40c"}}', '["x", 2]');
SELECT v('{"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#"}}, "n": {"type": "integer"}}}',
         '{"n": 1, "kids": [{"n": 2, "kids": [{"n": "three"}]}]}');
-- $ref siblings are ignored (draft-07)
SELECT v('{"definitions": {"s": {"type": "string"}}, "properties": {"a": {"$ref": "#/definitions/s", "type": "number"}}}', '{"a": "x"}');
-- a $ref loop that never goes down the document is refused, not followed forever
SELECT err($$ SELECT * FROM tracelink.json_schema_problems('{"$ref": "#"}', '1') $$);
SELECT err($$ SELECT * FROM tracelink.json_schema_problems('{"definitions": {"a": {"$ref": "#/definitions/b"}, "b": {"anyOf": [{"$ref": "#/definitions/a"}]}}, "$ref": "#/definitions/a"}', '1') $$);
-- a schema whose references fan out (2^40 ways down to one value) is
-- stopped by the step limit (54000), not run for ever
SELECT err(format($$ SELECT * FROM tracelink.json_schema_problems(%L, '1') $$,
    jsonb_build_object('definitions',
        (SELECT jsonb_object_agg('d' || i, jsonb_build_object('allOf',
            jsonb_build_array(jsonb_build_object('$ref', '#/definitions/d' || (i + 1)),
                              jsonb_build_object('$ref', '#/definitions/d' || (i + 1))))) FROM generate_series(1, 40) i)
        || '{"d41": {"type": "number"}}', '$ref', '#/definitions/d1')));
-- paths: member names that are not identifiers are quoted, indexes in brackets
SELECT * FROM tracelink.json_schema_problems(
    '{"properties": {"epcisBody": {"properties": {"eventList": {"items": {"properties": {"bizStep": {"type": "string"}, "ex:f\"x": {"type": "string"}}}}}}}}',
    '{"epcisBody": {"eventList": [{}, {}, {}, {"bizStep": 5, "ex:f\"x": 1}]}}');
-- unknown keywords are ignored
SELECT v('{"title": "t", "description": "d", "$comment": "c", "examples": [1], "x-anything": {"type": 5}, "type": "number"}', '1');
-- at most max_problems problems, and validation stops there
SELECT count(*) FROM tracelink.json_schema_problems('{"items": {"type": "string"}}',
    (SELECT jsonb_agg(i) FROM generate_series(1, 100000) i), 3);
SELECT count(*) FROM tracelink.json_schema_problems('{"items": {"type": "string"}}',
    (SELECT jsonb_agg(i) FROM generate_series(1, 1000) i));
SELECT err($$ SELECT * FROM tracelink.json_schema_problems('{}', '1', 0) $$);
-- deep nesting: a deep document against a recursive schema, and a deep
-- schema, stop with 54001 (stack depth), never a crash
SELECT count(*) FROM tracelink.json_schema_problems('{"items": {"$ref": "#"}, "type": "array"}',
    (repeat('[', 500) || repeat(']', 500))::jsonb);
SELECT err($$ SELECT * FROM tracelink.json_schema_problems('{"items": {"$ref": "#"}}',
    (repeat('[', 100000) || repeat(']', 100000))::jsonb) $$) LIKE '54001%' AS deep_document;
SELECT err($$ SELECT * FROM tracelink.json_schema_problems(
    (repeat('{"not": ', 100000) || '{}' || repeat('}', 100000))::jsonb, '1') $$) LIKE '54001%' AS deep_schema;

-- schemas that are not schemas: 22023 with where; 2201B for a pattern
-- PostgreSQL cannot compile; 0A000 for a $ref outside the schema
SELECT err($$ SELECT * FROM tracelink.json_schema_problems('1', '1') $$);
SELECT err($$ SELECT * FROM tracelink.json_schema_problems('{"type": "text"}', '1') $$);
SELECT err($$ SELECT * FROM tracelink.json_schema_problems('{"type": []}', '1') $$);
SELECT err($$ SELECT * FROM tracelink.json_schema_problems('{"properties": {"a": {"required": "b"}}}', '1') $$);
SELECT err($$ SELECT * FROM tracelink.json_schema_problems('{"items": [{"minItems": -1}]}', '1') $$);
SELECT err($$ SELECT * FROM tracelink.json_schema_problems('{"anyOf": []}', '1') $$);
SELECT err($$ SELECT * FROM tracelink.json_schema_problems('{"multipleOf": 0}', '1') $$);
SELECT err($$ SELECT * FROM tracelink.json_schema_problems('{"definitions": {"x": 3}}', '1') $$);
SELECT err($$ SELECT * FROM tracelink.json_schema_problems('{"$ref": "#/definitions/nope"}', '1') $$);
SELECT err($$ SELECT * FROM tracelink.json_schema_problems('{"$ref": "other.json#/a"}', '1') $$);
-- the schema is checked whole, also where the document does not go
SELECT err($$ SELECT * FROM tracelink.json_schema_problems('{"properties": {"a": {"pattern": "(unclosed"}}}', '{}') $$);
SELECT err($$ SELECT * FROM tracelink.json_schema_problems('{"patternProperties": {"[z-a]": {}}}', '{}') $$);

-- The EPCIS schema: nothing loaded yet
SELECT err($$ SELECT * FROM tracelink.epcis_schema_problems('{}') $$);
SELECT hint_of($$ SELECT * FROM tracelink.epcis_schema_problems('{}') $$);
-- a schema is checked before it is kept
SELECT err($$ SELECT tracelink.set_epcis_schema('[]') $$);
SELECT err($$ SELECT tracelink.set_epcis_schema('{"$schema": "https://json-schema.org/draft/2020-12/schema"}') $$);
SELECT err($$ SELECT tracelink.set_epcis_schema('{"type": 1}') $$);
SELECT count(*) FROM tracelink.epcis_schema;
SELECT encode(tracelink.set_epcis_schema('{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "required": ["type"]}'), 'hex')
     = encode(sha256(convert_to(tracelink.jcs('{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "required": ["type"]}'::jsonb), 'UTF8')), 'hex') AS digest_of_canonical_json;
SELECT * FROM tracelink.epcis_schema_problems('{"type": "EPCISDocument"}');
SELECT * FROM tracelink.epcis_schema_problems('{}');
-- loading again replaces it: one row
SELECT tracelink.set_epcis_schema('{"type": "object"}') IS NOT NULL AS loaded;
SELECT count(*), bool_and(schema = '{"type": "object"}') FROM tracelink.epcis_schema;
SELECT * FROM tracelink.epcis_schema_problems('[]');
-- privileges: readers validate, only admins load
SELECT has_function_privilege('tracelink_reader', 'tracelink.json_schema_problems(jsonb, jsonb, integer)', 'EXECUTE'),
       has_function_privilege('tracelink_reader', 'tracelink.epcis_schema_problems(jsonb, integer)', 'EXECUTE'),
       has_function_privilege('tracelink_reader', 'tracelink.set_epcis_schema(jsonb)', 'EXECUTE'),
       has_function_privilege('tracelink_admin', 'tracelink.set_epcis_schema(jsonb)', 'EXECUTE'),
       has_function_privilege('public', 'tracelink.json_schema_problems(jsonb, jsonb, integer)', 'EXECUTE');
DELETE FROM tracelink.epcis_schema;
DROP FUNCTION v(jsonb, jsonb);
