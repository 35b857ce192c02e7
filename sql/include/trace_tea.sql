-- The link "Trace tea" as sql/40_trace_record.sql makes it, before any
-- record: four processes alpha builds alone, version 1 adopted.  Made only
-- when this database has no such link.  Includes node_alpha.sql.
\i sql/include/node_alpha.sql
SELECT NOT EXISTS (SELECT FROM tracelink.trace_links WHERE name = 'Trace tea') AS tl_need_trace_tea \gset
\if :tl_need_trace_tea
\o /dev/null
SELECT tracelink.request_link('Trace tea', ARRAY['Growing', 'Processing', 'Packing', 'Packaging supply'],
    '{"Growing": ["alpha"], "Processing": ["alpha"], "Packing": ["alpha"], "Packaging supply": ["alpha"]}',
    '{"product": "sencha"}', '{"rule": "unanimous"}') IS NOT NULL AS requested;
SELECT count(tracelink.reply_invitation('Trace tea', p, true)) AS accepted
  FROM unnest(ARRAY['Growing', 'Processing', 'Packing', 'Packaging supply']) p;
SELECT tracelink.submit_process('Trace tea', '{"name": "Growing",
  "stages": [
    {"name": "Harvest", "forms": [
      {"name": "Harvest record", "key": true, "items": [
        {"name": "lot", "type": "text", "required": true, "trace_code": true, "sources": ["manual", "device", "upload"]},
        {"name": "weight kg", "type": "numeric", "required": true, "sources": ["manual", "device", "upload"]},
        {"name": "picked", "type": "time", "sources": ["manual", "upload"]},
        {"name": "organic", "type": "text", "widget": "checkbox", "sources": ["manual", "upload"]},
        {"name": "grade", "type": "text", "widget": "dropdown", "options": ["A", "B"], "sources": ["manual", "upload"]},
        {"name": "notes", "type": "text", "widget": "textarea", "sources": ["manual", "upload"]},
        {"name": "photo", "type": "image", "sources": ["upload"]},
        {"name": "clip", "type": "video", "sources": ["upload"]},
        {"name": "certificate", "type": "file", "sources": ["manual", "upload"]}]}]},
    {"name": "Audit", "members": ["beta"], "forms": [
      {"name": "Audit", "items": [{"name": "lot", "type": "text", "required": true, "trace_code": true}]}]}],
  "outputs": [{"name": "fresh leaves", "level": 2}]}') IS NOT NULL AS growing;
SELECT tracelink.submit_process('Trace tea', '{"name": "Processing",
  "stages": [{"name": "Steaming", "forms": [
    {"name": "Batch sheet", "key": true, "items": [
      {"name": "batch", "type": "text", "required": true, "trace_code": true},
      {"name": "minutes", "type": "numeric"}]}]}],
  "inputs": [{"name": "leaves", "from": "Growing", "output": "fresh leaves", "level": 2}],
  "outputs": [{"name": "tea batch", "level": 2}]}') IS NOT NULL AS processing;
SELECT tracelink.submit_process('Trace tea', '{"name": "Packing",
  "stages": [{"name": "Boxing", "forms": [
    {"name": "Pack label", "key": true, "items": [
      {"name": "pack", "type": "text", "required": true, "trace_code": true, "sources": ["manual", "device"]}]}]}],
  "inputs": [{"name": "tea", "from": "Processing", "output": "tea batch", "level": 2},
             {"name": "film", "from": "Packaging supply", "output": "film", "level": 2}]}') IS NOT NULL AS packing;
SELECT tracelink.submit_process('Trace tea', '{"name": "Packaging supply",
  "stages": [{"name": "Extrusion", "forms": [
    {"name": "Film lot", "key": true, "items": [
      {"name": "film lot", "type": "text", "required": true, "trace_code": true, "sources": ["external"]}]}]}],
  "outputs": [{"name": "film", "level": 2}]}') IS NOT NULL AS packaging;
SELECT tracelink.vote(tracelink.assemble('Trace tea'), true) IS NOT NULL AS voted;
\o
\endif
\unset tl_need_trace_tea
