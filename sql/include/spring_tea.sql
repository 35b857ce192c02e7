-- The link "Spring tea" as sql/30_workflow.sql first adopts it: requested
-- by alpha (Growing: alpha; Packing: beta and gamma, gamma declining),
-- both processes submitted, assembled, and version 1 adopted by alpha's
-- and beta's ballots.  Made only when this database has no such link.
-- Includes node_alpha.sql and sim_beta_gamma.sql.
\i sql/include/node_alpha.sql
\i sql/include/sim_beta_gamma.sql
SELECT NOT EXISTS (SELECT FROM tracelink.trace_links WHERE name = 'Spring tea') AS tl_need_spring_tea \gset
\if :tl_need_spring_tea
\o /dev/null
SELECT tracelink.request_link('Spring tea', ARRAY['Growing', 'Packing'],
                              '{"Growing": ["alpha"], "Packing": ["beta", "gamma"]}',
                              '{"product": "green tea", "season": 2026}',
                              '{"rule": "unanimous"}', '{"rule": "majority"}') AS tl_tea \gset
SELECT tracelink.reply_invitation('Spring tea', 'Growing', true);
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_reply('beta', :'tl_tea', 'Packing', true)));
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_reply('gamma', :'tl_tea', 'Packing', false)));
SELECT tracelink.submit_process('Spring tea', '{"name": "Growing",
   "stages": [{"name": "Harvest", "role": "raw-material supplier", "forms": [
     {"name": "Harvest record", "key": true, "items": [
       {"name": "lot", "type": "text", "required": true, "trace_code": true},
       {"name": "weight kg", "type": "numeric", "required": true}]},
     {"name": "Weather", "items": [{"name": "rain mm", "type": "numeric"}]}]}],
   "outputs": [{"name": "fresh leaves", "level": 2}]}');
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_submit('beta', :'tl_tea', pg_catalog.jsonb_build_object(
    'link', pg_catalog.encode(:'tl_tea', 'hex'), 'revision', 1, 'template', NULL,
    'definition', '{"name": "Packing", "node": "beta",
       "stages": [{"name": "Boxing", "role": "packer", "forms": [
         {"name": "Pack label", "key": true, "items": [
           {"name": "pack", "type": "text", "required": true, "trace_code": true}]},
         {"name": "Remarks", "items": [{"name": "remark", "type": "text"}]}]}],
       "inputs": [{"name": "leaves", "from": "Growing", "output": "fresh leaves", "level": 2}]}'::jsonb),
    ARRAY[:'tl_tea'::bytea, (SELECT reply_entry FROM tracelink.link_invitations
                              WHERE link_id = :'tl_tea' AND node = 'beta')])));
SELECT tracelink.assemble('Spring tea') AS tl_p1 \gset
SELECT tracelink.vote(:'tl_p1', true, 'looks right');
SELECT * FROM tracelink.ingest((SELECT lines FROM sim_vote('beta', :'tl_p1', true)));
\o
\unset tl_tea
\unset tl_p1
\endif
\unset tl_need_spring_tea
