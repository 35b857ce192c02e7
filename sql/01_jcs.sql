-- Canonical JSON (RFC 8785): tracelink.jcs(text), tracelink.jcs(jsonb),
-- tracelink.digest(jsonb).
\set ECHO none
\i sql/include/setup.sql
\set ECHO all

-- member order is by UTF-16 code units, not bytes or code points:
-- U+20AC (one unit) sorts after U+1F600 (surrogate pair 0xD83D...)
SELECT tracelink.jcs('{"\u20ac":1,"\ud83d\ude00":2,"\u0080":3,"b":4,"a":5,"":6}');
-- numbers: ECMAScript Number.prototype.toString
SELECT tracelink.jcs('[1E30, 4.50, 2e-3, 1e-27, -0, 0.0, 333333333.33333329, 1e21, 1e20, 123456789012345678901, 0.000001, 0.0000001, -1.5e-7, 1e23, 5e-324, 1.7976931348623157e308, 9007199254740993]');
-- strings: minimal escaping, lower-case \u00xx, "/" and DEL unescaped
SELECT tracelink.jcs('"\u000f\n\t\b\f\r\"\\/\u007f\u00e9"');
-- literals and nesting, whitespace removed
SELECT tracelink.jcs(E' { "z" : [ true , false , null , { } , [ ] ] ,\n "a" : { "d" : 1 , "c" : [ 2 , { "y" : 1 , "x" : 2 } ] } } ');
-- scalars at top level
SELECT tracelink.jcs('"just a string"'), tracelink.jcs('42'), tracelink.jcs('null');
-- no Unicode normalisation: A + combining ring stays two code points
SELECT tracelink.jcs('"A\u030a"') = E'"A\u030a"' AS not_normalised;
-- idempotent
SELECT tracelink.jcs(tracelink.jcs('{"b":[1.0,2.50],"a":"x"}'));

-- jsonb overload: jsonb already merged duplicates; numbers keep no scale
SELECT tracelink.jcs('{"b": 1.10, "aa": 2, "a": [1E2, 0.5]}'::jsonb);
SELECT tracelink.jcs('"scalar"'::jsonb), tracelink.jcs('12.50'::jsonb);
SELECT tracelink.jcs('{"x":[1,2]}'::jsonb) = tracelink.jcs('{"x":[1,2]}'::text) AS same_both_ways;

-- digest: SHA-256 over the canonical bytes
SELECT tracelink.digest('{"b":2,"a":1}'::jsonb) = tracelink.digest('{"a":1.0,"b":2}'::jsonb) AS canonical_digest_equal;
SELECT encode(tracelink.digest('{}'::jsonb), 'hex');  -- sha256("{}")

-- bad input: each error path with its SQLSTATE
SELECT err($$ SELECT tracelink.jcs('{"a":1,"a":2}') $$);               -- duplicate key
SELECT err($$ SELECT tracelink.jcs('{"a":{"b":1,"b":1}}') $$);         -- duplicate key, nested
SELECT err($$ SELECT tracelink.jcs('"\ud800"') $$);                    -- lone high surrogate
SELECT err($$ SELECT tracelink.jcs('"\udc00"') $$);                    -- lone low surrogate
SELECT err($$ SELECT tracelink.jcs('"\ud800\ud800"') $$);              -- high after high
SELECT err($$ SELECT tracelink.jcs('1e400') $$);                       -- overflow
SELECT err($$ SELECT tracelink.jcs('-1e400') $$);                      -- overflow, negative
SELECT err($$ SELECT tracelink.jcs('1e-400') $$);                      -- underflow to zero
SELECT tracelink.jcs('[0e-400]');                    -- zero is fine
SELECT err($$ SELECT tracelink.jcs('{"a":1') $$);                      -- truncated
SELECT err($$ SELECT tracelink.jcs('{"a" 1}') $$);                     -- missing colon
SELECT err($$ SELECT tracelink.jcs('[1,]') $$);                        -- trailing comma
SELECT err($$ SELECT tracelink.jcs('01') $$);                          -- leading zero
SELECT err($$ SELECT tracelink.jcs('NaN') $$);                         -- not JSON
SELECT err($$ SELECT tracelink.jcs('"\u0000"') $$);                    -- NUL cannot be text
SELECT err($$ SELECT tracelink.jcs('') $$);                            -- empty
SELECT err($$ SELECT tracelink.jcs('{"a":1} x') $$);                   -- trailing garbage
SELECT err($$ SELECT tracelink.jcs('1e400'::jsonb) $$);                -- jsonb numeric too large for a double
SELECT tracelink.jcs(NULL::text) IS NULL AS strict;
