-- The simulated peers "beta" and "gamma" that sql/30_workflow.sql makes,
-- each made here only when missing.  Includes sim_nodes.sql.
\i sql/include/sim_nodes.sql
SELECT NOT EXISTS (SELECT FROM sim_chain WHERE node = 'beta') AS tl_need_beta,
       NOT EXISTS (SELECT FROM sim_chain WHERE node = 'gamma') AS tl_need_gamma \gset
\if :tl_need_beta
SELECT count(*) AS tl_beta FROM sim_node('beta') \gset
\endif
\if :tl_need_gamma
SELECT count(*) AS tl_gamma FROM sim_node('gamma') \gset
\endif
\unset tl_need_beta
\unset tl_need_gamma
