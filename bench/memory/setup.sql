-- After docs.sql: what the measured paths need besides the documents.

-- a link of one process adopted by this node alone, for tracelink.record()
SELECT tracelink.request_link('Mem', ARRAY['P'], '{"P": ["mem"]}') IS NOT NULL;
SELECT tracelink.reply_invitation('Mem', 'P', true) IS NOT NULL;
SELECT tracelink.submit_process('Mem', '{"name": "P", "stages": [{"name": "S", "forms": [
    {"name": "F", "key": true, "items": [
      {"name": "lot", "type": "text", "required": true, "trace_code": true},
      {"name": "note", "type": "text"}]}]}]}') IS NOT NULL;
SELECT tracelink.vote(tracelink.assemble('Mem'), true) IS NOT NULL;

-- each document as the info of a link (a valid definition of any shape), and
-- the document "link" as it is
CREATE TABLE memory_links (shape text PRIMARY KEY, def tracelink.link NOT NULL);
INSERT INTO memory_links
SELECT shape, CASE WHEN shape = 'link' THEN doc
                   ELSE '{"name":"L","info":{"doc":' || doc || '}}' END::tracelink.link
  FROM memory_docs;
-- where tracelink.link's receive function is measured (COPY ... FORMAT binary)
CREATE TABLE memory_links_in (def tracelink.link);
-- export lines of one entry each, for tracelink.ingest()
CREATE TABLE memory_export (shape text PRIMARY KEY, lines text NOT NULL);
ALTER TABLE memory_export ALTER lines SET STORAGE EXTERNAL;
