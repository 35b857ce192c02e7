-- Documents for the memory measurements (bench/memory/run.sh and
-- t/070_memory.pl): about :size bytes of JSON text of each shape, in
-- memory_docs(shape, doc).  psql variable: size (bytes).
--
--   numbers  [12345,678.901,...]                 many small numbers
--   strings  ["s0000001",...]                    many short strings
--   deep     [{"v":"...","a":[{"v":"...","a":[...1...]}]}]},...]
--                                                chunks nested 1,000 deep
--   wide     {"k0000001":1,...}                  one object, many members
--   link     a tracelink.link with many processes (a large legitimate definition)
CREATE TABLE memory_docs (shape text PRIMARY KEY, doc text NOT NULL);
ALTER TABLE memory_docs ALTER doc SET STORAGE EXTERNAL;

INSERT INTO memory_docs
SELECT 'numbers', '[' || string_agg(CASE WHEN i % 2 = 0 THEN (i::bigint * 7919 % 100000)::text
                                         ELSE round((i::bigint * 7919 % 1000000) / 1000.0, 3)::text END,
                                    ',') || ']'
  FROM generate_series(1, :size / 7) i;

INSERT INTO memory_docs
SELECT 'strings', '[' || string_agg('"s' || lpad(i::text, 7, '0') || '"', ',') || ']'
  FROM generate_series(1, :size / 11) i;

INSERT INTO memory_docs
SELECT 'deep', '[' || string_agg(repeat('{"v":"abcdefghijklmnopqrstuvwxyz0123","a":[', 500) || '1'
                                 || repeat(']}', 500), ',') || ']'
  FROM generate_series(1, :size / 22502) i;

INSERT INTO memory_docs
SELECT 'wide', '{' || string_agg('"k' || lpad(i::text, 7, '0') || '":' || (i % 1000), ','
                                 ORDER BY md5(i::text)) || '}'
  FROM generate_series(1, :size / 15) i;

-- processes of one stage, form and item each, about 250 bytes apiece
INSERT INTO memory_docs
SELECT 'link', '{"name":"Big","processes":[' || string_agg(format(
         '{"name":"Process %s","stages":[{"name":"Stage","forms":[{"name":"Form","key":true,'
         '"items":[{"name":"code","type":"text","required":true,"trace_code":true}]}]}],'
         '"outputs":[{"name":"out","level":1}]}', i), ',') || ']}'
  FROM generate_series(1, :size / 200) i;

SELECT shape, length(doc) FROM memory_docs ORDER BY shape;
