-- The trace records sql/40_trace_record.sql leaves on the link "Trace
-- tea": the same records, with the same data, sources and times, in the
-- same entries (LOT-1 to LOT-3 one each, the batch LOT-4, LOT-5 and
-- FILM-1, the staged LOT-8 and LOT-9, then LOT-10), all bound to version
-- 1.  Replayed only when the link has no record yet, so that each file
-- that builds on them runs alone too.  Includes trace_tea.sql.
\i sql/include/trace_tea.sql
SELECT NOT EXISTS (SELECT FROM tracelink.trace_records WHERE link = 'Trace tea') AS tl_need_trace_records \gset
\if :tl_need_trace_records
\o /dev/null
SELECT tracelink.record('Trace tea', 'LOT-1', 'Growing', 'Harvest', 'Harvest record',
       '{"weight kg": 40, "picked": "2026-05-01T08:15:00+02:00", "organic": true, "grade": "A",
         "photo": {"sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "name": "lot1.jpg", "media_type": "image/jpeg", "size": 52133, "uri": "https://files.example/lot1.jpg"}}',
       'upload', occurred_at => '2026-05-01 06:15:00+00');
SELECT tracelink.record('Trace tea', 'LOT-2', 'Growing', 'Harvest', 'Harvest record',
       '{"lot": "LOT-2", "weight kg": "41.50", "picked": "2026-05-01", "organic": false, "grade": "B",
         "notes": "rain\nin the morning", "clip": {"sha256": "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", "name": "c.mp4", "media_type": "video/mp4"},
         "certificate": {"sha256": "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9", "name": "organic.pdf"}}',
       'upload', occurred_at => '2026-05-01 07:00+00');
SELECT tracelink.record('Trace tea', 'LOT-3', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 1e2}', 'device');
SELECT tracelink.record_batch('Trace tea', '[
  {"code": "LOT-4", "process": "Growing", "stage": "Harvest", "form": "Harvest record", "data": {"weight kg": 10}},
  {"code": "LOT-5", "process": "Growing", "stage": "Harvest", "form": "Harvest record", "data": {"weight kg": 11}, "source": "device",
   "occurred_at": "2026-05-02T07:00:00Z"},
  {"code": "FILM-1", "process": "Packaging supply", "stage": "Extrusion", "form": "Film lot", "source": "external"}]');
INSERT INTO tracelink.record_staging (link, code, process, stage, form, data, source, occurred_at)
VALUES ('Trace tea', 'LOT-8', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 8}', 'device', '2026-05-03 06:00:00+00'),
       ('Trace tea', 'LOT-9', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 9, "grade": "A"}', 'manual', '2026-05-03 06:05:00+00');
SELECT tracelink.record_staged('Trace tea');
INSERT INTO tracelink.record_staging (link, code, process, stage, form, data)
VALUES ('Trace tea', 'LOT-10', 'Growing', 'Harvest', 'Harvest record', '{"weight kg": 10}');
SELECT tracelink.record_staged('Trace tea');
\o
\endif
\unset tl_need_trace_records
