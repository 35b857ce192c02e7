-- A generated supply chain for the trace benchmark (bench/trace/run.sh).
--
-- One node takes part in a link of five processes:
--   Growing -> Processing -> Packing -> Distribution, and Packaging supply
--   (last in the process order) -> Packing.
-- At scale 1: 50,000 lots (4 records each), 10,000 packaging lots (2),
-- 20,000 batches of 5 lots (5), 100,000 packs of one batch and one
-- packaging lot (5), 20,000 pallets of 5 packs (9): 200,000 trace codes,
-- 1,000,000 records, 400,000 transformations.
--
-- bench_link(name) adopts the link; bench_stage(scale, link, prefix) fills
-- tracelink.record_staging (COPY-shaped rows) in production order;
-- bench_code(i, scale) names the i-th code; plain_* and bare_* tables take
-- the same rows for the baselines.

SELECT tracelink.init_node('bench') IS NOT NULL AS node;

-- A link of the five processes, adopted by this node alone.
CREATE FUNCTION bench_link(link text) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM tracelink.request_link(link,
        ARRAY['Growing', 'Processing', 'Packing', 'Distribution', 'Packaging supply'],
        '{"Growing": ["bench"], "Processing": ["bench"], "Packing": ["bench"],
          "Distribution": ["bench"], "Packaging supply": ["bench"]}',
        '{"product": "green tea"}', '{"rule": "unanimous"}');
    PERFORM tracelink.reply_invitation(link, p, true)
          FROM unnest(ARRAY['Growing', 'Processing', 'Packing', 'Distribution', 'Packaging supply']) p;

    PERFORM tracelink.submit_process(link, '{"name": "Growing",
      "stages": [
        {"name": "Planting", "forms": [{"name": "Plot", "key": true, "items": [
          {"name": "lot", "type": "text", "required": true, "trace_code": true, "sources": ["manual", "device"]},
          {"name": "field", "type": "text", "required": true},
          {"name": "variety", "type": "text", "widget": "dropdown", "options": ["Yabukita", "Okumidori", "Saemidori"]}]}]},
        {"name": "Harvest", "forms": [
          {"name": "Harvest record", "key": true, "items": [
            {"name": "lot", "type": "text", "required": true, "trace_code": true, "sources": ["manual", "device"]},
            {"name": "weight kg", "type": "numeric", "required": true, "sources": ["manual", "device"]},
            {"name": "picked", "type": "time", "required": true, "sources": ["manual", "device"]},
            {"name": "grade", "type": "text", "widget": "dropdown", "options": ["A", "B", "C"], "sources": ["manual", "device"]}]},
          {"name": "Quality", "items": [
            {"name": "lot", "type": "text", "required": true, "trace_code": true, "sources": ["manual", "device"]},
            {"name": "moisture pct", "type": "numeric", "sources": ["device"]},
            {"name": "organic", "type": "text", "widget": "checkbox", "sources": ["manual", "device"]}]}]},
        {"name": "Transport", "forms": [{"name": "Pickup", "items": [
          {"name": "lot", "type": "text", "required": true, "trace_code": true, "sources": ["manual", "device"]},
          {"name": "truck", "type": "text", "required": true}]}]}],
      "outputs": [{"name": "fresh leaves", "level": 2}]}');

    PERFORM tracelink.submit_process(link, '{"name": "Processing",
      "stages": [
        {"name": "Withering", "forms": [{"name": "Batch sheet", "key": true, "items": [
          {"name": "batch", "type": "text", "required": true, "trace_code": true, "sources": ["manual", "external"]},
          {"name": "temperature c", "type": "numeric", "required": true, "sources": ["manual", "external"]},
          {"name": "humidity pct", "type": "numeric", "sources": ["manual", "external"]}]}]},
        {"name": "Rolling", "forms": [{"name": "Rolling", "items": [
          {"name": "batch", "type": "text", "required": true, "trace_code": true, "sources": ["manual", "external"]},
          {"name": "minutes", "type": "numeric", "required": true, "sources": ["manual", "external"]}]}]},
        {"name": "Drying", "forms": [{"name": "Drying", "items": [
          {"name": "batch", "type": "text", "required": true, "trace_code": true, "sources": ["manual", "external"]},
          {"name": "temperature c", "type": "numeric", "sources": ["manual", "external"]}]}]},
        {"name": "Sorting", "forms": [{"name": "Grade", "items": [
          {"name": "batch", "type": "text", "required": true, "trace_code": true, "sources": ["manual", "external"]},
          {"name": "grade", "type": "text", "widget": "dropdown", "options": ["premium", "standard"], "sources": ["manual", "external"]}]}]},
        {"name": "Lab", "forms": [{"name": "Lab test", "items": [
          {"name": "batch", "type": "text", "required": true, "trace_code": true, "sources": ["manual", "external"]},
          {"name": "report", "type": "file", "sources": ["manual", "external"]},
          {"name": "tested", "type": "time", "sources": ["manual", "external"]}]}]}],
      "inputs": [{"name": "leaves", "from": "Growing", "output": "fresh leaves", "level": 2}],
      "outputs": [{"name": "tea batch", "level": 3}]}');

    PERFORM tracelink.submit_process(link, '{"name": "Packing",
      "stages": [
        {"name": "Filling", "forms": [{"name": "Pack", "key": true, "items": [
          {"name": "pack", "type": "text", "required": true, "trace_code": true, "sources": ["device"]},
          {"name": "net g", "type": "numeric", "required": true, "sources": ["device"]}]}]},
        {"name": "Sealing", "forms": [{"name": "Seal", "items": [
          {"name": "pack", "type": "text", "required": true, "trace_code": true, "sources": ["device"]},
          {"name": "sealed", "type": "time", "sources": ["device"]}]}]},
        {"name": "Labeling", "forms": [{"name": "Label", "items": [
          {"name": "pack", "type": "text", "required": true, "trace_code": true, "sources": ["device"]},
          {"name": "label", "type": "text", "sources": ["device"]}]}]},
        {"name": "Weighing", "forms": [{"name": "Check weight", "items": [
          {"name": "pack", "type": "text", "required": true, "trace_code": true, "sources": ["device"]},
          {"name": "gross g", "type": "numeric", "sources": ["device"]}]}]},
        {"name": "Inspection", "forms": [{"name": "Inspection", "items": [
          {"name": "pack", "type": "text", "required": true, "trace_code": true, "sources": ["device"]},
          {"name": "passed", "type": "text", "widget": "checkbox", "sources": ["device"]}]}]}],
      "inputs": [{"name": "tea", "from": "Processing", "output": "tea batch", "level": 3},
                 {"name": "material", "from": "Packaging supply", "output": "film", "level": 2}],
      "outputs": [{"name": "packs", "level": 1}]}');

    PERFORM tracelink.submit_process(link, '{"name": "Distribution",
      "stages": [
        {"name": "Palletizing", "forms": [{"name": "Pallet", "key": true, "items": [
          {"name": "pallet", "type": "text", "required": true, "trace_code": true, "sources": ["device"]},
          {"name": "packs", "type": "numeric", "sources": ["device"]}]}]},
        {"name": "Shipping", "forms": [{"name": "Checkpoint", "items": [
          {"name": "pallet", "type": "text", "required": true, "trace_code": true, "sources": ["device"]},
          {"name": "place", "type": "text", "required": true, "sources": ["device"]},
          {"name": "temperature c", "type": "numeric", "sources": ["device"]}]}]}],
      "inputs": [{"name": "packs", "from": "Packing", "output": "packs", "level": 1}]}');

    PERFORM tracelink.submit_process(link, '{"name": "Packaging supply",
      "stages": [
        {"name": "Production", "forms": [{"name": "Material lot", "key": true, "items": [
          {"name": "material lot", "type": "text", "required": true, "trace_code": true, "sources": ["external"]},
          {"name": "material", "type": "text", "required": true, "sources": ["external"]}]}]},
        {"name": "Inspection", "forms": [{"name": "QC", "items": [
          {"name": "material lot", "type": "text", "required": true, "trace_code": true, "sources": ["external"]},
          {"name": "passed", "type": "text", "widget": "checkbox", "sources": ["external"]}]}]}],
      "outputs": [{"name": "film", "level": 2}]}');

    PERFORM tracelink.vote(tracelink.assemble(link), true);
