-- Time each variant over :n evaluations, :rounds times, alternating, and
-- keep the median round.  All variants read the text from the table, so
-- nothing is folded to a constant; they differ only in the work measured.
CREATE TEMP TABLE variant (id int, label text, expr text);
INSERT INTO variant VALUES
  (1, '(a) `tracelink.digest(doc::tracelink.link)`: parse, check, normalise, canonicalise, SHA-256',
      'tracelink.digest(doc::tracelink.link)'),
  (2, '(b) pgcrypto `digest(doc::jsonb::text, ''sha256'')`: jsonb parse, jsonb text, SHA-256',
      'digest(doc::jsonb::text, ''sha256'')'),
  (3, '(c) `doc::tracelink.link` alone: parse, check, normalise, canonicalise',
      'doc::tracelink.link::text'),
  (4, '(d) `doc::jsonb` alone: jsonb parse',
      'doc::jsonb::text'),
  (5, '(e) `sha256(convert_to(tracelink.jcs(doc), ''UTF8''))`: RFC 8785 only, no definition checks',
      'sha256(convert_to(tracelink.jcs(doc), ''UTF8''))'),
  (6, '(f) `tracelink.validate(l)` of a stored link (every check, link to items)',
      '(SELECT count(*) FROM tracelink.validate(l))'),
  (7, '(g) `tracelink.mesh_layers(l)` of a stored link',
      '(SELECT count(*) FROM tracelink.mesh_layers(l))');
CREATE TEMP TABLE bench_link AS SELECT doc, doc::tracelink.link AS l FROM bench_doc;
CREATE TEMP TABLE timing (id int, round int, seconds float8);
SELECT set_config('bench.n', :'n', false), set_config('bench.rounds', :'rounds', false) \gset

DO $$
DECLARE
    v record;
    r int;
    t0 timestamptz;
BEGIN
    FOR r IN 1 .. current_setting('bench.rounds')::int LOOP
        FOR v IN SELECT * FROM variant ORDER BY id LOOP
            t0 := clock_timestamp();
            EXECUTE format('SELECT count(%s) FROM bench_link, generate_series(1, %s)',
                           v.expr, current_setting('bench.n')::int);
            INSERT INTO timing VALUES (v.id, r, extract(epoch FROM clock_timestamp() - t0));
        END LOOP;
    END LOOP;
END
$$;

\pset format unaligned
\pset tuples_only on
\pset fieldsep ' | '
SELECT '| variant | ops/s (median of ' || :rounds || ' rounds of ' || :n || ') | relative to (b) |';
SELECT '|---|---:|---:|';
WITH med AS (
    SELECT id, percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) AS seconds FROM timing GROUP BY id)
SELECT '| ' || v.label || ' | ' || round(:n / m.seconds) || ' | ' ||
       to_char((SELECT seconds FROM med WHERE id = 2) / m.seconds, 'FM990.00') || ' |'
  FROM variant v JOIN med m USING (id) ORDER BY v.id;
SELECT '';
SELECT 'Canonical size ' || octet_length(l::text) || ' bytes, input text ' || octet_length(doc) ||
       ' bytes, jsonb text ' || octet_length(doc::jsonb::text) || ' bytes.'
  FROM bench_link;
