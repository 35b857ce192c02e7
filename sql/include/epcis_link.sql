-- The link "EPCIS fish" for the EPCIS tests: three processes alpha builds
-- alone, each with one EPCIS form (text items "event_id" and "event"),
-- version 1 adopted.  Made only when this database has no such link.
-- Includes node_alpha.sql.
\i sql/include/node_alpha.sql
SELECT NOT EXISTS (SELECT FROM tracelink.trace_links WHERE name = 'EPCIS fish') AS tl_need_epcis_fish \gset
\if :tl_need_epcis_fish
\o /dev/null
SELECT tracelink.request_link('EPCIS fish', ARRAY['Fishing', 'Processing', 'Distribution'],
    '{"Fishing": ["alpha"], "Processing": ["alpha"], "Distribution": ["alpha"]}',
    '{"product": "fish"}', '{"rule": "unanimous"}');
SELECT count(tracelink.reply_invitation('EPCIS fish', p, true))
  FROM unnest(ARRAY['Fishing', 'Processing', 'Distribution']) p;
SELECT tracelink.submit_process('EPCIS fish', '{"name": "Fishing",
  "stages": [{"name": "Catch", "forms": [{"name": "Catch event", "key": true, "items": [
      {"name": "epc", "type": "text", "required": true, "trace_code": true, "sources": ["external", "manual"]},
      {"name": "event_id", "type": "text", "sources": ["external"]},
      {"name": "event", "type": "text", "sources": ["external"]}]}]}],
  "outputs": [{"name": "fish", "level": 2}]}');
SELECT tracelink.submit_process('EPCIS fish', '{"name": "Processing",
  "stages": [{"name": "Filleting", "forms": [{"name": "Processing event", "key": true, "items": [
      {"name": "epc", "type": "text", "required": true, "trace_code": true, "sources": ["external", "manual"]},
      {"name": "event_id", "type": "text", "sources": ["external"]},
      {"name": "event", "type": "text", "sources": ["external"]}]}]}],
  "inputs": [{"name": "fish", "from": "Fishing", "output": "fish", "level": 2}],
  "outputs": [{"name": "fillets", "level": 2}]}');
SELECT tracelink.submit_process('EPCIS fish', '{"name": "Distribution",
  "stages": [{"name": "Logistics", "forms": [{"name": "Logistics event", "key": true, "items": [
      {"name": "epc", "type": "text", "required": true, "trace_code": true, "sources": ["external", "manual"]},
      {"name": "event_id", "type": "text", "sources": ["external"]},
      {"name": "event", "type": "text", "sources": ["external"]}]},
      {"name": "Note", "items": [{"name": "code", "type": "text", "required": true, "trace_code": true}, {"name": "text", "type": "text"}]}]}],
  "inputs": [{"name": "fillets", "from": "Processing", "output": "fillets", "level": 2}]}');
SELECT tracelink.vote(tracelink.assemble('EPCIS fish'), true);
\o
\endif
\unset tl_need_epcis_fish