END
$fn$;

-- The rows, in production order, scaled: scale 1 = 1,000,000 records.
CREATE FUNCTION bench_stage(scale float8, link text, prefix text DEFAULT '') RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    lots int := (50000 * scale)::int;
    pkgs int := greatest((10000 * scale)::int, 1);
    batches int := (20000 * scale)::int;
    packs int := (100000 * scale)::int;
    pallets int := (20000 * scale)::int;
    t0 timestamptz := '2026-04-01 06:00:00+00';
BEGIN
    INSERT INTO tracelink.record_staging (link, code, process, stage, form, data, source, inputs, occurred_at)
    SELECT link, prefix || 'L-' || g, 'Growing', st, fm, d, src, NULL, t0 + (g * 60 + k) * interval '1 second'
      FROM generate_series(1, lots) g,
           LATERAL (VALUES
             (1, 'Planting', 'Plot', jsonb_build_object('field', 'F-' || (g % 300), 'variety', (ARRAY['Yabukita', 'Okumidori', 'Saemidori'])[1 + g % 3]), 'manual'),
             (2, 'Harvest', 'Harvest record', jsonb_build_object('weight kg', 20 + g % 40, 'picked', tracelink._utc(t0 + g * interval '1 minute'), 'grade', (ARRAY['A', 'B', 'C'])[1 + g % 3]), 'device'),
             (3, 'Harvest', 'Quality', jsonb_build_object('moisture pct', 70 + (g % 90) / 10.0, 'organic', g % 2 = 0), 'device'),
             (4, 'Transport', 'Pickup', jsonb_build_object('truck', 'TR-' || (g % 50)), 'manual')) AS x(k, st, fm, d, src)
     ORDER BY g, k;
    INSERT INTO tracelink.record_staging (link, code, process, stage, form, data, source, occurred_at)
    SELECT link, prefix || 'M-' || g, 'Packaging supply', st, fm, d, 'external', t0 + (g * 60 + k) * interval '1 second'
      FROM generate_series(1, pkgs) g,
           LATERAL (VALUES
             (1, 'Production', 'Material lot', jsonb_build_object('material', 'PET film ' || (g % 4))),
             (2, 'Inspection', 'QC', jsonb_build_object('passed', true))) AS x(k, st, fm, d)
     ORDER BY g, k;
    INSERT INTO tracelink.record_staging (link, code, process, stage, form, data, source, inputs, occurred_at)
    SELECT link, prefix || 'B-' || g, 'Processing', st, fm, d, 'external',
           CASE WHEN k = 1 THEN (SELECT jsonb_agg(jsonb_build_object('code', prefix || 'L-' || (1 + ((g - 1) * 5 + i) % lots),
                                                                   'quantity', 20 + i, 'unit', 'kg'))
                                   FROM generate_series(0, 4) i) END,
           t0 + interval '40 days' + (g * 60 + k) * interval '1 second'
      FROM generate_series(1, batches) g,
           LATERAL (VALUES
             (1, 'Withering', 'Batch sheet', jsonb_build_object('temperature c', 28 + g % 6, 'humidity pct', 60 + g % 20)),
             (2, 'Rolling', 'Rolling', jsonb_build_object('minutes', 30 + g % 15)),
             (3, 'Drying', 'Drying', jsonb_build_object('temperature c', 90 + g % 10)),
             (4, 'Sorting', 'Grade', jsonb_build_object('grade', CASE WHEN g % 4 = 0 THEN 'premium' ELSE 'standard' END)),
             (5, 'Lab', 'Lab test', jsonb_build_object('report', jsonb_build_object(
                  'sha256', encode(sha256(convert_to('report ' || g, 'UTF8')), 'hex'),
                  'name', 'lab-' || g || '.pdf', 'media_type', 'application/pdf'),
                  'tested', to_char((t0 + interval '41 days') AT TIME ZONE 'UTC', 'YYYY-MM-DD')))) AS x(k, st, fm, d)
     ORDER BY g, k;
    INSERT INTO tracelink.record_staging (link, code, process, stage, form, data, source, inputs, occurred_at)
    SELECT link, prefix || 'P-' || g, 'Packing', st, fm, d, 'device',
           CASE WHEN k = 1 THEN jsonb_build_array(
                    jsonb_build_object('code', prefix || 'B-' || (1 + (g - 1) % batches), 'quantity', 100, 'unit', 'g'),
                    jsonb_build_object('code', prefix || 'M-' || (1 + (g - 1) % pkgs))) END,
           t0 + interval '50 days' + (g * 10 + k) * interval '1 second'
      FROM generate_series(1, packs) g,
           LATERAL (VALUES
             (1, 'Filling', 'Pack', jsonb_build_object('net g', 100)),
             (2, 'Sealing', 'Seal', jsonb_build_object('sealed', tracelink._utc(t0 + interval '50 days' + g * interval '10 seconds'))),
             (3, 'Labeling', 'Label', jsonb_build_object('label', 'Sencha 100 g, best before 2027-10')),
             (4, 'Weighing', 'Check weight', jsonb_build_object('gross g', 112 + g % 3)),
             (5, 'Inspection', 'Inspection', jsonb_build_object('passed', g % 97 <> 0))) AS x(k, st, fm, d)
     ORDER BY g, k;
    INSERT INTO tracelink.record_staging (link, code, process, stage, form, data, source, inputs, occurred_at)
    SELECT link, prefix || 'T-' || g, 'Distribution', st, fm, d, 'device',
           CASE WHEN k = 1 THEN (SELECT jsonb_agg(jsonb_build_object('code', prefix || 'P-' || ((g - 1) * 5 + i)))
                                   FROM generate_series(1, 5) i) END,
           t0 + interval '60 days' + (g * 60 + k) * interval '1 second'
      FROM generate_series(1, pallets) g,
           LATERAL (SELECT 1 AS k, 'Palletizing' AS st, 'Pallet' AS fm, jsonb_build_object('packs', 5) AS d
                    UNION ALL
                    SELECT 1 + c, 'Shipping', 'Checkpoint',
                           jsonb_build_object('place', 'Hub ' || c, 'temperature c', 12 + c % 5)
                      FROM generate_series(1, 8) c) AS x
     ORDER BY g, k;
    RETURN (SELECT count(*) FROM tracelink.record_staging WHERE record_staging.link = bench_stage.link);
