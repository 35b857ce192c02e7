-- The realistic link "tea" that sql/04_link.sql shows and 05-08 use (08
-- drops it); created only when missing, so that each of those files runs
-- alone too.
SELECT pg_catalog.to_regclass('tea') IS NULL AS tl_need_tea \gset
\if :tl_need_tea
CREATE TABLE tea (l tracelink.link);
INSERT INTO tea VALUES ('{
 "name": "Pu-erh tea", "creator": "n1", "info": {"product": "tea", "region": "Yunnan"},
 "process_order": ["Growing", "Processing", "Packaging"],
 "invitations": {"Growing": ["n2"], "Processing": ["n3"], "Packaging": ["n1"]},
 "voting": {"adoption": {"rule": "majority"}},
 "processes": [
  {"name": "Packaging", "node": "n1",
   "inputs": [{"name": "tea lot", "from": "Processing", "output": "processed lot", "level": 2}],
   "outputs": [{"name": "box", "level": 1}],
   "stages": [{"name": "Pack", "forms": [{"name": "Box", "key": true, "items": [
      {"name": "Trace code", "type": "text", "required": true, "trace_code": true, "sources": ["device", "manual"]},
      {"name": "Photo", "type": "image", "sources": ["upload"]}]}]}]},
  {"name": "Growing", "node": "n2",
   "outputs": [{"name": "leaves", "level": 2, "description": "fresh leaves per picking lot"}],
   "stages": [
     {"name": "Plant", "role": "grower", "creator": "bob", "forms": [{"name": "Field", "items": [
        {"name": "Trace code", "type": "text", "required": true, "trace_code": true},
        {"name": "Variety", "type": "text", "widget": "dropdown", "options": ["Assamica", "Sinensis"]}]}]},
     {"name": "Harvest", "role": "grower", "forms": [{"name": "Picking", "key": true, "items": [
        {"name": "Date", "type": "time", "required": true},
        {"name": "Weight", "type": "numeric", "description": "kg", "sources": ["manual", "external"]}]}]}]},
  {"name": "Processing", "node": "n3",
   "inputs": [{"name": "leaves", "from": "Growing", "output": "leaves", "level": 2}],
   "outputs": [{"name": "processed lot", "level": 2}],
   "stages": [{"name": "Withering", "forms": [{"name": "Log", "items": [
      {"name": "Trace code", "type": "text", "required": true, "trace_code": true},
      {"name": "Hours", "type": "numeric"},
      {"name": "Done", "type": "text", "widget": "checkbox"}]}]}]}
 ]}');
\endif
\unset tl_need_tea