END
$$;

-- The i-th of the 200,000 * scale trace codes (1-based), every code
-- equally likely: lots, packaging lots, batches, packs, pallets.
CREATE FUNCTION bench_code(i bigint, scale float8) RETURNS text LANGUAGE sql IMMUTABLE AS $$
SELECT CASE
    WHEN i <= 50000 * scale THEN 'L-' || i
    WHEN i <= 60000 * scale THEN 'M-' || (i - (50000 * scale)::bigint)
    WHEN i <= 80000 * scale THEN 'B-' || (i - (60000 * scale)::bigint)
    WHEN i <= 180000 * scale THEN 'P-' || (i - (80000 * scale)::bigint)
    ELSE 'T-' || (i - (180000 * scale)::bigint) END
$$;

-- The baseline: the same records and transformations in plain tables
-- indexed for the same filters, no ledger, no checks.
CREATE TABLE plain_records (
    code         text COLLATE "C" NOT NULL,
    link         text NOT NULL,
    version      integer NOT NULL,
    process      text NOT NULL,
    stage        text NOT NULL,
    form         text NOT NULL,
    data         jsonb NOT NULL,
    source       text NOT NULL,
    node         text NOT NULL,
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX plain_records_code ON plain_records (code);
CREATE INDEX plain_records_place_time ON plain_records (process, stage, form, occurred_at);
CREATE INDEX plain_records_time ON plain_records (occurred_at);
CREATE TABLE plain_edges (
    parent    text COLLATE "C" NOT NULL,
    child     text COLLATE "C" NOT NULL,
    quantity  numeric,
    unit      text
);
CREATE INDEX plain_edges_child ON plain_edges (child, parent);
CREATE INDEX plain_edges_parent ON plain_edges (parent, child);
-- the same without indexes
CREATE TABLE bare_records (LIKE plain_records INCLUDING DEFAULTS);
CREATE TABLE bare_edges (LIKE plain_edges);
